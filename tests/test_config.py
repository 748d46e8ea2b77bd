from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from conftest import compose_config


def test_default_train_config_has_documented_keys(tmp_path):
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}"])
    assert cfg.seed == 42
    assert list(cfg.data.labels) == ["pro_negotiation", "skeptical", "conditional"]
    assert cfg.data.drop_labels == ["none"]
    assert cfg.logger.name == "wandb" and cfg.wandb.mode == "offline"
    for key in ("epochs", "learning_rate", "batch_size", "max_length", "num_threads"):
        assert key in cfg.training
    assert cfg.paths.output_dir == str(tmp_path)


def test_default_model_resolves_to_bundled_minilm(tmp_path):
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}"])
    folder = Path(cfg.model.name_or_path)
    assert folder.is_dir() and (folder / "model.safetensors").is_file()
    assert cfg.model.base_model_id == "sentence-transformers/all-MiniLM-L6-v2"


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


def _readme_config_table() -> dict[str, str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].count("`") == 2:
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_readme_configuration_table_matches_the_composed_config(tmp_path):
    import yaml

    cfg = compose_config("train", [f"paths.output_dir={tmp_path}"])
    table = _readme_config_table()
    checked = 0
    for key, documented in table.items():
        value = documented.strip("`")
        if not value or " " in value or key == "paths.output_dir":
            continue  # described in words, not a literal
        composed = cfg
        for part in key.split("."):
            composed = composed[part]
        if key in ("model", "data", "logger"):
            composed = composed["name"]
        expected = yaml.safe_load(value)
        if isinstance(expected, str) and isinstance(composed, float):
            expected = float(expected)  # YAML 1.1 reads 1e-4 as a string
        if isinstance(expected, list):
            composed = list(composed)
        assert composed == expected, f"README says {key} = {documented}, the config has {composed}"
        checked += 1
    assert checked >= 10, table

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

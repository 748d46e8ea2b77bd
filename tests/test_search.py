"""`make search`: Hydra's Optuna sweeper drives real (tiny) training runs on validation macro-F1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT


def test_optuna_search_maximises_validation_macro_f1(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the `search` extra is not installed")
    sweep = tmp_path / "sweep"
    overrides = [
        "hparams_search=stance_optuna",
        "data=fixture",
        "model=minilm",
        "training=tiny",
        "logger=none",
        "evaluation.real_sets=[]",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 'study.db'}",
        f"hydra.sweep.dir={sweep}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.models_dir={tmp_path / 'models'}",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true"}
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "-m", *overrides]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]

    trials = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()):
        metrics = json.loads((job / "metrics.json").read_text())
        params = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        trials.append((metrics["validation"]["macro_f1"], params))
    assert len(trials) == 2, "one run folder per trial"
    rates = [float(dict(p.split("=", 1) for p in params)["training.learning_rate"]) for _, params in trials]
    assert all(2e-5 <= r <= 3e-4 for r in rates) and len(set(rates)) == 2

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(value for value, _ in trials)  # validation, not test
    assert set(best["best_params"]) == {
        "training.learning_rate", "training.weight_decay", "training.warmup_ratio", "training.batch_size",
    }  # fmt: skip
    assert (tmp_path / "study.db").is_file()  # the study persists, so a rerun continues it

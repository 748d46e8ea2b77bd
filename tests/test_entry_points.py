"""Entry points run as a user runs them: the scripts behind the Makefile targets, end to end.

Each of these once broke with no test noticing (issue #13): `make evaluate`
imported a function from the wrong module, `make benchmark` failed on the
`onnx-fp32` backend, and every experiment's tags were overwritten by the root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, ROOT, compose_config
from negotiation_stance.config import CONFIG_DIR

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}


def run_script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert out.returncode == 0, f"{args[0]} exited {out.returncode}:\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}"
    return out


def test_evaluate_script_scores_an_exported_model(tiny_run, tmp_path):
    run_dir = tmp_path / "eval"
    run_script(
        "scripts/evaluate.py",
        f"model_dir={tiny_run['run_dir'] / 'model'}",
        "data=fixture",
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
        "evaluation.real_sets=[]",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = [json.loads(line) for line in (FIXTURES / "statements_tiny.jsonl").read_text().splitlines()]
    for split in ("validation", "test"):
        expected = sum(r["split"] == split and r["label"] != "none" for r in rows)
        assert metrics[split]["n"] == expected and 0.0 <= metrics[split]["macro_f1"] <= 1.0
    assert "| test |" in (run_dir / "report.md").read_text()


def test_benchmark_runs_every_onnx_backend(onnx_model, tmp_path):
    out = tmp_path / "bench.json"
    result = run_script(
        "scripts/benchmark_inference.py",
        f"--model={onnx_model}",
        "--sentences=20",
        "--repeats=1",
        "--backends=torch,onnx-fp32,onnx-int8,onnx-int8+recheck",
        "--agreement-sentences=20",
        f"--json={out}",
    )
    report = json.loads(out.read_text())
    assert set(report["speed"]) == {"torch", "onnx-fp32", "onnx-int8", "onnx-int8+recheck"}
    assert all(r["per_second"] > 0 for r in report["speed"].values())
    assert report["agreement"]["corpus test split"]["onnx-fp32"] == 1.0
    assert "onnx-fp32" in result.stdout


@pytest.mark.parametrize("path", sorted((CONFIG_DIR / "experiment").glob("*.yaml")), ids=lambda p: p.stem)
def test_experiment_keys_survive_composition(path: Path):
    """An experiment overrides the root config, tags included (`_self_` comes first in train.yaml)."""
    own = yaml.safe_load(path.read_text()) or {}
    cfg = compose_config("train", [f"experiment={path.stem}"])
    for key, value in own.items():
        if key in ("defaults", "hydra"):
            continue
        composed = cfg[key]
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                assert composed[sub] == sub_value, f"{path.name}: {key}.{sub}"
        else:
            assert list(composed) == value if isinstance(value, list) else composed == value, f"{path.name}: {key}"
    for choice in own.get("defaults", []):
        if isinstance(choice, dict):
            ((group, option),) = choice.items()
            group = group.removeprefix("override /")
            assert cfg[group]["name"] == option, f"{path.name}: {group}={option}"


def test_fixture_file_is_what_the_tiny_config_reads():
    cfg = compose_config("train", ["data=fixture"])
    assert Path(cfg.data.train_path).resolve() == (FIXTURES / "statements_tiny.jsonl").resolve()

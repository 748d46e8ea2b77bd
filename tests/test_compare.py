"""Baselines on the same splits, and `make compare` reading run folders offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from negotiation_stance.evaluation.compare import collect_runs, comparison_table, format_table, paired_test, parse_root


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory):
    """`make baselines` as a user runs it: the script, on the fixture data."""
    tmp = tmp_path_factory.mktemp("baselines")
    overrides = ["data=fixture", "logger=none", f"hydra.run.dir={tmp / 'baselines'}", "baselines.c_grid=[1.0]"]
    out = subprocess.run(
        [sys.executable, "scripts/baselines.py", *overrides], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    names = ("majority", "tfidf_lr")
    return tmp, {n: json.loads((tmp / "baselines" / n / "metrics.json").read_text()) for n in names}


def test_baselines_write_comparable_runs(baseline_runs):
    tmp, results = baseline_runs
    assert set(results) == {"majority", "tfidf_lr"}
    majority = results["majority"]
    # The majority class predicts one label: macro-F1 is at most 1/3 of its share.
    assert majority["test"]["macro_f1"] < 0.5
    for name in results:
        folder = tmp / "baselines" / name
        assert json.loads((folder / "metrics.json").read_text())["kind"] == "baseline"
        assert (folder / "report.md").is_file() and (folder / "predictions_test.jsonl").is_file()


def test_compare_table_and_paired_test(baseline_runs, tiny_run, tmp_path):
    tmp, _ = baseline_runs
    runs = collect_runs([tmp, tiny_run["run_dir"]])
    rows = comparison_table(runs)
    names = {r["configuration"] for r in rows}
    assert {"baseline:majority", "baseline:tfidf_lr"} <= names
    assert any(n.startswith("train:minilm") for n in names)
    table = format_table(rows)
    assert "test 95% CI" in table and "baseline:tfidf_lr" in table
    result = paired_test(tiny_run["run_dir"], tmp / "baselines" / "tfidf_lr", samples=200)
    assert result["n"] == tiny_run["metrics"]["test"]["n"] and 0.0 <= result["p_value"] <= 1.0


def test_compare_refuses_runs_on_different_sentences(baseline_runs, tmp_path):
    tmp, _ = baseline_runs
    other = tmp_path / "other"
    other.mkdir()
    (other / "predictions_test.jsonl").write_text(
        json.dumps({"id": "x", "gold": "skeptical", "predicted": "skeptical"}) + "\n"
    )
    with pytest.raises(ValueError, match="not scored on the same test sentences"):
        paired_test(other, tmp / "baselines" / "majority")


def test_compare_script_prints_table(baseline_runs):
    tmp, _ = baseline_runs
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compare.py"), str(tmp)], capture_output=True, text=True, check=True
    )
    assert "baseline:tfidf_lr" in out.stdout and "validation" in out.stdout


def test_named_roots_keep_the_same_configuration_apart(baseline_runs):
    tmp, _ = baseline_runs
    assert parse_root(f"v2={tmp}") == ("v2", tmp) and parse_root(str(tmp)) == ("", tmp)
    rows = comparison_table(collect_runs([parse_root(f"v2={tmp}"), parse_root(f"v3={tmp}")]))
    names = [r["configuration"] for r in rows if r["configuration"].endswith("baseline:tfidf_lr")]
    assert sorted(names) == ["v2: baseline:tfidf_lr", "v3: baseline:tfidf_lr"]
    assert all(r["runs"] == 1 for r in rows)


def test_version_report_breaks_the_test_split_down(tiny_run):
    fixture = ROOT / "tests" / "fixtures" / "statements_tiny.jsonl"
    out = subprocess.run(
        [sys.executable, "scripts/version_report.py", f"tiny={tiny_run['run_dir']}", "--statements", str(fixture),
         "--field", "split"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    header, _, row = out.stdout.splitlines()[:3]
    cells = dict(zip(header.split(" | "), row.split(" | "), strict=True))
    test = f"{tiny_run['metrics']['test']['macro_f1']:.3f}"
    assert cells["configuration"].startswith("tiny: train:") and cells["test"] == test
    assert cells["test test part"] == test  # every test sentence is in the "test" part, none in the others
    assert cells["test train part"] == "–" and cells["test validation part"] == "–"

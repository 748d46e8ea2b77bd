"""``make figures``: the README's figures from a real run folder; the learning curve only from real results."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
from PIL import Image

from conftest import ROOT
from negotiation_stance.evaluation.record import RunRecord
from negotiation_stance.reporting.figures import (
    CONFUSION,
    LEARNING_CURVE,
    PER_CLASS_F1,
    RELIABILITY,
    learning_curve_from_table,
    write_figures,
)

spec = importlib.util.spec_from_file_location("figures_script", ROOT / "scripts" / "figures.py")
figures_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures_script)


def test_make_figures_draws_valid_pngs_and_says_the_learning_curve_needs_the_sweep(tiny_run, tmp_path, capsys):
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "figures"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and "scripts/figures.py" in dry.stdout
    out = tmp_path / "figures"
    # What the target runs, in-process; no runs with data.train_fraction and no table for the fixture data.
    code = figures_script.main(["--run", str(tiny_run["run_dir"]), "--out", str(out), "--logs", str(tmp_path / "logs")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "learning curve skipped" in printed and "make sweep SWEEP=learning_curve" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFUSION, RELIABILITY, PER_CLASS_F1])
    for path in out.iterdir():
        with Image.open(path) as image:
            image.verify()  # a whole, valid PNG
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 300
        assert path.stat().st_size > 10_000, path.name  # drawn, not blank


def test_make_figures_without_a_model_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert figures_script.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "models/latest does not exist" in err and "\n" not in err


def _record(tmp_path, name, fraction, test, real_dev, seed):
    record = RunRecord(
        kind="train",
        labels=["pro_negotiation", "skeptical", "conditional"],
        data={"name": "negotiation"},
        splits={"validation": {"macro_f1": 0.5}, "test": {"macro_f1": test}},
        real={"real_dev": {"macro_f1": real_dev}},
        seed=seed,
        overrides=[f"data.train_fraction={fraction}", f"seed={seed}"],
    )
    folder = tmp_path / "logs" / name
    folder.mkdir(parents=True)
    record.write(folder)


def test_learning_curve_is_drawn_from_the_sweeps_runs(tiny_run, tmp_path):
    from negotiation_stance.reporting.figures import learning_curve_from_runs

    _record(tmp_path, "0", 0.5, 0.80, 0.60, seed=1)
    _record(tmp_path, "1", 0.5, 0.84, 0.64, seed=2)
    _record(tmp_path, "2", 1.0, 0.90, 0.66, seed=1)
    curve = learning_curve_from_runs([tmp_path / "logs"], "negotiation")
    assert sorted(curve.points) == [0.5, 1.0]
    half = curve.points[0.5]
    assert half["test"].mean == pytest.approx(0.82) and half["test"].runs == 2
    assert half["test"].sd == pytest.approx(0.0283, abs=1e-4) and curve.points[1.0]["real_dev"].sd is None
    assert learning_curve_from_runs([tmp_path / "logs"], "fixture") is None  # other data: not this model's curve


def test_learning_curve_from_the_committed_table(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(
        "Some text.\n\n| data | configuration | runs | validation | test | real_dev |\n|---|---|---|---|---|---|\n"
        "| negotiation | v3: train:minilm | 3 | 0.899 ± 0.006 | 0.905 ± 0.003 | 0.667 ± 0.010 |\n"
        "| negotiation | v3: train:minilm [data.train_fraction=0.25] | 1 | 0.841 | 0.866 | 0.635 |\n"
        "| negotiation_all | v3: train:minilm [data.train_fraction=0.5] | 1 | 0.8 | 0.8 | 0.5 |\n"
    )
    curve = learning_curve_from_table(card, "negotiation")
    assert sorted(curve.points) == [0.25, 1.0]
    assert curve.points[0.25]["real_dev"].mean == 0.635 and curve.points[0.25]["real_dev"].runs == 1
    assert (curve.points[1.0]["test"].mean, curve.points[1.0]["test"].sd, curve.points[1.0]["test"].runs) == (
        0.905,
        0.003,
        3,
    )
    assert learning_curve_from_table(card, "negotiation_all") is None  # one point is no curve
    # The data card's own table gives the README's curve.
    committed = learning_curve_from_table(ROOT / "data" / "README.md", "negotiation")
    assert committed and 1.0 in committed.points and len(committed.points) >= 3


def test_a_learning_curve_figure_is_written_beside_the_others(tiny_run, tmp_path):
    _record(tmp_path, "0", 0.5, 0.80, 0.60, seed=1)
    _record(tmp_path, "1", 1.0, 0.90, 0.66, seed=1)
    # The tiny run's data is `fixture`: give it a record of the same data.
    for name in ("0", "1"):
        path = tmp_path / "logs" / name / "metrics.json"
        path.write_text(path.read_text().replace('"negotiation"', '"fixture"'))
    written = write_figures(tiny_run["run_dir"], tmp_path / "out", logs=[tmp_path / "logs"])
    assert [p.name for p in written.paths][-1] == LEARNING_CURVE and not any("skipped" in n for n in written.notes)
    with Image.open(tmp_path / "out" / LEARNING_CURVE) as image:
        image.verify()

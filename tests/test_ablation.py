"""The ablation table: variants grouped from their runs, 3- and 4-label models side by side, paired tests."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from negotiation_stance.evaluation.ablation import ablation_rows, best_variant, collect_variants, real_calibration
from negotiation_stance.evaluation.record import RunRecord

ROOT = Path(__file__).resolve().parents[1]
STANCE = ["pro_negotiation", "skeptical", "conditional"]
GOLD = ["pro_negotiation", "skeptical", "conditional", "pro_negotiation", "none"]


def fake_run(
    folder: Path, variant: str, seed: int, labels: list[str], right: int, real: dict, train: int = 100
) -> None:
    """A finished run: its record, and real_dev predictions with the first ``right`` stance rows correct."""
    folder.mkdir(parents=True)
    splits = {"validation": {"macro_f1": 0.8 + seed / 100}, "test": {"macro_f1": 0.7}}
    data = {"name": "x", "counts": {"train": train}}
    RunRecord(
        kind="train", labels=labels, data=data, splits=splits, real={"real_dev": real}, seed=seed,
        overrides=[f"experiment=ablate_{variant}", f"seed={seed}"],
    ).write(folder)  # fmt: skip
    rows = []
    for k, gold in enumerate(GOLD if "none" in labels else GOLD[:4]):
        predicted = gold if k < right else "conditional" if gold != "conditional" else "skeptical"
        probs = {label: 0.9 if label == predicted else 0.1 / (len(labels) - 1) for label in labels}
        rows.append({"id": f"r{k}", "gold": gold, "predicted": predicted, "probabilities": probs})
    (folder / "predictions_real_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    for job, seed in enumerate((1, 2)):
        fake_run(tmp_path / f"{job}", "default", seed, STANCE, 2, {"macro_f1": 0.5, "four_way": {"macro_f1": 0.4}})
        four = [*STANCE, "none"]
        real = {"macro_f1": 0.6, "three_way": {"macro_f1": 0.7 + seed / 100}}
        fake_run(tmp_path / f"{job + 2}", "4label", seed, four, 4, real)
    RunRecord(kind="train", labels=STANCE, data={"name": "x"}, splits={}, seed=3).write(tmp_path)  # not an ablation
    return tmp_path


def test_rows_put_three_and_four_label_models_on_both_tasks_and_test_them_seed_by_seed(sweep):
    variants = collect_variants(sweep)
    assert sorted(variants) == ["4label", "default"]
    assert [seed for seed, _, _ in variants["4label"].runs] == [1, 2]
    rows = ablation_rows(variants, samples=200)
    default, four = rows
    assert default["variant"] == "default" and default["labels"] == 3
    assert default["real_dev 3-way"] == "0.500 ± 0.000" and default["real_dev 4-way"] == "0.400 ± 0.000"
    assert four["real_dev 3-way"] == "0.715 ± 0.007" and four["real_dev 4-way"] == "0.600 ± 0.000"
    assert four["validation"] == "0.815 ± 0.007"
    # All four stance rows right against two of four, on the same sentences: a positive paired difference.
    delta = four["Δ 3-way vs default (p per seed)"]
    assert delta.startswith("+") and delta.count("/") == 1
    assert best_variant(rows) == "4label"


def test_runs_of_one_preset_on_a_grown_corpus_are_a_row_of_their_own(sweep):
    """The same preset before and after a corpus round: seeds are averaged only over the same training data."""
    real = {"macro_f1": 0.6, "three_way": {"macro_f1": 0.9}}
    for job, seed in enumerate((1, 2)):
        fake_run(sweep / f"grown{job}", "4label", seed, [*STANCE, "none"], 4, real, train=120)
    variants = collect_variants(sweep)
    assert sorted(variants) == ["4label (100 train rows)", "4label (120 train rows)", "default"]
    assert [seed for seed, _, _ in variants["4label (120 train rows)"].runs] == [1, 2]
    rows = {row["variant"]: row for row in ablation_rows(variants, samples=50)}
    assert rows["4label (120 train rows)"]["real_dev 3-way"] == "0.900 ± 0.000"


def overconfident(folder: Path, name: str, n: int) -> None:
    """Predictions at 0.98 confidence of which every other one is wrong: a model that needs T > 1."""
    rows = []
    for k in range(n):
        gold = STANCE[k % 3]
        predicted = gold if k % 2 else STANCE[(k + 1) % 3]
        probs = {label: 0.98 if label == predicted else 0.01 for label in STANCE}
        rows.append({"id": f"{name}{k}", "gold": gold, "predicted": predicted, "probabilities": probs})
    (folder / f"predictions_{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_real_ece_is_reported_raw_and_after_a_temperature_fitted_on_validation_only(sweep):
    variants = collect_variants(sweep)
    folder, record = variants["default"].runs[0][1:]
    assert real_calibration(folder, record, "real_dev") is None  # no validation predictions saved
    for _, folder, _ in variants["default"].runs:
        overconfident(folder, "validation", 40)
        overconfident(folder, "real_dev", 30)
    cal = real_calibration(folder, record, "real_dev")
    assert cal["temperature"] > 1.5 and cal["ece"] > 0.4 and cal["ece_scaled"] < cal["ece"] - 0.2
    # The fitted temperature comes from validation alone: changing the real predictions leaves it.
    overconfident(folder, "real_dev", 9)
    assert real_calibration(folder, record, "real_dev")["temperature"] == pytest.approx(cal["temperature"])
    column = "real_dev ECE: raw → T fitted on validation"
    (default,) = ablation_rows({"default": variants["default"]}, samples=50)
    assert " → " in default[column] and "(T " in default[column]
    (four,) = ablation_rows({"4label": variants["4label"]}, samples=50)
    assert four[column] == "–"  # its runs saved no validation predictions


def run_ablate(monkeypatch, *args: str) -> int:
    """scripts/ablate.py's main() in this process (its table and argument paths need no training)."""
    spec = importlib.util.spec_from_file_location("ablate_script", ROOT / "scripts" / "ablate.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", ["ablate.py", *args])
    return script.main()


def test_the_script_rebuilds_the_table_between_the_markers_of_the_doc(sweep, tmp_path, monkeypatch, capsys):
    doc = tmp_path / "docs" / "experiments.md"
    doc.parent.mkdir()
    doc.write_text("# Experiments\n\nProse.\n<!-- ablation table: begin (scripts/ablate.py) -->\nold\n"
                   "<!-- ablation table: end -->\nMore prose.\n")  # fmt: skip
    common = ["--from", str(sweep), "--no-soup"]
    assert run_ablate(monkeypatch, *common, "--variants", "default,4label", "--out", str(doc)) == 0
    text = doc.read_text()
    assert text.startswith("# Experiments\n\nProse.\n") and text.endswith("More prose.\n") and "\nold\n" not in text
    assert "| 4label | 4 | 1,2 |" in text and "Best variant: **4label**" in text
    capsys.readouterr()
    assert run_ablate(monkeypatch, *common, "--variants", "default,nosuch") == 2
    assert "no preset for ['nosuch']" in capsys.readouterr().err
    prose = tmp_path / "prose.md"
    prose.write_text("# Only prose\n")
    assert run_ablate(monkeypatch, *common, "--variants", "default", "--out", str(prose)) == 2
    assert "has no ablation markers" in capsys.readouterr().err and prose.read_text() == "# Only prose\n"
    monkeypatch.chdir(tmp_path)  # no models/pretrained here
    assert run_ablate(monkeypatch, "--variants", "default,mpnet") == 2
    assert "make pretrained-mpnet" in capsys.readouterr().err


@pytest.mark.slow
def test_make_ablate_trains_each_variant_soups_the_best_and_writes_the_table(tmp_path):
    # The sweep folder named among the overrides is where the runs go and where the table is read from.
    overrides = f"data=fixture training=tiny logger=none paths.root_dir={tmp_path} hydra.sweep.dir=sweeps/mine"
    command = [sys.executable, str(ROOT / "scripts" / "ablate.py"), "--variants", "default,class_weights"]
    command += ["--seeds", "1,2", "--overrides", overrides, "--out", str(tmp_path / "experiments.md")]
    out = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    table = (tmp_path / "experiments.md").read_text()
    assert "| default | 3 | 1,2 |" in table and "| class_weights | 3 | 1,2 |" in table
    assert "| soup of " in table
    sweep_dir = tmp_path / "sweeps" / "mine"
    assert f"Runs: `{sweep_dir}`" in table and (sweep_dir / "experiments.md").is_file()
    assert (sweep_dir / "soup" / "model" / "config.json").is_file()
    assert not (tmp_path / "logs" / "ablate").exists()


# The pipeline row (variant `relevance`): real_dev rows as (id, gold, the 3-label run's stance probabilities).
PIPELINE_ROWS = [
    ("a", "pro_negotiation", (0.7, 0.2, 0.1)),
    ("b", "skeptical", (0.2, 0.6, 0.2)),
    ("c", "conditional", (0.5, 0.1, 0.4)),
    ("d", "none", (0.1, 0.1, 0.8)),
    ("e", "none", (0.9, 0.05, 0.05)),
]


def pipeline_runs(root: Path, seed: int, p_none: dict[str, float]) -> tuple[Path, Path]:
    """A finished default run and relevance run of ``seed``: the default's `none` rows in their own file."""
    stance, relevance = root / f"default-{seed}", root / f"relevance-{seed}"
    fake_run(stance, "default", seed, STANCE, 0, {"macro_f1": 0.5, "four_way": {"macro_f1": 0.4}})
    fake_run(relevance, "relevance", seed, ["stance", "none"], 0, {"macro_f1": 0.8})
    for name, gold_of in (("real_dev", lambda g: g != "none"), ("real_dev_none", lambda g: g == "none")):
        rows = [{"id": i, "gold": g, "probabilities": dict(zip(STANCE, p, strict=True))}
                for i, g, p in PIPELINE_ROWS if gold_of(g)]  # fmt: skip
        (stance / f"predictions_{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows = [{"id": i, "gold": "none" if g == "none" else "stance",
             "probabilities": {"stance": 1 - p_none[i], "none": p_none[i]}} for i, g, _ in PIPELINE_ROWS]  # fmt: skip
    (relevance / "predictions_real_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return stance, relevance


def test_the_pipeline_says_none_where_the_relevance_run_does_and_else_the_three_label_runs_stance(tmp_path):
    from negotiation_stance.evaluation.ablation import relevance_pipeline

    p_none = {"a": 0.2, "b": 0.6, "c": 0.1, "d": 0.9, "e": 0.5}  # e: 0.5 is not above the threshold
    scores = relevance_pipeline(*pipeline_runs(tmp_path, 1, p_none))
    assert scores["predicted"] == {"a": "pro_negotiation", "b": "none", "c": "pro_negotiation", "d": "none",
                                   "e": "pro_negotiation"}  # fmt: skip
    # F1: pro_negotiation 1/3 precision, 1 recall = 0.5; none 0.5 and 0.5 = 0.5; the others 0.
    assert scores["macro_f1"] == pytest.approx(0.25) and scores["accuracy"] == pytest.approx(0.4)
    assert scores["per_class"]["none"]["support"] == 2 and scores["n"] == 5


def test_the_table_adds_the_pipeline_row_seed_by_seed(tmp_path, monkeypatch, capsys):
    pipeline_runs(tmp_path, 1, {"a": 0.2, "b": 0.6, "c": 0.1, "d": 0.9, "e": 0.5})  # macro-F1 0.25
    pipeline_runs(tmp_path, 2, {"a": 0.2, "b": 0.6, "c": 0.1, "d": 0.9, "e": 0.7})  # e is none: 0.367
    fake_run(tmp_path / "relevance-3", "relevance", 3, ["stance", "none"], 0, {"macro_f1": 0.6})  # no default seed 3
    rows = {row["variant"]: row for row in ablation_rows(collect_variants(tmp_path), samples=50)}
    assert list(rows) == ["default", "relevance", "default + relevance"]
    pipeline, relevance = rows["default + relevance"], rows["relevance"]
    assert pipeline["seeds"] == "1,2" and pipeline["labels"] == "3+2"
    assert pipeline["real_dev 4-way"] == "0.308 ± 0.082" and pipeline["real_dev 3-way"] == "0.500 ± 0.000 (= default)"
    # The relevance model alone has neither task: its own (stance vs none) real score is shown beside the 4-way.
    assert relevance["real_dev 3-way"] == "–" and relevance["real_dev 4-way"] == "– (stance/none: 0.733 ± 0.115)"
    assert best_variant(list(rows.values())) == "default"
    assert run_ablate(monkeypatch, "--from", str(tmp_path), "--no-soup", "--variants", "default,relevance") == 0
    assert "| default + relevance | 3+2 | 1,2 |" in capsys.readouterr().out


def test_a_run_without_its_none_rows_file_has_them_predicted_by_its_model(tiny_run, tmp_path):
    """Default runs made before predictions_<set>_none.jsonl: the exported model gives the same probabilities."""
    from negotiation_stance.evaluation.ablation import three_label_predictions

    run_dir, eval_dir = tiny_run["run_dir"], Path(tiny_run["cfg"].paths.shared_eval_dir)
    if not (run_dir / "predictions_real_dev_none.jsonl").is_file():
        pytest.skip(f"{eval_dir} has no real_dev set")
    old = tmp_path / "old-run"
    old.mkdir()
    for name in ("predictions_real_dev.jsonl", "run_config.yaml"):
        (old / name).write_bytes((run_dir / name).read_bytes())
    (old / "model").symlink_to(run_dir / "model")
    with pytest.raises(FileNotFoundError, match=r"predictions_real_dev_none\.jsonl not found"):
        three_label_predictions(old, "real_dev")
    saved, predicted = three_label_predictions(run_dir, "real_dev"), three_label_predictions(old, "real_dev", eval_dir)
    assert [(r["id"], r["gold"]) for r in predicted] == [(r["id"], r["gold"]) for r in saved]
    for ours, theirs in zip(predicted, saved, strict=True):
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-4)


def test_keep_rows_adds_new_variants_to_the_table_before_and_keeps_the_others(sweep, tmp_path, monkeypatch, capsys):
    """--keep-rows: a sweep of some variants updates their rows; rows of runs that are gone stay, in score order."""
    doc = tmp_path / "docs" / "experiments.md"
    doc.parent.mkdir()
    doc.write_text("# Experiments\n<!-- ablation table: begin (scripts/ablate.py) -->\nold\n"
                   "<!-- ablation table: end -->\n")  # fmt: skip
    assert run_ablate(monkeypatch, "--from", str(sweep), "--no-soup", "--out", str(doc)) == 0
    before = doc.read_text()
    assert "| default | 3 | 1,2 |" in before and "| 4label | 4 | 1,2 |" in before
    newer = tmp_path / "newer"
    real = {"macro_f1": 0.6, "three_way": {"macro_f1": 0.9}}
    for job, seed in enumerate((1, 2)):
        fake_run(newer / f"{job}", "mpnet_4label", seed, [*STANCE, "none"], 4, real)
    capsys.readouterr()
    assert run_ablate(monkeypatch, "--from", str(newer), "--no-soup", "--out", str(doc), "--keep-rows") == 0
    text = doc.read_text()
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == ["| variant", "| default", "| mpnet_4label", "| 4label"]  # the default first, then by 3-way
    assert "Best variant: **mpnet_4label**" in text and "2 rows kept from the table before" in text
    assert "| mpnet_4label | 4 | 1,2 |" in text and "| 0.900 ± 0.000 |" in text
    # Without --out, or over a table of other columns, nothing is written.
    assert run_ablate(monkeypatch, "--from", str(newer), "--no-soup", "--keep-rows") == 2
    assert "--keep-rows needs --out" in capsys.readouterr().err
    doc.write_text(text.replace("| 4label | 4 |", "| 4label | 4 | extra |"))
    assert run_ablate(monkeypatch, "--from", str(newer), "--no-soup", "--out", str(doc), "--keep-rows") == 2
    assert f"{doc}: table row 3 has 10 cells, its header 9: 4label | 4 | extra |" in capsys.readouterr().err
    doc.write_text(text.replace("| variant |", "| recipe |"))
    assert run_ablate(monkeypatch, "--from", str(newer), "--no-soup", "--out", str(doc), "--keep-rows") == 2
    assert "rebuild it from all the runs" in capsys.readouterr().err

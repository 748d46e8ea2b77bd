"""`make simulate-al`: the labelling loop simulated on a context held out of the corpus (issue 15, item 4)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIG_DIR, ROOT
from negotiation_stance.data.loading import load_extra
from negotiation_stance.errors import ConfigError
from negotiation_stance.evaluation.metrics import bootstrap_mean_difference
from negotiation_stance.training.al_simulation import (
    RESULT_FILE,
    contexts_of,
    extra_corpus,
    hold_out,
    label_counts,
    pick,
    read_jsonl,
    run_simulation,
)

THREE = ["pro_negotiation", "skeptical", "conditional"]
STATEMENTS, ARTICLES = ROOT / "data" / "processed" / "statements.jsonl", ROOT / "data" / "raw" / "articles.jsonl"


@pytest.fixture(scope="module")
def corpus() -> tuple[list[dict], dict[str, str]]:
    return read_jsonl(STATEMENTS), contexts_of(read_jsonl(ARTICLES))


def test_hold_out_leaves_no_article_of_the_context_in_the_base_data(corpus):
    statements, context_of = corpus
    held = hold_out(statements, context_of, "israel_hamas")
    assert held.base and held.pool and held.test
    assert not {r["article_id"] for r in held.base if context_of[r["article_id"]] == "israel_hamas"}
    assert {(context_of[r["article_id"]], r["split"]) for r in held.pool} == {("israel_hamas", "train")}
    assert {(context_of[r["article_id"]], r["split"]) for r in held.test} == {("israel_hamas", "test")}
    validation = [r for r in statements if context_of[r["article_id"]] == "israel_hamas" and r["split"] == "validation"]
    assert len(held.base) + len(held.pool) + len(held.test) + len(validation) == len(statements)
    with pytest.raises(ConfigError, match=r"'atlantis' is not a context of the corpus; choose one of \['afghanistan'"):
        hold_out(statements, context_of, "atlantis")


def test_picks_come_from_the_context_train_split_and_none_picks_are_not_trained_on(corpus, tmp_path):
    statements, context_of = corpus
    held = hold_out(statements, context_of, "israel_hamas")
    probabilities = np.random.default_rng(0).dirichlet([1.0, 1.0, 1.0], size=len(held.pool))
    pool_ids = {r["id"] for r in held.pool}
    for strategy in ("margin", "random"):
        picked = pick(held.pool, probabilities, 40, strategy, seed=1)
        assert len({r["id"] for r in picked}) == 40 and {r["id"] for r in picked} <= pool_ids
        counts = label_counts(picked)
        assert sum(counts.values()) == 40 and counts["none"] == sum(r["label"] == "none" for r in picked) > 0
        # The run's data.extra file, read as training reads it: `none` picks are left out, the test rows kept.
        path = tmp_path / strategy / "israel_hamas.jsonl"
        path.parent.mkdir()
        path.write_text("".join(json.dumps(r) + "\n" for r in extra_corpus(picked, held.test)))
        rows = load_extra(path, "israel_hamas", THREE, drop_labels=["none"])
        assert len(rows["train"]) == 40 - counts["none"] and rows["validation"] == []
        assert len(rows["test"]) == sum(r["label"] != "none" for r in held.test)
    assert label_counts([{"label": "none"}, {"label": "skeptical"}, {"label": "none"}]) == {"none": 2, "skeptical": 1}


def test_bootstrap_mean_difference_pairs_runs_by_sentence():
    gold = np.arange(60) % 3
    same = bootstrap_mean_difference(gold, [gold, gold], [gold, gold], 3, samples=500)
    assert same == {"delta": 0.0, "low": 0.0, "high": 0.0, "samples": 500}
    wrong = (gold + 1) % 3
    better = bootstrap_mean_difference(gold, [gold, wrong], [wrong, wrong], 3, samples=500)
    assert better["delta"] == pytest.approx(0.5) and 0.0 < better["low"] <= 0.5 <= better["high"] <= 1.0
    with pytest.raises(ValueError, match="must both be"):
        bootstrap_mean_difference(gold, [gold], [gold[:-1]], 3)


def fake_training(seen: list[list[str]]):
    """A stand-in for train(): the 'model' gets one more test sentence right per labelled stance pick."""

    def train_fn(overrides: list[str]) -> dict:
        seen.append(overrides)
        values = dict(o.split("=", 1) for o in overrides)
        run_dir = Path(values["paths.output_dir"].strip("'"))
        extra = Path(values["data.extra"].strip("[]'"))
        rows = read_jsonl(extra)
        added = sum(r["split"] == "train" and r["label"] in THREE for r in rows)
        test = [r for r in rows if r["split"] == "test" and r["label"] in THREE]
        run_dir.mkdir(parents=True)
        with (run_dir / "predictions_user-israel_hamas-test.jsonl").open("w") as fh:
            for k, r in enumerate(test):
                predicted = r["label"] if k < 10 + added else next(x for x in THREE if x != r["label"])
                fh.write(json.dumps({"id": f"user:israel_hamas:{r['id']}", "gold": r["label"], "predicted": predicted}))
                fh.write("\n")
        right = min(len(test), 10 + added) / len(test)
        return {
            "run_dir": str(run_dir), "model_dir": str(run_dir / "model"), "validation": {"macro_f1": 0.9},
            "user": {"israel_hamas": {"test": {"macro_f1": right}}}, "data": {"counts": {"train": 3000 + added}},
            "train": {"seconds": 1.0},
        }  # fmt: skip

    return train_fn


def test_simulation_trains_each_arm_and_writes_the_table_under_the_root(tmp_path):
    """The whole loop with the training faked: overrides, files, picks, summary and table."""
    seen: list[list[str]] = []

    def uncertain_on_stance(model_dir: str, texts: list[str], max_length: int) -> np.ndarray:
        assert Path(model_dir).parent.name.endswith("-base") and max_length == 128
        return np.random.default_rng(len(seen)).dirichlet([1.0, 1.0, 1.0], size=len(texts))

    table = run_simulation(
        CONFIG_DIR, tmp_path, context="israel_hamas", sizes=[5, 10], seeds=[1, 2], overrides=["training.epochs=2"],
        doc=tmp_path / "docs" / "active_learning.md", command="make simulate-al", train_fn=fake_training(seen),
        probabilities_fn=uncertain_on_stance,
    )  # fmt: skip
    out = table.parent
    assert out.parent == tmp_path / "logs" / "al_simulation" and (tmp_path / "docs" / "active_learning.md").is_file()
    result = json.loads((out / RESULT_FILE).read_text())
    assert [r["name"] for r in result["runs"]] == [
        f"seed{s}-{arm}" for s in (1, 2) for arm in ("base", "margin-5", "margin-10", "random-5", "random-10")
    ]
    first = dict(o.split("=", 1) for o in seen[0])
    assert first["logger"] == "none" and first["seed"] == "1" and first["training.epochs"] == "2"
    assert first["data"] == "negotiation"  # the documented study's three-label task, whatever the default
    assert result["labels"] == ["pro_negotiation", "skeptical", "conditional"]
    assert first["paths.models_dir"].strip("'") == str(out / "models")  # the user's models/latest is left alone
    base = read_jsonl(first["data.train_path"].strip("'"))
    context_of = contexts_of(read_jsonl(ARTICLES))
    assert base and all(context_of[r["article_id"]] != "israel_hamas" for r in base)
    pool = {r["id"] for r in hold_out(read_jsonl(STATEMENTS), context_of, "israel_hamas").pool}
    for run in result["runs"]:
        assert set(run["picked_ids"]) <= pool and len(run["picked_ids"]) == run["size"]
        assert run["none_picked"] + run["added"] == run["size"]
    held_test = [
        r for r in read_jsonl(STATEMENTS)
        if context_of[r["article_id"]] == "israel_hamas" and r["split"] == "test" and r["label"] != "none"
    ]  # fmt: skip
    assert result["counts"]["test"] == len(held_test) > 50
    rows = {row["size"]: row for row in result["summary"]}
    assert set(rows) == {0, 5, 10}
    margin, random_ = [r for r in result["runs"] if r["size"] == 10 and r["strategy"] == "margin"], rows[10]["random"]
    assert rows[10]["margin"]["added"] == np.mean([r["added"] for r in margin]) and random_["none_picked"] >= 0
    text = table.read_text()
    assert "| 0 (base model) |" in text and "| 10 |" in text and "command: `make simulate-al`" in text
    assert "2 epochs" in text and "At N = 10 " in text and f"test sentences: {len(held_test)}" in text


def test_script_names_a_bad_setting_in_one_line_before_any_training(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("simulate_al", ROOT / "scripts" / "simulate_active_learning.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for args, needle in [
        (["--context", "atlantis"], "error: --context 'atlantis' is not a context of the corpus"),
        (["--sizes", "5,900"], "error: --sizes [5, 900]: distinct sizes, each between 1 and the 384 train sentences"),
        (["--overrides", "training.epoch=3"], "error: --overrides: Could not override 'training.epoch'"),
    ]:
        assert script.main([*args, "--root", str(tmp_path)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(needle), lines
    assert list(tmp_path.iterdir()) == []


def test_make_simulate_al_runs_the_script():
    cmd = ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "simulate-al", "ARGS=--sizes 5,10 --seeds 1"]
    shown = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert shown == ".venv/bin/python scripts/simulate_active_learning.py --sizes 5,10 --seeds 1"


@pytest.mark.slow
def test_simulation_end_to_end_with_tiny_training(tmp_path):
    """The script as `make simulate-al` runs it: 1 base + 4 arms of 2 steps each on the real corpus."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    overrides = "training=tiny training.max_steps=2 data.max_eval_samples=50"
    cmd = [sys.executable, "scripts/simulate_active_learning.py", "--overrides", overrides, "--sizes", "5,10",
           "--seeds", "1", "--root", str(tmp_path)]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    (folder,) = (tmp_path / "logs" / "al_simulation").iterdir()
    result = json.loads((folder / RESULT_FILE).read_text())
    assert [r["name"] for r in result["runs"]] == ["seed1-base", "seed1-margin-5", "seed1-margin-10",
                                                   "seed1-random-5", "seed1-random-10"]  # fmt: skip
    base_train = sum(r["split"] == "train" and r["label"] in THREE for r in read_jsonl(folder / "data" / "base.jsonl"))
    for run in result["runs"]:
        record = json.loads((Path(run["run_dir"]) / "metrics.json").read_text())
        assert record["data"]["counts"]["train"] == base_train + run["added"]
        assert record["user"]["israel_hamas"]["test"]["n"] == 56 and "validation" not in record["user"]["israel_hamas"]
        assert 0.0 <= run["macro_f1"] <= 1.0 and not (Path(run["run_dir"]) / "checkpoints").exists()
    assert (folder / "models" / "latest").resolve().parent.parent == folder / "runs"
    assert (tmp_path / "docs" / "active_learning.md").read_text() == (folder / "active_learning.md").read_text()

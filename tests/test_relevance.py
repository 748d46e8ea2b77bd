"""data.label_map and the relevance model it makes (ablation variant `relevance`): in training and on real text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, compose_config, tiny_overrides
from negotiation_stance.data import DataError, load_split, load_splits
from negotiation_stance.errors import ConfigError
from negotiation_stance.evaluation.report import EvalSettings, write_reports
from negotiation_stance.evaluation.scoring import load_real_sets, report_sets
from negotiation_stance.labels import STANCE_LABELS

RELEVANCE = ["stance", "none"]
TO_STANCE = {label: "stance" for label in STANCE_LABELS}
REAL = [
    ("r1", "The minister said talks could start tomorrow.", "pro_negotiation"),
    ("r2", "Shelling continued overnight in the east.", "none"),
    ("r3", "The rebels called the peace offer a trick.", "skeptical"),
    ("r4", "Talks can begin only after a ceasefire holds.", "conditional"),
    ("r5", "The summit was held in a hotel by the lake.", "none"),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def eval_dir(tmp_path: Path) -> Path:
    """A real-text folder with one set of all four labels, two of them `none`."""
    folder = tmp_path / "eval"
    folder.mkdir()
    write_jsonl(folder / "real_dev.jsonl", [{"id": i, "text": t, "label": label} for i, t, label in REAL])
    return folder


def test_label_map_renames_before_labels_and_drop_labels_see_a_row(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": t, "label": label} for _, t, label in REAL])
    rows, dropped = load_split(path, labels=RELEVANCE, label_map=TO_STANCE)
    assert [r["label"] for r in rows] == [0, 1, 0, 0, 1] and not dropped  # `none` is unmapped: it passes through
    rows, dropped = load_split(path, labels=["stance"], label_map=TO_STANCE, drop_labels=["none"])
    assert len(rows) == 3 and dropped == {"none": 2}
    with pytest.raises(DataError, match="unknown label 'skeptical'"):  # a label the map leaves out is still checked
        load_split(path, labels=RELEVANCE, label_map={"pro_negotiation": "stance", "conditional": "stance"})


def test_a_label_map_target_outside_data_labels_is_one_error_naming_the_key(tmp_path):
    cfg = compose_config("train", [*tiny_overrides(tmp_path), "data.label_map={skeptical:stance}"])
    with pytest.raises(ConfigError, match=r"^data\.label_map\.skeptical: 'stance' is not one of data\.labels \["):
        load_splits(cfg.data)
    cfg = compose_config("train", [*tiny_overrides(tmp_path), "data.label_map=[stance]"])
    with pytest.raises(ConfigError, match=r"^data\.label_map must map labels to labels"):
        load_splits(cfg.data)


def test_a_mapped_model_is_scored_on_real_text_with_its_gold_labels_mapped(eval_dir, tmp_path):
    sets = load_real_sets(eval_dir, ["real_dev"], RELEVANCE, label_map=TO_STANCE)
    assert [r["label"] for r in sets["real_dev"].rows] == [0, 1, 0, 0, 1] and not sets["real_dev"].none_rows
    assert load_real_sets(eval_dir, ["real_dev"], RELEVANCE) == {}  # without the map, these labels are not the task's
    settings = EvalSettings(tuple(STANCE_LABELS), 10, 0.95, 5, 10, 0)
    says_stance = {"real_dev": np.tile([2.0, 0.0], (5, 1))}
    (report,) = report_sets(sets, says_stance, RELEVANCE, settings).values()
    assert report.metrics["per_class"]["stance"]["support"] == 3 and report.metrics["per_class"]["none"]["recall"] == 0
    assert "three_way" not in report.metrics and "four_way" not in report.metrics  # one stance label: no choice
    # A three-label model (no label_map) is scored as before, and its `none` rows' predictions are saved.
    three = load_real_sets(eval_dir, ["real_dev"], list(STANCE_LABELS))
    assert [r["id"] for r in three["real_dev"].rows] == ["r1", "r3", "r4"] and three["real_dev"].dropped == {"none": 2}
    logits = {"real_dev": np.tile([0.0, 1.0, 0.0], (5, 1))}
    reports = report_sets(three, logits, list(STANCE_LABELS), settings)
    assert reports["real_dev"].metrics["four_way"]["n"] == 5
    write_reports(tmp_path, "t", reports, {})
    saved = [json.loads(line) for line in (tmp_path / "predictions_real_dev_none.jsonl").read_text().splitlines()]
    assert [(r["id"], r["gold"], r["predicted"]) for r in saved] == [
        ("r2", "none", "skeptical"),
        ("r5", "none", "skeptical"),
    ]


def test_a_relevance_run_trains_a_two_label_model_scored_stance_vs_none(eval_dir, tmp_path):
    from negotiation_stance.training.run import train

    splits = [f"data.{split}_path={FIXTURES / 'statements_tiny.jsonl'}" for split in ("train", "validation", "test")]
    base = [o for o in tiny_overrides(tmp_path, "logger=none", "training.max_steps=2") if not o.startswith("data=")]
    real = [f"paths.shared_eval_dir={eval_dir}", "evaluation.real_sets=[real_dev]"]
    record = train(compose_config("train", ["data=negotiation_relevance", *base, *splits, *real]))
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert record["labels"] == RELEVANCE and config["id2label"] == {"0": "stance", "1": "none"}
    assert record["data"]["counts"] == {"train": 14, "validation": 4, "test": 4}  # the fixture's `none` rows kept
    scored = record["real"]["real_dev"]
    assert scored["n"] == 5 and {k: v["support"] for k, v in scored["per_class"].items()} == {"stance": 3, "none": 2}
    assert not any("three_way" in block for block in (record["validation"], record["test"], scored))

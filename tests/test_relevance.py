"""data.label_map: labels renamed as rows are read (the relevance model of ablation variant `relevance`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import compose_config, tiny_overrides
from negotiation_stance.data import DataError, load_split, load_splits
from negotiation_stance.errors import ConfigError
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

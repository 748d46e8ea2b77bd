"""Users' own articles: candidate extraction and the Label Studio round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from negotiation_stance.corpus.candidates import about_talks, extract_candidates, from_label_studio, to_label_studio
from negotiation_stance.data import DataError

ARTICLE = (
    "The foreign minister said on Monday that her government was ready to resume talks.\n"
    "Heavy rain flooded the capital overnight.\n"
    "\u201cWe will not negotiate under fire,\u201d a rebel spokesman told reporters."
)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "Flood Report.txt").write_text(ARTICLE, encoding="utf-8")
    return tmp_path


def test_extract_with_and_without_keyword_filter(folder):
    rows = extract_candidates(folder)
    assert [r["id"] for r in rows] == ["flood-report-s000", "flood-report-s001", "flood-report-s002"]
    assert [r["about_talks"] for r in rows] == [True, False, True]
    assert [r["sentence_index"] for r in extract_candidates(folder, only_talks=True)] == [0, 2]
    assert about_talks("A ceasefire took hold.") and not about_talks("Prices rose by 4%.")


def test_label_studio_round_trip(folder):
    rows = extract_candidates(folder)
    tasks = json.loads(json.dumps(to_label_studio(rows)))  # as a file would carry them
    chosen = [
        ("pro_negotiation", "the foreign minister", None),
        ("none", None, None),
        ("skeptical", "a rebel spokesman", "negated_willingness"),
    ]
    for task, (label, speaker, hard) in zip(tasks, chosen, strict=True):
        result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
        if speaker:
            result.append({"from_name": "speaker", "to_name": "text", "type": "textarea", "value": {"text": [speaker]}})
        if hard:
            result.append(
                {"from_name": "hard_case", "to_name": "text", "type": "choices", "value": {"choices": [hard]}}
            )
        task["id"] = 7
        task["annotations"] = [{"id": 1, "completed_by": {"email": "ann@example.org"}, "result": result}]
    labels, unlabelled = from_label_studio(tasks)
    assert unlabelled == []
    assert [(r["id"], r["text"], r["label"], r["speaker"], r["hard_case"]) for r in labels] == [
        (row["id"], row["text"], *c) for row, c in zip(rows, chosen, strict=True)
    ]
    assert labels[0]["annotator"] == "label-studio:ann@example.org"


def test_label_studio_import_reports_problems(folder):
    tasks = to_label_studio(extract_candidates(folder))
    labels, unlabelled = from_label_studio(tasks)
    assert labels == [] and len(unlabelled) == 3  # nothing silently dropped
    tasks[1]["annotations"] = [{"result": [{"from_name": "label", "value": {"choices": ["neutral"]}}]}]
    with pytest.raises(DataError, match=r"field 'label': task #2 \(flood-report-s001\): label 'neutral'"):
        from_label_studio(tasks, "export.json")


def test_cli_pre_annotates_with_a_model(folder, tmp_path, tiny_run):
    out = tmp_path / "cand.jsonl"
    script = str(ROOT / "scripts" / "extract_candidates.py")
    subprocess.run([sys.executable, script, "extract", str(folder), "--out", str(out), "--only-talks"], check=True)
    tasks_file = tmp_path / "tasks.json"
    model = str(tiny_run["models_dir"] / "latest")
    subprocess.run(
        [sys.executable, script, "to-label-studio", str(out), "--out", str(tasks_file), "--model", model], check=True
    )
    tasks = json.loads(tasks_file.read_text())
    assert (
        len(tasks) == 2
        and tasks[0]["predictions"][0]["result"][0]["value"]["choices"][0] in tiny_run["metrics"]["labels"]
    )

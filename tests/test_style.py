"""Corpus voice statistics, the cue audit and the guard against text from ../shared."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, SHARED
from negotiation_stance.corpus.cues import label_log_odds, precision
from negotiation_stance.corpus.provenance import overlaps, shared_spans, spans, text_files
from negotiation_stance.corpus.style import counter_cue, style_profile

ROWS = [
    {"article_id": "a", "text": "We are ready to talk at any time.", "label": "pro_negotiation"},
    {"article_id": "a", "text": "The minister said the talks were postponed.", "label": "none"},
    {"article_id": "b", "text": "Rain fell on the capital.", "label": "none"},
    {"article_id": "b", "text": "The parties must return to the table without delay.", "label": "pro_negotiation"},
]


def test_style_profile_counts_each_measure():
    profile = style_profile(ROWS, {"a": "russia_ukraine", "b": "sudan"})
    assert profile["first_person"] == 0.25
    assert profile["said_told_according_to"] == 0.25
    assert profile["over_40_words"] == 0.0
    assert profile["none_mentioning_talks"] == 0.5 and profile["none_mentioning_talks_count"] == 1
    assert profile["counter_cue_stance_count"] == 1  # "must" in an unconditional call for talks
    assert profile["russia_ukraine"] == 0.5


def test_counter_cue_depends_on_the_label():
    assert counter_cue("We will talk only if the shelling stops.", "skeptical")  # "we" in a skeptical sentence
    assert not counter_cue("Talks can start only once troops leave.", "conditional")  # the old cue, used as before


def test_log_odds_finds_a_planted_cue_and_precision_counts_it():
    texts = [f"they must leave first {i}" for i in range(20)] + [f"ready to talk now {i}" for i in range(20)]
    labels = ["conditional"] * 20 + ["pro_negotiation"] * 20
    top = label_log_odds(texts, labels, top=3)
    assert {c.word for c in top["conditional"]} <= {"they", "must", "leave", "first"}
    assert top["conditional"][0].train_precision == 1.0
    assert precision("must", "conditional", texts, labels) == (1.0, 20)
    assert precision("absent", "conditional", texts, labels) == (None, 0)


def test_cue_audit_prints_both_tables():
    out = subprocess.run(
        [sys.executable, "scripts/cue_audit.py", "--top", "2"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.count("| conditional |") == 2 and "must → conditional" in out.stdout
    assert ("precision real_dev" in out.stdout) == (SHARED / "eval" / "real_dev.jsonl").is_file()


def test_overlap_finds_a_copied_span(tmp_path):
    source = tmp_path / "shared.txt"
    source.write_text("one two three four five six seven eight nine ten eleven twelve thirteen\n")
    copied = tmp_path / "copied.jsonl"
    copied.write_text('{"text": "Zero one two three four five six seven eight nine ten eleven twelve."}\n')
    own = tmp_path / "own.jsonl"
    own.write_text('{"text": "one two three four five six seven eight nine ten eleven, then other words"}\n')
    reference = shared_spans([source])
    assert len(list(spans("a b c"))) == 0
    assert overlaps([copied], reference) == [(copied, "one two three four five six seven eight nine ten eleven twelve")]
    assert overlaps([own], reference) == []


def test_no_text_under_data_shares_12_words_with_shared():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a user's clone): nothing to compare the corpus against")
    found = overlaps(text_files(ROOT / "data"), shared_spans(text_files(SHARED)))
    assert not found, f"{len(found)} spans of 12 words copied from ../shared, e.g. {found[:3]}"

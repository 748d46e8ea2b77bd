"""The committed corpus meets its contract, and `make data` rebuilds it byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from negotiation_stance.corpus import (
    CONTRACT_LABELS,
    STANCE_LABELS,
    check_statements,
    cross_split_duplicates,
    load_annotations,
    load_articles,
    split_articles,
    split_by_article,
)
from negotiation_stance.data import DataError

DATA = ROOT / "data"


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def statements() -> list[dict]:
    return json_lines(DATA / "processed" / "statements.jsonl")


@pytest.fixture(scope="module")
def articles() -> list[dict]:
    return load_articles(DATA / "raw" / "articles.jsonl")


def test_rebuild_is_byte_identical(tmp_path):
    """`make data` (scripts/build_corpus.py) on a copy of raw + annotations gives the committed files."""
    for part in ("raw", "annotations"):
        shutil.copytree(DATA / part, tmp_path / part)
    out = subprocess.run(
        [sys.executable, "scripts/build_corpus.py", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    for rel in ("processed/statements.jsonl", "interim/sentences.jsonl", "processed/summary.json"):
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes(), rel
    # The agreement reports are reproducible from the committed files, sample included.
    for version, min_units in (("v3", 420), ("v4", 400)):
        task = tmp_path / f"task_{version}.jsonl"
        sample = f"second_pass_{version}.jsonl"
        run = [sys.executable, "scripts/agreement.py", "--data-dir", str(tmp_path), "--version", version]
        subprocess.run(
            [*run, "sample", "--min-units", str(min_units), "--out", str(task)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        drawn = [json.loads(line)["id"] for line in task.read_text().splitlines()]
        assert drawn == [json.loads(line)["id"] for line in (DATA / "annotations" / sample).read_text().splitlines()]
        (tmp_path / "annotations" / f"agreement_{version}.json").unlink()
        subprocess.run([*run, "report"], cwd=ROOT, check=True, capture_output=True)
        rel = f"annotations/agreement_{version}.json"
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes()
    # The contract-only pass (data card, "Contract audit") is a named pass, not a drawn sample.
    (tmp_path / "annotations" / "agreement_contract.json").unlink()
    run = [sys.executable, "scripts/agreement.py", "--data-dir", str(tmp_path), "report", "--pass", "contract"]
    subprocess.run(run, cwd=ROOT, check=True, capture_output=True)
    rel = "annotations/agreement_contract.json"
    assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes()
    assert json.loads((DATA / rel).read_text())["sample_seed"] is None
    refused = subprocess.run([*run[:-3], "sample", "--pass", "contract"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "--pass names a pass to report on" in refused.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to stand for a full disk")
def test_full_disk_during_make_data_changes_nothing(tmp_path):
    """A write that fails with ENOSPC (a real one: /dev/full) leaves the previous corpus files and no partials."""
    for part in ("raw", "annotations"):
        shutil.copytree(DATA / part, tmp_path / part)
    for rel in ("interim/sentences.jsonl", "processed/statements.jsonl", "processed/summary.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("previous\n")
    # The second of the three files lands on a full device.
    (tmp_path / "processed" / "statements.jsonl.partial").symlink_to("/dev/full")
    command = [sys.executable, "scripts/build_corpus.py", "--data-dir", str(tmp_path)]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"error: could not write {tmp_path}/processed/statements.jsonl: No space left on device; "
        "the previous corpus files are unchanged"
    ]
    for rel in ("interim/sentences.jsonl", "processed/statements.jsonl", "processed/summary.json"):
        assert (tmp_path / rel).read_text() == "previous\n", rel
    assert not list(tmp_path.rglob("*.partial"))


def test_corpus_size_and_label_shares(articles, statements):
    assert len(articles) >= 330
    assert len(statements) >= 6400
    assert {s["label"] for s in statements} == set(CONTRACT_LABELS)
    stance = Counter(s["label"] for s in statements if s["label"] in STANCE_LABELS)
    for label in STANCE_LABELS:
        assert stance[label] / sum(stance.values()) >= 0.25, label


def test_corpus_voice_meets_the_v3_targets(statements):
    """Issue #11: the corpus moved toward the voice of real official text, and the summary says so."""
    summary = json.loads((DATA / "processed" / "summary.json").read_text())
    whole, v3 = summary["style"]["all"], summary["style"]["v3"]
    assert whole["said_told_according_to"] <= 0.20 and whole["first_person"] >= 0.36
    assert whole["over_40_words"] >= 0.09 and whole["none_mentioning_talks"] >= 0.40
    assert v3["sentences"] >= 2500 and summary["versions"]["v3"]["articles"] >= 120
    assert v3["none_mentioning_talks_count"] >= 700 and v3["counter_cue_stance_count"] >= 300
    assert v3["russia_ukraine"] >= 0.55 and v3["said_told_according_to"] <= 0.10 and v3["over_40_words"] >= 0.20


def test_v4_fills_the_rules_the_corpus_under_covered(statements):
    """v4 (data card, "Provenance"): rule 7 and rule 11 pro sentences, talk-mentioning `none`, official voice."""
    summary = json.loads((DATA / "processed" / "summary.json").read_text())
    v4 = summary["style"]["v4"]
    assert summary["versions"]["v4"]["articles"] >= 45 and v4["sentences"] >= 1000
    assert v4["first_person"] >= 0.6 and v4["over_40_words"] >= 0.25 and v4["said_told_according_to"] <= 0.05
    assert v4["none_mentioning_talks"] >= 0.7
    rows = [r for r in statements if r["version"] == "v4"]
    labels = Counter(r["label"] for r in rows)
    assert labels["pro_negotiation"] > labels["conditional"] and labels["none"] > labels["skeptical"]
    v4_ids = {r["id"] for r in rows}
    tags = Counter(r["hard_case"] for r in json_lines(DATA / "annotations" / "labels.jsonl") if r["id"] in v4_ids)
    assert tags["qualifier_not_condition"] >= 40 and tags["hedged_support"] >= 40 and tags["withdrawal_remark"] >= 10


def test_new_version_never_moves_an_earlier_article(articles):
    after = split_by_article(articles)
    for later in ("v3", "v4"):
        earlier = [a for a in articles if a.get("batch", "v2") < later]
        before = split_by_article(earlier)
        assert len(before) < len(after) and all(after[a] == before[a] for a in before), later


def test_contexts_and_synthetic_provenance(articles):
    contexts = Counter(a["context"] for a in articles)
    assert len(contexts) >= 15
    assert contexts["russia_ukraine"] / len(articles) >= 0.45
    assert all(a["synthetic"] is True for a in articles)


def test_hard_cases_share(statements):
    labels = {json.loads(line)["id"]: json.loads(line) for line in (DATA / "annotations" / "labels.jsonl").open()}
    stance = [s for s in statements if s["label"] != "none"]
    hard = [s for s in stance if labels[s["id"]]["hard_case"]]
    assert len(hard) / len(stance) >= 0.20


def test_no_leakage_between_splits(statements):
    split_of: dict[str, set[str]] = {}
    for s in statements:
        split_of.setdefault(s["article_id"], set()).add(s["split"])
    assert all(len(v) == 1 for v in split_of.values())
    assert not cross_split_duplicates(statements)
    for split in ("train", "validation", "test"):
        assert {s["label"] for s in statements if s["split"] == split} == set(CONTRACT_LABELS)


def test_every_sentence_labelled_with_unique_ids(statements):
    # data/interim holds every split sentence (test_rebuild_is_byte_identical re-splits the articles once).
    sentences = (DATA / "interim" / "sentences.jsonl").read_text(encoding="utf-8").splitlines()
    assert len({s["id"] for s in statements}) == len(statements) == len(sentences)


def test_split_is_stable_per_context(articles):
    before = split_by_article(articles)
    extra = {**articles[0], "article_id": "zz-new", "context": "brand_new_context"}
    after = split_by_article([*articles, extra])
    assert all(after[a] == before[a] for a in before)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ARTICLE = {
    "article_id": "t-1",
    "title": "T",
    "date": "2024-01-02",
    "context": "x",
    "form": "wire_report",
    "synthetic": True,
    "text": "The envoy wants talks. The army refused.",
}


def test_bad_article_names_line_and_field(tmp_path):
    bad = {**ARTICLE, "article_id": "t-2"}
    del bad["date"]
    with pytest.raises(DataError, match=r"articles.jsonl, line 2, field 'date': missing"):
        load_articles(_write(tmp_path / "articles.jsonl", [ARTICLE, bad]))
    with pytest.raises(DataError, match=r"line 2, field 'article_id': duplicate 't-1'"):
        load_articles(_write(tmp_path / "articles.jsonl", [ARTICLE, ARTICLE]))
    with pytest.raises(DataError, match=r"line 1, field 'form': unknown form"):
        load_articles(_write(tmp_path / "articles.jsonl", [{**ARTICLE, "form": "tweet"}]))


def test_bad_annotations_name_line_and_field(tmp_path):
    sentences = split_articles([ARTICLE])
    good = [{"id": s.id, "text": s.text, "label": "none", "speaker": None, "hard_case": None} for s in sentences]
    path = tmp_path / "labels.jsonl"
    assert set(load_annotations(_write(path, good), sentences)) == {s.id for s in sentences}
    cases = [
        ({**good[1], "label": "neutral"}, "label", "is not one of"),
        ({**good[1], "text": "The army agreed."}, "text", "differs from the split sentence"),
        ({**good[1], "hard_case": "sarcasm"}, "hard_case", "is not one of"),
        ({**good[1], "id": "t-1-s009"}, "id", "matches no sentence"),
        (good[0], "id", "duplicate"),
    ]
    for row, field, needle in cases:
        with pytest.raises(DataError) as info:
            load_annotations(_write(path, [good[0], row]), sentences)
        assert (info.value.line, info.value.field) == (2, field) and needle in str(info.value)
    with pytest.raises(DataError, match="1 sentences have no label"):
        load_annotations(_write(path, good[:1]), sentences)


def test_leakage_checks_reject_bad_splits():
    rows = [
        {"id": f"a-{i}", "article_id": "a", "text": f"sentence number {i}", "label": lab, "split": "train"}
        for i, lab in enumerate(CONTRACT_LABELS)
    ]
    leaked = [*rows, {**rows[0], "id": "a-9", "split": "test"}]
    with pytest.raises(DataError, match="article a is in both train and test"):
        check_statements(leaked)
    near = [
        {"id": "x", "split": "train", "text": "Talks will resume in Geneva on Monday, the envoy said."},
        {"id": "y", "split": "test", "text": "Talks will resume in Geneva on Monday, the envoy said!"},
    ]
    assert cross_split_duplicates(near) == [("x", "y", 1.0)]


def test_data_card_reports_the_current_counts():
    summary = json.loads((DATA / "processed" / "summary.json").read_text())
    card = (DATA / "README.md").read_text()
    assert f"**{summary['articles']} articles, {summary['sentences']:,} sentences" in card
    for label, count in summary["labels"].items():
        assert f"| `{label}` | {count:,} |" in card, label
    agreement = json.loads((DATA / "annotations" / "agreement.json").read_text())
    assert agreement["units"] >= 400
    assert f"**{agreement['kappa_four_labels']:.3f}**" in card
    contract = json.loads((DATA / "annotations" / "agreement_contract.json").read_text())
    assert f"**{contract['kappa_four_labels']:.3f}**" in card and f"**{contract['units']} sentences**" in card
    v3 = json.loads((DATA / "annotations" / "agreement_v3.json").read_text())
    assert v3["units"] >= 400 and v3["kappa_four_labels"] >= 0.80
    assert f"**{v3['kappa_four_labels']:.3f}**" in card and f"**{v3['units']} sentences**" in card

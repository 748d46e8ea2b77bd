"""Building the project's corpus: raw articles + annotations -> statements.

``data/raw`` and ``data/annotations`` are written by people; everything under
``data/interim`` and ``data/processed`` is derived here, deterministically,
so ``make data`` rebuilds the committed files byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from negotiation_stance.corpus.style import style_by_version
from negotiation_stance.errors import NotWritableError
from negotiation_stance.io import DataError, Row, atomic_write_all, read_records, write_jsonl_to
from negotiation_stance.labels import CONTRACT_LABELS, HARD_CASES
from negotiation_stance.text import CONTEXT_FIELD, sentence_id, split_sentences

FORMS = (
    "press_release",
    "social_post",
    "wire_report",
    "briefing_transcript",
    "speech_excerpt",
    "call_readout",
    "analysis",
    "joint_statement",
    "interview",
    "un_debate_speech",
)
ARTICLE_FIELDS = {
    "article_id": str,
    "title": str,
    "date": str,
    "context": str,
    "form": str,
    "text": str,
    "synthetic": bool,
}
SPLIT_RATIOS = {"validation": 0.15, "test": 0.15}
# Articles without a `batch` field are the first two writing rounds (v1 + v2).
BASE_VERSION = "v2"
SPLIT_SEED = "negotiation-stance-v1"
NEAR_DUPLICATE_JACCARD = 0.9
_TOKEN = re.compile(r"\w+", re.UNICODE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Sentence:
    id: str
    article_id: str
    sentence_index: int
    text: str


def _require(row: Row, path: Path, field: str, kind: type) -> Any:
    if field not in row.record:
        raise DataError(path, row.line, field, "missing")
    value = row.record[field]
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise DataError(path, row.line, field, f"must be a non-empty {kind.__name__}, got {value!r:.60}")
    return value


def load_articles(path: Path) -> list[dict[str, Any]]:
    """Articles, validated field by field; ids must be unique."""
    articles, seen = [], {}
    for row in read_records(path):
        for field, kind in ARTICLE_FIELDS.items():
            _require(row, path, field, kind)
        record = row.record
        if record["article_id"] in seen:
            raise DataError(
                path,
                row.line,
                "article_id",
                f"duplicate {record['article_id']!r} (first on line {seen[record['article_id']]})",
            )
        if record["form"] not in FORMS:
            raise DataError(path, row.line, "form", f"unknown form {record['form']!r}; one of {list(FORMS)}")
        if not _DATE.match(record["date"]):
            raise DataError(path, row.line, "date", f"must be YYYY-MM-DD, got {record['date']!r}")
        seen[record["article_id"]] = row.line
        articles.append(record)
    return articles


def split_articles(articles: Iterable[dict[str, Any]]) -> list[Sentence]:
    return [
        Sentence(sentence_id(a["article_id"], i), a["article_id"], i, text)
        for a in articles
        for i, text in enumerate(split_sentences(a["text"]))
    ]


def load_annotations(path: Path, sentences: Sequence[Sentence]) -> dict[str, dict[str, Any]]:
    """Labels keyed by sentence id; every sentence must have exactly one, with matching text."""
    by_id = {s.id: s for s in sentences}
    labels: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    for row in read_records(path):
        sid = _require(row, path, "id", str)
        if sid in labels:
            raise DataError(path, row.line, "id", f"duplicate {sid!r} (first on line {lines[sid]})")
        if sid not in by_id:
            raise DataError(path, row.line, "id", f"{sid!r} matches no sentence of data/raw/articles.jsonl")
        if row.record.get("text") != by_id[sid].text:
            raise DataError(
                path,
                row.line,
                "text",
                f"differs from the split sentence {sid} (was the article edited or the splitter changed?)",
            )
        if row.record.get("label") not in CONTRACT_LABELS:
            raise DataError(
                path, row.line, "label", f"{row.record.get('label')!r} is not one of {list(CONTRACT_LABELS)}"
            )
        speaker = row.record.get("speaker")
        if speaker is not None and (not isinstance(speaker, str) or not speaker.strip()):
            raise DataError(path, row.line, "speaker", "must be a non-empty string or null")
        hard = row.record.get("hard_case")
        if hard is not None and hard not in HARD_CASES:
            raise DataError(path, row.line, "hard_case", f"{hard!r} is not one of {list(HARD_CASES)} or null")
        labels[sid], lines[sid] = row.record, row.line
    missing = [s.id for s in sentences if s.id not in labels]
    if missing:
        raise DataError(path, None, "id", f"{len(missing)} sentences have no label, e.g. {missing[:5]}")
    return labels


def _order_key(article_id: str) -> str:
    return hashlib.sha256(f"{SPLIT_SEED}:{article_id}".encode()).hexdigest()


def corpus_version(article: dict[str, Any]) -> str:
    return str(article.get("batch") or BASE_VERSION)


def split_by_article(articles: Sequence[dict[str, Any]]) -> dict[str, str]:
    """article_id -> split. Whole articles go to one split, stratified by version and context.

    Within each (version, context) the articles are ordered by a seeded hash, so
    a new writing round never moves an article of an earlier one between splits.
    """
    by_context: dict[tuple[str, str], list[str]] = defaultdict(list)
    for article in articles:
        by_context[corpus_version(article), article["context"]].append(article["article_id"])
    assignment = {}
    for ids in by_context.values():
        ordered = sorted(ids, key=_order_key)
        n_test = round(len(ordered) * SPLIT_RATIOS["test"])
        n_val = round(len(ordered) * SPLIT_RATIOS["validation"])
        for i, article_id in enumerate(ordered):
            assignment[article_id] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return assignment


def tokens(text: str) -> frozenset[str]:
    return frozenset(t.lower() for t in _TOKEN.findall(text))


def cross_split_duplicates(
    statements: Sequence[dict[str, Any]], threshold: float = NEAR_DUPLICATE_JACCARD
) -> list[tuple[str, str, float]]:
    """Pairs of sentences in different splits whose token Jaccard is >= threshold.

    Prefix filtering (Chaudhuri et al., 2006) keeps this exact but fast: with
    tokens ordered rarest first, two sets with Jaccard >= t must share one of
    the first ``|x| - ceil(t * |x|) + 1`` tokens of each, so only those are indexed.
    """
    toks = [tokens(s["text"]) for s in statements]
    frequency = Counter(t for ts in toks for t in ts)
    index: dict[str, list[int]] = defaultdict(list)
    pairs = []
    for i, ts in enumerate(toks):
        ordered = sorted(ts, key=lambda t: (frequency[t], t))
        prefix = ordered[: len(ordered) - math.ceil(threshold * len(ordered)) + 1]
        candidates = {j for t in prefix for j in index[t]}
        for j in sorted(candidates):
            if statements[i]["split"] == statements[j]["split"]:
                continue
            jaccard = len(ts & toks[j]) / len(ts | toks[j])
            if jaccard >= threshold:
                pairs.append((statements[j]["id"], statements[i]["id"], round(jaccard, 3)))
        for t in prefix:
            index[t].append(i)
    return pairs


def build_statements(
    articles: Sequence[dict[str, Any]], sentences: Sequence[Sentence], labels: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    splits = split_by_article(articles)
    version = {a["article_id"]: corpus_version(a) for a in articles}
    text_at = {(s.article_id, s.sentence_index): s.text for s in sentences}
    return [
        {
            "id": s.id,
            "article_id": s.article_id,
            "sentence_index": s.sentence_index,
            "text": s.text,
            "label": labels[s.id]["label"],
            "speaker": labels[s.id].get("speaker"),
            "split": splits[s.article_id],
            "version": version[s.article_id],
            # Last, so that adding it left every other byte of a row as it was.
            CONTEXT_FIELD: text_at.get((s.article_id, s.sentence_index - 1), ""),
        }
        for s in sentences
    ]


def check_statements(statements: Sequence[dict[str, Any]], path: str = "data/processed/statements.jsonl") -> None:
    """The leakage, coverage and context checks every build and test run."""
    split_of: dict[str, str] = {}
    text_at = {(s["article_id"], s.get("sentence_index")): s["text"] for s in statements}
    for line, s in enumerate(statements, start=1):
        previous = split_of.setdefault(s["article_id"], s["split"])
        if previous != s["split"]:
            raise DataError(path, line, "split", f"article {s['article_id']} is in both {previous} and {s['split']}")
        if CONTEXT_FIELD in s:
            expected = text_at.get((s["article_id"], s["sentence_index"] - 1), "")
            if s[CONTEXT_FIELD] != expected:
                raise DataError(path, line, CONTEXT_FIELD, f"is not the previous sentence of article {s['article_id']}")
    present = defaultdict(set)
    for s in statements:
        present[s["split"]].add(s["label"])
    for split in ("train", "validation", "test"):
        absent = set(CONTRACT_LABELS) - present[split]
        if absent:
            raise DataError(path, None, "split", f"split {split} has no {sorted(absent)} rows; adjust the split")
    dups = cross_split_duplicates(statements)
    if dups:
        raise DataError(path, None, "text", f"{len(dups)} near-duplicate sentences across splits, e.g. {dups[:3]}")


def summarize(
    articles: Sequence[dict[str, Any]], statements: Sequence[dict[str, Any]], labels: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Counts for the data card; written beside the processed file."""
    stance = [s for s in statements if s["label"] != "none"]
    hard = [s for s in stance if labels[s["id"]].get("hard_case")]
    context_of = {a["article_id"]: a["context"] for a in articles}
    return {
        "articles": len(articles),
        "sentences": len(statements),
        "labels": dict(sorted(Counter(s["label"] for s in statements).items())),
        "stance_share": {k: round(v / len(stance), 3) for k, v in sorted(Counter(s["label"] for s in stance).items())},
        "hard_case_share_of_stance": round(len(hard) / len(stance), 3),
        "hard_cases": dict(sorted(Counter(labels[s["id"]]["hard_case"] for s in hard).items())),
        "splits": {
            split: {
                "articles": len({s["article_id"] for s in statements if s["split"] == split}),
                "sentences": sum(1 for s in statements if s["split"] == split),
                "labels": dict(sorted(Counter(s["label"] for s in statements if s["split"] == split).items())),
            }
            for split in ("train", "validation", "test")
        },
        "contexts": dict(sorted(Counter(a["context"] for a in articles).items())),
        "context_sentences": dict(sorted(Counter(context_of[s["article_id"]] for s in statements).items())),
        "forms": dict(sorted(Counter(a["form"] for a in articles).items())),
        "versions": {
            v: {"articles": sum(corpus_version(a) == v for a in articles), "sentences": n}
            for v, n in sorted(Counter(s["version"] for s in statements).items())
        },
        "style": style_by_version(list(statements), context_of),
        "speakers_named": sum(1 for s in stance if s.get("speaker")),
    }


def build(data_dir: Path) -> dict[str, Any]:
    """raw + annotations -> interim sentences, processed statements and summary."""
    articles = load_articles(data_dir / "raw" / "articles.jsonl")
    sentences = split_articles(articles)
    labels = load_annotations(data_dir / "annotations" / "labels.jsonl", sentences)
    statements = build_statements(articles, sentences, labels)
    check_statements(statements)
    summary = summarize(articles, statements, labels)
    writers = {
        data_dir / "interim" / "sentences.jsonl": lambda tmp: write_jsonl_to(tmp, (s.__dict__ for s in sentences)),
        data_dir / "processed" / "statements.jsonl": lambda tmp: write_jsonl_to(tmp, statements),
        data_dir / "processed" / "summary.json": lambda tmp: tmp.write_text(
            json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
        ),
    }
    target = data_dir  # named in the error: the file being written when it failed
    try:
        with atomic_write_all(writers) as partials:
            for (path, write), tmp in zip(writers.items(), partials, strict=True):
                target = path
                write(tmp)
    except OSError as exc:
        raise CorpusWriteError(
            f"could not write {target}: {exc.strerror or exc}; the previous corpus files are unchanged"
        ) from exc
    return summary


class CorpusWriteError(NotWritableError):
    """The rebuilt corpus could not be written; the previous files are left as they were."""

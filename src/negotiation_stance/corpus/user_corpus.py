"""A user's labelled sentences as a versioned corpus: ``data/user/<name>/`` with article-level splits.

Each import of a Label Studio export becomes a new version folder ``v<N>/``
(``labels.jsonl`` + ``card.json``) that is never rewritten; ``labels.jsonl`` and
``card.json`` beside them are copies of the newest version, the stable path
for ``data.extra``. Splits are drawn per article from a hash of its id, so an
article keeps its split when later versions add articles.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from negotiation_stance.corpus.candidates import from_label_studio
from negotiation_stance.errors import ConfigError
from negotiation_stance.io import DataError, atomic_write_all, read_text, write_jsonl_to

USER_DIR = Path("data") / "user"
LABELS_FILE, CARD_FILE = "labels.jsonl", "card.json"
# Train, validation and test shares of the articles.
USER_SPLITS = {"train": 0.70, "validation": 0.15, "test": 0.15}
USER_SPLIT_SEED = "negotiation-stance-user"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_VERSION = re.compile(r"^v(\d+)$")
_SENTENCE_SUFFIX = re.compile(r"-s\d+$")


@dataclass(frozen=True)
class ImportResult:
    folder: Path
    version: str
    rows: list[dict[str, Any]]
    unlabelled: list[str]
    card: dict[str, Any]


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ConfigError(f"corpus name {name!r}: use lower-case letters, digits, '-' and '_' (e.g. 'my-news')")
    return name


def _position(article_id: str) -> float:
    """Where an article falls in [0, 1): fixed by its id alone."""
    digest = hashlib.sha256(f"{USER_SPLIT_SEED}:{article_id}".encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


def assign_splits(article_ids: Sequence[str]) -> dict[str, str]:
    """article_id -> split, 70/15/15 by hash position; with 3 or more articles no split is left empty.

    The hash keeps an article in its split across versions; only when a split
    would be empty are the articles nearest to its share moved into it.
    """
    ids = sorted(set(article_ids), key=_position)
    bounds, low = {}, 0.0
    for split, share in USER_SPLITS.items():
        bounds[split], low = (low, low + share), low + share
    assignment = {a: next(s for s, (lo, hi) in bounds.items() if _position(a) < hi or s == "test") for a in ids}
    if len(ids) >= 3:
        for split in ("test", "validation", "train"):
            counts = Counter(assignment.values())
            if counts[split] == 0:
                # Move the article nearest the middle of the split's share, from a split that keeps one.
                middle = sum(bounds[split]) / 2
                donors = [a for a in ids if counts[assignment[a]] > 1]
                assignment[min(donors, key=lambda a: abs(_position(a) - middle))] = split
    return assignment


def article_of(sentence_id: str, article_id: str | None) -> str:
    """The task's article id, or the sentence id without its ``-sNNN`` position."""
    return article_id or _SENTENCE_SUFFIX.sub("", sentence_id)


def corpus_rows(labelled: Sequence[dict[str, Any]], source: str | Path) -> list[dict[str, Any]]:
    """Rows of the user corpus (id, article_id, text, label, split, annotator, speaker, hard_case)."""
    seen: dict[str, int] = {}
    for n, row in enumerate(labelled, start=1):
        if row["id"] in seen:
            raise DataError(source, None, "data.sid", f"task #{n}: {row['id']!r} is also task #{seen[row['id']]}")
        seen[row["id"]] = n
        if not row["text"].strip():
            raise DataError(source, None, "data.text", f"task #{n} ({row['id']}): the text is empty")
    articles = {r["id"]: article_of(r["id"], r.get("article_id")) for r in labelled}
    splits = assign_splits(list(articles.values()))
    return [
        {
            "id": r["id"], "article_id": articles[r["id"]], "text": r["text"], "label": r["label"],
            "split": splits[articles[r["id"]]], "annotator": r["annotator"], "speaker": r.get("speaker"),
            "hard_case": r.get("hard_case"),
        }
        for r in labelled
    ]  # fmt: skip


def versions(folder: Path) -> list[str]:
    """The version folders of a user corpus, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p.name) for p in folder.iterdir() if p.is_dir() and (m := _VERSION.match(p.name))]
    return [name for _, name in sorted(found)]


def corpus_card(
    name: str, version: str, rows: Sequence[dict[str, Any]], source: Path, unlabelled: int, now: datetime
) -> dict[str, Any]:
    counts = {s: dict(sorted(Counter(r["label"] for r in rows if r["split"] == s).items())) for s in USER_SPLITS}
    articles = {s: len({r["article_id"] for r in rows if r["split"] == s}) for s in USER_SPLITS}
    return {
        "name": name, "version": version, "created": now.isoformat(timespec="seconds"),
        "source": str(source), "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "sentences": len(rows), "articles": articles, "counts": counts, "unlabelled_tasks": unlabelled,
        "split_seed": USER_SPLIT_SEED, "split_shares": USER_SPLITS,
    }  # fmt: skip


def read_export(path: Path) -> Any:
    """A Label Studio JSON export (``Export > JSON``), or a DataError naming the file and line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None, f"malformed JSON ({exc.msg} at column {exc.colno})") from exc


def import_labels(
    export_path: str | Path,
    name: str,
    *,
    root: str | Path = ".",
    model_labels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Write the export's labelled tasks as the next version of ``<root>/data/user/<name>``.

    All four files (the version's and the newest copies) are replaced together or not at all.
    """
    check_name(name)
    export_path = Path(export_path)
    labelled, unlabelled = from_label_studio(read_export(export_path), export_path, model_labels=model_labels)
    if not labelled:
        raise DataError(export_path, None, None, f"none of its {len(unlabelled)} tasks has an annotation yet")
    rows = corpus_rows(labelled, export_path)
    folder = Path(root) / USER_DIR / name
    existing = versions(folder)
    version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
    card = corpus_card(name, version, rows, export_path, len(unlabelled), now or datetime.now(timezone.utc))
    targets = [folder / version / LABELS_FILE, folder / version / CARD_FILE, folder / LABELS_FILE, folder / CARD_FILE]
    with atomic_write_all(targets) as partials:
        for labels_tmp, card_tmp in (partials[:2], partials[2:]):
            write_jsonl_to(labels_tmp, rows)
            card_tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ImportResult(folder, version, rows, unlabelled, card)

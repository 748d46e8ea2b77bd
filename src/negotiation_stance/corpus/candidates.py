"""Turning users' own articles into sentences to label, and Label Studio round trips.

Annotators already use Label Studio, so sentences go out as its JSON task
format and come back from its JSON export as rows of ``labels.jsonl``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from negotiation_stance.io import DataError, read_records, read_text, required_text
from negotiation_stance.labels import CONTRACT_LABELS, HARD_CASES
from negotiation_stance.text import about_talks, sentence_id, split_sentences

_SLUG = re.compile(r"[^a-z0-9]+")
# Optional fields of a .jsonl article, copied to every sentence of it.
ARTICLE_META = ("title", "date", "source")

# Names in the Label Studio labelling config (data/label_studio_config.xml).
LS_TEXT, LS_LABEL, LS_SPEAKER, LS_HARD_CASE = "text", "label", "speaker", "hard_case"


def article_id_for(path: Path) -> str:
    return _SLUG.sub("-", path.stem.lower()).strip("-") or "article"


def read_articles(folder: str | Path) -> list[dict[str, Any]]:
    """Articles of a folder: each ``*.txt`` is one (its id from the file name); each ``*.jsonl`` line is one.

    A ``.jsonl`` line needs ``id`` and ``text``; ``title``, ``date`` and ``source``
    are optional. Ids must be unique across the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, None, None, "is not a folder of .txt or .jsonl articles")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".txt", ".jsonl") and p.is_file())
    if not files:
        raise DataError(folder, None, None, "no .txt or .jsonl files found")
    articles: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in files:
        for article, line in _articles_of(path):
            where = f"{path.name}" + (f", line {line}" if line else "")
            if article["article_id"] in seen:
                raise DataError(
                    path, line, "id" if line else None,
                    f"article id {article['article_id']!r} is also given by {seen[article['article_id']]}; "
                    "ids must be unique",
                )  # fmt: skip
            seen[article["article_id"]] = where
            articles.append(article)
    return articles


def _articles_of(path: Path) -> list[tuple[dict[str, Any], int | None]]:
    try:
        if path.suffix.lower() == ".txt":
            text = read_text(path)
            if not text.strip():
                raise DataError(path, None, None, "is empty")
            return [({"article_id": article_id_for(path), "text": text, "source_file": path.name}, None)]
        out = []
        for row in read_records(path):
            raw_id = row.record.get("id")
            if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
                raise DataError(
                    path, row.line, "id", "missing" if raw_id is None else f"must be a string, got {raw_id!r:.40}"
                )
            article = {"article_id": str(raw_id).strip(), "text": required_text(row, path, "text")}
            for key in ARTICLE_META:
                if row.record.get(key) is not None:
                    article[key] = row.record[key]
            out.append(({**article, "source_file": path.name}, row.line))
        return out
    except PermissionError as exc:
        raise DataError(path, None, None, f"cannot be read ({exc.strerror})") from exc


def article_sentences(articles: Sequence[dict[str, Any]], *, only_talks: bool = False) -> list[dict[str, Any]]:
    """Every sentence of the articles, split by the project's splitter, with stable ids."""
    rows = []
    for article in articles:
        meta = {k: article[k] for k in (*ARTICLE_META, "source_file") if k in article}
        for i, sentence in enumerate(split_sentences(article["text"])):
            talks = about_talks(sentence)
            if only_talks and not talks:
                continue
            rows.append({
                "id": sentence_id(article["article_id"], i), "article_id": article["article_id"],
                "sentence_index": i, "text": sentence, "about_talks": talks, **meta,
            })  # fmt: skip
    return rows


def extract_candidates(folder: Path, *, only_talks: bool = False) -> list[dict[str, Any]]:
    """Sentences of every article in ``folder`` (see :func:`read_articles`) with stable ids; optionally only
    those about talks."""
    return article_sentences(read_articles(folder), only_talks=only_talks)


def to_label_studio(
    rows: Sequence[dict[str, Any]],
    predictions: Sequence[dict[str, Any]] | None = None,
    *,
    data_fields: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Label Studio tasks (``[{"data": {...}, "predictions": [...]}, ...]``), optionally pre-annotated.

    ``data_fields`` of each row are copied into the task's data (e.g. ``uncertainty``, to sort by in Label Studio).
    """
    tasks = []
    for i, row in enumerate(rows):
        data = {LS_TEXT: row["text"], "sid": row["id"], "article_id": row.get("article_id")}
        task: dict[str, Any] = {"data": data | {key: row[key] for key in data_fields if key in row}}
        if predictions is not None:
            pred = predictions[i]
            task["predictions"] = [{
                "model_version": pred.get("model_version", "negotiation-stance"),
                "score": pred["score"],
                "result": [{"from_name": LS_LABEL, "to_name": LS_TEXT, "type": "choices",
                            "value": {"choices": [pred["label"]]}}],
            }]  # fmt: skip
        tasks.append(task)
    return tasks


def _choice(result: Iterable[dict[str, Any]], name: str) -> str | None:
    for item in result:
        if item.get("from_name") == name:
            choices = item.get("value", {}).get("choices") or []
            return choices[0] if choices else None
    return None


def _textarea(result: Iterable[dict[str, Any]], name: str) -> str | None:
    for item in result:
        if item.get("from_name") == name:
            texts = item.get("value", {}).get("text") or []
            joined = " ".join(t.strip() for t in texts if t.strip())
            return joined or None
    return None


def from_label_studio(
    export: Any, source: str | Path = "export.json", *, model_labels: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """``labels.jsonl`` rows from a Label Studio JSON export, plus the ids of tasks nobody labelled.

    Errors name the task (position in the export) and the field; unlabelled
    tasks are returned, never silently dropped. The latest non-cancelled
    annotation of a task wins. Labels must be the contract's, and ``model_labels`` when given.
    """
    if not isinstance(export, list):
        raise DataError(source, None, None, "a Label Studio JSON export is a list of tasks")
    rows, unlabelled = [], []
    for n, task in enumerate(export, start=1):
        where = f"task #{n}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not data.get("sid") or not isinstance(data.get(LS_TEXT), str):
            raise DataError(
                source, None, "data", f"{where} lacks data.sid or data.text (was it exported by this project?)"
            )
        annotations = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        if not annotations:
            unlabelled.append(data["sid"])
            continue
        annotation = max(annotations, key=lambda a: (a.get("updated_at") or "", a.get("id") or 0))
        result = annotation.get("result", [])
        label = _choice(result, LS_LABEL)
        if label not in CONTRACT_LABELS:
            raise DataError(
                source,
                None,
                LS_LABEL,
                f"{where} ({data['sid']}): label {label!r} is not one of {list(CONTRACT_LABELS)}",
            )
        if model_labels is not None and label not in model_labels:
            raise DataError(
                source, None, LS_LABEL,
                f"{where} ({data['sid']}): label {label!r} is not one of the model's labels {list(model_labels)}",
            )  # fmt: skip
        hard = _choice(result, LS_HARD_CASE)
        if hard is not None and hard not in HARD_CASES:
            raise DataError(
                source, None, LS_HARD_CASE, f"{where} ({data['sid']}): {hard!r} is not one of {list(HARD_CASES)}"
            )
        who = annotation.get("completed_by")
        rows.append({
            "id": data["sid"], "article_id": data.get("article_id"), "text": data[LS_TEXT], "label": label,
            "speaker": None if label == "none" else _textarea(result, LS_SPEAKER), "hard_case": hard,
            "annotator": f"label-studio:{who.get('email', who.get('id')) if isinstance(who, dict) else who}",
        })  # fmt: skip
    return rows, unlabelled

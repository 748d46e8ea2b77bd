"""Turning users' own articles into sentences to label, and Label Studio round trips.

Annotators already use Label Studio, so sentences go out as its JSON task
format and come back from its JSON export as rows of ``labels.jsonl``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from negotiation_stance.io import DataError
from negotiation_stance.labels import CONTRACT_LABELS, HARD_CASES
from negotiation_stance.text import about_talks, sentence_id, split_sentences

_SLUG = re.compile(r"[^a-z0-9]+")

# Names in the Label Studio labelling config (data/label_studio_config.xml).
LS_TEXT, LS_LABEL, LS_SPEAKER, LS_HARD_CASE = "text", "label", "speaker", "hard_case"


def article_id_for(path: Path) -> str:
    return _SLUG.sub("-", path.stem.lower()).strip("-") or "article"


def extract_candidates(folder: Path, *, only_talks: bool = False) -> list[dict[str, Any]]:
    """Sentences of every ``*.txt`` in ``folder`` with stable ids; optionally only those about talks."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise DataError(folder, None, None, "no .txt files found")
    rows, seen = [], {}
    for path in files:
        article_id = article_id_for(path)
        if article_id in seen:
            raise DataError(
                path, None, None, f"gives the same article id {article_id!r} as {seen[article_id]}; rename one"
            )
        seen[article_id] = path.name
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(path, None, None, f"is not valid UTF-8 ({exc.reason}); save it as UTF-8") from exc
        for i, sentence in enumerate(split_sentences(text)):
            talks = about_talks(sentence)
            if only_talks and not talks:
                continue
            rows.append({
                "id": sentence_id(article_id, i), "article_id": article_id, "sentence_index": i,
                "text": sentence, "about_talks": talks, "source_file": path.name,
            })  # fmt: skip
    return rows


def to_label_studio(
    rows: Sequence[dict[str, Any]], predictions: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Label Studio tasks (``[{"data": {...}, "predictions": [...]}, ...]``), optionally pre-annotated."""
    tasks = []
    for i, row in enumerate(rows):
        task: dict[str, Any] = {"data": {LS_TEXT: row["text"], "sid": row["id"], "article_id": row.get("article_id")}}
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


def from_label_studio(export: Any, source: str | Path = "export.json") -> tuple[list[dict[str, Any]], list[str]]:
    """``labels.jsonl`` rows from a Label Studio JSON export, plus the ids of tasks nobody labelled.

    Errors name the task (position in the export) and the field; unlabelled
    tasks are returned, never silently dropped. The latest non-cancelled
    annotation of a task wins.
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
        hard = _choice(result, LS_HARD_CASE)
        if hard is not None and hard not in HARD_CASES:
            raise DataError(
                source, None, LS_HARD_CASE, f"{where} ({data['sid']}): {hard!r} is not one of {list(HARD_CASES)}"
            )
        who = annotation.get("completed_by")
        rows.append({
            "id": data["sid"], "text": data[LS_TEXT], "label": label,
            "speaker": None if label == "none" else _textarea(result, LS_SPEAKER), "hard_case": hard,
            "annotator": f"label-studio:{who.get('email', who.get('id')) if isinstance(who, dict) else who}",
        })  # fmt: skip
    return rows, unlabelled

"""Loading labelled splits (the corpus or users' own files) into validated rows and datasets."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from negotiation_stance.config.paths import extra_names
from negotiation_stance.config.validation import label_map_problems
from negotiation_stance.errors import ConfigError
from negotiation_stance.io import DataError, Row, read_records, required_text
from negotiation_stance.names import mask_person_names
from negotiation_stance.text import CONTEXT_FIELD

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
# Rows of a data.extra corpus get ids "user:<corpus name>:<id>": they never collide with the corpus's own.
EXTRA_ID_PREFIX = "user:"
# What a JSON value that is not a string is called in an error message.
_JSON_TYPES = {list: "array", dict: "object", int: "number", float: "number", bool: "boolean", type(None): "null"}


def load_split(
    path: str | Path,
    *,
    labels: list[str],
    text_field: str = "text",
    label_field: str = "label",
    pair_field: str | None = None,
    id_field: str | None = None,
    split_field: str | None = None,
    split: str | None = None,
    drop_labels: list[str] | tuple[str, ...] = (),
    keep: dict[str, list[str]] | None = None,
    group_field: str | None = None,
    allow_empty: bool = False,
    label_map: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Validated rows of one split, plus a count of rows left out by ``drop_labels``.

    ``label_map`` (data.label_map) renames each row's label first, so ``drop_labels`` and
    ``labels`` see the new name. ``keep`` ({field: values}) selects rows, e.g. one corpus version; ``group_field``
    records each row's group (its article) for subsampling by group; ``allow_empty``
    accepts a split without rows (a small user corpus). Without
    ``id_field`` nothing tells two rows with the same text apart, so repeats are
    checked on the text (and pair) instead: see :class:`_Repeats`.
    """
    label_set, dropped = set(labels), Counter[str]()
    seen_ids: dict[str, int] = {}
    repeats = _Repeats(path, label_field)
    out: list[dict[str, Any]] = []
    for row in read_records(path):
        if not _in_split(row, path, split_field, split) or not _kept(row, path, keep or {}):
            continue
        text = required_text(row, path, text_field)
        label = row.record.get(label_field)
        if label_field not in row.record:
            raise DataError(path, row.line, label_field, "missing")
        if not isinstance(label, str):
            kind = _JSON_TYPES.get(type(label), type(label).__name__)
            raise DataError(path, row.line, label_field, f"must be a string, one of {labels}; got a JSON {kind}")
        label = (label_map or {}).get(label, label)
        if label in drop_labels:
            dropped[str(label)] += 1
            continue
        if label not in label_set:
            raise DataError(path, row.line, label_field, f"unknown label {label!r}; data.labels is {labels}")
        item: dict[str, Any] = {"text": text, "label": labels.index(label), "line": row.line}
        if pair_field:  # an article's first sentence has no context: "" is its pair
            item["pair"] = required_text(row, path, pair_field, allow_empty=pair_field == CONTEXT_FIELD)
        if id_field:
            if id_field not in row.record:
                raise DataError(path, row.line, id_field, "missing")
            key = str(row.record[id_field])
            if key in seen_ids:
                raise DataError(path, row.line, id_field, f"duplicate id {key!r} (first on line {seen_ids[key]})")
            seen_ids[key] = row.line
            item["id"] = key
        else:
            item["id"] = f"{Path(path).name}:{row.line}"
            repeats.check(row, text, item.get("pair"), label)
        if group_field:
            item["group"] = str(required_text(row, path, group_field))
        out.append(item)
    if not out and not allow_empty:
        where = f" with {split_field} = {split!r}" if split_field else ""
        where += f" and {dict(keep)}" if keep else ""
        raise DataError(path, None, None, f"no usable rows{where}")
    repeats.warn(f" ({split_field} = {split!r})" if split_field else "")
    return out, dropped


class _Repeats:
    """Rows without ids, compared by text (and pair): the same label again is counted, another label is an error.

    Two such rows are one example; labelled twice differently, one label is a
    mistake, and the model cannot learn both.
    """

    def __init__(self, path: str | Path, label_field: str):
        self.path, self.label_field = path, label_field
        self.first: dict[tuple[str, str | None], tuple[int, str]] = {}
        self.repeats: list[tuple[int, int]] = []  # (line, the line it repeats)

    def check(self, row: Row, text: str, pair: str | None, label: str) -> None:
        key = (" ".join(text.split()), pair)  # spacing differences do not make another sentence
        first_line, first_label = self.first.setdefault(key, (row.line, label))
        if first_line == row.line:
            return
        if first_label != label:
            raise DataError(
                self.path, row.line, self.label_field,
                f"{label!r}, but line {first_line} has the same text labelled {first_label!r}; fix one of them, "
                "or set data.id_field if the two rows are different sentences",
            )  # fmt: skip
        self.repeats.append((row.line, first_line))

    def warn(self, where: str) -> None:
        if self.repeats:
            log.warning(
                "%s%s: %d row(s) repeat an earlier row's text and label (e.g. line %d repeats line %d); they are "
                "kept, so each counts again in training and scoring. Remove them, or set data.id_field if distinct.",
                self.path, where, len(self.repeats), *self.repeats[0],
            )  # fmt: skip


def warn_absent_labels(name: str, rows: list[dict[str, Any]], labels: list[str]) -> list[str]:
    """Warn when a scored set has no rows of some label: macro-F1 counts that label's F1 as 0.

    ``classification_metrics`` averages F1 over every label of the model
    (scikit-learn, ``zero_division=0``), so with ``a`` of ``k`` labels absent the
    score is at most ``(k - a) / k``; the checkpoint is still chosen on it.
    """
    present = {int(r["label"]) for r in rows}
    absent = [label for i, label in enumerate(labels) if i not in present]
    if absent and rows:
        log.warning(
            "The %s set (%d rows) has no rows labelled %s: macro-F1 averages F1 over all %d labels and counts 0 "
            "for each absent one, so it cannot exceed %.3f on this set.",
            name, len(rows), absent, len(labels), (len(labels) - len(absent)) / len(labels),
        )  # fmt: skip
    return absent


def _in_split(row: Row, path: str | Path, split_field: str | None, split: str | None) -> bool:
    """Whether the row belongs to ``split`` (always, for files without a split field)."""
    if split_field is None:
        return True
    if split_field not in row.record:
        raise DataError(path, row.line, split_field, "missing")
    if row.record[split_field] not in SPLITS:
        raise DataError(path, row.line, split_field, f"must be one of {list(SPLITS)}, got {row.record[split_field]!r}")
    return row.record[split_field] == split


def _kept(row: Row, path: str | Path, keep: dict[str, list[str]]) -> bool:
    for key, values in keep.items():
        if key not in row.record:
            raise DataError(path, row.line, key, "missing (named in data.filter)")
        if str(row.record[key]) not in {str(v) for v in values}:
            return False
    return True


def subsample_groups(rows: list[dict[str, Any]], fraction: float) -> list[dict[str, Any]]:
    """Rows of the first ``fraction`` of groups in a fixed hash order.

    The order depends on the group ids only, so the 25% subset lies inside the
    50% subset, and every seed of one fraction trains on the same articles.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"data.train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return rows
    if any("group" not in r for r in rows):
        raise ConfigError("data.train_fraction < 1 needs data.group_field (e.g. article_id)")
    groups = sorted({r["group"] for r in rows}, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    chosen = set(groups[: max(1, round(len(groups) * fraction))])
    return [r for r in rows if r["group"] in chosen]


def split_options(data_cfg: Any) -> dict[str, Any]:
    """The ``load_split`` keyword arguments that a ``data`` config fixes (fields, filter, groups)."""
    return {
        "text_field": data_cfg.text_field,
        "label_field": data_cfg.label_field,
        "pair_field": data_cfg.pair_field,
        "id_field": data_cfg.id_field,
        "split_field": data_cfg.split_field,
        "keep": {str(k): list(v) for k, v in data_cfg.get("filter", {}).items()},
        "group_field": data_cfg.get("group_field"),
        "label_map": label_map_setting(data_cfg),
    }


def label_map_setting(data_cfg: Any) -> dict[str, str]:
    """``data.label_map`` as a plain dict, checked: every target is one of ``data.labels``."""
    problems = label_map_problems(data_cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    return {str(k): str(v) for k, v in (data_cfg.get("label_map") or {}).items()}


def load_extra(
    path: str | Path,
    name: str,
    labels: list[str],
    drop_labels: list[str] | tuple[str, ...] = (),
    label_map: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of a user corpus (``import-labels``: id, article_id, text, label, split) per split, ids prefixed;
    ``label_map`` renames labels as for the corpus."""
    splits = {}
    for split in SPLITS:
        rows, _ = load_split(
            path, labels=labels, id_field="id", split_field="split", split=split, drop_labels=drop_labels,
            group_field="article_id", allow_empty=True, label_map=label_map,
        )  # fmt: skip
        for row in rows:
            row["id"] = f"{EXTRA_ID_PREFIX}{name}:{row['id']}"
        splits[split] = rows
    if not any(splits.values()):
        raise DataError(path, None, None, f"no usable rows (labels {labels}, {list(drop_labels)} left out)")
    return splits


def extra_rows(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The rows of one data.extra corpus among merged rows (by their id prefix)."""
    prefix = f"{EXTRA_ID_PREFIX}{name}:"
    return [r for r in rows if str(r["id"]).startswith(prefix)]


def _merge_extra(data_cfg: Any, labels: list[str], result: dict[str, list[dict[str, Any]]]) -> None:
    """Add each ``data.extra`` corpus's splits to the corpus's, rows shaped like the corpus's own."""
    paths = list(data_cfg.get("extra") or [])
    if paths and data_cfg.pair_field:
        raise ConfigError("data.extra corpora hold single sentences; they cannot be added when data.pair_field is set")
    for path, name in zip(paths, extra_names(paths), strict=True):
        added = load_extra(path, name, labels, list(data_cfg.drop_labels), label_map_setting(data_cfg))
        for split, rows in added.items():
            keys = set(result[split][0]) if result[split] else {"text", "label", "line", "id"}
            result[split].extend({k: v for k, v in row.items() if k in keys} for row in rows)
        log.info("Data extra %s (%s): %s", name, path, {split: len(rows) for split, rows in added.items()})


def mask_names_setting(data_cfg: Any) -> bool:
    """``data.mask_names``, checked: the Hydra schema types it, but a hand-built config may hold anything."""
    value = data_cfg.get("mask_names", False)
    if not isinstance(value, bool):
        raise ConfigError(f"data.mask_names must be true or false, got {value!r}")
    return value


def mask_rows(rows: list[dict[str, Any]], context: bool = False) -> list[dict[str, Any]]:
    """Copies of ``rows`` whose text has person names replaced by ``[PERSON]`` (``data.mask_names``).

    A stance target (a pair) is left as it is; a ``context`` pair is the previous sentence
    of the article, reported speech like the text, so it is masked too.
    """
    if context:
        return [{**row, "text": mask_person_names(row["text"]), "pair": mask_person_names(row["pair"])} for row in rows]
    return [{**row, "text": mask_person_names(row["text"])} for row in rows]


def load_splits(data_cfg: Any) -> DatasetDict:
    """Train/validation/test as a ``DatasetDict`` with integer labels from ``data.labels``.

    ``data.extra`` corpora are added to the split each row names; with ``data.mask_names`` every row's
    person names are masked before anything tokenises them.
    """
    labels = list(data_cfg.labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ConfigError(f"data.labels must list at least two distinct labels, got {labels}")
    label_map_setting(data_cfg)  # a bad target fails before any file is read
    paths = {"train": data_cfg.train_path, "validation": data_cfg.validation_path, "test": data_cfg.test_path}
    result: dict[str, list[dict[str, Any]]] = {}
    for split, path in paths.items():
        options = split_options(data_cfg)
        rows, _ = load_split(path, labels=labels, split=split, drop_labels=list(data_cfg.drop_labels), **options)
        if split == "train":
            rows = subsample_groups(rows, float(data_cfg.get("train_fraction", 1.0)))
        limit = data_cfg.max_train_samples if split == "train" else data_cfg.max_eval_samples
        if limit is not None:
            rows = rows[:limit]
        result[split] = rows
    _merge_extra(data_cfg, labels, result)
    if mask_names_setting(data_cfg):
        context = data_cfg.get("pair_field") == CONTEXT_FIELD
        result = {split: mask_rows(rows, context) for split, rows in result.items()}
    for split in ("validation", "test"):
        warn_absent_labels(split, result[split], labels)
    absent = [label for i, label in enumerate(labels) if i not in {r["label"] for r in result["train"]}]
    if absent:
        raise ConfigError(f"data.labels {labels} does not match the training data: no training rows for {absent}")
    return DatasetDict({split: Dataset.from_list(rows) for split, rows in result.items()})

"""The one "evaluate these sets and write the reports" step, shared by train, evaluate and baselines.

A set is a list of rows (``text``, optional ``pair``, integer ``label``, ``id``);
any model is a function from rows to logits, so a transformer and a
scikit-learn baseline are scored, reported and tracked the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance import tracking
from negotiation_stance.data import SPLITS, load_split
from negotiation_stance.data.loading import extra_rows, label_map_setting, mask_names_setting, mask_rows
from negotiation_stance.evaluation.metrics import classification_metrics
from negotiation_stance.evaluation.report import EvalSettings, SplitReport, write_reports
from negotiation_stance.io import read_records
from negotiation_stance.labels import STANCE_LABELS
from negotiation_stance.modeling.model import predict_logits, softmax
from negotiation_stance.text import ARTICLE_THRESHOLD, CONTEXT_FIELD, is_statement

log = logging.getLogger(__name__)

# The splits every run scores; the checkpoint is chosen on the first, the second is only reported.
EVAL_SPLITS = ("validation", "test")
# Set names of a data.extra corpus's own rows: user-<name>-validation, user-<name>-test.
USER_SET = "user-{name}-{split}"

LogitsFn = Callable[[Sequence[dict[str, Any]]], np.ndarray]


@dataclass
class LabelledSet:
    rows: list[dict[str, Any]]
    # Rows left out because the model has no such label; None when nothing could be dropped.
    dropped: dict[str, int] | None = None
    # A real set scored by a three-label model: its `none` rows, left out of ``rows`` but still
    # predicted, so the model is also scored four-way through article mode's relevance rule.
    none_rows: list[dict[str, Any]] = field(default_factory=list)
    # A real set scored by a context model: where each row's previous sentence came from, and how
    # many rows had none to be found (scored with "" as their pair); None for any other set.
    context: dict[str, Any] | None = None


def torch_logits_fn(model: Any, tokenizer: Any, *, batch_size: int, max_length: int) -> LogitsFn:
    """Rows -> logits with a transformer, in length-sorted batches."""

    def logits(rows: Sequence[dict[str, Any]]) -> np.ndarray:
        texts = [r["text"] for r in rows]
        pairs = [r["pair"] for r in rows] if rows and "pair" in rows[0] else None
        return predict_logits(model, tokenizer, texts, pairs, batch_size=batch_size, max_length=max_length)

    return logits


def mask_set(labelled: LabelledSet, context: bool = False) -> LabelledSet:
    """The set with person names masked in every row (``data.mask_names``), `none` rows included;
    ``context``: in each row's previous sentence too."""
    rows, none_rows = mask_rows(labelled.rows, context), mask_rows(labelled.none_rows, context)
    return replace(labelled, rows=rows, none_rows=none_rows)


def load_real_sets(
    eval_dir: Path,
    names: Sequence[str],
    labels: Sequence[str],
    pair_field: str | None = None,
    context_sources: Mapping[str, str] | None = None,
    mask_names: bool = False,
    label_map: Mapping[str, str] | None = None,
) -> dict[str, LabelledSet]:
    """Rows of the real-text sets in ``../shared/eval`` that a model with ``labels`` can be scored on.

    A three-label model is scored on the stance rows only; the rows left out are
    counted (``dropped``), never silently. Empty when the folder is absent, and for a
    pair model: the real sets carry no pair, and scoring it on single sentences would
    report a task it was not trained for. A context model (``pair_field`` is
    ``context_before``) is the exception: each set named in ``context_sources``
    (evaluation.context_sources) gets its rows' previous sentences from there, at
    scoring time, and a set without a source is skipped. ``mask_names``
    masks person names, as the model saw them. ``label_map`` (data.label_map) renames the gold
    labels as the model's training rows were renamed: a relevance model is scored stance vs none.
    """
    context = pair_field == CONTEXT_FIELD
    if names and pair_field and not context:
        log.info("Real-text evaluation skipped: a pair model (data.pair_field=%s) needs a pair per sentence, "
                 "and the real sets have none.", pair_field)  # fmt: skip
        return {}
    label_map = dict(label_map or {})
    if not {label_map.get(label, label) for label in STANCE_LABELS} <= set(labels):
        log.info("Real-text evaluation skipped: the labels %s are not the contract's stance labels.", list(labels))
        return {}
    if not eval_dir.is_dir():
        log.info("Real-text evaluation skipped: %s not found (it exists only beside the project's CI).", eval_dir)
        return {}
    sets = {}
    for name in names:
        path = eval_dir / f"{name}.jsonl"
        if not path.is_file():
            log.info("Real-text set %s skipped: %s not found.", name, path)
            continue
        source = Path((context_sources or {}).get(name) or "") if context else None
        if source is not None and not source.is_file():
            where = f"{source} was not found" if source.name else "is not set"
            log.info("Real-text set %s skipped: a context model needs each sentence's previous sentence, and its "
                     "source (evaluation.context_sources.%s) %s.", name, name, where)  # fmt: skip
            continue
        # `none` gets the id after the model's labels, so stance rows keep the model's ids.
        rows, _ = load_split(path, labels=list(dict.fromkeys([*labels, "none"])), id_field="id", label_map=label_map)
        found = attach_contexts(name, rows, source) if source is not None else None
        if "none" in labels:
            sets[name] = LabelledSet(rows, {}, context=found)
            continue
        stance = [r for r in rows if r["label"] < len(labels)]
        none = [r for r in rows if r["label"] == len(labels)]
        sets[name] = LabelledSet(stance, {"none": len(none)} if none else {}, none, found)
    return {name: mask_set(labelled, context) for name, labelled in sets.items()} if mask_names else sets


def attach_contexts(name: str, rows: Sequence[dict[str, Any]], source: Path) -> dict[str, Any]:
    """Give each row its previous sentence as ``pair``, read from ``source`` (scoring only; nothing is copied).

    A ``.jsonl`` source (``../shared/corpus/candidates.jsonl``) is joined by ``id``,
    its ``text`` checked against the row's; any other file is the article the rows
    are the sentences of, in order (``seed.jsonl``). A row whose context cannot be
    found gets ``""`` and is counted as missing.
    """
    if source.suffix.lower() == ".jsonl":
        contexts = _contexts_by_id(rows, source)
    else:
        contexts = _contexts_from_article(rows, source)
    for row in rows:
        row["pair"] = contexts.get(row["id"], "")
    missing = sum(1 for row in rows if row["id"] not in contexts)
    empty = sum(1 for context in contexts.values() if not context)
    if missing:
        log.warning("Real-text set %s: %d of %d rows have no previous sentence in %s; they are scored with an "
                    "empty one.", name, missing, len(rows), source)  # fmt: skip
    log.info("Real-text set %s: previous sentences from %s (%d rows, %d empty).", name, source, len(rows), empty)
    return {"source": str(source), "rows": len(rows), "empty": empty, "missing": missing}


def _same_text(a: str, b: str) -> bool:
    return a.split() == b.split()


def _contexts_by_id(rows: Sequence[dict[str, Any]], source: Path) -> dict[str, str]:
    """id -> ``context_before`` of the source rows that are these rows (same id, same text)."""
    text_of = {row["id"]: row["text"] for row in rows}
    contexts = {}
    for record in (row.record for row in read_records(source)):
        key, context = str(record.get("id")), record.get(CONTEXT_FIELD)
        if key in text_of and isinstance(context, str) and _same_text(str(record.get("text", "")), text_of[key]):
            contexts[key] = context
    return contexts


def _contexts_from_article(rows: Sequence[dict[str, Any]], source: Path) -> dict[str, str]:
    """id -> the row before it, for rows that are consecutive sentences of the article in ``source``.

    The project's splitter does not cut every labelled row where the set does (it keeps
    a quote of three sentences whole), so the rows themselves are the sentences: a row
    gets the previous row only where nothing but whitespace lies between the two in the
    article, and the article's first sentence gets "".
    """
    article = " ".join(source.read_text(encoding="utf-8").split())
    contexts: dict[str, str] = {}
    start, previous = 0, None  # where to search next; the row found just before, if it ends at ``start``
    for row in sorted(rows, key=lambda r: r["line"]):
        text = " ".join(row["text"].split())
        at = article.find(text, start)
        if at < 0:
            previous = None
            continue
        if at == 0:
            contexts[row["id"]] = ""
        elif previous is not None and not article[start:at].strip():
            contexts[row["id"]] = previous
        previous, start = row["text"], at + len(text)
    return contexts


def scored_sets(
    splits: Any,
    eval_dir: Path,
    real_sets: Sequence[str],
    labels: Sequence[str],
    extra: Sequence[str] = (),
    pair_field: str | None = None,
    context_sources: Mapping[str, str] | None = None,
    mask_names: bool = False,
    label_map: Mapping[str, str] | None = None,
) -> dict[str, LabelledSet]:
    """What a run scores after fitting: validation and test of ``splits`` (a DatasetDict), the real-text sets,
    and each ``extra`` (data.extra) corpus's own validation and test rows, which the first two also hold.
    ``mask_names``, ``label_map``: the real sets' names are masked and labels renamed as ``splits``' already are."""
    sets = {split: LabelledSet(splits[split].to_list()) for split in EVAL_SPLITS}
    for name in extra:
        for split in EVAL_SPLITS:
            rows = extra_rows(sets[split].rows, name)
            if rows:
                sets[USER_SET.format(name=name, split=split)] = LabelledSet(rows)
            else:
                log.warning("data.extra %s has no %s rows: it is not scored on its own there.", name, split)
    sets.update(load_real_sets(eval_dir, real_sets, labels, pair_field, context_sources, mask_names, label_map))
    return sets


def configured_sets(cfg: Any, splits: Any, labels: Sequence[str], extra: Sequence[str]) -> dict[str, LabelledSet]:
    """:func:`scored_sets` with what the composed config says (train and baselines score alike)."""
    return scored_sets(
        splits,
        Path(cfg.paths.shared_eval_dir),
        list(cfg.evaluation.real_sets),
        labels,
        extra,
        cfg.data.pair_field,
        cfg.evaluation.context_sources,
        mask_names_setting(cfg.data),
        label_map_setting(cfg.data),
    )


def report_sets(
    sets: dict[str, LabelledSet],
    logits: dict[str, np.ndarray],
    labels: Sequence[str],
    settings: EvalSettings,
    temperature: float = 1.0,
) -> dict[str, SplitReport]:
    """Score each set from its logits (divided by ``temperature``)."""
    reports = {}
    for name, labelled in sets.items():
        rows = labelled.rows
        ids, texts, gold = [str(r["id"]) for r in rows], [r["text"] for r in rows], [int(r["label"]) for r in rows]
        own = logits[name][: len(rows)]
        reports[name] = report = SplitReport(name, ids, texts, gold, own, list(labels), settings, temperature)
        if labelled.dropped is not None:
            report.metrics["dropped"] = labelled.dropped
        if labelled.context is not None:
            report.metrics["context"] = labelled.context
        # A relevance model (stance, none) gets no three_way: choosing among one label would score 1.0.
        if "none" in labels and len(labels) > 2:
            report.metrics["three_way"] = three_way_scores(report)
        elif "none" not in labels and labelled.none_rows:
            none_logits = logits[name][len(rows) :]
            report.metrics["four_way"] = four_way_scores(report, labelled.none_rows, none_logits)
            # Saved (predictions_<set>_none.jsonl) so the ablation can pair this model with a relevance model.
            report.none_ids = [str(r["id"]) for r in labelled.none_rows]
            report.none_probs = softmax(none_logits / report.temperature)
    return reports


def three_way_scores(report: SplitReport) -> dict[str, Any]:
    """A four-label model on the stance rows, choosing among the stance labels only: comparable with three labels."""
    stance = [i for i, label in enumerate(report.labels) if label != "none"]
    keep = [k for k, gold in enumerate(report.gold) if gold in stance]
    gold = [stance.index(report.gold[k]) for k in keep]
    predicted = report.probs[keep][:, stance].argmax(axis=-1).tolist() if keep else []
    scores = classification_metrics(gold, predicted, [report.labels[i] for i in stance])
    return {key: scores[key] for key in ("macro_f1", "accuracy", "n", "per_class")}


def four_way_scores(
    report: SplitReport,
    none_rows: Sequence[dict[str, Any]],
    none_logits: np.ndarray,
    threshold: float = ARTICLE_THRESHOLD,
) -> dict[str, Any]:
    """A three-label model on every row, `none` by article mode's rule: comparable with a four-label model."""
    labels = [*report.labels, "none"]
    texts = [*report.texts, *(r["text"] for r in none_rows)]
    gold = [*report.gold, *([len(report.labels)] * len(none_rows))]
    probs = np.concatenate([report.probs, softmax(none_logits / report.temperature)]) if none_rows else report.probs
    predicted = [
        int(p.argmax()) if is_statement(text, float(p.max()), threshold) else len(report.labels)
        for text, p in zip(texts, probs, strict=True)
    ]
    scores = classification_metrics(gold, predicted, labels)
    rule = f"article mode's text.is_statement: talks mentioned and top probability >= {threshold}"
    return {**{key: scores[key] for key in ("macro_f1", "accuracy", "n", "per_class")}, "none_rule": rule}


def predict_sets(sets: dict[str, LabelledSet], logits_fn: LogitsFn) -> dict[str, np.ndarray]:
    """Logits of each set's ``rows``, then of its ``none_rows``."""
    return {name: logits_fn([*labelled.rows, *labelled.none_rows]) for name, labelled in sets.items()}


def evaluate_and_report(
    folder: Path,
    title: str,
    header: dict[str, Any],
    sets: dict[str, LabelledSet],
    logits: dict[str, np.ndarray],
    labels: Sequence[str],
    settings: EvalSettings,
    run: Any | None,
    temperature: float = 1.0,
) -> dict[str, SplitReport]:
    """Score every set, write its report files into ``folder`` (``report.md``, errors, predictions, plots)
    and log them to the W&B ``run``."""
    reports = report_sets(sets, logits, labels, settings, temperature)
    write_reports(folder, title, reports, header)
    tracking.log_reports(run, reports, list(labels), folder, max_errors=settings.max_errors)
    return reports


def sections(reports: dict[str, SplitReport], splits: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metrics of the named splits and of every real-text set, as a RunRecord holds them."""
    own = {name: reports[name].metrics for name in splits}
    real = {name: r.metrics for name, r in reports.items() if name not in splits and not name.startswith("user-")}
    return own, real


def user_sections(reports: dict[str, SplitReport], extra: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"validation": metrics, "test": metrics}}`` of each data.extra corpus (RunRecord.user); any split
    scored on its own."""
    out: dict[str, dict[str, Any]] = {}
    for name in extra:
        for split in SPLITS:
            report = reports.get(USER_SET.format(name=name, split=split))
            if report is not None:
                out.setdefault(name, {})[split] = report.metrics
    return out

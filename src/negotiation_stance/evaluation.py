"""Scores for a set of predictions, computed with scikit-learn.

``evaluate.load()`` fetches metric code from the Hub at run time and fails
offline, so the metrics come from scikit-learn directly.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from negotiation_stance.data import load_split
from negotiation_stance.modeling import predict_logits

log = logging.getLogger(__name__)


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Macro-F1 (primary), accuracy, per-class scores and the confusion matrix."""
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "n": len(y_true),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": list(labels),
            # rows = gold label, columns = predicted label
            "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        },
    }


def flat_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """``{prefix}/macro_f1``, ``{prefix}/f1/<label>``... for W&B summaries and tables."""
    flat = {f"{prefix}/macro_f1": metrics["macro_f1"], f"{prefix}/accuracy": metrics["accuracy"]}
    for label, scores in metrics["per_class"].items():
        for name in ("precision", "recall", "f1"):
            flat[f"{prefix}/{name}/{label}"] = scores[name]
    return flat


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def error_rows(
    ids: Sequence[str],
    texts: Sequence[str],
    gold: Sequence[int],
    probs: np.ndarray,
    labels: Sequence[str],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Misclassified examples, most confident mistakes first."""
    pred = probs.argmax(axis=-1)
    rows = [
        {
            "id": ids[i],
            "text": texts[i],
            "gold": labels[gold[i]],
            "predicted": labels[int(pred[i])],
            "confidence": float(probs[i, pred[i]]),
            **{f"p_{label}": float(probs[i, j]) for j, label in enumerate(labels)},
        }
        for i in range(len(gold))
        if int(pred[i]) != gold[i]
    ]
    rows.sort(key=lambda r: -r["confidence"])
    return rows[:limit] if limit is not None else rows


@dataclass
class SplitReport:
    """Everything measured on one evaluated set, kept for reports and W&B tables."""

    name: str
    metrics: dict[str, Any]
    ids: list[str]
    texts: list[str]
    gold: list[int]
    probs: np.ndarray
    labels: list[str]

    @property
    def predicted(self) -> list[int]:
        return [int(i) for i in self.probs.argmax(axis=-1)]

    def errors(self, limit: int | None = None) -> list[dict[str, Any]]:
        return error_rows(self.ids, self.texts, self.gold, self.probs, self.labels, limit)

    def write_errors(self, path: Path, limit: int | None = None) -> None:
        rows = self.errors(limit)
        columns = ["id", "text", "gold", "predicted", "confidence", *[f"p_{label}" for label in self.labels]]
        tmp = path.with_suffix(".csv.partial")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)


def score_rows(
    name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
) -> SplitReport:
    """Predict ``rows`` (text, optional pair, integer label, id) and score them."""
    texts = [r["text"] for r in rows]
    pairs = [r["pair"] for r in rows] if rows and "pair" in rows[0] else None
    gold = [int(r["label"]) for r in rows]
    probs = softmax(predict_logits(model, tokenizer, texts, pairs, batch_size=batch_size, max_length=max_length))
    metrics = classification_metrics(gold, probs.argmax(axis=-1), labels)
    return SplitReport(name, metrics, [str(r["id"]) for r in rows], texts, gold, probs, list(labels))


def score_real_sets(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    eval_dir: Path,
    names: Sequence[str],
    labels: Sequence[str],
    **kwargs: Any,
) -> dict[str, SplitReport]:
    """Score the real-text sets in ``../shared/eval`` when that folder exists.

    A three-label model is scored on the stance rows only; the rows left out are
    counted in the metrics (``dropped``), never silently.
    """
    if not eval_dir.is_dir():
        log.info("Real-text evaluation skipped: %s not found (it exists only beside the project's CI).", eval_dir)
        return {}
    reports = {}
    for name in names:
        path = eval_dir / f"{name}.jsonl"
        if not path.is_file():
            log.info("Real-text set %s skipped: %s not found.", name, path)
            continue
        drop = [] if "none" in labels else ["none"]
        rows, dropped = load_split(path, labels=list(labels), id_field="id", drop_labels=drop)
        report = score_rows(name, model, tokenizer, rows, labels, **kwargs)
        report.metrics["dropped"] = dict(dropped)
        reports[name] = report
    return reports


def evaluate_model_dir(cfg: Any) -> dict[str, Any]:
    """Score an exported model on the configured splits (``make evaluate``).

    The model's own label order decides the ids; data labels the model lacks
    (``none`` for a three-label model) are left out and counted.
    """
    import json

    import torch

    from negotiation_stance import tracking
    from negotiation_stance.config import to_plain_dict
    from negotiation_stance.modeling import load_exported

    torch.set_num_threads(cfg.training.num_threads)
    output_dir = Path(cfg.paths.output_dir)
    tokenizer, model, labels = load_exported(cfg.model_dir)
    drop = sorted(set(cfg.data.drop_labels) | (set(cfg.data.labels) - set(labels)))
    paths = {"train": cfg.data.train_path, "validation": cfg.data.validation_path, "test": cfg.data.test_path}
    kwargs = dict(batch_size=cfg.training.eval_batch_size, max_length=cfg.training.max_length)
    reports: dict[str, SplitReport] = {}
    dropped: dict[str, dict[str, int]] = {}
    for split in cfg.splits:
        if split not in paths:
            raise ValueError(f"splits: unknown split {split!r}; choose from {list(paths)}")
        rows, left_out = load_split(
            paths[split],
            labels=labels,
            text_field=cfg.data.text_field,
            label_field=cfg.data.label_field,
            pair_field=cfg.data.pair_field,
            id_field=cfg.data.id_field,
            split_field=cfg.data.split_field,
            split=split,
            drop_labels=drop,
        )
        reports[split] = score_rows(split, model, tokenizer, rows, labels, **kwargs)
        dropped[split] = dict(left_out)
    reports.update(
        score_real_sets(model, tokenizer, Path(cfg.paths.shared_eval_dir), cfg.evaluation.real_sets, labels, **kwargs)
    )
    metrics = {
        "model_dir": str(Path(cfg.model_dir).resolve()),
        "data": cfg.data.name,
        "labels": labels,
        "dropped": dropped,
        **{name: report.metrics for name, report in reports.items() if name in cfg.splits},
        "real": {name: report.metrics for name, report in reports.items() if name not in cfg.splits},
    }
    run = tracking.start_run(
        cfg.wandb,
        enabled=cfg.logger.name == "wandb",
        output_dir=output_dir,
        config=to_plain_dict(cfg),
        tags=list(cfg.tags),
    )
    try:
        for name, report in reports.items():
            report.write_errors(output_dir / f"errors_{name}.csv", limit=cfg.evaluation.max_errors)
        tracking.log_reports(run, reports, labels, max_errors=cfg.evaluation.max_errors)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    finally:
        tracking.finish_run(run)
    return metrics

"""Metrics for a set of predictions: scikit-learn scores plus the statistics
that make two runs comparable (bootstrap intervals, paired tests, calibration).

``evaluate.load()`` fetches metric code from the Hub at run time and fails
offline, so the scores come from scikit-learn and NumPy directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


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


def _macro_f1_batch(
    gold: np.ndarray, pred: np.ndarray, n_labels: int, label_ids: Sequence[int] | None = None
) -> np.ndarray:
    """Macro-F1 of each row of (B, n) gold/pred index arrays, vectorised over B."""
    scores = []
    for c in label_ids if label_ids is not None else range(n_labels):
        tp = ((gold == c) & (pred == c)).sum(axis=-1)
        fp = ((gold != c) & (pred == c)).sum(axis=-1)
        fn = ((gold == c) & (pred != c)).sum(axis=-1)
        denom = 2 * tp + fp + fn
        scores.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return np.mean(scores, axis=0)


def bootstrap_macro_f1(
    gold: Sequence[int],
    pred: Sequence[int],
    n_labels: int,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of macro-F1 over resampled sentences."""
    gold_a, pred_a = np.asarray(gold), np.asarray(pred)
    idx = np.random.default_rng(seed).integers(0, len(gold_a), size=(samples, len(gold_a)))
    scores = _macro_f1_batch(gold_a[idx], pred_a[idx], n_labels)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap(
    gold: Sequence[int],
    pred_a: Sequence[int],
    pred_b: Sequence[int],
    n_labels: int,
    *,
    samples: int = 10000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap on one test set: how often B is at least as good as A when A looked better.

    Returns the observed difference (A - B) and a one-sided p-value for
    "A is better than B" (Berg-Kirkpatrick et al., 2012, the usual NLP test).
    """
    gold_a, a, b = np.asarray(gold), np.asarray(pred_a), np.asarray(pred_b)
    observed = float(_macro_f1_batch(gold_a, a, n_labels) - _macro_f1_batch(gold_a, b, n_labels))
    idx = np.random.default_rng(seed).integers(0, len(gold_a), size=(samples, len(gold_a)))
    deltas = _macro_f1_batch(gold_a[idx], a[idx], n_labels) - _macro_f1_batch(gold_a[idx], b[idx], n_labels)
    # Shift to the null hypothesis of no difference.
    p_value = float(np.mean(deltas - observed >= observed)) if observed > 0 else 1.0
    return {"delta_macro_f1": observed, "p_value": p_value, "samples": samples}


def bootstrap_mean_difference(
    gold: Sequence[int],
    preds_a: Sequence[Sequence[int]],
    preds_b: Sequence[Sequence[int]],
    n_labels: int,
    *,
    samples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Mean over paired runs (e.g. seeds) of macro-F1(A) - macro-F1(B) on one set, with a percentile bootstrap
    interval over its sentences; each resample is shared by every run, so the pairing by sentence holds."""
    gold_a, a, b = np.asarray(gold), np.atleast_2d(preds_a), np.atleast_2d(preds_b)
    if a.shape != b.shape or a.shape[1] != len(gold_a):
        raise ValueError(f"predictions {a.shape} and {b.shape} must both be (runs, {len(gold_a)})")
    observed = float(np.mean(_macro_f1_batch(gold_a, a, n_labels) - _macro_f1_batch(gold_a, b, n_labels)))
    rng, deltas = np.random.default_rng(seed), []
    for start in range(0, samples, 1000):  # in chunks: (runs, chunk, sentences) arrays stay small
        idx = rng.integers(0, len(gold_a), size=(min(1000, samples - start), len(gold_a)))
        diff = _macro_f1_batch(gold_a[idx], a[:, idx], n_labels) - _macro_f1_batch(gold_a[idx], b[:, idx], n_labels)
        deltas.append(diff.mean(axis=0))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(deltas), [tail, 100 - tail])
    return {"delta": observed, "low": float(low), "high": float(high), "samples": samples}


def macro_f1_over(
    gold: Sequence[int], pred: Sequence[int], labels: Sequence[str], subset: Sequence[str]
) -> float | None:
    """Macro-F1 over a subset of labels (SemEval's F_avg), None when no subset label exists."""
    ids = [labels.index(label) for label in subset if label in labels]
    if not ids:
        return None
    return float(_macro_f1_batch(np.asarray(gold), np.asarray(pred), len(labels), ids))


def calibration(probs: np.ndarray, gold: Sequence[int], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error of the top-label confidence, with the reliability-diagram bins."""
    confidence = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == np.asarray(gold)).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if count:
            acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
            ece += count / len(confidence) * abs(acc - conf)
            table.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "count": count,
                    "accuracy": acc,
                    "confidence": conf,
                }
            )
    return {"ece": float(ece), "bins": table}


def full_metrics(
    gold: Sequence[int],
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    favg_labels: Sequence[str] = (),
    bootstrap_samples: int = 1000,
    confidence: float = 0.95,
    ece_bins: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything reported for one evaluated set."""
    pred = probs.argmax(axis=-1)
    metrics = classification_metrics(gold, pred, labels)
    low, high = bootstrap_macro_f1(gold, pred, len(labels), samples=bootstrap_samples, confidence=confidence, seed=seed)
    metrics["macro_f1_ci"] = {"low": low, "high": high, "confidence": confidence, "samples": bootstrap_samples}
    metrics["favg"] = macro_f1_over(gold, pred, list(labels), list(favg_labels))
    metrics["favg_labels"] = [label for label in favg_labels if label in labels]
    cal = calibration(probs, gold, ece_bins)
    metrics["ece"], metrics["reliability"] = cal["ece"], cal["bins"]
    return metrics


def prediction_rows(
    ids: Sequence[str], texts: Sequence[str], gold: Sequence[int], probs: np.ndarray, labels: Sequence[str]
) -> list[dict[str, Any]]:
    """Every example in input order: id, text, gold, predicted, confidence and each label's probability."""
    pred = probs.argmax(axis=-1)
    return [
        {
            "id": ids[i],
            "text": texts[i],
            "gold": labels[gold[i]],
            "predicted": labels[int(pred[i])],
            "confidence": float(probs[i, pred[i]]),
            **{f"p_{label}": float(probs[i, j]) for j, label in enumerate(labels)},
        }
        for i in range(len(gold))
    ]


def error_rows(
    ids: Sequence[str],
    texts: Sequence[str],
    gold: Sequence[int],
    probs: np.ndarray,
    labels: Sequence[str],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Misclassified examples, most confident mistakes first."""
    rows = [r for r in prediction_rows(ids, texts, gold, probs, labels) if r["predicted"] != r["gold"]]
    rows.sort(key=lambda r: -r["confidence"])
    return rows[:limit] if limit is not None else rows


def fit_temperature(logits: np.ndarray, gold: Sequence[int]) -> float:
    """Temperature T minimising validation NLL of softmax(logits / T) (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    gold_a = np.asarray(gold)

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled = scaled - scaled.max(axis=-1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=-1, keepdims=True))
        return float(-log_probs[np.arange(len(gold_a)), gold_a].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))

"""Evaluation reports of a model on labelled sets: files under the run folder.

Each evaluated set gets its metrics (with a bootstrap interval and calibration),
its errors (CSV), its per-sentence predictions (JSON lines, for paired tests
between runs) and two plots; ``report.md`` puts them side by side.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from negotiation_stance.data import load_split
from negotiation_stance.evaluation import error_rows, full_metrics, softmax
from negotiation_stance.modeling import predict_logits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    favg_labels: tuple[str, ...] = ("pro_negotiation", "skeptical", "conditional")
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    ece_bins: int = 10
    max_errors: int = 200
    seed: int = 0

    @classmethod
    def from_config(cls, evaluation: Any, seed: int) -> EvalSettings:
        return cls(
            favg_labels=tuple(evaluation.favg_labels),
            bootstrap_samples=evaluation.bootstrap_samples,
            confidence=evaluation.confidence,
            ece_bins=evaluation.ece_bins,
            max_errors=evaluation.max_errors,
            seed=seed,
        )


@dataclass
class SplitReport:
    """Everything measured on one evaluated set, kept for files and W&B tables."""

    name: str
    ids: list[str]
    texts: list[str]
    gold: list[int]
    logits: np.ndarray
    labels: list[str]
    settings: EvalSettings
    temperature: float = 1.0

    def __post_init__(self) -> None:
        self.probs = softmax(self.logits / self.temperature)
        self.metrics = full_metrics(
            self.gold,
            self.probs,
            self.labels,
            favg_labels=self.settings.favg_labels,
            bootstrap_samples=self.settings.bootstrap_samples,
            confidence=self.settings.confidence,
            ece_bins=self.settings.ece_bins,
            seed=self.settings.seed,
        )
        if self.temperature != 1.0:
            self.metrics["temperature"] = self.temperature
            self.metrics["ece_uncalibrated"] = full_metrics(
                self.gold, softmax(self.logits), self.labels, bootstrap_samples=10, ece_bins=self.settings.ece_bins
            )["ece"]

    @property
    def predicted(self) -> list[int]:
        return [int(i) for i in self.probs.argmax(axis=-1)]

    def errors(self, limit: int | None = None) -> list[dict[str, Any]]:
        return error_rows(self.ids, self.texts, self.gold, self.probs, self.labels, limit)

    def write(self, folder: Path) -> None:
        """errors_<set>.csv, predictions_<set>.jsonl and the two plots."""
        columns = ["id", "text", "gold", "predicted", "confidence", *[f"p_{label}" for label in self.labels]]
        with _atomic(folder / f"errors_{self.name}.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.errors(self.settings.max_errors))
        with _atomic(folder / f"predictions_{self.name}.jsonl") as tmp, tmp.open("w", encoding="utf-8") as fh:
            predicted = self.predicted
            for i, sid in enumerate(self.ids):
                row = {"id": sid, "gold": self.labels[self.gold[i]], "predicted": self.labels[predicted[i]]}
                row["probabilities"] = {
                    label: round(float(p), 6) for label, p in zip(self.labels, self.probs[i], strict=True)
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        plot_confusion(self.metrics, folder / f"confusion_{self.name}.png", self.name)
        plot_reliability(self.metrics, folder / f"reliability_{self.name}.png", self.name)


class _atomic:
    """Write to ``<path>.partial`` and rename on success, so no half-written file is left."""

    def __init__(self, path: Path):
        self.path, self.tmp = path, path.with_name(path.name + ".partial")

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def plot_confusion(metrics: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, matrix = metrics["confusion_matrix"]["labels"], np.array(metrics["confusion_matrix"]["matrix"])
    fig, ax = plt.subplots(figsize=(1.4 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
    ax.set_title(f"{title}: macro-F1 {metrics['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(metrics: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for b in metrics["reliability"]:
        ax.bar(
            (b["low"] + b["high"]) / 2,
            b["accuracy"],
            width=b["high"] - b["low"],
            alpha=0.6,
            edgecolor="black",
            color="tab:blue",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}: ECE {metrics['ece']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def predict_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    *,
    batch_size: int,
    max_length: int,
) -> np.ndarray:
    texts = [r["text"] for r in rows]
    pairs = [r["pair"] for r in rows] if rows and "pair" in rows[0] else None
    return predict_logits(model, tokenizer, texts, pairs, batch_size=batch_size, max_length=max_length)


def score_rows(
    name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    settings: EvalSettings,
    *,
    batch_size: int = 64,
    max_length: int = 128,
) -> SplitReport:
    """Predict ``rows`` (text, optional pair, integer label, id) and score them."""
    logits = predict_rows(model, tokenizer, rows, batch_size=batch_size, max_length=max_length)
    return SplitReport(
        name,
        [str(r["id"]) for r in rows],
        [r["text"] for r in rows],
        [int(r["label"]) for r in rows],
        logits,
        list(labels),
        settings,
    )


def load_real_sets(
    eval_dir: Path, names: Sequence[str], labels: Sequence[str]
) -> dict[str, tuple[list[dict[str, Any]], dict[str, int]]]:
    """Rows of the real-text sets in ``../shared/eval`` that a model with ``labels`` can be scored on.

    A three-label model is scored on the stance rows only; the rows left out are
    returned as counts (``dropped``), never silently. Empty when the folder is absent.
    """
    stance = ("pro_negotiation", "skeptical", "conditional")
    if not set(stance) <= set(labels):
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
        drop = [] if "none" in labels else ["none"]
        rows, dropped = load_split(path, labels=list(labels), id_field="id", drop_labels=drop)
        sets[name] = (rows, dict(dropped))
    return sets


def score_real_sets(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    eval_dir: Path,
    names: Sequence[str],
    labels: Sequence[str],
    settings: EvalSettings,
    **kwargs: Any,
) -> dict[str, SplitReport]:
    """Score a transformer on the real-text sets (see ``load_real_sets``)."""
    reports = {}
    for name, (rows, dropped) in load_real_sets(eval_dir, names, labels).items():
        reports[name] = score_rows(name, model, tokenizer, rows, labels, settings, **kwargs)
        reports[name].metrics["dropped"] = dropped
    return reports


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def report_markdown(title: str, reports: dict[str, SplitReport], header: dict[str, Any]) -> str:
    """``report.md``: one table of all sets, then per-set details."""
    lines = [f"# {title}", ""]
    lines += [f"- **{key}:** {value}" for key, value in header.items()]
    lines += ["", "| set | n | macro-F1 | 95% CI | F_avg | accuracy | ECE |", "|---|---|---|---|---|---|---|"]
    for name, r in reports.items():
        m, ci = r.metrics, r.metrics["macro_f1_ci"]
        lines.append(
            f"| {name} | {m['n']} | {m['macro_f1']:.3f} | {ci['low']:.3f}–{ci['high']:.3f} | {_fmt(m['favg'])} "
            f"| {m['accuracy']:.3f} | {m['ece']:.3f} |"
        )
    lines += ["", "The checkpoint was chosen on validation macro-F1; test was used for nothing else.", ""]
    for name, r in reports.items():
        m = r.metrics
        lines += [f"## {name}", ""]
        if m.get("dropped"):
            lines += [f"Rows left out because the model has no such label: {m['dropped']}", ""]
        if "temperature" in m:
            lines += [
                f"Temperature {m['temperature']:.3f}: ECE {m['ece_uncalibrated']:.3f} before, {m['ece']:.3f} after.",
                "",
            ]
        lines += ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [
            f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
            for label, s in m["per_class"].items()
        ]
        lines += ["", f"![confusion](confusion_{name}.png) ![reliability](reliability_{name}.png)", ""]
        worst = r.errors(5)
        if worst:
            lines += ["Most confident errors:", "", "| gold | predicted | p | sentence |", "|---|---|---|---|"]
            lines += [f"| {e['gold']} | {e['predicted']} | {e['confidence']:.2f} | {e['text'][:140]} |" for e in worst]
            lines.append("")
    return "\n".join(lines) + "\n"


def write_reports(folder: Path, title: str, reports: dict[str, SplitReport], header: dict[str, Any]) -> None:
    for report in reports.values():
        report.write(folder)
    with _atomic(folder / "report.md") as tmp:
        tmp.write_text(report_markdown(title, reports, header), encoding="utf-8")


def evaluate_model_dir(cfg: Any) -> dict[str, Any]:
    """Score an exported model on the configured splits (``make evaluate``).

    The model's own label order decides the ids; data labels the model lacks
    (``none`` for a three-label model) are left out and counted.
    """
    import torch

    from negotiation_stance import tracking
    from negotiation_stance.modeling import load_exported

    torch.set_num_threads(cfg.training.num_threads)
    output_dir = Path(cfg.paths.output_dir)
    tokenizer, model, labels = load_exported(cfg.model_dir)
    settings = EvalSettings.from_config(cfg.evaluation, cfg.seed)
    missing = sorted(set(cfg.data.labels) - set(labels))
    if missing:
        log.warning(
            "The model at %s has no %s label(s) (its labels: %s); rows with them are left out and counted as "
            "'dropped'. Train with data=negotiation_all for a model that predicts none.",
            cfg.model_dir, missing, labels,
        )  # fmt: skip
    drop = sorted(set(cfg.data.drop_labels) | set(missing))
    paths = {"train": cfg.data.train_path, "validation": cfg.data.validation_path, "test": cfg.data.test_path}
    kwargs = {"batch_size": cfg.training.eval_batch_size, "max_length": cfg.training.max_length}
    reports: dict[str, SplitReport] = {}
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
        reports[split] = score_rows(split, model, tokenizer, rows, labels, settings, **kwargs)
        reports[split].metrics["dropped"] = dict(left_out)
    real = score_real_sets(
        model, tokenizer, Path(cfg.paths.shared_eval_dir), cfg.evaluation.real_sets, labels, settings, **kwargs
    )
    reports.update(real)
    metrics = {
        "kind": "evaluate",
        "model_dir": str(Path(cfg.model_dir).resolve()),
        "data": {"name": cfg.data.name},
        "labels": labels,
        **{name: reports[name].metrics for name in cfg.splits},
        "real": {name: report.metrics for name, report in real.items()},
    }
    run = tracking.start_run_for(cfg, output_dir)
    try:
        write_reports(output_dir, f"Evaluation of {cfg.model_dir}", reports, {"data": cfg.data.name, "labels": labels})
        tracking.log_reports(run, reports, labels, output_dir, max_errors=settings.max_errors)
        write_json(output_dir / "metrics.json", metrics)
    finally:
        tracking.finish_run(run)
    return metrics

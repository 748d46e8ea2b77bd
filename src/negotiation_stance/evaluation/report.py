"""Evaluation reports of a model on labelled sets: files under the run folder.

Each evaluated set gets its metrics (with a bootstrap interval and calibration),
its errors (CSV), its per-sentence predictions (JSON lines, for paired tests
between runs) and two plots; ``report.md`` puts them side by side.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance.evaluation.metrics import error_rows, full_metrics, prediction_rows
from negotiation_stance.io import atomic_write, write_text
from negotiation_stance.modeling.model import softmax


@dataclass(frozen=True)
class EvalSettings:
    """The ``evaluation`` block of the config (its values live in ``configs/evaluation/``) and the seed."""

    favg_labels: tuple[str, ...]
    bootstrap_samples: int
    confidence: float
    ece_bins: int
    max_errors: int
    seed: int

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
    # A three-label model on a real set: the `none` rows it was not scored on, and its probabilities there.
    none_ids: list[str] = field(default_factory=list)
    none_probs: np.ndarray | None = None

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

    def prediction_rows(self) -> list[dict[str, Any]]:
        return prediction_rows(self.ids, self.texts, self.gold, self.probs, self.labels)

    def errors(self, limit: int | None = None) -> list[dict[str, Any]]:
        return error_rows(self.ids, self.texts, self.gold, self.probs, self.labels, limit)

    def write(self, folder: Path) -> None:
        """errors_<set>.csv, predictions_<set>.jsonl (and predictions_<set>_none.jsonl) and the two plots."""
        columns = ["id", "text", "gold", "predicted", "confidence", *[f"p_{label}" for label in self.labels]]
        with atomic_write(folder / f"errors_{self.name}.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.errors(self.settings.max_errors))
        gold = [self.labels[g] for g in self.gold]
        write_predictions(folder / f"predictions_{self.name}.jsonl", self.ids, gold, self.probs, self.labels)
        if self.none_probs is not None:
            none = ["none"] * len(self.none_ids)
            write_predictions(folder / f"predictions_{self.name}_none.jsonl", self.none_ids, none, self.none_probs,
                              self.labels)  # fmt: skip
        plot_confusion(self.metrics, folder / f"confusion_{self.name}.png", self.name)
        plot_reliability(self.metrics, folder / f"reliability_{self.name}.png", self.name)


def write_predictions(path: Path, ids: list[str], gold: list[str], probs: np.ndarray, labels: list[str]) -> None:
    """One JSON line a sentence: id, gold label, predicted label and each label's probability."""
    with atomic_write(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for sid, label, p in zip(ids, gold, probs, strict=True):
            row = {"id": sid, "gold": label, "predicted": labels[int(p.argmax())]}
            row["probabilities"] = {name: round(float(value), 6) for name, value in zip(labels, p, strict=True)}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


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
        if context := m.get("context"):
            lines += [
                f"Pairs: each row's previous sentence, from `{context['source']}`: empty for {context['empty']} "
                f"(first sentences), not found for {context['missing']} of {context['rows']} rows (scored with '').",
                "",
            ]
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
    write_text(folder / "report.md", report_markdown(title, reports, header))

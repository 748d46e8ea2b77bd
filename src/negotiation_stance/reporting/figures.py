"""The README's figures from one finished run (``make figures``): confusion, reliability, per-class F1, learning curve.

Every number drawn is read from the run's ``metrics.json``, or for the learning
curve from the runs of ``experiment=learning_curve`` or the data card's committed
table, so a figure never shows a score that no run or table holds.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance.errors import MissingPathError, UserError
from negotiation_stance.evaluation.compare import collect_runs
from negotiation_stance.evaluation.record import RECORD_FILE, RunRecord
from negotiation_stance.io import atomic_write_all

# Small enough for a README, sharp enough to read the cell counts.
DPI = 110
# Fixed names: the README embeds these files.
CONFUSION = "confusion.png"
RELIABILITY = "reliability.png"
PER_CLASS_F1 = "per_class_f1.png"
LEARNING_CURVE = "learning_curve.png"
# The corpus's own test split beside the real sentences (scored only, never used for a choice).
SETS = {"test": "corpus test", "real_dev": "real_dev"}
LEARNING_CURVE_SKIPPED = (
    "learning curve skipped: no runs with data.train_fraction for data={data} under {logs} and no learning-curve "
    "table in {card}; it needs `make sweep SWEEP=learning_curve` first"
)
_OVERRIDE_FRACTION = re.compile(r"^data\.train_fraction=([0-9.]+)$")
_TABLE_FRACTION = re.compile(r"^(?P<base>.*?)\s*\[data\.train_fraction=(?P<fraction>[0-9.]+)\]$")
_TABLE_SCORE = re.compile(r"^([0-9.]+)(?:\s*±\s*([0-9.]+))?$")


@dataclass(frozen=True)
class Score:
    """Macro-F1 of one set at one point: the mean over ``runs`` runs, and their sd when there are several."""

    mean: float
    sd: float | None
    runs: int


@dataclass(frozen=True)
class LearningCurve:
    """Macro-F1 per share of training articles and set, and where the numbers come from."""

    points: dict[float, dict[str, Score]]
    source: str


@dataclass
class FiguresWritten:
    paths: list[Path]
    # What was left out and why (one line each, printed by the script).
    notes: list[str] = field(default_factory=list)


def latest_run_dir(models_dir: Path) -> Path:
    """The run folder behind ``models/latest`` (a link to ``<run>/model``)."""
    latest = Path(models_dir) / "latest"
    if not latest.exists():
        raise MissingPathError(f"{latest} does not exist: train a model first (make train) or name a run folder")
    return latest.resolve().parent


def read_run(run_dir: Path) -> RunRecord:
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        raise MissingPathError(f"{path} does not exist: name a finished run folder (logs/train/runs/<time>)")
    return RunRecord.read(path)


def scored_sets(record: RunRecord) -> dict[str, dict[str, Any]]:
    """The run's scores on the corpus test split and on real_dev, whichever it has."""
    sets = {name: block for name in SETS if (block := record.section(name))}
    if not sets:
        raise UserError(f"run {record.run_dir} has scores for neither the test split nor real_dev")
    return sets


def run_caption(record: RunRecord, run_dir: Path) -> str:
    """Which model, seed and run a figure shows (the folder name starts with the run's date and time)."""
    model = (record.base_model or record.model_name or "model").split("/")[-1]
    return f"{model}, seed {record.seed}, run {Path(run_dir).name[:19]}"


def _figure(width: float, height: float) -> Any:
    # A bare Figure draws with Agg and leaves pyplot's global state (and any notebook backend) alone.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def draw_confusion(sets: dict[str, dict[str, Any]], caption: str) -> Any:
    """Row-normalised confusion matrices (share of each gold label), with the counts in each cell."""
    fig = _figure(4.4 * len(sets) + 0.8, 4.2)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    image = None
    for ax, (name, block) in zip(axes, sets.items(), strict=True):
        labels = block["confusion_matrix"]["labels"]
        counts = np.asarray(block["confusion_matrix"]["matrix"])
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        for (i, j), share in np.ndenumerate(shares):
            color = "white" if share > 0.5 else "black"
            ax.text(j, i, f"{share:.0%}\n({counts[i, j]})", ha="center", va="center", fontsize=8, color=color)
        ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(f"{SETS[name]} (n={counts.sum()}): macro-F1 {block['macro_f1']:.3f}", fontsize=9)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of the gold label's sentences")
    fig.suptitle(caption, fontsize=9)
    return fig


def draw_reliability(sets: dict[str, dict[str, Any]], caption: str) -> Any:
    """Accuracy per confidence bin against the diagonal, with each bin's sentence count and the ECE."""
    fig = _figure(4.2 * len(sets), 4.2)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, (name, block) in zip(axes, sets.items(), strict=True):
        bins = block["reliability"]
        centres = [(b["low"] + b["high"]) / 2 for b in bins]
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
        ax.bar(
            centres,
            [b["accuracy"] for b in bins],
            width=[b["high"] - b["low"] for b in bins],
            color="tab:blue",
            alpha=0.6,
            edgecolor="black",
            label="accuracy in the bin",
        )
        ax.scatter([b["confidence"] for b in bins], [b["accuracy"] for b in bins], color="tab:red", s=12, zorder=3)
        for x, b in zip(centres, bins, strict=True):
            ax.text(x, min(b["accuracy"] + 0.02, 1.0), str(b["count"]), ha="center", va="bottom", fontsize=7)
        ax.set(xlim=(0, 1), ylim=(0, 1.08), xlabel="confidence (top probability)", ylabel="accuracy")
        ax.set_title(f"{SETS[name]}: ECE {block['ece']:.3f}", fontsize=9)
    axes[0].legend(loc="upper left", fontsize=7)
    fig.suptitle(f"{caption}; numbers: sentences per bin, red: mean confidence", fontsize=9)
    return fig


def draw_per_class_f1(sets: dict[str, dict[str, Any]], labels: Sequence[str], caption: str) -> Any:
    """F1 of each label, one bar per set, side by side."""
    fig = _figure(1.7 * len(labels) + 2.6, 3.8)
    ax = fig.subplots()
    positions = np.arange(len(labels))
    width = 0.8 / len(sets)
    for k, (name, block) in enumerate(sets.items()):
        scores = [block["per_class"].get(label, {}).get("f1", np.nan) for label in labels]
        offset = (k - (len(sets) - 1) / 2) * width
        bars = ax.bar(positions + offset, scores, width, label=f"{SETS[name]} (macro-F1 {block['macro_f1']:.3f})")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(positions, labels)
    ax.set(ylim=(0, 1.1), ylabel="F1")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(caption, fontsize=9)
    return fig


def draw_learning_curve(curve: LearningCurve) -> Any:
    """Macro-F1 per share of training articles; error bars are the sd over seeds where a point has several runs."""
    fig = _figure(5.8, 4.0)
    ax = fig.subplots()
    fractions = sorted(curve.points)
    for name, title in SETS.items():
        xs = [f for f in fractions if name in curve.points[f]]
        if xs:
            scores = [curve.points[f][name] for f in xs]
            ax.errorbar(
                [100 * f for f in xs],
                [s.mean for s in scores],
                yerr=[s.sd or 0.0 for s in scores],
                marker="o",
                capsize=3,
                label=title,
            )
    runs = {f: max(s.runs for s in curve.points[f].values()) for f in fractions}
    ax.set_xticks([100 * f for f in fractions], [f"{f:.0%}\n{runs[f]} run{'s' * (runs[f] > 1)}" for f in fractions])
    ax.set(xlabel="share of the training articles", ylabel="macro-F1")
    ax.legend(fontsize=8)
    ax.set_title(f"Learning curve (error bars: sd over seeds)\nsource: {curve.source}", fontsize=9)
    return fig


def _summary(values: Sequence[float]) -> Score:
    sd = statistics.stdev(values) if len(values) > 1 else None
    return Score(statistics.mean(values), sd, len(values))


def learning_curve_from_runs(roots: Sequence[Path], data: str) -> LearningCurve | None:
    """Macro-F1 per ``data.train_fraction`` over the training runs that set it (``make sweep SWEEP=learning_curve``)."""
    scores: dict[float, dict[str, list[float]]] = {}
    count = 0
    for run in collect_runs([Path(root) for root in roots if Path(root).is_dir()]):
        matches = [m for o in run.record.overrides if (m := _OVERRIDE_FRACTION.match(o))]
        if run.record.kind != "train" or not matches or run.data != data:
            continue
        count += 1
        for name in SETS:
            if (value := run.score(name)) is not None:
                scores.setdefault(float(matches[-1].group(1)), {}).setdefault(name, []).append(value)
    if len(scores) < 2:
        return None
    points = {f: {name: _summary(values) for name, values in sets.items()} for f, sets in sorted(scores.items())}
    return LearningCurve(points, f"{count} runs with data.train_fraction (make sweep SWEEP=learning_curve)")


def _table_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of the markdown tables with data, configuration, runs and both sets' columns, by (data, configuration)."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    header: list[str] | None = None
    columns = {"data", "configuration", "runs", *SETS}
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        separator = set(line) <= set("|-: ")
        if header is None:
            header = cells
        elif not separator and len(cells) == len(header) and columns <= set(header):
            row = dict(zip(header, cells, strict=True))
            rows[(row["data"], row["configuration"])] = row
    return rows


def _table_scores(row: dict[str, str]) -> dict[str, Score]:
    out = {}
    for name in SETS:
        if m := _TABLE_SCORE.match(row[name]):
            out[name] = Score(float(m.group(1)), float(m.group(2)) if m.group(2) else None, int(row["runs"]))
    return out


def learning_curve_from_table(card: Path, data: str) -> LearningCurve | None:
    """The committed table's ``[data.train_fraction=x]`` rows, with the row of the same configuration on all data."""
    if not Path(card).is_file():
        return None
    rows = _table_rows(Path(card).read_text(encoding="utf-8"))
    points: dict[float, dict[str, Score]] = {}
    for (row_data, configuration), row in rows.items():
        match = _TABLE_FRACTION.match(configuration)
        if row_data != data or not match:
            continue
        points[float(match["fraction"])] = _table_scores(row)
        if full := rows.get((data, match["base"])):
            points.setdefault(1.0, _table_scores(full))
    if len(points) < 2:
        return None
    return LearningCurve(dict(sorted(points.items())), f"the table in {Path(card).parent.name}/{Path(card).name}")


def write_figures(
    run_dir: Path, out_dir: Path, *, logs: Sequence[Path] = (), data_card: Path | None = None
) -> FiguresWritten:
    """Draw the figures of ``run_dir`` into ``out_dir``; all files are replaced together or none is."""
    record = read_run(run_dir)
    sets = scored_sets(record)
    caption = run_caption(record, run_dir)
    figures = {
        CONFUSION: draw_confusion(sets, caption),
        RELIABILITY: draw_reliability(sets, caption),
        PER_CLASS_F1: draw_per_class_f1(sets, record.labels, caption),
    }
    notes = [] if "real_dev" in sets else ["real_dev is not in this run (no ../shared/eval): the test split only"]
    data = str(record.data["name"])
    curve = learning_curve_from_runs(logs, data) or (learning_curve_from_table(data_card, data) if data_card else None)
    if curve:
        figures[LEARNING_CURVE] = draw_learning_curve(curve)
    else:
        where = ", ".join(str(p) for p in logs) or "no logs folder"
        notes.append(LEARNING_CURVE_SKIPPED.format(data=data, logs=where, card=data_card or "no data card"))
    paths = [Path(out_dir) / name for name in figures]
    with atomic_write_all(paths) as partials:
        for figure, partial in zip(figures.values(), partials, strict=True):
            # No Software/date metadata: the same run gives the same bytes, so a rerun shows no diff.
            figure.savefig(partial, format="png", dpi=DPI, metadata={"Software": None})
    return FiguresWritten(paths, notes)

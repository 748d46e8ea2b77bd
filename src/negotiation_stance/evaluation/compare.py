"""Comparing runs from their local ``metrics.json`` files (works offline).

Runs are grouped into configurations (model + data + overrides, seed left
out); each configuration shows mean ± sd over its seeds, so a difference can be
read against the spread that chance alone produces.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from negotiation_stance.evaluation.metrics import paired_bootstrap
from negotiation_stance.evaluation.record import RECORD_FILE, RunRecord

# Overrides that do not change what is trained.
_IGNORED_PREFIXES = (
    "seed=",
    "paths.",
    "logger=",
    "wandb.",
    "training.resume",
    "training.num_threads",
    "tags=",
    "hydra.",
)


@dataclass
class Run:
    folder: Path
    record: RunRecord
    # The name given to the folder the run was found in ("v2=logs_v2"), or "" when unnamed.
    source: str = ""

    @property
    def metrics(self) -> dict[str, Any]:
        """The record as ``metrics.json`` holds it."""
        return self.record.to_dict()

    @property
    def config_name(self) -> str:
        overrides = sorted(o for o in self.record.overrides if not o.startswith(_IGNORED_PREFIXES))
        base = f"{self.record.kind}:{self.record.model_name or '?'}"
        prefix = f"{self.source}: " if self.source else ""
        return prefix + base + (f" [{' '.join(overrides)}]" if overrides else "")

    @property
    def data(self) -> str:
        return str(self.record.data["name"])

    def score(self, section: str) -> float | None:
        block = self.record.section(section)
        return None if not block else float(block["macro_f1"])

    def test_ci(self) -> dict[str, float] | None:
        return self.record.splits["test"].get("macro_f1_ci")


def parse_root(text: str) -> tuple[str, Path]:
    """``NAME=FOLDER`` names the runs found in FOLDER (e.g. one corpus version); a plain folder stays unnamed."""
    name, sep, folder = text.partition("=")
    return (name, Path(folder)) if sep and name and "/" not in name else ("", Path(text))


def collect_runs(roots: list[Path | tuple[str, Path]]) -> list[Run]:
    """Every finished training and baseline run below ``roots`` (evaluate runs are left out).

    A root given as ``(name, folder)`` keeps its runs apart from same-config runs of other roots.
    """
    runs = []
    for root in roots:
        name, folder = root if isinstance(root, tuple) else ("", root)
        for path in sorted(folder.rglob(RECORD_FILE)):
            record = RunRecord.read(path)
            if record.kind in ("train", "baseline") and "test" in record.splits:
                runs.append(Run(path.parent, record, name))
    return runs


def mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def comparison_table(
    runs: list[Run], sections: tuple[str, ...] = ("validation", "test", "real_dev")
) -> list[dict[str, Any]]:
    """One row per (data, configuration), sorted by mean validation macro-F1 (never by test)."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.data, run.config_name), []).append(run)
    rows = []
    for (data, name), members in groups.items():
        row: dict[str, Any] = {"data": data, "configuration": name, "runs": len(members)}
        for section in sections:
            row[section] = mean_sd([s for r in members if (s := r.score(section)) is not None])
        intervals = [ci for r in members if (ci := r.test_ci())]
        lows, highs = [ci["low"] for ci in intervals], [ci["high"] for ci in intervals]
        row["test 95% CI (mean bounds)"] = f"{statistics.mean(lows):.3f}–{statistics.mean(highs):.3f}" if lows else "–"
        row["_sort"] = statistics.mean([r.score("validation") or 0.0 for r in members])
        row["_ci"] = (statistics.mean(lows), statistics.mean(highs)) if lows else None
        rows.append(row)
    rows.sort(key=lambda r: (r["data"], -r["_sort"]))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no finished runs found"
    columns = [c for c in rows[0] if not c.startswith("_")]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def intervals_overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool | None:
    if a is None or b is None:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def load_predictions(folder: Path, section: str = "test") -> dict[str, tuple[str, str]]:
    path = folder / f"predictions_{section}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run predates per-sentence predictions or did not finish")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["id"]: (r["gold"], r["predicted"]) for r in rows}


def paired_test(run_a: Path, run_b: Path, section: str = "test", samples: int = 10000) -> dict[str, Any]:
    """Paired bootstrap between two runs scored on the very same sentences."""
    a, b = load_predictions(run_a, section), load_predictions(run_b, section)
    if set(a) != set(b):
        raise ValueError(
            f"{run_a} and {run_b} were not scored on the same {section} sentences; a paired test needs that"
        )
    ids = sorted(a)
    if any(a[i][0] != b[i][0] for i in ids):
        raise ValueError("the two runs disagree on gold labels: different data versions")
    labels = sorted({a[i][0] for i in ids} | {a[i][1] for i in ids} | {b[i][1] for i in ids})
    index = {label: k for k, label in enumerate(labels)}
    gold = [index[a[i][0]] for i in ids]
    result = paired_bootstrap(
        gold, [index[a[i][1]] for i in ids], [index[b[i][1]] for i in ids], len(labels), samples=samples
    )
    return {"a": str(run_a), "b": str(run_b), "section": section, "n": len(ids), **result}

"""Runs grouped by folder and configuration, with the test split broken down by corpus version.

    python scripts/version_report.py v2=logs_v2 v3=logs [--field version]

Each row is one (folder name, data, configuration): mean ± sd over its seeds of
validation and test macro-F1, of the test split restricted to each value of
``--field`` in data/processed/statements.jsonl (so a model trained on v2+v3 is
also scored on the v2 test sentences alone), and of real_dev (macro-F1; F_avg
over the three stance labels). Markdown, for the data card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sklearn.metrics import f1_score

from negotiation_stance.config import find_checkout
from negotiation_stance.evaluation.compare import Run, collect_runs, load_predictions, mean_sd, parse_root

# The corpus of the checkout this script belongs to.
STATEMENTS = find_checkout(__file__) / "data" / "processed" / "statements.jsonl"


def subset_f1(run: Run, ids: set[str]) -> float | None:
    """Macro-F1 of the run's test predictions on the given sentence ids, over the run's own labels."""
    predictions = load_predictions(run.folder, "test")
    pairs = [predictions[i] for i in sorted(ids & set(predictions))]
    if not pairs:
        return None
    gold, predicted = zip(*pairs, strict=True)
    return float(f1_score(gold, predicted, labels=run.metrics["labels"], average="macro", zero_division=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", help="NAME=FOLDER (or a plain folder)")
    parser.add_argument("--statements", type=Path, default=STATEMENTS)
    parser.add_argument("--field", default="version")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.statements.read_text(encoding="utf-8").splitlines()]
    values = sorted({str(r[args.field]) for r in rows})
    ids = {v: {r["id"] for r in rows if str(r[args.field]) == v and r["split"] == "test"} for v in values}
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in collect_runs([parse_root(root) for root in args.roots]):
        groups.setdefault((run.data, run.config_name), []).append(run)
    header = ["data", "configuration", "runs", "validation", "test", *[f"test {v} part" for v in values], "real_dev"]
    header.append("real_dev F_avg (stance labels)")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for (data, name), runs in sorted(groups.items()):
        scores = [[r.score("validation") for r in runs], [r.score("test") for r in runs]]
        scores += [[subset_f1(r, ids[v]) for r in runs] for v in values]
        scores.append([r.score("real_dev") for r in runs])
        scores.append([r.metrics.get("real", {}).get("real_dev", {}).get("favg") for r in runs])
        cells = [data, name, str(len(runs))] + [mean_sd([s for s in column if s is not None]) for column in scores]
        print("| " + " | ".join(cells) + " |")
    print("\nmacro-F1 over each model's own labels (3-way for three-label models, 4-way for four-label ones).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make compare``: a table of runs from their local metrics.json files, plus a paired test.

make compare                                  # all runs under logs/
make compare ARGS="--pair RUN_DIR_A RUN_DIR_B"
make compare ARGS="v2=logs_v2 v3=logs"        # named folders: same configurations kept apart
"""

from __future__ import annotations

import argparse
from pathlib import Path

from negotiation_stance.evaluation.compare import (
    collect_runs,
    comparison_table,
    format_table,
    intervals_overlap,
    paired_test,
    parse_root,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "roots", nargs="*", default=[str(Path.cwd() / "logs")], help="folders to search, optionally NAME=FOLDER"
    )
    parser.add_argument("--pair", nargs=2, type=Path, metavar=("RUN_A", "RUN_B"), help="paired bootstrap on test")
    parser.add_argument("--samples", type=int, default=10000)
    args = parser.parse_args()

    runs = collect_runs([parse_root(root) for root in args.roots])
    rows = comparison_table(runs)
    print(format_table(rows))
    print("\nSorted by validation macro-F1; test is reported, never used to choose.")

    if args.pair:
        run_a, run_b = args.pair
    else:
        # By default: the best transformer configuration's first run against the TF-IDF baseline.
        best = next((r for r in rows if r["configuration"].startswith("train:")), None)
        base = next(
            (r for r in rows if r["configuration"] == "baseline:tfidf_lr" and best and r["data"] == best["data"]), None
        )
        if not (best and base):
            return
        print(
            f"\nTest 95% intervals of '{best['configuration']}' and the TF-IDF baseline overlap: "
            f"{intervals_overlap(best['_ci'], base['_ci'])}"
        )
        pick = [r for r in runs if r.config_name == best["configuration"] and r.data == best["data"]]
        run_a = pick[0].folder
        run_b = next(r.folder for r in runs if r.config_name == "baseline:tfidf_lr" and r.data == best["data"])
    result = paired_test(run_a, run_b, samples=args.samples)
    print(
        f"\nPaired bootstrap on {result['section']} (n={result['n']}, {result['samples']} samples):\n"
        f"  A = {result['a']}\n  B = {result['b']}\n"
        f"  macro-F1(A) - macro-F1(B) = {result['delta_macro_f1']:+.4f}, p = {result['p_value']:.4f} (one-sided, A > B)"
    )


if __name__ == "__main__":
    main()

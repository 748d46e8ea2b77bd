"""``make figures``: the README's figures from a finished run, into docs/figures/.

  python scripts/figures.py                              # the run behind models/latest
  python scripts/figures.py --run logs/train/runs/<time> [--out docs/figures]

Confusion matrices and reliability diagrams of the corpus test split and real_dev,
per-class F1 of both, and the learning curve when runs of
``make sweep SWEEP=learning_curve`` (or the data card's table) hold one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.errors import UserError
from negotiation_stance.reporting.figures import latest_run_dir, write_figures


def main(argv: list[str] | None = None) -> int:
    here = Path.cwd()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a finished run folder (default: the run behind models/latest)")
    parser.add_argument("--out", type=Path, default=here / "docs" / "figures", help="default: docs/figures here")
    parser.add_argument("--logs", type=Path, nargs="*", default=[here / "logs"], help="where learning-curve runs are")
    parser.add_argument(
        "--data-card",
        type=Path,
        default=find_checkout(Path(__file__).parent) / "data" / "README.md",
        help="the committed learning-curve table, used when no runs are found (default: this checkout's data card)",
    )
    args = parser.parse_args(argv)
    try:
        run_dir = args.run or latest_run_dir(here / "models")
        written = write_figures(run_dir, args.out, logs=args.logs, data_card=args.data_card)
    except (UserError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in written.notes:
        print(note)
    print(f"Figures of {run_dir}:")
    for path in written.paths:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make soup RUNS="<run folder> <run folder> ..."``: one model from the average of several models' weights.

  python scripts/soup.py logs/train/multiruns/<date>/0 logs/train/multiruns/<date>/1 [--out models/soup]

Takes run folders (their ``model/``) or exported model folders fine-tuned from the
same encoder with the same labels, e.g. the seeds of ``make sweep``. Writes an
ordinary exported folder under the working directory; score it with ``make evaluate``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from negotiation_stance.errors import UserError
from negotiation_stance.export.soup import make_soup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders or exported model folders (two or more)")
    parser.add_argument("--out", type=Path, help="the soup's folder (default: models/soup-<time> here)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    target = args.out or Path.cwd() / "models" / f"soup-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    try:
        make_soup(args.runs, target)
    except (UserError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Soup: {target}\nScore it: make evaluate MODEL={target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make notebooks``: execute notebooks/*.ipynb in place, outputs kept, on this checkout's logs/ and data/.

  python scripts/execute_notebooks.py [notebooks/1.01-compare-experiments.ipynb ...]

The comparison notebook reads the runs under logs/ (``NS_RUNS_DIR`` names other folders).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.errors import UserError
from negotiation_stance.reporting.notebooks import execute_notebook


def main(argv: list[str] | None = None) -> int:
    default = sorted((find_checkout(Path(__file__).parent) / "notebooks").glob("*.ipynb"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", type=Path, nargs="*", default=default, help="default: notebooks/*.ipynb")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        try:
            cells = execute_notebook(path, timeout=args.timeout)
        except (UserError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{path.name}: {cells} code cells executed, outputs written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make data``: rebuild data/interim and data/processed from raw + annotations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.corpus import build
from negotiation_stance.data import DataError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=find_checkout(__file__) / "data")
    args = parser.parse_args()
    try:
        summary = build(args.data_dir)
    except (DataError, OSError) as exc:  # a bad row, or a full disk / read-only folder
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: summary[k] for k in ("articles", "sentences", "labels", "stance_share")}, indent=1))
    print(f"wrote {args.data_dir}/processed/statements.jsonl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

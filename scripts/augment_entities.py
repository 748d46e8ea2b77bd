"""``make augment``: training rows moved to another war's actors and places (ablation variant h, entity_swap).

  python scripts/augment_entities.py [--copies 1] [--seed 0] [--out data/processed/statements_swapped.jsonl]

Writes every row of data/processed/statements.jsonl unchanged, and after each train row of a war in
data/augmentation/entity_swap.yaml up to ``--copies`` copies moved to other wars (see data/README.md,
"Entity-swap augmentation"). Validation and test rows are never copied; ../shared is never read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.corpus.augment import augment_file
from negotiation_stance.errors import UserError


def refuse_shared(paths: list[Path], shared: Path) -> None:
    """The shared evaluation material is for scoring only: never augment it, never write into it."""
    for path in paths:
        if path.resolve().is_relative_to(shared.resolve()):
            raise UserError(f"{path} is in {shared}: the shared material is for scoring only, never augmented")


def print_counts(counts: Counter) -> None:
    """Copies per source -> target war, then the rows that got none and why."""
    pairs = {k: v for k, v in counts.items() if "->" in k}
    for source in sorted({k.split("->")[0] for k in pairs}):
        mine = {k.split("->")[1]: v for k, v in pairs.items() if k.startswith(source + "->")}
        detail = ", ".join(f"{target} {n}" for target, n in sorted(mine.items()))
        print(f"{source} -> {sum(mine.values())} copies ({detail})")
    for key, n in sorted((k, v) for k, v in counts.items() if "->" not in k):
        print(f"{key}: {n} rows")
    print(f"copies written: {sum(pairs.values())}")


def main(argv: list[str] | None = None) -> int:
    root = find_checkout(__file__)
    data = root / "data"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=Path, default=data / "processed" / "statements.jsonl")
    parser.add_argument("--articles", type=Path, default=data / "raw" / "articles.jsonl")
    parser.add_argument("--lexicon", type=Path, default=data / "augmentation" / "entity_swap.yaml")
    parser.add_argument("--out", type=Path, default=data / "processed" / "statements_swapped.jsonl")
    parser.add_argument("--copies", type=int, default=1, help="copies per train row, each to another war (K)")
    parser.add_argument("--seed", type=int, default=0, help="draws the target wars (per row id)")
    args = parser.parse_args(argv)
    try:
        refuse_shared([args.statements, args.articles, args.out], root.parent / "shared")
        counts = augment_file(args.statements, args.articles, args.lexicon, args.out, args.copies, args.seed)
    except (UserError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print_counts(counts)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does the labelling loop pay? ``make simulate-al ARGS="--context israel_hamas --sizes 100,200 --seeds 42,1,2"``.

One context of the corpus plays the user's articles: per seed a base model is
trained without it, picks N of its train-split sentences by uncertainty or at
random, and is retrained with their gold labels; every model is scored on the
context's test split. Writes ``logs/al_simulation/<time>/`` under ``--root``
and the table ``docs/active_learning.md`` (``--doc``). See
``negotiation_stance.training.al_simulation``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.errors import USER_ERROR_EXIT, user_error_message

CONFIG_DIR = find_checkout(__file__) / "configs"


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", default="israel_hamas", help="the held-out context (default %(default)s)")
    parser.add_argument("--sizes", type=_ints, default=[100, 200], help="sentences to label, e.g. 100,200")
    parser.add_argument("--seeds", type=_ints, default=[42, 1, 2], help="one base model and arm set per seed")
    parser.add_argument("--epochs", type=int, help="training.epochs of every run (default: the recipe's)")
    parser.add_argument("--overrides", default="", help='Hydra overrides for every run, e.g. "training=tiny"')
    parser.add_argument("--root", type=Path, default=Path("."), help="working folder for logs/ (default: here)")
    parser.add_argument("--doc", default="docs/active_learning.md", help="the table, relative to --root ('' for none)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    args = parse_args(argv)
    from negotiation_stance.training.al_simulation import run_simulation  # heavy imports after argument errors

    overrides = shlex.split(args.overrides) + ([f"training.epochs={args.epochs}"] if args.epochs else [])
    command = shlex.join(["python", "scripts/simulate_active_learning.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        table = run_simulation(
            CONFIG_DIR,
            args.root.resolve(),
            context=args.context,
            sizes=args.sizes,
            seeds=args.seeds,
            overrides=overrides,
            doc=args.root.resolve() / args.doc if args.doc else None,
            command=command,
        )
    except Exception as exc:
        problem = user_error_message(exc)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return USER_ERROR_EXIT
    print(table.read_text(encoding="utf-8"))
    print(f"Table: {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

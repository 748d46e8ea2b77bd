"""Write an N-sentence ``.jsonl`` for measuring streaming prediction, from the bundled corpus.

  python scripts/make_stream_input.py --sentences 100000 --output /tmp/stream_100k.jsonl

The corpus's sentences (``data/processed/statements.jsonl``, every split: this
is load, not evaluation) are repeated in order until N lines are written, each
with a fresh ``id``; the file is written line by line, so N is not bounded by memory.
"""

from __future__ import annotations

import argparse
import json
from itertools import cycle, islice
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.io import atomic_write

CORPUS = find_checkout(__file__) / "data" / "processed" / "statements.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    with atomic_write(args.output) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        for number, text in enumerate(islice(cycle(texts), args.sentences), start=1):
            out.write(json.dumps({"id": f"s{number}", "text": text}, ensure_ascii=False) + "\n")
    print(f"wrote {args.sentences} sentences to {args.output}")


if __name__ == "__main__":
    main()

"""``make cue-audit``: the words the corpus ties to each label, and how well each tie holds on real text.

For each label it lists the top log-odds words of the corpus train split, with
the word's precision for that label on the train split, the corpus test split
and ``real_dev`` (read from ../shared/eval when present; scored, never used to pick
words). A precision that drops on real_dev is a cue the next writer should break.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.corpus.cues import label_log_odds, precision, words


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = find_checkout(__file__)
    parser.add_argument("--statements", type=Path, default=root / "data" / "processed" / "statements.jsonl")
    parser.add_argument("--real", type=Path, default=root.parent / "shared" / "eval" / "real_dev.jsonl")
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--words", default="must,only,while,situation,we,they", help="named cues, second table")
    args = parser.parse_args()
    rows = read_rows(args.statements)
    sets = {split: [r for r in rows if r["split"] == split] for split in ("train", "test")}
    if args.real.is_file():
        sets["real_dev"] = read_rows(args.real)
    else:
        print(f"({args.real} not found: real_dev columns left out)")
    train = sets["train"]
    cues = label_log_odds([r["text"] for r in train], [r["label"] for r in train], top=args.top)
    names = list(sets)
    print("| label | word | z (log-odds) | " + " | ".join(f"precision {n} (n)" for n in names) + " |")
    print("|---|---|---:|" + "---:|" * len(names))
    for label, top in cues.items():
        for cue in top:
            cells = []
            for name in names:
                p, n = precision(cue.word, label, [r["text"] for r in sets[name]], [r["label"] for r in sets[name]])
                cells.append("–" if p is None else f"{p:.0%} ({n})")
            print(f"| {label} | {cue.word} | {cue.log_odds:.1f} | " + " | ".join(cells) + " |")
    print("\nNamed cues, each with the label it most often carries on the train split:\n")
    print("| word → label | " + " | ".join(f"precision {n} (n)" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for word in [w for w in args.words.split(",") if w]:
        hits = [r["label"] for r in train if word in words(r["text"])]
        if not hits:
            continue
        label = max(sorted(set(hits)), key=hits.count)
        cells = []
        for name in names:
            p, n = precision(word, label, [r["text"] for r in sets[name]], [r["label"] for r in sets[name]])
            cells.append("–" if p is None else f"{p:.0%} ({n})")
        print(f"| {word} → {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

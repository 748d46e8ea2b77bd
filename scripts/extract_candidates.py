"""Prepare users' own articles for labelling, and bring the labels back.

  # 1. sentences of every .txt (one article) and .jsonl (an article a line: id, text) in a folder
  #    (optionally only those about talks)
  python scripts/extract_candidates.py extract articles/ --out candidates.jsonl [--only-talks]
  # 2. Label Studio tasks (import into a project using data/label_studio_config.xml),
  #    optionally pre-annotated by a trained model
  python scripts/extract_candidates.py to-label-studio candidates.jsonl --out tasks.json [--model models/latest]
  # 3. the project's JSON export back to labels.jsonl rows
  python scripts/extract_candidates.py from-label-studio export.json --out labels.jsonl

"About talks" is a keyword filter (negotiat*, talks, dialog*, ceasefire, truce,
peace, settlement, mediat*, deal, ... ; see TALK_KEYWORDS in
src/negotiation_stance/candidates.py): it keeps recall high and is meant to cut
obvious background, not to decide stance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from negotiation_stance.corpus import write_jsonl
from negotiation_stance.corpus.candidates import extract_candidates, from_label_studio, to_label_studio
from negotiation_stance.data import DataError, read_records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="split a folder of .txt articles into candidate sentences")
    ex.add_argument("folder", type=Path)
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument(
        "--only-talks", action="store_true", help="keep only sentences the keyword filter marks as about talks"
    )
    to = sub.add_parser("to-label-studio", help="candidate sentences -> Label Studio tasks JSON")
    to.add_argument("candidates", type=Path)
    to.add_argument("--out", type=Path, required=True)
    to.add_argument("--model", help="exported model folder: add its predictions as pre-annotations")
    back = sub.add_parser("from-label-studio", help="Label Studio JSON export -> labels.jsonl")
    back.add_argument("export", type=Path)
    back.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "extract":
            rows = extract_candidates(args.folder, only_talks=args.only_talks)
            write_jsonl(args.out, rows)
            print(f"{len(rows)} sentences from {len({r['article_id'] for r in rows})} articles -> {args.out}")
        elif args.command == "to-label-studio":
            rows = [r.record for r in read_records(args.candidates)]
            predictions = None
            if args.model:
                from negotiation_stance import StanceClassifier

                clf = StanceClassifier.from_pretrained(args.model)
                predictions = [{"label": p.label, "score": p.score} for p in clf.predict([r["text"] for r in rows])]
            args.out.write_text(
                json.dumps(to_label_studio(rows, predictions), ensure_ascii=False, indent=1), encoding="utf-8"
            )
            print(f"{len(rows)} tasks -> {args.out}")
        else:
            try:
                export = json.loads(args.export.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataError(args.export, exc.lineno, None, f"malformed JSON ({exc.msg})") from exc
            rows, unlabelled = from_label_studio(export, args.export)
            write_jsonl(args.out, rows)
            print(f"{len(rows)} labelled sentences -> {args.out}")
            if unlabelled:
                print(f"{len(unlabelled)} tasks have no annotation yet and were not written, e.g. {unlabelled[:3]}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

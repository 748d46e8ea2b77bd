"""Command line: ``python -m negotiation_stance predict --model models/latest "text" ...``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _read_inputs(args: argparse.Namespace) -> list[str]:
    if args.input is None:
        return list(args.texts)
    path = Path(args.input)
    if not path.is_file():
        raise SystemExit(f"error: {path}: file not found")
    if path.suffix.lower() == ".jsonl":
        from negotiation_stance.data import read_records

        texts = []
        for row in read_records(path):
            value = row.record.get(args.text_field)
            if not isinstance(value, str) or not value.strip():
                raise SystemExit(f"error: {path}, line {row.line}, field '{args.text_field}': missing or empty")
            texts.append(value)
        return texts
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _print_table(predictions: list, labels: list[str]) -> None:
    width = max(len(label) for label in labels)
    for p in predictions:
        text = p.text if len(p.text) <= 90 else p.text[:87] + "..."
        print(f"{p.label:<{width}}  {p.score:.3f}  {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m negotiation_stance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser("predict", help="label sentences with an exported model")
    predict.add_argument("--model", required=True, help="exported model folder, e.g. models/latest")
    predict.add_argument("texts", nargs="*", help="sentences to label")
    predict.add_argument("--input", help="a .txt file (one sentence per line) or a .jsonl file")
    predict.add_argument("--text-field", default="text", help="field holding the text in --input .jsonl")
    predict.add_argument("--output", help="write JSON lines here instead of standard output")
    predict.add_argument("--format", choices=["table", "jsonl"], default="table")
    predict.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    texts = _read_inputs(args)
    if not texts:
        parser.error("give sentences as arguments or a file with --input")
    from negotiation_stance.inference import StanceClassifier
    from negotiation_stance.modeling import ModelLoadError

    try:
        classifier = StanceClassifier.from_pretrained(args.model, batch_size=args.batch_size)
        predictions = classifier.predict(texts)
    except (ModelLoadError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            for p in predictions:
                fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
        print(f"wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    elif args.format == "jsonl":
        for p in predictions:
            print(json.dumps(p.to_dict(), ensure_ascii=False))
    else:
        _print_table(predictions, classifier.labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

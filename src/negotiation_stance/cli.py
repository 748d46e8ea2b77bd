"""Command line: ``negotiation-stance predict --model models/latest "text"`` (or ``python -m negotiation_stance``);
also ``serve``, ``export-onnx``, and the labelling loop's ``suggest`` and ``import-labels``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from negotiation_stance.config.paths import INFERENCE_BATCH_SIZE, MAX_BODY_BYTES, MAX_TEXT_CHARS, find_checkout

STREAM_CHUNK_SIZE = 1024  # as inference.classifier's, without importing torch to parse arguments
ARTICLE_THRESHOLD = 0.5  # text.ARTICLE_THRESHOLD, without importing the sentence splitter to parse arguments
PAIR_FIELD_DEFAULT = "pair"

if TYPE_CHECKING:
    from negotiation_stance.inference.classifier import StanceClassifier

# Relative to the checkout the command runs in (`make export-onnx`); elsewhere pass --calibration.
CALIBRATION_IN_CHECKOUT = Path("data") / "processed" / "statements.jsonl"


def default_calibration() -> Path | None:
    """The corpus's statements when the command runs inside a checkout, else None (no calibration)."""
    try:
        path = find_checkout(Path.cwd()) / CALIBRATION_IN_CHECKOUT
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


RECHECK_HELP = "onnx: int8 margin below which a sentence is recomputed in fp32 (default: the export's; 0 = off)"


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value}")
    return number


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1], got {value}")
    return number


def _load(args: argparse.Namespace) -> StanceClassifier:
    from negotiation_stance.inference.classifier import StanceClassifier

    kwargs = {"recheck_margin": args.recheck_margin} if args.recheck_margin is not None else {}
    if hasattr(args, "batch_size"):
        kwargs["batch_size"] = args.batch_size
    return StanceClassifier.from_pretrained(args.model, backend=args.backend, **kwargs)


def _article(args: argparse.Namespace) -> int:
    from negotiation_stance.modeling.model import ModelLoadError

    if args.output and (problem := _unwritable(Path(args.output))):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    path = Path(args.article)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {path}: cannot read the article ({exc})", file=sys.stderr)
        return 2
    try:
        classifier = _load(args)
        result = classifier.predict_article(text, pair=args.target, threshold=args.threshold)
    except (ModelLoadError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = [json.dumps({"type": "sentence", **vars(s)}, ensure_ascii=False) for s in result.sentences]
    lines.append(json.dumps({"type": "summary", "speakers": result.speakers, "relevance": result.relevance}))
    if args.output or args.format == "jsonl":
        if args.output:
            from negotiation_stance.io import write_text

            try:
                write_text(Path(args.output), "\n".join(lines) + "\n")
            except OSError as exc:
                print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
                return 2
            print(f"wrote {len(result.sentences)} sentences to {args.output}", file=sys.stderr)
        else:
            print("\n".join(lines))
        return 0
    for s in result.sentences:
        label = s.label if s.is_statement else "-"
        text = s.text if len(s.text) <= 70 else s.text[:67] + "..."
        print(f"{s.index:>3}  {(s.speaker or '')[:22]:<22}  {label:<15}  {s.score:.2f}  {text}")
    print(f"\n{result.relevance}\n")
    print(f"{'speaker':<28} statements  " + "  ".join(f"{k:>15}" for k in classifier.labels if k != "none"))
    for speaker, info in result.speakers.items():
        counts = "  ".join(f"{v:>15}" for v in info["counts"].values())
        print(f"{speaker[:28]:<28} {info['statements']:>10}  {counts}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m negotiation_stance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser("predict", help="label sentences with an exported model")
    predict.add_argument("--model", required=True, help="exported model folder, e.g. models/latest")
    predict.add_argument("texts", nargs="*", help="sentences to label")
    predict.add_argument("--input", help="a .txt file (one sentence per line) or a .jsonl file")
    predict.add_argument("--article", help="a .txt article: split it, find each statement's speaker, summarise")
    predict.add_argument(
        "--threshold", type=float, default=ARTICLE_THRESHOLD, help="article mode, three-label models: relevance"
    )
    predict.add_argument("--text-field", default="text", help="field holding the text in --input .jsonl")
    predict.add_argument("--target", help="pair models: the second text (e.g. the stance target) of every sentence")
    predict.add_argument(
        "--pair-field",
        help=f"pair models: field holding each row's pair in .jsonl (default {PAIR_FIELD_DEFAULT!r}; a context "
        "model's default is context_before, as the corpus has it)",
    )
    predict.add_argument(
        "--output", help="write JSON lines here (via <output>.partial, renamed when done) instead of standard output"
    )
    predict.add_argument("--resume", action="store_true", help="continue an interrupted --output from its last line")
    predict.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=STREAM_CHUNK_SIZE,
        help="sentences read, labelled and written at a time; memory grows with it, not with the file",
    )
    predict.add_argument("--format", choices=["table", "jsonl"], default="table")
    predict.add_argument("--batch-size", type=_positive_int, default=INFERENCE_BATCH_SIZE)
    predict.add_argument("--backend", choices=["torch", "onnx"], default="torch", help="onnx: the int8 ONNX export")
    predict.add_argument("--recheck-margin", type=float, help=RECHECK_HELP)
    serve = sub.add_parser("serve", help="serve /predict and /predict_article over HTTP")
    serve.add_argument("--model", required=True)
    serve.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    serve.add_argument("--recheck-margin", type=float, help=RECHECK_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=MAX_BODY_BYTES,
        help="larger request bodies get 413 (%(default)s)",
    )
    serve.add_argument(
        "--max-text-chars",
        type=_positive_int,
        default=MAX_TEXT_CHARS,
        help="longer /predict texts get 422 (%(default)s)",
    )
    export = sub.add_parser("export-onnx", help="write model.onnx and model.int8.onnx into a model folder")
    export.add_argument("--model", required=True)
    export.add_argument(
        "--calibration",
        type=Path,
        help="training sentences (.jsonl with text [and split] or .txt) that fit the int8 re-check margin; "
        "default: the corpus's train and validation splits when present. Never use evaluation text.",
    )
    export.add_argument("--target-agreement", type=_fraction, default=0.999, help="a fraction, e.g. 0.999")
    export.add_argument(
        "--fp32-ffn-layers", type=int, default=0, help="keep the first N layers' feed-forward blocks in fp32"
    )
    _add_labelling_loop(sub)
    return parser


def _add_labelling_loop(sub: argparse._SubParsersAction) -> None:
    """``suggest`` and ``import-labels``: the two ends of the user's labelling loop."""
    suggest = sub.add_parser("suggest", help="pick the sentences of your articles most worth labelling next")
    suggest.add_argument("input", type=Path, help="a folder of .txt articles and/or .jsonl articles (id, text)")
    suggest.add_argument("--model", default="models/latest", help="exported model folder (default %(default)s)")
    suggest.add_argument("--n", type=_positive_int, default=200, help="sentences to pick (default %(default)s)")
    suggest.add_argument("--strategy", choices=["margin", "entropy", "random"], default="margin")
    suggest.add_argument(
        "--pool-factor",
        type=_positive_int,
        default=5,
        help="thin the n x this most uncertain sentences to n by TF-IDF diversity (1 = uncertainty only)",
    )
    suggest.add_argument("--only-talks", action="store_true", help="only sentences the talks keyword filter keeps")
    suggest.add_argument("--seed", type=int, default=0, help="for --strategy random")
    suggest.add_argument("--out", type=Path, default=Path("suggestions"), help="output folder (default %(default)s)")
    suggest.add_argument("--batch-size", type=_positive_int, default=INFERENCE_BATCH_SIZE)
    labels = sub.add_parser("import-labels", help="a Label Studio JSON export -> versioned corpus data/user/<name>")
    labels.add_argument("export", type=Path, help="the project's Label Studio export (JSON)")
    labels.add_argument("--name", required=True, help="corpus name: data/user/<name>/")
    labels.add_argument("--model", help="also check the labels against this exported model's labels")
    labels.add_argument("--root", type=Path, default=Path("."), help="folder holding data/user (default: here)")


def _suggest(args: argparse.Namespace) -> int:
    """Read and split every article (errors before the model loads), score, pick, write."""
    import numpy as np

    from negotiation_stance.corpus.active_learning import suggest, write_suggestions
    from negotiation_stance.corpus.candidates import extract_candidates
    from negotiation_stance.errors import UserError
    from negotiation_stance.modeling.model import ModelLoadError

    try:
        sentences = extract_candidates(args.input, only_talks=args.only_talks)
        if not sentences:
            raise ValueError(f"{args.input}: no sentences to suggest (with --only-talks: none about talks)")
        args.out.mkdir(parents=True, exist_ok=True)
        args.backend, args.recheck_margin = "torch", None
        classifier = _load(args)

        def probabilities(texts: list[str]) -> np.ndarray:
            predictions = classifier.predict(texts, progress=sys.stderr.isatty())
            return np.array([[p.probabilities[k] for k in classifier.labels] for p in predictions])

        picked = suggest(sentences, probabilities, classifier.labels, args.n, strategy=args.strategy,
                         pool_factor=args.pool_factor, seed=args.seed)  # fmt: skip
        model = Path(args.model).resolve()
        version = model.parent.name if model.name == "model" else model.name  # a run's model/ is named by its run
        paths = write_suggestions(args.out, picked, classifier.labels, version)
    except (UserError, ModelLoadError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    articles = len({s["article_id"] for s in sentences})
    print(f"{len(picked)} of {len(sentences)} sentences from {articles} articles ({args.strategy}), "
          f"labels {classifier.labels}:", file=sys.stderr)  # fmt: skip
    for path in paths:
        print(path)
    return 0


def _import_labels(args: argparse.Namespace) -> int:
    from negotiation_stance.corpus.user_corpus import LABELS_FILE, import_labels
    from negotiation_stance.errors import UserError
    from negotiation_stance.modeling.model import ModelLoadError, load_labels_and_tokenizer

    try:
        model_labels = load_labels_and_tokenizer(args.model)[1] if args.model else None
        result = import_labels(args.export, args.name, root=args.root, model_labels=model_labels)
    except (UserError, ModelLoadError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = result.card
    print(f"{card['sentences']} labelled sentences -> {result.folder / result.version / LABELS_FILE} "
          f"(articles per split {card['articles']})", file=sys.stderr)  # fmt: skip
    if result.unlabelled:
        print(f"{len(result.unlabelled)} tasks have no annotation yet and were not written, e.g. "
              f"{result.unlabelled[:3]}", file=sys.stderr)  # fmt: skip
    print(result.folder / LABELS_FILE)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from negotiation_stance.inference.serving import create_app

    app = create_app(_load(args), max_body_bytes=args.max_body_bytes, max_text_chars=args.max_text_chars)
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from negotiation_stance.export.onnx import calibration_sentences, export_onnx, onnx_settings
    from negotiation_stance.io import DataError

    if args.calibration is None:
        args.calibration = default_calibration()
    try:
        texts = calibration_sentences(args.calibration) if args.calibration else None
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = export_onnx(
        args.model,
        fp32_ffn_layers=args.fp32_ffn_layers,
        calibration_texts=texts,
        calibration_source=str(args.calibration or ""),
        target_agreement=args.target_agreement,
    )
    for path in paths:
        print(path)
    settings = onnx_settings(args.model)
    print(f"int8 fp32 re-check margin {settings['recheck_margin']:.3f}", file=sys.stderr)
    if "calibration" in settings:
        print(f"calibration: {json.dumps(settings['calibration'])}", file=sys.stderr)
    return 0


def _unwritable(output: Path) -> str | None:
    """Why ``output`` cannot be written, checked before any work; None when it can."""
    if output.is_dir():
        return f"cannot write {output}: it is a folder"
    if not output.parent.is_dir():
        missing = "is not a folder" if output.parent.exists() else "does not exist"
        return f"cannot write {output}: {output.parent} {missing}"
    from negotiation_stance.inference.streaming import partial_path

    probe = partial_path(output)
    existed = probe.exists()
    try:
        probe.open("a").close()
    except OSError as exc:
        return f"cannot write {output}: {exc.strerror}"
    if not existed:
        probe.unlink()
    return None


def _sentences(args: argparse.Namespace) -> tuple[Callable[[], Iterator[str]], int]:
    """A way to (re-)read the sentences lazily, and how many there are (every line checked once)."""
    if args.input is None:
        return lambda: iter(args.texts), len(args.texts)
    from negotiation_stance.inference.streaming import count_sentences, read_sentences

    path = Path(args.input)
    # --target is every row's pair: a row's own pair field would be ignored, so it is refused in the counting pass.
    pair_field = args.pair_field or PAIR_FIELD_DEFAULT
    ignored = args.target is not None and pair_field != args.text_field
    why = "--target gives every row's pair, so this row's own would be ignored: drop one of them"
    refused = (pair_field, why) if ignored else None
    return lambda: read_sentences(path, args.text_field), count_sentences(path, args.text_field, refused)


def _pairs(args: argparse.Namespace) -> str | Callable[[], Iterator[str]] | None:
    """Each sentence's pair: ``--target`` for all, else a pair model's ``--pair-field`` of each .jsonl row.

    Checked against the model's config.json before the model loads: a pair model
    without pairs, or a single-sentence model given ``--target`` or rows with a
    pair field (which it would ignore), is refused. A context model's pair is the
    previous sentence: ``""`` where none is given (a row without the field, or no .jsonl).
    """
    from negotiation_stance.inference.classifier import check_pairs
    from negotiation_stance.inference.streaming import count_sentences, read_sentences, refuse_field
    from negotiation_stance.modeling.model import PairError, exported_pair_field
    from negotiation_stance.text import CONTEXT_FIELD

    pair_field = exported_pair_field(args.model)
    path = Path(args.input) if args.input else None
    context = pair_field == CONTEXT_FIELD  # a lone sentence's previous sentence is ""
    if args.target is not None and context:
        raise PairError(
            f"this model reads each sentence with the previous one (data.pair_field={CONTEXT_FIELD!r}), not a "
            f"target: drop --target (a .jsonl row's {CONTEXT_FIELD!r} field gives its previous sentence)"
        )
    if args.target is not None:
        check_pairs(pair_field, True)
        return args.target
    field = args.pair_field or (CONTEXT_FIELD if context else PAIR_FIELD_DEFAULT)
    if path is None or path.suffix.lower() != ".jsonl":
        check_pairs(pair_field, False)
        return "" if context else None
    if not pair_field:
        refuse_field(path, field, "this model was trained on single sentences and takes no pair")
        return None
    count_sentences(path, field, may_be_empty=context)  # every row's pair checked before any work
    return lambda: read_sentences(path, field, may_be_empty=context)


def _resume_point(
    args: argparse.Namespace, sentences: Callable[[], Iterator[str]], pairs: str | Callable[[], Iterator[str]] | None
) -> int:
    """Lines an interrupted run completed in ``<output>.partial`` (``--resume``), checked against the input
    and its pairs."""
    from negotiation_stance.inference.streaming import partial_path, resume_point

    partial = partial_path(Path(args.output))
    if args.resume and partial.is_file():
        return resume_point(partial, sentences(), pairs() if callable(pairs) else pairs)
    if partial.is_file() and partial.stat().st_size:
        raise ValueError(f"{partial} holds an interrupted run's output: add --resume to continue it, or delete it")
    return 0


def _write_predictions(args: argparse.Namespace, classifier: StanceClassifier, sentences: Iterator[str],
                       pairs: str | Iterator[str] | None, out: TextIO, total: int, done: int) -> None:  # fmt: skip
    """Label and write ``sentences`` a chunk at a time, with a progress bar (sentences/s, ETA) on a terminal."""
    from tqdm.auto import tqdm

    width = max(len(label) for label in classifier.labels)
    bar = tqdm(total=total, initial=done, unit="sentence", desc="predict", disable=None, smoothing=0.1)
    with bar:
        stream = classifier.predict_stream(sentences, pairs, chunk_size=args.chunk_size)
        for number, p in enumerate(stream, start=1):
            if args.output or args.format == "jsonl":
                out.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
            else:
                text = p.text if len(p.text) <= 90 else p.text[:87] + "..."
                out.write(f"{p.label:<{width}}  {p.score:.3f}  {text}\n")
            if number % args.chunk_size == 0:
                out.flush()
                bar.update(args.chunk_size)
        out.flush()
        bar.update(bar.total - bar.n)


def _predict(args: argparse.Namespace) -> int:
    from negotiation_stance.inference.streaming import partial_path
    from negotiation_stance.modeling.model import ModelLoadError

    output = Path(args.output) if args.output else None
    if output and args.resume and output.is_file() and not partial_path(output).exists():
        print(f"{output} is complete; nothing to resume", file=sys.stderr)
        return 0
    try:
        sentences, total = _sentences(args)
        pairs = _pairs(args)
        if output and (problem := _unwritable(output)):
            raise ValueError(problem)
        done = _resume_point(args, sentences, pairs) if output else 0
        classifier = _load(args)
        out = partial_path(output).open("a" if done else "w", encoding="utf-8", newline="\n") if output else sys.stdout
    except (ModelLoadError, OSError, ValueError) as exc:  # DataError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if done:
        print(f"resuming {output} after line {done} of {total}", file=sys.stderr)
    try:
        remaining = sentences()
        remaining_pairs = pairs() if callable(pairs) else pairs
        for _ in range(done):
            next(remaining)
            if callable(pairs):
                next(remaining_pairs)
        _write_predictions(args, classifier, remaining, remaining_pairs, out, total, done)
    except KeyboardInterrupt:
        if output:
            print(f"\ninterrupted: rerun with --resume to continue {output}", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if output:
            out.close()  # whole lines only: each is written by one call
    if output:
        os.replace(partial_path(output), output)
        print(f"wrote {total} predictions to {output}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "export-onnx":
        return _export_onnx(args)
    if args.command in ("suggest", "import-labels"):
        return _suggest(args) if args.command == "suggest" else _import_labels(args)
    if args.article:
        if args.texts or args.input or args.resume:
            parser.error("--article takes one article file; do not also give sentences, --input or --resume")
        return _article(args)
    if args.texts and args.input:
        parser.error("give sentences as arguments or a file with --input, not both")
    if not args.texts and not args.input:
        parser.error("give sentences as arguments, a file with --input, or an article with --article")
    if args.resume and not args.output:
        parser.error("--resume continues an --output file; give --output")
    return _predict(args)


if __name__ == "__main__":
    raise SystemExit(main())

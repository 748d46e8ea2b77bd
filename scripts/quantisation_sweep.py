"""How faithful and how fast each int8 variant is, measured on training sentences only.

  python scripts/quantisation_sweep.py --model DIR [--calibration data/processed/statements.jsonl]

Needs ``model.onnx`` in DIR (``make export-onnx``). Each variant is quantised
into a temporary folder and scored on the calibration sentences (by default the
corpus's train and validation splits, never test or real text) against PyTorch:
label agreement, the 99th-percentile logit error, the fp32 re-check margin that
brings agreement to ``--target-agreement`` on these sentences and the share it
re-checks, and sentences/s of int8 alone and with the re-check (the fp32 model
run on the re-checked sentences, as ``RecheckedLogits`` does). This is the
sweep behind ``export_onnx``'s choices: per-channel reduce-range weights, no
fp32 feed-forward blocks, dynamic rather than static quantisation, and the
fusions of ``GRAPH_FUSIONS``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from negotiation_stance.config import INFERENCE_BATCH_SIZE, find_checkout
from negotiation_stance.export import onnx as export
from negotiation_stance.export.onnx import ONNX_FP32, calibration_sentences, choose_recheck_margin
from negotiation_stance.modeling import load_exported, predict_logits
from negotiation_stance.modeling.onnx_runtime import OnnxLogits, top2_margin

# The corpus of the checkout this script belongs to.
STATEMENTS = find_checkout(__file__) / "data" / "processed" / "statements.jsonl"

# (label, fp32 graph: "default" = DIR/model.onnx, "all" = every fusion, "eager" = unfused; int8 settings)
VARIANTS = [
    ("per-tensor, reduce-range", "default", {"per_channel": False}),
    ("per-channel, full range", "default", {"reduce_range": False}),
    ("per-channel, reduce-range (default)", "default", {}),
    ("  + first FFN block fp32", "default", {"fp32_ffn_layers": 1}),
    ("  + first 3 FFN blocks fp32", "default", {"fp32_ffn_layers": 3}),
    ("every fusion (QAttention)", "all", {}),
    ("static, min/max of 512 sentences", "eager", {"static": True}),  # cannot be placed around BiasGelu
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--calibration", type=Path, default=STATEMENTS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target-agreement", type=float, default=0.999)
    args = parser.parse_args()
    fp32 = args.model / ONNX_FP32
    if not fp32.is_file():
        raise SystemExit(f"{fp32} not found: run `make export-onnx MODEL={args.model}` first")
    texts = calibration_sentences(args.calibration)
    tokenizer, model, _ = load_exported(args.model)
    reference = predict_logits(model, tokenizer, texts, batch_size=INFERENCE_BATCH_SIZE)
    exact = OnnxLogits(fp32, tokenizer, threads=args.threads)
    print(f"{len(texts)} calibration sentences from {args.calibration}; batch {INFERENCE_BATCH_SIZE}")
    header = ("variant", "agreement", "differ", "p99 |err|", "margin", "rechecked", "int8 s/s", "+recheck s/s")
    print("{:<36} {:>9} {:>6} {:>9} {:>7} {:>9} {:>8} {:>12}".format(*header))
    with tempfile.TemporaryDirectory() as tmp:
        graphs = {"default": fp32}
        for label, kind, settings in VARIANTS:
            if kind not in graphs:
                eager = Path(tmp) / "eager.onnx"
                if not eager.is_file():
                    export.export_graph(model, tokenizer, eager)
                graphs["eager"] = eager
                if kind == "all":
                    graphs["all"] = Path(tmp) / "all.onnx"
                    export.fuse_graph(eager, graphs["all"], model.config, fusions={"attention": True})
            out = Path(tmp) / "int8.onnx"
            if settings.get("static"):
                export.quantize_static_int8(graphs[kind], out, tokenizer, texts[::10][:512])
            else:
                export.quantize_int8(graphs[kind], out, **settings)
            run = OnnxLogits(out, tokenizer, threads=args.threads)
            start = time.perf_counter()
            logits = run(texts, batch_size=INFERENCE_BATCH_SIZE)
            int8_seconds = time.perf_counter() - start
            margin = choose_recheck_margin(reference, logits, args.target_agreement)
            low = np.flatnonzero(top2_margin(logits) < margin)
            start = time.perf_counter()
            exact([texts[i] for i in low], batch_size=INFERENCE_BATCH_SIZE)
            recheck_seconds = time.perf_counter() - start
            differ = int((logits.argmax(1) != reference.argmax(1)).sum())
            error = np.quantile(np.abs(logits - reference).max(1), 0.99)
            print(
                f"{label:<36} {100 * (1 - differ / len(texts)):>8.2f}% {differ:>6} {error:>9.3f} {margin:>7.3f} "
                f"{100 * len(low) / len(texts):>8.1f}% {len(texts) / int8_seconds:>8.1f} "
                f"{len(texts) / (int8_seconds + recheck_seconds):>12.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""How faithful each int8 variant is to PyTorch, measured on training sentences only.

  python scripts/quantisation_sweep.py --model DIR [--calibration data/processed/statements.jsonl]

Needs ``model.onnx`` in DIR (``make export-onnx``). Each variant is quantised
into a temporary folder and scored on the calibration sentences (by default the
corpus's train and validation splits, never test or real text): label agreement
with PyTorch and the logit error, plus sentences/s as a rough guide. This is
the sweep behind ``export_onnx``'s choices (reduce-range weights, three fp32
feed-forward layers).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from negotiation_stance.config import INFERENCE_BATCH_SIZE, find_checkout
from negotiation_stance.export.onnx import ONNX_FP32, calibration_sentences, quantize_int8
from negotiation_stance.modeling import load_exported, predict_logits
from negotiation_stance.modeling.onnx_runtime import OnnxLogits

# The corpus of the checkout this script belongs to.
STATEMENTS = find_checkout(__file__) / "data" / "processed" / "statements.jsonl"

VARIANTS = [(False, 0), (True, 0), (True, 1), (True, 2), (True, 3)]  # (reduce_range, fp32 FFN layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--calibration", type=Path, default=STATEMENTS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    fp32 = args.model / ONNX_FP32
    if not fp32.is_file():
        raise SystemExit(f"{fp32} not found: run `make export-onnx MODEL={args.model}` first")
    texts = calibration_sentences(args.calibration)
    tokenizer, model, _ = load_exported(args.model)
    reference = predict_logits(model, tokenizer, texts, batch_size=INFERENCE_BATCH_SIZE)
    print(f"{len(texts)} calibration sentences from {args.calibration}; batch {INFERENCE_BATCH_SIZE}")
    header = ("weights", "fp32 FFN layers", "agreement", "differ", "p99 |logit err|", "sent/s")
    print("{:<13} {:>15} {:>10} {:>7} {:>16} {:>7}".format(*header))
    with tempfile.TemporaryDirectory() as tmp:
        for reduce_range, layers in VARIANTS:
            out = Path(tmp) / f"int8-{reduce_range}-{layers}.onnx"
            quantize_int8(fp32, out, fp32_ffn_layers=layers, reduce_range=reduce_range)
            run = OnnxLogits(out, tokenizer, threads=args.threads)
            start = time.perf_counter()
            logits = run(texts, batch_size=INFERENCE_BATCH_SIZE)
            speed = len(texts) / (time.perf_counter() - start)
            differ = int((logits.argmax(1) != reference.argmax(1)).sum())
            error = np.quantile(np.abs(logits - reference).max(1), 0.99)
            weights = "reduce-range" if reduce_range else "full range"
            agreement = 100 * (1 - differ / len(texts))
            print(f"{weights:<13} {layers:>15} {agreement:>9.2f}% {differ:>7} {error:>16.3f} {speed:>7.1f}")


if __name__ == "__main__":
    main()

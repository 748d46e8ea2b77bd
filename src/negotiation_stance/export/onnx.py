"""ONNX export and dynamic int8 quantisation of an exported model (the runtime is ``modeling.onnx_runtime``).

``optimum`` does not support transformers 5, so the export uses
``torch.onnx.export`` and ``onnxruntime.quantization`` directly.

The int8 file is faithful to PyTorch by three measured choices, all made on the
model's own training and validation sentences (never on test or real text):
reduce-range 7-bit weights (these AVX2 cores multiply u8 x s8 pairs into int16
with ``vpmaddubsw``, which saturates on full-range weights), fp32 feed-forward
blocks in the first layers, and an fp32 re-check of the few sentences whose
int8 top-two logit margin is too small to trust (``recheck_margin``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance.config.paths import INFERENCE_BATCH_SIZE
from negotiation_stance.io import DataError, atomic_write, read_records, required_text, text_lines, write_json
from negotiation_stance.modeling.model import load_exported, predict_logits
from negotiation_stance.modeling.onnx_runtime import OnnxLogits, top2_margin

log = logging.getLogger(__name__)

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
ONNX_CONFIG = "onnx_config.json"


def fp32_nodes(model_path: Path, fp32_ffn_layers: int) -> list[str]:
    """MatMul nodes of the first ``fp32_ffn_layers`` encoder layers' feed-forward blocks.

    A per-node sensitivity sweep on training sentences showed that quantising
    these moves the logits most (layer 0's FFN ~60x more than a typical
    attention projection). With reduce-range weights, keeping 0, 1, 2 or 3 of
    them in fp32 gave 98.60, 98.98, 99.49 and 99.49% label agreement with
    PyTorch on the 3,349 training and validation sentences, and a falling
    logit error (``scripts/quantisation_sweep.py``).
    """
    import onnx

    pattern = re.compile(r"layer\.(\d+)/(?:intermediate|output)/dense/MatMul")
    names = []
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        match = pattern.search(node.name)
        if node.op_type == "MatMul" and match and int(match.group(1)) < fp32_ffn_layers:
            names.append(node.name)
    return names


def choose_recheck_margin(reference: np.ndarray, int8: np.ndarray, target: float) -> float:
    """Smallest int8 margin below which re-checking in fp32 brings agreement to ``target``.

    A flipped label can only be repaired by re-checking it, so the margin is
    set just above the flips' own int8 margins, leaving at most
    ``(1 - target) * n`` of them unrepaired.
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target agreement must be a fraction in [0, 1], got {target}")
    flipped = np.sort(top2_margin(int8)[reference.argmax(1) != int8.argmax(1)])
    allowed = int(np.floor((1.0 - target) * len(reference) + 1e-9))
    to_repair = len(flipped) - allowed
    if to_repair <= 0:
        return 0.0
    return float(np.nextafter(flipped[to_repair - 1], np.float32(np.inf)))


def calibration_sentences(path: str | Path) -> list[str]:
    """Sentences that fit the re-check margin: a ``.txt`` (one per line) or ``.jsonl`` with ``text``.

    Rows of a ``.jsonl`` that carry a ``split`` are kept only from ``train``
    and ``validation``, so the corpus file itself can be passed without
    leaking its test split into a choice; a file without splits is used whole,
    with a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "calibration file not found")
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        raise DataError(path, None, None, f"calibration sentences must be .txt or .jsonl, not {suffix or 'no suffix'}")
    if suffix == ".txt":
        return text_lines(path)
    texts = []
    rows = read_records(path)
    if not any("split" in row.record for row in rows):
        log.warning("%s has no 'split' field: all %d rows calibrate; none should be evaluation text", path, len(rows))
    for row in rows:
        if row.record.get("split", "train") not in ("train", "validation"):
            continue
        texts.append(required_text(row, path, "text"))
    if not texts:
        raise DataError(path, None, "split", "no train or validation rows to calibrate on")
    return texts


def quantize_int8(fp32: Path, out: Path, *, fp32_ffn_layers: int = 3, reduce_range: bool = True) -> None:
    """Dynamic int8: per-channel weights on the encoder's MatMuls (embeddings, pooler and
    classifier stay fp32), except the feed-forward blocks of the first ``fp32_ffn_layers``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=reduce_range,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=fp32_nodes(fp32, fp32_ffn_layers),
    )


def _export_fp32(model: Any, tokenizer: Any, target: Path, opset: int) -> None:
    """``torch.onnx.export`` of the logits, with dynamic batch and sequence axes."""
    import torch

    sample = tokenizer(
        ["a short sentence", "a somewhat longer second sentence here"], padding=True, return_tensors="pt"
    )
    names = [n for n in tokenizer.model_input_names if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, inputs, strict=True))).logits

    model.eval()
    with torch.no_grad(), atomic_write(target) as tmp:
        torch.onnx.export(
            LogitsOnly(),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def fit_recheck_margin(
    model: Any, tokenizer: Any, int8: Path, texts: Sequence[str], target_agreement: float, batch_size: int
) -> tuple[float, dict[str, Any]]:
    """The int8 re-check margin that reaches ``target_agreement`` with PyTorch on ``texts``, and its record."""
    reference = predict_logits(model, tokenizer, texts, batch_size=batch_size)
    quantised = OnnxLogits(int8, tokenizer)(texts, batch_size=batch_size)
    margin = choose_recheck_margin(reference, quantised, target_agreement)
    flipped = reference.argmax(1) != quantised.argmax(1)
    rechecked = top2_margin(quantised) < margin
    return margin, {
        "n": len(texts),
        "target_agreement": target_agreement,
        "batch_size": batch_size,
        "int8_agreement": float(1 - flipped.mean()),
        "agreement_with_recheck": float(1 - (flipped & ~rechecked).mean()),
        "recheck_fraction": float(rechecked.mean()),
    }


def export_onnx(
    model_dir: str | Path,
    *,
    opset: int = 17,
    fp32_ffn_layers: int = 3,
    calibration_texts: Sequence[str] | None = None,
    calibration_source: str = "",
    target_agreement: float = 0.999,
    batch_size: int = INFERENCE_BATCH_SIZE,  # dynamic int8 scales per batch: calibrate as inference runs
) -> tuple[Path, Path]:
    """Write ``model.onnx``, ``model.int8.onnx`` and ``onnx_config.json`` beside the Hugging Face files.

    With ``calibration_texts`` (use training or validation sentences, never
    evaluation text), the int8 re-check margin is fitted to reach
    ``target_agreement`` with PyTorch on them; without, int8 runs alone.
    """
    if not 0.0 <= target_agreement <= 1.0:
        raise ValueError(f"target_agreement must be a fraction in [0, 1], got {target_agreement}")
    folder = Path(model_dir)
    tokenizer, model, _ = load_exported(folder)
    # A margin fitted for the previous int8 file must not outlive it if this export fails.
    (folder / ONNX_CONFIG).unlink(missing_ok=True)
    fp32, int8 = folder / ONNX_FP32, folder / ONNX_INT8
    _export_fp32(model, tokenizer, fp32, opset)
    with atomic_write(int8) as tmp:
        quantize_int8(fp32, tmp, fp32_ffn_layers=fp32_ffn_layers)
    settings: dict[str, Any] = {
        "quantization": {
            "method": "onnxruntime dynamic, per-channel QInt8 weights, reduce_range",
            "fp32_ffn_layers": fp32_ffn_layers,
        },
        "recheck_margin": 0.0,
    }
    if calibration_texts:
        texts = list(calibration_texts)
        margin, record = fit_recheck_margin(model, tokenizer, int8, texts, target_agreement, batch_size)
        settings["recheck_margin"] = margin
        settings["calibration"] = {"source": calibration_source, **record}
        log.info("int8 re-check margin %.3f on %d sentences: %s", margin, len(texts), settings["calibration"])
    else:
        log.warning("no calibration sentences: int8 runs without an fp32 re-check (recheck_margin=0)")
    write_json(folder / ONNX_CONFIG, settings)
    return fp32, int8


def onnx_settings(model_dir: str | Path) -> dict[str, Any]:
    """What ``export_onnx`` recorded; an older export without the file re-checks nothing."""
    path = Path(model_dir) / ONNX_CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"recheck_margin": 0.0}

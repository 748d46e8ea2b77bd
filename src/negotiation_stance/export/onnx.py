"""ONNX export, graph fusion and int8 quantisation of an exported model (the runtime is ``modeling.onnx_runtime``).

``optimum`` does not support transformers 5, so the export uses
``torch.onnx.export``, ``onnxruntime.transformers.optimizer`` and
``onnxruntime.quantization`` directly, in that order: the graph is exported
with eager attention (SDPA's NaN guards add ops to every layer), fused, and
quantised after fusion.

The int8 file is faithful to PyTorch by measured choices, all made on the
model's own training and validation sentences (never on test or real text):
per-channel, reduce-range weights, and an fp32 re-check of the few sentences
whose int8 top-two logit margin is too small to trust (``recheck_margin``).
``scripts/quantisation_sweep.py`` reprints the comparison.
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
    """Nodes kept in fp32: the pooler and classifier (every matrix product outside the encoder), and
    the MatMuls of the first ``fp32_ffn_layers`` encoder layers' feed-forward blocks.

    Quantising the feed-forward blocks of the first layers moves the logits most
    (layer 0's ~60x more than a typical attention projection), but keeping them
    in fp32 costs more speed than re-checking the extra near ties does, so the
    default keeps none (``scripts/quantisation_sweep.py`` has the numbers).
    """
    import onnx

    pattern = re.compile(r"layer\.(\d+)/(?:intermediate|output)/dense/MatMul")
    names = []
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        match = pattern.search(node.name)
        if node.op_type == "Gemm" and "/encoder/" not in node.name:
            names += [node.name, node.name + "_MatMul"]  # the quantizer rewrites Gemm as <name>_MatMul + Add
        elif node.op_type == "MatMul" and ("/encoder/" not in node.name or (match and int(match[1]) < fp32_ffn_layers)):
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


def quantize_int8(
    fp32: Path, out: Path, *, fp32_ffn_layers: int = 0, reduce_range: bool = True, per_channel: bool = True
) -> None:
    """Dynamic int8 weights on the encoder's MatMuls (and fused Attention, if any); embeddings, pooler
    and classifier stay fp32, as do the feed-forward blocks of the first ``fp32_ffn_layers`` layers."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        reduce_range=reduce_range,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=fp32_nodes(fp32, fp32_ffn_layers),
        # Fused ops (com.microsoft) have no ONNX shape inference: their outputs are fp32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def quantize_static_int8(
    fp32: Path, out: Path, tokenizer: Any, texts: Sequence[str], *, batch_size: int = INFERENCE_BATCH_SIZE
) -> None:
    """Static int8 (activation ranges fixed beforehand by min/max over ``texts``, which must be training text).

    Compared in ``scripts/quantisation_sweep.py``; not the export's default, because it measured both
    slower and less faithful than dynamic quantisation (activations of a post-LayerNorm encoder vary
    too much between sentences for one fixed range).
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    names = list(tokenizer.model_input_names)

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.starts = iter(range(0, len(texts), batch_size))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self.starts, None)
            if start is None:
                return None
            encoded = tokenizer(list(texts[start : start + batch_size]), padding=True, truncation=True)
            return {n: np.asarray(encoded[n], dtype=np.int64) for n in names if n in encoded}

    quantize_static(
        str(fp32),
        str(out),
        Batches(),
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def export_graph(model: Any, tokenizer: Any, target: Path, *, opset: int = 17, eager_attention: bool = True) -> None:
    """``torch.onnx.export`` of the logits, with dynamic batch and sequence axes.

    ``eager_attention`` exports the plain MatMul-Softmax-MatMul attention:
    transformers' default SDPA path adds NaN guards (IsNaN, Where) to every
    layer, which cost ~6% at run time and hide the pattern from the fusers.
    """
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
    previous = model.config._attn_implementation
    if eager_attention:
        model.set_attn_implementation("eager")
    try:
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
    finally:
        model.set_attn_implementation(previous)


# FusionOptions flags the export turns off: measured slower here (see ``fuse_graph``).
GRAPH_FUSIONS = {"attention": False, "skip_layer_norm": False}
FUSION_CHECK = ["We are ready to talk.", "Talks can start only once every soldier has left, the minister said."]


def fuse_graph(source: Path, target: Path, config: Any, *, fusions: dict[str, bool] | None = None) -> dict[str, int]:
    """ONNX Runtime's transformer optimizer (model type ``bert``) on ``source``; the fused-op counts.

    ``fusions`` overrides ``FusionOptions`` flags (``enable_<name>``). The default,
    ``GRAPH_FUSIONS``, leaves two of them off because they measured slower on
    2 AVX-512 cores with ONNX Runtime 1.32 (interleaved, length-bucketed, batch 16):
    with every fusion on, the graph ran at 0.93x (fp32) and 0.88x (int8, where
    ``Attention`` becomes ``QAttention``) of the graph with these two off, and
    ``SkipLayerNormalization`` took several times the kernel time of LayerNorm + Add.
    With both off, int8 ran 1.07x the unoptimised eager graph; fp32 the same.
    """
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    for name, enabled in (GRAPH_FUSIONS if fusions is None else fusions).items():
        if not hasattr(options, f"enable_{name}"):
            raise ValueError(f"unknown fusion {name!r}: FusionOptions has no enable_{name}")
        setattr(options, f"enable_{name}", enabled)
    fused = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
        opt_level=0,  # the session applies its own optimisations at load time
    )
    with atomic_write(target) as tmp:
        fused.save_model_to_file(str(tmp))
    return {op: n for op, n in fused.get_fused_operator_statistics().items() if n}


def build_fp32_graph(model: Any, tokenizer: Any, target: Path, *, opset: int = 17) -> dict[str, Any]:
    """The fp32 graph of ``export_onnx``: eager-attention export, then fused; what was done, as a record.

    The fused graph must give the unfused graph's logits (within 1e-4) on two
    padded sentences; if the optimizer mis-reads a model it does not know,
    the unfused graph is kept, with a warning, rather than a wrong one.
    """
    import tempfile

    from negotiation_stance.modeling.onnx_runtime import OnnxLogits

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "unfused.onnx"
        export_graph(model, tokenizer, plain, opset=opset)
        record: dict[str, Any] = {"attention": "eager", "optimizer": "onnxruntime.transformers bert"}
        record["fusions_off"] = sorted(name for name, on in GRAPH_FUSIONS.items() if not on)
        try:
            record["fused"] = fuse_graph(plain, target, model.config)
            error = np.abs(OnnxLogits(plain, tokenizer)(FUSION_CHECK) - OnnxLogits(target, tokenizer)(FUSION_CHECK))
            if error.max() > 1e-4:
                raise ValueError(f"fused logits differ from unfused by {error.max():.2g}")
        except Exception as exc:  # the optimizer is best effort: any failure keeps the exact graph
            log.warning("graph fusion skipped, the unfused graph is kept: %s", exc)
            with atomic_write(target) as out:
                plain.replace(out)
            record = {"attention": "eager", "optimizer": None, "fusion_error": str(exc)}
    return record


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
    fp32_ffn_layers: int = 0,
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
    graph = build_fp32_graph(model, tokenizer, fp32, opset=opset)
    with atomic_write(int8) as tmp:
        quantize_int8(fp32, tmp, fp32_ffn_layers=fp32_ffn_layers)
    settings: dict[str, Any] = {
        "graph": graph,
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

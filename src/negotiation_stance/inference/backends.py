"""Backends of ``StanceClassifier``: a function from texts to logits, from PyTorch weights or ONNX files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from negotiation_stance.export.onnx import ONNX_FP32, ONNX_INT8, onnx_settings
from negotiation_stance.modeling.model import load_exported, load_labels_and_tokenizer, predict_logits
from negotiation_stance.modeling.onnx_runtime import OnnxLogits, RecheckedLogits

LogitsFn = Callable[..., np.ndarray]


class TorchLogits:
    """Logits from the exported PyTorch weights, on ``device`` (CPU by default)."""

    def __init__(self, path: str | Path, device: str | None = None, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        self.tokenizer, self.model, self.labels = load_exported(path)
        if device:
            self.model = self.model.to(torch.device(device))
        self.model.eval()

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None, **kwargs: Any) -> np.ndarray:
        return predict_logits(self.model, self.tokenizer, texts, pairs, **kwargs)


def onnx_backend(
    path: str | Path, *, quantized: bool, threads: int | None, recheck_margin: float | None
) -> tuple[LogitsFn, Any, list[str], str]:
    """The int8 (optionally with its fp32 re-check) or fp32 ONNX file of an exported folder."""
    tokenizer, labels = load_labels_and_tokenizer(path)
    run: LogitsFn = OnnxLogits(Path(path) / (ONNX_INT8 if quantized else ONNX_FP32), tokenizer, threads=threads)
    name = "onnx-int8" if quantized else "onnx-fp32"
    if quantized:
        margin = onnx_settings(path)["recheck_margin"] if recheck_margin is None else recheck_margin
        if margin > 0:
            run = RecheckedLogits(run, Path(path) / ONNX_FP32, tokenizer, margin, threads)
            name = "onnx-int8+recheck"
    return run, tokenizer, labels, name


def load_backend(
    path: str | Path,
    *,
    backend: str = "torch",
    quantized: bool = True,
    device: str | None = None,
    threads: int | None = None,
    recheck_margin: float | None = None,
) -> tuple[LogitsFn, Any, list[str], str]:
    """(logits function, tokenizer, labels, backend name) of an exported folder."""
    if recheck_margin is not None and not (backend == "onnx" and quantized):
        raise ValueError("recheck_margin applies to the int8 ONNX backend only (backend='onnx', quantized=True)")
    if backend == "onnx":
        return onnx_backend(path, quantized=quantized, threads=threads, recheck_margin=recheck_margin)
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    run = TorchLogits(path, device=device, threads=threads)
    return run, run.tokenizer, run.labels, "torch"

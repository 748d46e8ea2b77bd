"""An ONNX Runtime backend: batched logits from ``model.onnx`` / ``model.int8.onnx``, with an fp32 re-check."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance.modeling.model import batched_logits


def top2_margin(logits: np.ndarray) -> np.ndarray:
    """Top logit minus the runner-up: how far a prediction is from flipping."""
    if logits.shape[1] < 2:
        return np.full(len(logits), np.inf, dtype=np.float32)
    part = np.partition(logits, -2, axis=1)
    return part[:, -1] - part[:, -2]


class OnnxLogits:
    """Batched, length-sorted logits from an ONNX model with ONNX Runtime."""

    def __init__(self, path: Path, tokenizer: object, *, threads: int | None = None):
        import onnxruntime as ort

        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `make export-onnx MODEL={path.parent}` first")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer

    def _forward(self, encoded: Any) -> np.ndarray:
        return self.session.run(["logits"], {n: encoded[n].astype(np.int64) for n in self.names})[0]

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None, **kwargs: Any) -> np.ndarray:
        """Logits in input order (keyword arguments as ``modeling.batched_logits``)."""
        return batched_logits(self._forward, self.tokenizer, texts, pairs, tensors="np", **kwargs)


class RecheckedLogits:
    """int8 logits, with near ties (top-two margin below ``margin``) recomputed by the fp32 model.

    Quantisation noise can only flip a label whose margin is smaller than the
    noise, so re-running those few sentences in fp32 buys back agreement with
    PyTorch for a small share of the int8 speed-up.
    """

    def __init__(self, int8: OnnxLogits, fp32_path: Path, tokenizer: object, margin: float, threads: int | None):
        if not fp32_path.is_file():  # fail at load time, not at the first near tie
            raise FileNotFoundError(f"{fp32_path} not found; the int8 re-check needs it (or pass recheck_margin=0)")
        self.int8, self.margin = int8, margin
        self._fp32_args = (fp32_path, tokenizer, threads)
        self._fp32: OnnxLogits | None = None
        self._lock = threading.Lock()  # the HTTP server calls from a thread pool
        self.seen = self.rechecked = 0

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None, **kwargs: Any) -> np.ndarray:
        logits = self.int8(texts, pairs, **kwargs)
        idx = np.flatnonzero(top2_margin(logits) < self.margin)
        with self._lock:
            self.seen += len(texts)
            self.rechecked += len(idx)
            if len(idx) and self._fp32 is None:  # loaded on first need: most calls never need it
                path, tokenizer, threads = self._fp32_args
                self._fp32 = OnnxLogits(path, tokenizer, threads=threads)
        if len(idx):
            kwargs = {**kwargs, "progress": False}
            logits[idx] = self._fp32([texts[i] for i in idx], [pairs[i] for i in idx] if pairs else None, **kwargs)
        return logits

"""Labelling new text with an exported model: ``StanceClassifier``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance.config.paths import INFERENCE_BATCH_SIZE
from negotiation_stance.inference.articles import ArticleResult, analyse_article
from negotiation_stance.inference.backends import TorchLogits, load_backend
from negotiation_stance.inference.streaming import chunks
from negotiation_stance.modeling.model import softmax

log = logging.getLogger(__name__)

# Sentences held at once by predict_stream: enough that length bucketing leaves ~1% padding at batch 16.
STREAM_CHUNK_SIZE = 1024


@dataclass(frozen=True)
class Prediction:
    """One text's label, its probability, and the probabilities of all labels."""

    text: str
    label: str
    score: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StanceClassifier:
    """An exported stance model, ready to label sentences in length-bucketed batches.

    ``backend="torch"`` runs the PyTorch weights; ``backend="onnx"`` runs the
    ONNX export (``make export-onnx``), int8-quantised by default, with ONNX Runtime.
    ``bucket=False`` batches texts in input order (for measuring what bucketing saves).
    """

    def __init__(
        self,
        logits_fn: Callable[..., np.ndarray],
        tokenizer: Any,
        labels: Sequence[str],
        *,
        max_length: int = 128,
        batch_size: int = INFERENCE_BATCH_SIZE,
        backend: str = "torch",
        bucket: bool = True,
    ):
        self.logits_fn, self.tokenizer, self.labels = logits_fn, tokenizer, list(labels)
        self.max_length, self.batch_size, self.backend, self.bucket = max_length, batch_size, backend, bucket
        # A fast tokenizer keeps its truncation setting as state: two threads tokenizing at once
        # (the HTTP server's pool) can score a text untruncated or fail. One call at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        backend: str = "torch",
        quantized: bool = True,
        max_length: int = 128,
        batch_size: int = INFERENCE_BATCH_SIZE,
        device: str | None = None,
        threads: int | None = None,
        recheck_margin: float | None = None,
        bucket: bool = True,
    ) -> StanceClassifier:
        """Load an exported folder.

        With ``backend="onnx", quantized=True``, int8 predictions whose top-two
        logit margin is below ``recheck_margin`` are recomputed in fp32; None
        takes the margin ``make export-onnx`` fitted on training sentences, 0
        turns the re-check off.
        """
        run, tokenizer, labels, name = load_backend(
            path, backend=backend, quantized=quantized, device=device, threads=threads, recheck_margin=recheck_margin
        )
        classifier = cls(
            run, tokenizer, labels, max_length=max_length, batch_size=batch_size, backend=name, bucket=bucket
        )
        if isinstance(run, TorchLogits):
            classifier.model = run.model
        return classifier

    def _warn_if_truncated(self, items: list[str], offset: int = 0) -> None:
        # Cheap pre-check on characters; only long texts are tokenized to count.
        long = [i for i, t in enumerate(items) if len(t) > self.max_length * 2]
        over = [i for i in long if len(self.tokenizer(items[i], truncation=False)["input_ids"]) > self.max_length]
        if over:
            log.warning(
                "%d text(s) longer than %d tokens were truncated (e.g. #%d); the model reads one sentence at a "
                "time, so split long texts into sentences first.",
                len(over),
                self.max_length,
                over[0] + offset,
            )

    def predict_article(self, text: str, *, threshold: float = 0.5) -> ArticleResult:
        """Every sentence of an article with its speaker and stance, plus a per-speaker summary."""
        return analyse_article(text, self.predict, self.labels, threshold=threshold)

    def predict(self, texts: str | Iterable[str], *, progress: bool = False) -> list[Prediction]:
        """Label each text; a single string is treated as a list of one."""
        items = [texts] if isinstance(texts, str) else list(texts)
        return self._predict(items, progress=progress)

    def predict_stream(self, texts: Iterable[str], *, chunk_size: int = STREAM_CHUNK_SIZE) -> Iterator[Prediction]:
        """Label any number of texts in bounded memory: ``chunk_size`` of them are pulled from
        ``texts``, labelled in length-bucketed batches and yielded before the next are read."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        for number, chunk in enumerate(chunks(texts, chunk_size)):
            yield from self._predict(chunk, offset=number * chunk_size)

    def _predict(self, items: list[str], *, progress: bool = False, offset: int = 0) -> list[Prediction]:
        for i, text in enumerate(items, start=offset):
            if not isinstance(text, str):
                raise TypeError(f"text #{i} is {type(text).__name__}, expected str")
            if not text.strip():
                raise ValueError(f"text #{i} is empty or whitespace; there is nothing to classify")
        if not items:
            return []
        with self._lock:
            self._warn_if_truncated(items, offset)
            logits = self.logits_fn(
                items, batch_size=self.batch_size, max_length=self.max_length, progress=progress, bucket=self.bucket
            )
        probs = softmax(logits)
        return [
            Prediction(
                text=text,
                label=self.labels[int(row.argmax())],
                score=float(row.max()),
                probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
            )
            for text, row in zip(items, probs, strict=True)
        ]

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
from negotiation_stance.modeling.model import PairError, exported_mask_names, exported_pair_field, softmax
from negotiation_stance.names import mask_person_names
from negotiation_stance.text import ARTICLE_THRESHOLD, CONTEXT_FIELD, previous_sentences

log = logging.getLogger(__name__)

# Sentences held at once by predict_stream: enough that length bucketing leaves ~1% padding at batch 16.
STREAM_CHUNK_SIZE = 1024


@dataclass(frozen=True)
class Prediction:
    """One text's label, its probability, and the probabilities of all labels (and its pair, for a pair model)."""

    text: str
    label: str
    score: float
    probabilities: dict[str, float]
    pair: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if row["pair"] is None:  # single-sentence output keeps its shape
            del row["pair"]
        return row


def check_pairs(pair_field: str | None, given: bool) -> None:
    """PairError unless pairs are ``given`` exactly when the model was trained on pairs (``pair_field`` set).

    A context model (``context_before``) may go without: a lone sentence's context is ``""``.
    """
    if pair_field and not given and pair_field != CONTEXT_FIELD:
        raise PairError(
            f"this model was trained on sentence pairs (data.pair_field={pair_field!r}) and needs a pair for "
            "every text: Python predict(texts, pairs=...), CLI --target or a 'pair' field in --input .jsonl rows, "
            'HTTP "pair"'
        )
    if given and not pair_field:
        raise PairError(
            "this model was trained on single sentences (no data.pair_field) and takes no pair: "
            'leave out pairs= (Python), --target (CLI), "pair" (HTTP)'
        )


class StanceClassifier:
    """An exported stance model, ready to label sentences in length-bucketed batches.

    ``backend="torch"`` runs the PyTorch weights; ``backend="onnx"`` runs the
    ONNX export (``make export-onnx``), int8-quantised by default, with ONNX Runtime.
    ``bucket=False`` batches texts in input order (for measuring what bucketing saves).
    ``pair_field`` is the ``data.pair_field`` the model was trained with: such a
    model needs a pair for every text, and any other model refuses pairs
    (:class:`PairError`), since it would score a text it was never trained on.
    ``mask_names`` (a model trained with ``data.mask_names``): each text's person
    names are masked before the model reads it, as in training; predictions keep the text as given.
    A context model (``context_before``: the previous sentence of the article) takes
    ``""`` as a text's pair when none is given, and article mode gives it the
    article's previous sentences.
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
        pair_field: str | None = None,
        mask_names: bool = False,
    ):
        self.logits_fn, self.tokenizer, self.labels = logits_fn, tokenizer, list(labels)
        self.pair_field, self.mask_names = pair_field, mask_names
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
        pair_field = exported_pair_field(path)
        classifier = cls(
            run, tokenizer, labels, max_length=max_length, batch_size=batch_size, backend=name, bucket=bucket,
            pair_field=pair_field, mask_names=exported_mask_names(path),
        )  # fmt: skip
        if isinstance(run, TorchLogits):
            classifier.model = run.model
        return classifier

    @property
    def reads_context(self) -> bool:
        """Whether each text's pair is its previous sentence (``""`` for an article's first, or a lone one)."""
        return self.pair_field == CONTEXT_FIELD

    def check_pairs(self, given: bool) -> None:
        """PairError unless pairs are ``given`` exactly when the model was trained on pairs."""
        check_pairs(self.pair_field, given)

    def _warn_if_truncated(self, items: list[str], pairs: list[str] | None, offset: int = 0) -> None:
        # Cheap pre-check on characters; only long inputs are tokenized to count.
        sizes = [len(t) + (len(pairs[i]) if pairs else 0) for i, t in enumerate(items)]
        long = [i for i, size in enumerate(sizes) if size > self.max_length * 2]
        over = [
            i
            for i in long
            if len(self.tokenizer(items[i], pairs[i] if pairs else None, truncation=False)["input_ids"])
            > self.max_length
        ]
        if over:
            log.warning(
                "%d text(s) longer than %d tokens were truncated (e.g. #%d); the model reads one sentence at a "
                "time, so split long texts into sentences first.",
                len(over),
                self.max_length,
                over[0] + offset,
            )

    def predict_article(
        self, text: str, *, pair: str | None = None, threshold: float = ARTICLE_THRESHOLD
    ) -> ArticleResult:
        """Every sentence of an article with its speaker and stance, plus a per-speaker summary.

        A pair model needs ``pair`` (the target), given to every sentence; a context
        model reads each sentence with the one before it, so it takes no ``pair``.
        """
        if self.reads_context and pair is not None:
            raise PairError(
                f"this model reads each sentence with the previous one (data.pair_field={CONTEXT_FIELD!r}), which "
                'article mode takes from the article: give no pair (--target, "pair")'
            )
        pairs_of = previous_sentences if self.reads_context else lambda sentences: pair
        return analyse_article(
            text, lambda sentences: self.predict(sentences, pairs_of(sentences)), self.labels, threshold=threshold
        )

    def predict(
        self, texts: str | Iterable[str], pairs: str | Iterable[str] | None = None, *, progress: bool = False
    ) -> list[Prediction]:
        """Label each text; a single string is treated as a list of one.

        ``pairs`` (pair models only): one string for every text, or one per text.
        """
        items = [texts] if isinstance(texts, str) else list(texts)
        self.check_pairs(pairs is not None)
        if pairs is None and self.reads_context:
            pairs = ""
        pair_items = None if pairs is None else [pairs] * len(items) if isinstance(pairs, str) else list(pairs)
        if pair_items is not None and len(pair_items) != len(items):
            raise ValueError(f"{len(items)} texts but {len(pair_items)} pairs; give one pair per text, or one string")
        return self._predict(items, pairs=pair_items, progress=progress)

    def predict_stream(
        self,
        texts: Iterable[str],
        pairs: str | Iterable[str] | None = None,
        *,
        chunk_size: int = STREAM_CHUNK_SIZE,
    ) -> Iterator[Prediction]:
        """Label any number of texts in bounded memory: ``chunk_size`` of them (with their ``pairs``, read
        alongside) are pulled from ``texts``, labelled in length-bucketed batches and yielded before the next."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.check_pairs(pairs is not None)
        if pairs is None and self.reads_context:
            pairs = ""
        if pairs is None or isinstance(pairs, str):
            for number, chunk in enumerate(chunks(texts, chunk_size)):
                fixed = None if pairs is None else [pairs] * len(chunk)
                yield from self._predict(chunk, pairs=fixed, offset=number * chunk_size)
            return
        try:
            for number, chunk in enumerate(chunks(zip(texts, pairs, strict=True), chunk_size)):
                items, pair_items = (list(column) for column in zip(*chunk, strict=True))
                yield from self._predict(items, pairs=pair_items, offset=number * chunk_size)
        except ValueError as exc:
            if "zip()" not in str(exc):
                raise
            raise ValueError("texts and pairs differ in length; give one pair per text") from exc

    def _predict(
        self, items: list[str], *, pairs: list[str] | None = None, progress: bool = False, offset: int = 0
    ) -> list[Prediction]:
        for name, values in (("text", items), ("pair", pairs or [])):
            for i, value in enumerate(values, start=offset):
                if not isinstance(value, str):
                    raise TypeError(f"{name} #{i} is {type(value).__name__}, expected str")
                if not value.strip() and not (name == "pair" and self.reads_context):
                    raise ValueError(f"{name} #{i} is empty or whitespace; there is nothing to classify")
        if not items:
            return []
        seen = [mask_person_names(text) for text in items] if self.mask_names else items
        seen_pairs = pairs
        if self.mask_names and self.reads_context and pairs is not None:  # the previous sentence: speech too
            seen_pairs = [mask_person_names(pair) for pair in pairs]
        with self._lock:
            self._warn_if_truncated(seen, seen_pairs, offset)
            logits = self.logits_fn(
                seen,
                seen_pairs,
                batch_size=self.batch_size,
                max_length=self.max_length,
                progress=progress,
                bucket=self.bucket,
            )
        probs = softmax(logits)
        return [
            Prediction(
                text=text,
                label=self.labels[int(row.argmax())],
                score=float(row.max()),
                probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                pair=pairs[i] if pairs else None,
            )
            for i, (text, row) in enumerate(zip(items, probs, strict=True))
        ]

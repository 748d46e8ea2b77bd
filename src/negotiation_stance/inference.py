"""Labelling new text with an exported model: ``StanceClassifier``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from negotiation_stance.evaluation import softmax
from negotiation_stance.modeling import load_exported, predict_logits

log = logging.getLogger(__name__)


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
    """An exported stance model, ready to label sentences in length-sorted batches."""

    def __init__(
        self, model: Any, tokenizer: Any, labels: Sequence[str], *, max_length: int = 128, batch_size: int = 64
    ):
        self.model, self.tokenizer, self.labels = model.eval(), tokenizer, list(labels)
        self.max_length, self.batch_size = max_length, batch_size

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, max_length: int = 128, batch_size: int = 64, device: str | None = None
    ) -> StanceClassifier:
        tokenizer, model, labels = load_exported(path)
        if device:
            model = model.to(torch.device(device))
        return cls(model, tokenizer, labels, max_length=max_length, batch_size=batch_size)

    def _warn_if_truncated(self, items: list[str]) -> None:
        # Cheap pre-check on characters; only long texts are tokenized to count.
        long = [i for i, t in enumerate(items) if len(t) > self.max_length * 2]
        over = [i for i in long if len(self.tokenizer(items[i], truncation=False)["input_ids"]) > self.max_length]
        if over:
            log.warning(
                "%d text(s) longer than %d tokens were truncated (e.g. #%d); the model reads one sentence at a "
                "time, so split long texts into sentences first.",
                len(over),
                self.max_length,
                over[0],
            )

    def predict(self, texts: str | Iterable[str]) -> list[Prediction]:
        """Label each text; a single string is treated as a list of one."""
        items = [texts] if isinstance(texts, str) else list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"text #{i} is {type(text).__name__}, expected str")
            if not text.strip():
                raise ValueError(f"text #{i} is empty or whitespace; there is nothing to classify")
        if not items:
            return []
        self._warn_if_truncated(items)
        probs = softmax(
            predict_logits(self.model, self.tokenizer, items, batch_size=self.batch_size, max_length=self.max_length)
        )
        return [
            Prediction(
                text=text,
                label=self.labels[int(row.argmax())],
                score=float(row.max()),
                probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
            )
            for text, row in zip(items, probs, strict=True)
        ]

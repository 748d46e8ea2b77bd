"""Stance toward negotiating an end to a war: training, evaluation and inference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["StanceClassifier", "__version__"]

if TYPE_CHECKING:
    from negotiation_stance.inference.classifier import StanceClassifier


def __getattr__(name: str) -> Any:
    # Lazy so that data-only tools (splitting, validation) never import torch.
    if name == "StanceClassifier":
        from negotiation_stance.inference.classifier import StanceClassifier

        return StanceClassifier
    raise AttributeError(name)

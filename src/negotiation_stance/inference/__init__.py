"""Labelling new text with an exported model: the classifier, its backends, article mode and the HTTP API."""

from negotiation_stance.inference.classifier import Prediction, StanceClassifier

__all__ = ["Prediction", "StanceClassifier"]

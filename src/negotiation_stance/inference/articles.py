"""Article mode: every sentence of an article with its speaker, stance and a per-speaker summary."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from negotiation_stance.inference.speakers import attribute_speakers
from negotiation_stance.text import ARTICLE_THRESHOLD, is_statement, split_sentences


@dataclass
class ArticleSentence:
    index: int
    text: str
    speaker: str | None
    label: str
    score: float
    probabilities: dict[str, float]
    # False when the relevance rule says the sentence takes no stance on talks.
    is_statement: bool


@dataclass
class ArticleResult:
    sentences: list[ArticleSentence]
    speakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How non-statements were told apart: the model's `none` label, or the documented rule.
    relevance: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relevance_rule(labels: list[str], threshold: float) -> str:
    if "none" in labels:
        return "model: the four-label model's `none` class marks non-statements"
    return (
        f"rule: a three-label model has no `none`, so a sentence counts as a statement only if it matches the "
        f"talks keyword filter (text.TALK_KEYWORDS) and its top probability is >= {threshold:.2f}"
    )


def summarize_speakers(sentences: list[ArticleSentence], labels: list[str]) -> dict[str, dict[str, Any]]:
    """Per speaker: statements, counts per label and mean probabilities."""
    grouped: dict[str, list[ArticleSentence]] = defaultdict(list)
    for s in sentences:
        if s.is_statement and s.speaker:
            grouped[s.speaker].append(s)
    summary = {}
    for speaker, items in grouped.items():
        counts = {label: sum(1 for s in items if s.label == label) for label in labels if label != "none"}
        summary[speaker] = {
            "statements": len(items),
            "counts": counts,
            "mean_probabilities": {
                label: round(sum(s.probabilities[label] for s in items) / len(items), 4) for label in labels
            },
            "dominant": max(counts, key=lambda k: counts[k]),
        }
    return dict(sorted(summary.items(), key=lambda kv: -kv[1]["statements"]))


def analyse_article(
    text: str, predict: Any, labels: list[str], *, threshold: float = ARTICLE_THRESHOLD
) -> ArticleResult:
    """Split, attribute and label one article; ``predict`` is ``StanceClassifier.predict``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the article is empty")
    sentences = split_sentences(text)
    speakers = attribute_speakers(sentences)
    predictions = predict(sentences)
    out = []
    for i, (sentence, speaker, pred) in enumerate(zip(sentences, speakers, predictions, strict=True)):
        # A four-label model decides itself; a three-label one needs the documented rule.
        four_labels = "none" in labels
        statement = pred.label != "none" if four_labels else is_statement(sentence, pred.score, threshold)
        out.append(
            ArticleSentence(
                index=i,
                text=sentence,
                speaker=speaker,
                label=pred.label if statement else "none",
                score=pred.score,
                probabilities=pred.probabilities,
                is_statement=statement,
            )
        )
    return ArticleResult(out, summarize_speakers(out, labels), relevance_rule(labels, threshold))

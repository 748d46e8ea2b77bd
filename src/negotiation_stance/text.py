"""Text rules shared by the corpus build and article-mode inference: sentences and the talks filter.

pysbd is rule-based and deterministic, so the same article always yields the
same sentences and therefore the same stable sentence ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pysbd

# The documented keyword filter: a sentence is "about talks" when it names
# negotiating, its venues or its outcomes. Case-insensitive word prefixes.
TALK_KEYWORDS = (
    "negotiat", "talks", "dialog", "diplomac", "diplomat", "ceasefire", "cease-fire", "truce", "armistice",
    "peace", "settlement", "mediat", "agreement", "deal", "accord", "summit", "roadmap", "de-escalat",
    "off-ramp", "compromise", "bargain", "envoy", "intermediar", "good offices", "sit down", "table",
    "conciliat", "reconcil", "resolution", "political solution", "political process",
)  # fmt: skip
# Ending the fighting, in either order: "end the war", "the conflict ends", "an end to this war".
_ENDING = (
    r"\bend(?:s|ed|ing)?\b(?:\W+\w+){0,3}?\W+(?:war|conflict|fighting|hostilities)\b"
    r"|\b(?:war|conflict|fighting|hostilities)\W+(?:\w+\W+){0,2}?end(?:s|ed)?\b"
)
_TALK_RE = re.compile("|".join([*(re.escape(k) for k in TALK_KEYWORDS), _ENDING]), re.IGNORECASE)


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    """Split an article into sentences; paragraphs (newlines) are hard breaks."""
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        if not paragraph.strip():
            continue
        for piece in _segmenter().segment(paragraph):
            piece = piece.strip()
            if piece:
                sentences.append(piece)
    return sentences


# The pair field of a context model: each sentence's previous sentence in its article ("" for the first).
# The corpus carries it, and article mode builds it, so training and inference see the same pairs.
CONTEXT_FIELD = "context_before"


def previous_sentences(sentences: Sequence[str]) -> list[str]:
    """Each sentence's previous sentence, ``""`` for the first: a context model's pairs for one article."""
    return ["", *sentences[:-1]]


def sentence_id(article_id: str, index: int) -> str:
    """Stable id: the article id plus the zero-padded position in the article."""
    return f"{article_id}-s{index:03d}"


def about_talks(text: str) -> bool:
    """Whether a sentence names negotiating, its venues or its outcomes (the documented keyword filter)."""
    return bool(_TALK_RE.search(text))


# Article mode's relevance threshold for three-label models (predict --threshold, the server's default).
ARTICLE_THRESHOLD = 0.5


def is_statement(text: str, top_probability: float, threshold: float = ARTICLE_THRESHOLD) -> bool:
    """A three-label model has no `none`: a sentence counts as a stance statement only if it mentions talks
    and the model's top probability reaches ``threshold``. Article mode and the 4-way score of three-label
    models (evaluation.scoring) both use this rule."""
    return about_talks(text) and top_probability >= threshold

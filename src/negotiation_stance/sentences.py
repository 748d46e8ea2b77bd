"""Sentence splitting shared by the corpus build and article-mode inference.

pysbd is rule-based and deterministic, so the same article always yields the
same sentences and therefore the same stable sentence ids.
"""

from __future__ import annotations

from functools import lru_cache

import pysbd


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


def sentence_id(article_id: str, index: int) -> str:
    """Stable id: the article id plus the zero-padded position in the article."""
    return f"{article_id}-s{index:03d}"

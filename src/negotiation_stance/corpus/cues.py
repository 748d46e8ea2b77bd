"""Which words the corpus ties to each label, and whether real text keeps the tie.

A word whose log-odds for a label is high on the training split but whose
precision for that label collapses on real text is a cue the model can learn
instead of stance (issue #11: "must" -> conditional held 83% of the time in the
corpus and 33% in real statements).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[a-z][a-z'-]+")
# Function words are where the shallow cues live ("must", "only", "while"), so they stay in.
MIN_COUNT = 8
# Pseudo-counts of the prior, as a share of the word's count over all labels.
PRIOR_SHARE = 0.1


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Cue:
    label: str
    word: str
    log_odds: float  # z-score of the log-odds ratio
    train_count: int
    train_precision: float


def label_log_odds(texts: Sequence[str], labels: Sequence[str], top: int = 10) -> dict[str, list[Cue]]:
    """Top words per label (label vs. the rest) by the z-scored log-odds with an informative prior.

    Monroe, Colaresi & Quinn (2008): the prior and the z-score rank frequent,
    reliable words above rare ones, and frequent words are what a model leans on.
    """
    doc_words = [words(t) for t in texts]
    totals = Counter(labels)
    per_label: dict[str, Counter[str]] = {label: Counter() for label in totals}
    for ws, label in zip(doc_words, labels, strict=True):
        per_label[label].update(ws)
    overall = Counter(w for ws in doc_words for w in ws)
    out = {}
    for label, counts in sorted(per_label.items()):
        n_in, n_out = totals[label], len(texts) - totals[label]
        scored = []
        for word, n in overall.items():
            if n < MIN_COUNT:
                continue
            k, prior = counts[word], PRIOR_SHARE * n
            delta = math.log((k + prior) / (n_in - k + prior)) - math.log((n - k + prior) / (n_out - n + k + prior))
            z = delta / math.sqrt(1 / (k + prior) + 1 / (n - k + prior))
            scored.append(Cue(label, word, z, n, k / n))
        out[label] = sorted(scored, key=lambda c: (-c.log_odds, c.word))[:top]
    return out


def precision(word: str, label: str, texts: Sequence[str], labels: Sequence[str]) -> tuple[float | None, int]:
    """Share of the sentences containing ``word`` that carry ``label``, and how many contain it."""
    hits = [lab for t, lab in zip(texts, labels, strict=True) if word in words(t)]
    return (sum(lab == label for lab in hits) / len(hits) if hits else None), len(hits)

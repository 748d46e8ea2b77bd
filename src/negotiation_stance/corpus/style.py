"""How the corpus's voice compares with real official text, measured on the corpus itself.

The model learned the corpus's style (wire copy, "said", short sentences) instead
of stance; these shares are the targets a writing round is checked against
(data card, issue #11). They read only the project's own sentences.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from negotiation_stance.labels import STANCE_LABELS

FIRST_PERSON = re.compile(r"\b(we|i|our|us|my)\b", re.IGNORECASE)
REPORTING = re.compile(r"\b(said|says|told|according to)\b", re.IGNORECASE)
# Talks, negotiation, ceasefire, peace, diplomacy, dialogue, in any word form ("talking", "diplomats", "truce").
# Narrower on purpose than text.TALK_KEYWORDS (a recall-first relevance filter that also takes "deal",
# "table", "agreement"): this is the issue #11 measure of `none` sentences that name talks themselves.
TALK = re.compile(
    r"\b(talk\w*|negotiat\w*|ceasefire\w*|cease-fire\w*|truce\w*|peace\w*|diplomac\w*|diplomat\w*|dialogue\w*)\b",
    re.IGNORECASE,
)
LONG_WORDS = 40

_PRO_COND = frozenset({"pro_negotiation", "conditional"})
_STANCE = frozenset(STANCE_LABELS)
# Stance sentences that carry a word the corpus used to tie to another label.
COUNTER_CUES: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = (
    ("must/only in a pro sentence", re.compile(r"\b(must|only)\b", re.I), frozenset({"pro_negotiation"})),
    ("while/they in a pro or conditional sentence", re.compile(r"\b(while|they)\b", re.I), _PRO_COND),
    ("we in a conditional or skeptical sentence", re.compile(r"\bwe\b", re.I), frozenset({"conditional", "skeptical"})),
    ("situation in a stance sentence", re.compile(r"\bsituation\b", re.I), _STANCE),
)


def _share(hits: int, total: int) -> float:
    return round(hits / total, 3) if total else 0.0


def counter_cue(text: str, label: str) -> bool:
    return any(label in labels and pattern.search(text) for _, pattern, labels in COUNTER_CUES)


def style_profile(statements: Iterable[Mapping[str, Any]], context_of: Mapping[str, str]) -> dict[str, Any]:
    """Shares of first person, reporting verbs, long sentences, on-topic `none` and counter-cue stance."""
    rows = list(statements)
    none = [r for r in rows if r["label"] == "none"]
    none_talks = sum(bool(TALK.search(r["text"])) for r in none)
    return {
        "sentences": len(rows),
        "first_person": _share(sum(bool(FIRST_PERSON.search(r["text"])) for r in rows), len(rows)),
        "said_told_according_to": _share(sum(bool(REPORTING.search(r["text"])) for r in rows), len(rows)),
        "over_40_words": _share(sum(len(r["text"].split()) > LONG_WORDS for r in rows), len(rows)),
        "none_mentioning_talks": _share(none_talks, len(none)),
        "none_mentioning_talks_count": none_talks,
        "counter_cue_stance_count": sum(counter_cue(r["text"], r["label"]) for r in rows if r["label"] != "none"),
        "russia_ukraine": _share(sum(context_of[r["article_id"]] == "russia_ukraine" for r in rows), len(rows)),
    }


def style_by_version(statements: list[Mapping[str, Any]], context_of: Mapping[str, str]) -> dict[str, Any]:
    """The profile of the whole corpus and of each writing round."""
    versions = sorted(Counter(str(r.get("version")) for r in statements))
    out = {"all": style_profile(statements, context_of)}
    for version in versions:
        out[version] = style_profile([r for r in statements if str(r.get("version")) == version], context_of)
    return out

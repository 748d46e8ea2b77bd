"""Who says each sentence of a news article: rules for reported speech.

Covers the attribution patterns of wire copy: "X said", "said X", "X told
reporters", "according to X", "X, speaking on ..., said", a quote carried over
several sentences, and "he"/"she" resolved to the last named speaker. Titles
are dropped from names ("U.S. Secretary of State Antony Blinken" -> "Antony
Blinken"); a surname alone is mapped to the full name seen earlier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_VERBS = (
    r"said|says|say|told|tells|added|adds|stressed|stresses|noted|notes|warned|warns|insisted|insists|argued|argues|"
    r"declared|declares|stated|states|wrote|writes|reiterated|reiterates|explained|explains|claimed|claims|"
    r"announced|announces|asserted|asserts|emphasized|emphasised|underlined|acknowledged|suggested|replied|"
    r"responded|continued|concluded|urged|called|tweeted|posted"
)
# A name: up to five capitalised tokens (initials, hyphens and apostrophes allowed).
_NAME = r"(?:[A-Z][\w.'’-]*\s+){0,4}[A-Z][\w.'’-]*"
_AUX = r"(?:(?:also|later|earlier|then|again|has|had|have|would|will)\s+)*"
_ROLE_NOUNS = (
    r"spokesman|spokeswoman|spokesperson|minister|ministry|official|officials|president|envoy|ambassador|"
    r"secretary|government|delegation|negotiator|negotiators|diplomat|diplomats|commander|leader|leaders|"
    r"chancellor|premier|prime minister|foreign minister|aide|adviser|advisor|representative|mediator|mediators|"
    r"kremlin|white house|pentagon|state department|un|union|management|company|rebels|militia|army|military"
)
_PATTERNS = [
    # “...,” Blinken said. / ..., Kirby said, but ...
    re.compile(rf"[,”\"’]\s*(?P<name>{_NAME})\s+{_AUX}(?:{_VERBS})\b"),
    # ..., said Kirby.
    re.compile(
        rf"\b(?:said|says|added|told|wrote)\s+(?:(?:the|a|an)\s+)?(?:[\w'’-]+\s+){{0,5}}?(?P<name>{_NAME})"
        rf"(?=\s*[.,;]|\s*$|\s+(?:on|in|at|during|after)\b)"
    ),
    # according to Blinken
    re.compile(rf"\baccording to\s+(?P<name>{_NAME})"),
    # (But) White House spokesman John Kirby told reporters ... / Blinken also said ...
    re.compile(rf"(?P<name>{_NAME})\s+{_AUX}(?:{_VERBS})\b"),
]
_ROLE = re.compile(
    rf"\b(?P<role>(?:the|a|an)\s+(?:[\w'’-]+\s+){{0,4}}?(?:{_ROLE_NOUNS}))\s+{_AUX}(?:{_VERBS})\b", re.IGNORECASE
)
_PRONOUN = re.compile(rf"(?:^|[,”\"]\s*|\b(?:But|And)\s+)(?:he|she|He|She)\s+{_AUX}(?:{_VERBS})\b")
# Words that start a capitalised run but are titles, places or function words, not names.
_TITLE_WORDS = {
    "U.S.", "US", "UK", "EU", "UN", "White", "House", "National", "Security", "Council", "Secretary", "State",
    "President", "Vice", "Prime", "Minister", "Foreign", "Defence", "Defense", "Chancellor", "Ambassador",
    "Spokesman", "Spokeswoman", "Spokesperson", "General", "Gen.", "Sen.", "Senator", "Rep.", "Mr.", "Mrs.", "Ms.",
    "Dr.", "Deputy", "Special", "Envoy", "Chief", "Head", "Kremlin", "Pentagon", "Ukrainian", "Russian", "American",
    "British", "French", "German", "Chinese", "Israeli", "Palestinian", "Turkish", "Iranian", "Sudanese", "Of",
    "the", "The", "But", "And", "However", "Meanwhile", "In", "On", "At", "After", "Before", "When", "While",
    "Speaking", "Asked", "Still", "Yet", "Nevertheless", "Later", "Earlier", "Also", "Both", "Officials",
}  # fmt: skip
_NOT_NAMES = {"It", "This", "That", "They", "We", "I", "You", "There", "Here", "He", "She", "Q", "A"}
_QUOTES_OPEN, _QUOTES_CLOSE = "“", "”"


def clean_name(raw: str) -> str | None:
    """Strip titles from a capitalised run: 'U.S. Secretary of State Antony Blinken' -> 'Antony Blinken'."""
    tokens = raw.replace(" of ", " Of ").split()
    while tokens and (tokens[0] in _TITLE_WORDS or tokens[0].rstrip("’'s") in _TITLE_WORDS):
        tokens.pop(0)
    name = " ".join(tokens).strip(" ,.'’")
    if not name or name in _NOT_NAMES or name in _TITLE_WORDS:
        return None
    return name


_LEAD_WORDS = {"in", "on", "at", "from", "after", "before", "during", "for", "with", "to", "of", "as", "by", "since"}
_CAPITALISED = re.compile(r"^[A-Z][\w.'’-]*$")


def _appositive_speaker(sentence: str) -> str | None:
    """'Putin, speaking to reporters on Monday, said ...' and 'Rebel commander X, by phone, said ...'."""
    match = re.match(r"^(?:But\s+|And\s+)?(?P<head>[^,“”\"]{1,80}),\s(?P<rest>.*)", sentence)
    if not match or not re.search(rf"\b(?:{_VERBS})\b", match["rest"]):
        return None
    words = match["head"].split()
    if not words or words[0].lower() in _LEAD_WORDS:
        return None  # "In Kyiv, officials said": a place, not a speaker
    run: list[str] = []
    for word in reversed(words):
        if not _CAPITALISED.match(word):
            break
        run.insert(0, word)
    return clean_name(" ".join(run)) if run else None


def _named_speaker(sentence: str) -> str | None:
    for pattern in _PATTERNS[:3]:
        for match in pattern.finditer(sentence):
            name = clean_name(match.group("name"))
            if name:
                return name
    appositive = _appositive_speaker(sentence)
    if appositive:
        return appositive
    for pattern in _PATTERNS[3:]:
        for match in pattern.finditer(sentence):
            name = clean_name(match.group("name"))
            if name:
                return name
    return None


def _role_speaker(sentence: str) -> str | None:
    match = _ROLE.search(sentence)
    return match.group("role").strip() if match else None


def attribute_speakers(sentences: Sequence[str]) -> list[str | None]:
    """The speaker of each sentence, in order, using what earlier sentences established."""
    speakers: list[str | None] = []
    known: list[str] = []  # full names seen so far, newest last
    last: str | None = None
    open_quote = False
    for sentence in sentences:
        speaker = _named_speaker(sentence)
        if speaker is not None:
            # "Blinken" after "Antony Blinken": use the full name.
            full = next((k for k in reversed(known) if k.split()[-1] == speaker.split()[-1]), None)
            speaker = full if full and len(full) > len(speaker) else speaker
            if " " in speaker and speaker not in known:
                known.append(speaker)
        elif _PRONOUN.search(sentence) and last is not None:
            speaker = last
        elif open_quote and last is not None:
            speaker = last  # a quote carried over from the previous sentence
        else:
            speaker = _role_speaker(sentence)
        opens, closes = sentence.count(_QUOTES_OPEN), sentence.count(_QUOTES_CLOSE)
        if sentence.count('"') % 2 == 1:
            open_quote = not open_quote
        elif opens != closes:
            open_quote = opens > closes
        else:
            open_quote = open_quote and opens == 0
        speakers.append(speaker)
        if speaker is not None and not speaker.lower().startswith(("the ", "a ", "an ")):
            last = speaker
    # A quote opened without attribution takes the speaker named where it closes.
    for i in range(len(sentences) - 2, -1, -1):
        opened = sentences[i].count(_QUOTES_OPEN) > sentences[i].count(_QUOTES_CLOSE)
        if speakers[i] is None and opened and speakers[i + 1] is not None:
            speakers[i] = speakers[i + 1]
    return speakers

"""The corpus is the team's own writing: no long span may come from the shared evaluation material.

A 12-word span in common is far beyond chance for original prose, so any such
span means a sentence was copied (or recalled) from ``../shared``. The test
suite runs this over every text file under ``data/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

SPAN_WORDS = 12
_WORD = re.compile(r"\w+", re.UNICODE)
TEXT_SUFFIXES = (".jsonl", ".json", ".md", ".txt", ".xml", ".csv")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def spans(text: str, n: int = SPAN_WORDS) -> Iterator[tuple[str, ...]]:
    words = _words(text)
    return (tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def text_units(path: Path) -> Iterator[str]:
    """The strings of a file: each JSON string value of a .jsonl/.json file, else each line."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".json"):
        docs = (
            [json.loads(line) for line in raw.splitlines() if line.strip()]
            if path.suffix == ".jsonl"
            else [json.loads(raw)]
        )
        yield from _strings(docs)
    else:
        yield from raw.splitlines()


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def shared_spans(files: Iterable[Path], n: int = SPAN_WORDS) -> set[tuple[str, ...]]:
    """Every n-word span of the given files, line by line (spans never cross a line or a field)."""
    return {span for path in files for unit in text_units(path) for span in spans(unit, n)}


def overlaps(files: Iterable[Path], reference: set[tuple[str, ...]], n: int = SPAN_WORDS) -> list[tuple[Path, str]]:
    """(file, span) for each n-word span of ``files`` that also occurs in ``reference``."""
    found = []
    for path in files:
        for unit in text_units(path):
            found.extend((path, " ".join(span)) for span in spans(unit, n) if span in reference)
    return found


def text_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)

"""Labelling files of any size in bounded memory: sentences are read lazily, labelled a chunk at a
time and written as they come, into ``<output>.partial``, so that an interrupted run can resume."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice, repeat
from pathlib import Path

from negotiation_stance.io import DataError, parse_json_line, required_text


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-empty lines of ``path`` with their numbers, decoded one at a time."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(path, None, None, f"cannot read the file ({exc.strerror})") from exc
    with handle:
        # Binary lines split on b"\n" only: U+2028 and friends stay inside their line, as in io.physical_lines.
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError as exc:
                message = f"is not valid UTF-8 ({exc.reason}); save the file as UTF-8"
                raise DataError(path, number, None, message) from exc
            if number == 1:
                line = line.removeprefix("\ufeff")
            if line.strip():
                yield number, line


def read_sentences(
    path: Path, text_field: str = "text", refused: tuple[str, str] | None = None, *, may_be_empty: bool = False
) -> Iterator[str]:
    """The sentences of ``path``, one at a time: ``text_field`` of each line of a ``.jsonl``,
    else each non-empty line. A bad line raises a DataError naming it when it is reached.
    (A pair model's pairs are read the same way, with the pair field as ``text_field``;
    ``may_be_empty``: a context model's, where a missing or empty field is ``""``.)
    ``refused`` (field, why): a ``.jsonl`` row holding that field is a DataError too."""
    jsonl = path.suffix.lower() == ".jsonl"
    for number, line in _lines(path):
        if not jsonl:
            yield line.strip()
            continue
        row = parse_json_line(path, number, line)
        if refused and refused[0] in row.record:
            raise DataError(path, number, *refused)
        if may_be_empty and text_field not in row.record:
            yield ""
            continue
        yield required_text(row, path, text_field, allow_empty=may_be_empty)


def refuse_field(path: Path, field: str, why: str) -> None:
    """A DataError naming the first ``.jsonl`` line that holds ``field`` (one a model would silently ignore)."""
    if path.suffix.lower() != ".jsonl":
        return
    for number, line in _lines(path):
        if field in parse_json_line(path, number, line).record:
            raise DataError(path, number, field, why)


def count_sentences(
    path: Path, text_field: str = "text", refused: tuple[str, str] | None = None, *, may_be_empty: bool = False
) -> int:
    """Read the whole file once, in constant memory: every line is checked before any work starts
    (and, with ``refused``, that no row holds a field the run would ignore)."""
    count = sum(1 for _ in read_sentences(path, text_field, refused, may_be_empty=may_be_empty))
    if count == 0:
        raise DataError(path, None, None, "no sentences to label (the file is empty)")
    return count


def chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Lists of ``size`` items (the last may be shorter), pulled from ``items`` only as needed."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def partial_path(output: Path) -> Path:
    """Where a run writes until it finishes (the name ``io.atomic_write`` uses)."""
    return output.with_name(output.name + ".partial")


def _pair_name(pair: str | None) -> str:
    return "no pair" if pair is None else f"pair {pair!r}"  # repr: one line whatever the pair holds


def resume_point(partial: Path, sentences: Iterable[str], pairs: str | Iterable[str] | None = None) -> int:
    """Complete lines of an interrupted run's output; a torn last line is cut off.

    Each written line must carry the input's sentence at its position, and its
    pair (``--target`` or the row's pair field; none for a single-sentence run),
    so that output from another input file, ``--text-field``, ``--target`` or
    ``--pair-field`` is never continued.
    """
    expected = iter(sentences)
    expected_pairs = repeat(pairs) if pairs is None or isinstance(pairs, str) else iter(pairs)
    done = end = 0
    with partial.open("rb+") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # torn by the interruption: written again
            try:
                row = json.loads(raw)
                text, pair = row["text"], row.get("pair")
            except (ValueError, KeyError, TypeError) as exc:
                message = "is not a prediction line; delete the file to start over"
                raise DataError(partial, done + 1, "text", message) from exc
            if text != next(expected, None):
                message = "differs from the input's sentence at this position: it is another run's output"
                raise DataError(partial, done + 1, "text", message)
            if pair != (wanted := next(expected_pairs, None)):
                message = (
                    f"holds {_pair_name(pair)} but this run gives {_pair_name(wanted)} (another --target or "
                    "--pair-field?): it is another run's output; resume it as it was started, or delete the file"
                )
                raise DataError(partial, done + 1, "pair", message)
            done, end = done + 1, end + len(raw)
        handle.truncate(end)
    return done

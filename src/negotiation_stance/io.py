"""Reading and writing files: rows that remember their line, errors that name file, line and field, atomic writes.

Rows are parsed and checked here (JSON lines or CSV) before they become a
``datasets.Dataset``: ``datasets.load_dataset`` reports a malformed line as an
Arrow error without the line number, and users must be told exactly what to fix.
Every writer goes through :func:`atomic_write`, so no reader sees a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from negotiation_stance.errors import UserError


class DataError(UserError, ValueError):
    """A problem in an input file, located by file, line and field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field = str(path), line, field
        where = str(path) + (f", line {line}" if line is not None else "")
        what = f", field '{field}'" if field else ""
        super().__init__(f"{where}{what}: {message}")


@dataclass(frozen=True)
class Row:
    line: int
    record: dict[str, Any]


def read_text(path: str | Path) -> str:
    """A UTF-8 file's text, or a DataError naming the file and the line of the first bad byte."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "file not found")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(path, line, None, f"is not valid UTF-8 ({exc.reason}); save the file as UTF-8") from exc


def physical_lines(raw: str) -> list[str]:
    """Lines split on newline only: U+2028, U+0085 and friends are text inside a line, not breaks."""
    return [line.removesuffix("\r") for line in raw.split("\n")]


def text_lines(path: str | Path) -> list[str]:
    """The non-empty, stripped lines of a UTF-8 text file (one sentence per line)."""
    return [line.strip() for line in physical_lines(read_text(path)) if line.strip()]


def read_records(path: str | Path) -> list[Row]:
    """Read a .jsonl or .csv file into rows that remember their line numbers."""
    path = Path(path)
    raw = read_text(path)
    if not raw.strip():
        raise DataError(path, None, None, "file is empty")
    if path.suffix.lower() == ".csv":
        return _read_csv(path, raw)
    return [
        parse_json_line(path, number, line) for number, line in enumerate(physical_lines(raw), start=1) if line.strip()
    ]


def parse_json_line(path: Path, number: int, line: str) -> Row:
    """One JSON-lines record, or a DataError naming the file and line (shared with streaming reads)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(path, number, None, f"malformed JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise DataError(path, number, None, f"expected a JSON object, got {type(record).__name__}")
    return Row(number, record)


def _read_csv(path: Path, raw: str) -> list[Row]:
    # The csv module owns line breaks, so a quoted field keeps its newline.
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    if not reader.fieldnames:
        raise DataError(path, 1, None, "CSV file has no header row")
    rows = []
    for record in reader:
        if None in record:
            raise DataError(path, reader.line_num, None, "row has more columns than the header")
        rows.append(Row(reader.line_num, dict(record)))
    return rows


def required_text(row: Row, path: Path | str, field: str, *, allow_empty: bool = False) -> str:
    """The row's non-empty string ``field`` (any string with ``allow_empty``), or a DataError naming file, line
    and field."""
    value = row.record.get(field)
    if field not in row.record:
        raise DataError(path, row.line, field, "missing")
    if not isinstance(value, str):
        raise DataError(path, row.line, field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise DataError(path, row.line, field, "is empty")
    return value


@contextmanager
def atomic_write_all(paths: Iterable[Path]) -> Iterator[list[Path]]:
    """Yield one ``.partial`` per path; replace them all only when every write succeeded.

    ``make data`` writes three files that must agree with each other. Written one
    by one, a full disk at the second would leave a new ``interim`` beside an old
    ``processed``; here a failure removes every partial and changes nothing.
    """
    targets = [Path(p) for p in paths]
    partials = [p.with_name(p.name + ".partial") for p in targets]
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield partials
    except BaseException:
        for tmp in partials:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in zip(partials, targets, strict=True):
        os.replace(tmp, target)


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield ``<path>.partial`` to write; rename it to ``path`` on success, remove it on failure."""
    with atomic_write_all([path]) as (tmp,):
        yield tmp


def write_jsonl_to(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object a line, written in place (callers make it atomic)."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object a line, written atomically (the parent folder is created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        write_jsonl_to(tmp, rows)

"""``RunRecord``: what one run measured, written as ``metrics.json`` by train, evaluate and baselines, read by compare.

The file keeps its flat layout: each evaluated split is a top-level key
(``validation``, ``test``), real-text sets sit under ``real``, users' corpora under ``user``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from negotiation_stance.io import write_json

RECORD_FILE = "metrics.json"
KINDS = ("train", "evaluate", "baseline")


@dataclass
class RunRecord:
    kind: str
    labels: list[str]
    # {"name": data config name, "counts": rows per split (when known)}
    data: dict[str, Any]
    # Scores of each evaluated split, e.g. {"validation": {...}, "test": {...}}.
    splits: dict[str, dict[str, Any]]
    real: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Each data.extra corpus scored on its own rows: {name: {"validation": {...}, "test": {...}}}.
    user: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_dir: str | None = None
    model_dir: str | None = None
    model_name: str | None = None
    base_model: str | None = None
    seed: int | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    # Command-line overrides of the Hydra job: how compare names a configuration.
    overrides: list[str] = field(default_factory=list)
    # Baselines: the chosen hyper-parameters.
    params: dict[str, Any] = field(default_factory=dict)
    # Training runs: steps, time, best checkpoint, temperature, log history.
    train: dict[str, Any] | None = None
    latest: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"RunRecord.kind must be one of {KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "splits"}
        out.update(self.splits)
        return out

    def write(self, folder: Path) -> Path:
        path = Path(folder) / RECORD_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> RunRecord:
        names = {f.name for f in fields(cls)} - {"splits"}
        known = {k: v for k, v in payload.items() if k in names}
        splits = {k: v for k, v in payload.items() if k not in names and isinstance(v, dict) and "macro_f1" in v}
        return cls(splits=splits, **known)

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        """A ``metrics.json`` file, or the one inside a run folder."""
        path = Path(path)
        path = path / RECORD_FILE if path.is_dir() else path
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def section(self, name: str) -> dict[str, Any] | None:
        """The scores of a split or of a real-text set."""
        return self.splits.get(name) or self.real.get(name)

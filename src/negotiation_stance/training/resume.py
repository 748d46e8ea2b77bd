"""Continuing an interrupted run from its last complete checkpoint, and the run folder itself."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from negotiation_stance.errors import MissingPathError, NotWritableError
from negotiation_stance.evaluation.record import RECORD_FILE

log = logging.getLogger(__name__)

DONE_MARKER = RECORD_FILE


def resolve_resume(resume: str | None, runs_dir: Path) -> Path | None:
    """The run folder to continue: a given folder, or with ``true`` the newest unfinished one."""
    if resume in (None, "", "false", "False"):
        return None
    if str(resume).lower() == "true":
        candidates = sorted(
            (p.parent.parent for p in runs_dir.glob("*/checkpoints/checkpoint-*") if p.is_dir()),
            key=lambda p: p.name,
        )
        unfinished = [p for p in candidates if not (p / DONE_MARKER).exists()]
        if not unfinished:
            raise MissingPathError(f"training.resume=true: no unfinished run with a checkpoint under {runs_dir}")
        return unfinished[-1]
    folder = Path(str(resume)).expanduser().resolve()
    if not (folder / "checkpoints").is_dir():
        raise MissingPathError(f"training.resume={resume}: {folder}/checkpoints does not exist")
    return folder


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose trainer state was written (the Trainer writes it last).

    A run killed while saving leaves a checkpoint without it; resuming from that
    one would fail or silently lose the optimizer state, so it is skipped.
    """
    found = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for checkpoint in found:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
            return checkpoint
        except (OSError, ValueError):
            log.warning("Skipping incomplete checkpoint %s (interrupted while saving)", checkpoint)
    return None


def prepare_output_dir(output_dir: Path, resume: str | None) -> tuple[Path, Path | None]:
    """The run folder (the resumed run's, when resuming) checked writable, and the resumed folder or None."""
    resumed = resolve_resume(resume, output_dir.parent)
    if resumed is not None and resumed != output_dir:
        log.info("Resuming run %s (this invocation's log stays in %s)", resumed, output_dir)
        (output_dir / "resumed_into.txt").write_text(str(resumed) + "\n")
        output_dir = resumed
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".write_test.{process_rank()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise NotWritableError(f"paths.output_dir {output_dir} is not writable: {exc.strerror or exc}") from exc
    return output_dir, resumed


def process_rank() -> int:
    """Under torchrun every rank runs the task; only rank 0 logs, reports and exports."""
    return int(os.environ.get("RANK", "0"))

"""The best job of a sweep or search, chosen on validation macro-F1 (never test): ``models/best`` points at it.

Every job exports its model and moves ``models/latest``, so after a sweep that
is the last job, not the best. A Hydra callback (``configs/hydra/default.yaml``)
reads the finished jobs' ``metrics.json`` when the multirun ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from negotiation_stance.evaluation.record import RECORD_FILE, RunRecord

log = logging.getLogger(__name__)

BEST_FILE = "best.json"  # in the sweep folder: which job models/best points at, and why


@dataclass(frozen=True)
class JobResult:
    """A finished training job of a multirun: its folder, exported model and validation macro-F1."""

    job: int
    folder: Path
    model_dir: Path
    validation_macro_f1: float
    record: RunRecord


def sweep_results(sweep_dir: Path) -> list[JobResult]:
    """The training jobs of a multirun folder that finished (wrote ``metrics.json``) with a model and validation
    scores, in job order. Any other record is left out with a warning: one odd job must not fail a finished sweep."""
    results = []
    jobs = [p for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()] if Path(sweep_dir).is_dir() else []
    for folder in sorted(jobs, key=lambda p: int(p.name)):
        path = folder / RECORD_FILE
        if not path.is_file():
            continue  # a failed or unfinished job
        try:
            record = RunRecord.read(path)
        except (ValueError, TypeError) as exc:  # malformed JSON is a ValueError, a missing field a TypeError
            log.warning("Job %s left out of the best-job choice: %s is not a run record (%s)", folder.name, path, exc)
            continue
        model_dir = Path(record.model_dir or "")
        if record.kind != "train" or not (model_dir / "config.json").is_file():
            continue
        if (validation := record.section("validation")) is None:
            log.warning("Job %s left out of the best-job choice: %s has no validation scores", folder.name, path)
            continue
        results.append(JobResult(int(folder.name), folder, model_dir, float(validation["macro_f1"]), record))
    return results


def _task(result: JobResult) -> tuple[list[str], Any]:
    return list(result.record.labels), result.record.data.get("name")


def comparable(results: list[JobResult]) -> list[JobResult]:
    """The jobs on the first job's task (its labels and data): a 3-label and a 4-label model's macro-F1 are
    scores on different tasks, so the others are left out of the choice, with a warning."""
    if not results:
        return []
    first = _task(results[0])
    if others := {r.job: _task(r) for r in results if _task(r) != first}:
        log.warning("Jobs %s have other labels or data than job %d (labels %s, data %s) and are not compared "
                    "with it: %s", sorted(others), results[0].job, *first, others)  # fmt: skip
    return [r for r in results if r.job not in others]


def best_job(results: list[JobResult]) -> JobResult | None:
    """The highest validation macro-F1; a tie goes to the earlier job (``max`` keeps the first)."""
    return max(results, key=lambda r: r.validation_macro_f1, default=None)


def select_best(sweep_dir: Path, models_dir: Path) -> JobResult | None:
    """Point ``models_dir/best`` at the sweep's best job and note the choice in ``<sweep>/best.json``."""
    from negotiation_stance.export.folder import point_latest
    from negotiation_stance.io import write_json

    results = sweep_results(sweep_dir)
    compared = comparable(results)
    best = best_job(compared)
    if best is None:
        return None
    link = point_latest(models_dir, best.model_dir, "best")
    scores = {str(r.job): r.validation_macro_f1 for r in compared}
    left_out = sorted({r.job for r in results} - {r.job for r in compared})
    write_json(
        Path(sweep_dir) / BEST_FILE,
        {"job": best.job, "folder": str(best.folder), "model_dir": str(best.model_dir), "link": str(link),
         "chosen_on": "validation macro_f1", "validation_macro_f1": best.validation_macro_f1, "jobs": scores,
         "not_compared": left_out},
    )  # fmt: skip
    log.info("Best of %d jobs: job %d, validation macro-F1 %.4f -> %s", len(compared), best.job,
             best.validation_macro_f1, link)  # fmt: skip
    return best


class BestOfSweep(Callback):
    """When a multirun (``make sweep``, ``make search``) ends: ``models/best`` and the W&B ``best`` alias."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        best = select_best(Path(config.hydra.sweep.dir), Path(config.paths.models_dir))
        if best is None or config.get("logger", {}).get("name") != "wandb" or not config.wandb.log_model:
            return
        from negotiation_stance import tracking

        tracking.mark_best_model(config, Path(config.hydra.sweep.dir), best.model_dir, best.record.to_dict())

"""The best job of a sweep or search, chosen on validation macro-F1 (never test): ``models/best`` points at it.

Every job exports its model and moves ``models/latest``, so after a sweep that
is the last job, not the best. A Hydra callback (``configs/hydra/default.yaml``)
reads the finished jobs' ``metrics.json`` when the multirun ends.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

BEST_FILE = "best.json"  # in the sweep folder: which job models/best points at, and why


@dataclass(frozen=True)
class JobResult:
    """A finished training job of a multirun: its folder, exported model and validation macro-F1."""

    job: int
    folder: Path
    model_dir: Path
    validation_macro_f1: float
    record: dict[str, Any]


def sweep_results(sweep_dir: Path) -> list[JobResult]:
    """The training jobs of a multirun folder that finished (wrote ``metrics.json``) with a model, in job order."""
    results = []
    jobs = [p for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()] if Path(sweep_dir).is_dir() else []
    for folder in sorted(jobs, key=lambda p: int(p.name)):
        path = folder / "metrics.json"
        if not path.is_file():
            continue  # a failed or unfinished job
        record = json.loads(path.read_text(encoding="utf-8"))
        model_dir = Path(str(record.get("model_dir") or ""))
        if record.get("kind") != "train" or not (model_dir / "config.json").is_file():
            continue
        score = float(record["validation"]["macro_f1"])
        results.append(JobResult(int(folder.name), folder, model_dir, score, record))
    return results


def best_job(results: list[JobResult]) -> JobResult | None:
    """The highest validation macro-F1; a tie goes to the earlier job (``max`` keeps the first)."""
    return max(results, key=lambda r: r.validation_macro_f1, default=None)


def select_best(sweep_dir: Path, models_dir: Path) -> JobResult | None:
    """Point ``models_dir/best`` at the sweep's best job and note the choice in ``<sweep>/best.json``."""
    from negotiation_stance.export.folder import point_latest
    from negotiation_stance.io import write_json

    results = sweep_results(sweep_dir)
    best = best_job(results)
    if best is None:
        return None
    link = point_latest(models_dir, best.model_dir, "best")
    scores = {str(r.job): r.validation_macro_f1 for r in results}
    write_json(
        Path(sweep_dir) / BEST_FILE,
        {"job": best.job, "folder": str(best.folder), "model_dir": str(best.model_dir), "link": str(link),
         "chosen_on": "validation macro_f1", "validation_macro_f1": best.validation_macro_f1, "jobs": scores},
    )  # fmt: skip
    log.info("Best of %d jobs: job %d, validation macro-F1 %.4f -> %s", len(results), best.job,
             best.validation_macro_f1, link)  # fmt: skip
    return best


class BestOfSweep(Callback):
    """When a multirun (``make sweep``, ``make search``) ends: ``models/best`` and the W&B ``best`` alias."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        best = select_best(Path(config.hydra.sweep.dir), Path(config.paths.models_dir))
        if best is None or config.get("logger", {}).get("name") != "wandb" or not config.wandb.log_model:
            return
        from negotiation_stance import tracking

        tracking.mark_best_model(config, Path(config.hydra.sweep.dir), best.model_dir, best.record)

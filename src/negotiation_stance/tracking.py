"""Weights & Biases runs: one per training job, offline unless asked otherwise.

A run that cannot reach the server must still finish and keep its metrics, so
an online ``wandb.init`` that fails falls back to offline with one warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from negotiation_stance.config.paths import extra_names
from negotiation_stance.config.schema import to_plain_dict

log = logging.getLogger(__name__)

RUN_ID_FILE = "wandb_run_id.txt"


def start_run(settings: Any, *, enabled: bool, output_dir: Path, config: dict[str, Any], tags: list[str]) -> Any | None:
    """Start the run (or continue it when the folder already has a run id); None if disabled."""
    if not enabled:
        return None
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    # The exported folder is logged once, by log_model: the Trainer's W&B callback would upload
    # a second copy of the same weights (WANDB_LOG_MODEL=end) or every checkpoint.
    os.environ["WANDB_LOG_MODEL"] = "false"
    # Artifact staging files belong to the run too, not to ~/.local/share/wandb.
    os.environ["WANDB_DATA_DIR"] = str(output_dir / "wandb" / "data")
    id_file = output_dir / RUN_ID_FILE
    # A W&B sweep agent chooses the run id itself; otherwise the folder keeps it for resuming.
    run_id = os.environ.get("WANDB_RUN_ID") or (
        id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:12]
    )
    id_file.write_text(run_id + "\n")
    kwargs = dict(
        project=settings.project,
        entity=settings.entity,
        group=settings.group,
        name=settings.name,
        job_type=settings.job_type,
        tags=tags,
        config=config,
        dir=str(output_dir),
        id=run_id,
        resume="allow",
        reinit="finish_previous",
    )
    mode = settings.mode
    if mode == "online" and not (os.environ.get("WANDB_API_KEY") or _has_netrc_key()):
        log.warning("wandb.mode=online but no WANDB_API_KEY is set: logging offline to %s/wandb", output_dir)
        mode = "offline"
    try:
        return wandb.init(mode=mode, settings=wandb.Settings(init_timeout=settings.init_timeout), **kwargs)
    except Exception as exc:  # any server or auth failure must not lose the run
        if mode == "offline":
            raise
        log.warning(
            "W&B online init failed (%s); logging offline to %s/wandb. Sync later with `wandb sync`.",
            str(exc).splitlines()[0],
            output_dir,
        )
        # The failed attempt keeps its run id reserved in this process's W&B service.
        for leftover in (output_dir / "wandb").glob(f"run-*-{kwargs['id']}"):
            shutil.rmtree(leftover, ignore_errors=True)
        kwargs["id"] = uuid.uuid4().hex[:12]
        id_file.write_text(kwargs["id"] + "\n")
        return wandb.init(mode="offline", **kwargs)


def start_run_for(
    cfg: Any,
    output_dir: Path,
    *,
    tags: list[str] | None = None,
    name: str | None = None,
    extra_config: dict[str, Any] | None = None,
) -> Any | None:
    """``start_run`` with the settings of a composed config (``logger``, ``wandb``, ``tags``)."""
    settings = cfg.wandb.copy()
    if name is not None:
        settings.name = name
    return start_run(
        settings,
        enabled=cfg.logger.name == "wandb",
        output_dir=output_dir,
        config={**to_plain_dict(cfg), **(extra_config or {})},
        tags=list(cfg.tags) if tags is None else tags,
    )


@contextmanager
def tracked_run(cfg: Any, output_dir: Path, *, enabled: bool = True, **kwargs: Any) -> Iterator[Any | None]:
    """The one wrapper around a task: start its W&B run, and finish it, marked failed on any exception.

    Finishing in every case keeps the jobs of a multirun in their own W&B runs.
    ``kwargs`` go to :func:`start_run_for`; with ``enabled=False`` (another rank) there is no run.
    """
    run = start_run_for(cfg, output_dir, **kwargs) if enabled else None
    try:
        yield run
    except BaseException:
        finish_run(run, failed=True)
        raise
    finish_run(run)


def _has_netrc_key() -> bool:
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def finish_run(run: Any | None, *, failed: bool = False) -> None:
    if run is not None:
        run.finish(exit_code=1 if failed else 0)


def log_reports(
    run: Any | None, reports: dict[str, Any], labels: list[str], folder: Path, *, max_errors: int = 200
) -> None:
    """Summary metrics per set (``test/macro_f1``...), confusion matrices, prediction and error tables, plots."""
    if run is None:
        return
    import wandb

    payload: dict[str, Any] = {}
    for name, report in reports.items():
        flat = flat_metrics(report.metrics, name)
        run.summary.update(flat)
        payload.update(flat)
        payload[f"{name}/confusion_matrix"] = wandb.plot.confusion_matrix(
            y_true=report.gold, preds=report.predicted, class_names=labels, title=f"{name} confusion matrix"
        )
        columns = ["id", "text", "gold", "predicted", "confidence", *[f"p_{label}" for label in labels]]
        errors = report.errors(max_errors)
        payload[f"{name}/errors"] = wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in errors])
        # Every sentence, keyed by its id: two runs' tables join on it in the W&B UI.
        rows = [[row[c] for c in columns] for row in report.prediction_rows()]
        payload[f"{name}/predictions"] = predictions = wandb.Table(columns=columns, data=rows)
        predictions.set_pk("id")
        for plot in ("confusion", "reliability"):
            image = folder / f"{plot}_{name}.png"
            if image.is_file():
                payload[f"{name}/{plot}_plot"] = wandb.Image(str(image))
    run.log(payload)


def flat_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """``{prefix}/macro_f1``, ``{prefix}/f1/<label>``... for W&B summaries and tables."""
    flat = {f"{prefix}/macro_f1": metrics["macro_f1"], f"{prefix}/accuracy": metrics["accuracy"]}
    if "macro_f1_ci" in metrics:
        flat[f"{prefix}/macro_f1_ci_low"] = metrics["macro_f1_ci"]["low"]
        flat[f"{prefix}/macro_f1_ci_high"] = metrics["macro_f1_ci"]["high"]
    for key in ("favg", "ece", "ece_uncalibrated"):
        if metrics.get(key) is not None:
            flat[f"{prefix}/{key}"] = metrics[key]
    for label, scores in metrics["per_class"].items():
        for name in ("precision", "recall", "f1"):
            flat[f"{prefix}/{name}/{label}"] = scores[name]
    return flat


def model_artifact_name(data_name: str, model_name: str) -> str:
    """The W&B model artifact of a configuration: its versions are the runs' exported folders."""
    return f"stance-{data_name}-{model_name}"


def log_model(
    run: Any | None, model_dir: Path, name: str, metadata: dict[str, Any], aliases: tuple[str, ...] = ("latest",)
) -> None:
    """The exported folder as a W&B model artifact (stored with the offline run, uploaded on sync)."""
    if run is None:
        return
    import wandb

    artifact = wandb.Artifact(name=name, type="model", metadata=metadata)
    artifact.add_dir(str(model_dir))
    run.log_artifact(artifact, aliases=list(aliases))


def dataset_files(data: Any) -> dict[str, Path]:
    """The labelled files of a ``data`` config by the name each gets in the artifact (one entry per file),
    each ``data.extra`` corpus as ``extra-<name>.jsonl``: training on added labels is another version."""
    paths = {split: Path(str(data[f"{split}_path"])).resolve() for split in ("train", "validation", "test")}
    unique = dict.fromkeys(paths.values())
    names = [path.name for path in unique]
    if len(set(names)) == len(names):
        files = {path.name: path for path in unique}
    else:
        files = {f"{split}-{path.name}": path for split, path in paths.items()}
    extra = [str(path) for path in data.get("extra") or []]
    for path, name in zip(extra, extra_names(extra), strict=True):
        files[f"extra-{name}.jsonl"] = Path(path).resolve()
    return files


def use_dataset(run: Any | None, data: Any) -> Any | None:
    """The run's labelled files as a ``dataset`` artifact (``<data.name>-corpus``) that the run uses.

    W&B versions an artifact by its content digest, so every run on unchanged
    files uses the same version, and the lineage reads corpus -> run -> model.
    The shared evaluation sets are never part of it.
    """
    if run is None:
        return None
    import wandb

    files = dataset_files(data)
    metadata = {"data": str(data.name), "files": {name: str(path) for name, path in files.items()}}
    artifact = wandb.Artifact(name=f"{data.name}-corpus", type="dataset", metadata=metadata)
    for name, path in files.items():
        artifact.add_file(str(path), name=name)
    if run.offline:
        # run.use_artifact refuses offline runs; for a new artifact it logs it with use_after_commit,
        # which `wandb sync` turns into the same "used by" link. Do that directly.
        run._log_artifact(artifact, is_user_created=True, use_after_commit=True)
    else:
        run.use_artifact(artifact)
    return artifact


def mark_best_model(cfg: Any, sweep_dir: Path, model_dir: Path, record: dict[str, Any]) -> None:
    """Give the best job's model artifact the alias ``best``, from one small run in the sweep folder.

    An offline run cannot reach another run's artifact, so the best folder is logged
    again under the job's artifact name: W&B finds the same content digest, keeps
    the job's version and adds the alias (the files are not uploaded twice).
    """
    settings = cfg.wandb.copy()
    settings.job_type, settings.name = "select-best", f"best-of-{sweep_dir.name}"
    score = float(record["validation"]["macro_f1"])
    config = {
        "best_run_dir": str(record.get("run_dir")),
        "chosen_on": "validation/macro_f1",
        "validation/macro_f1": score,
    }
    run = start_run(settings, enabled=True, output_dir=sweep_dir, config=config, tags=[*cfg.tags, "best"])
    try:
        name = model_artifact_name(record["data"]["name"], str(record["model_name"]))
        log_model(run, model_dir, name, {"validation/macro_f1": score, "run_dir": record.get("run_dir")}, ("best",))
    except BaseException:
        finish_run(run, failed=True)
        raise
    finish_run(run)

"""One training run (``scripts/train.py``): prepare_data -> build_model -> fit -> evaluate -> export -> record.

Everything a run writes goes into its Hydra run folder: checkpoints, reports,
the exported model and ``metrics.json`` (a :class:`RunRecord`), written last,
so a folder with it is a finished run.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import DatasetDict
from omegaconf import DictConfig
from transformers import set_seed

from negotiation_stance import tracking
from negotiation_stance.config.validation import validate_train_config
from negotiation_stance.data import load_splits
from negotiation_stance.data.loading import extra_names, extra_rows, mask_names_setting
from negotiation_stance.evaluation.metrics import fit_temperature
from negotiation_stance.evaluation.record import RunRecord
from negotiation_stance.evaluation.report import EvalSettings, SplitReport
from negotiation_stance.evaluation.scoring import (
    EVAL_SPLITS,
    LabelledSet,
    configured_sets,
    evaluate_and_report,
    predict_sets,
    sections,
    torch_logits_fn,
    user_sections,
)
from negotiation_stance.export.folder import export_model, point_latest
from negotiation_stance.export.model_card import model_card
from negotiation_stance.modeling import build_model, record_mask_names, record_pair_field, scale_logits
from negotiation_stance.training.fit import FitResult, fit, precision_flags, training_arguments
from negotiation_stance.training.resume import (
    prepare_output_dir,
    process_rank,
    resolve_resume,
    restore_run_config,
    save_run_config,
)

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    labels: list[str]
    splits: DatasetDict
    # What is scored after the fit: validation, test, the real-text sets and each data.extra corpus's own rows.
    sets: dict[str, LabelledSet]
    # Names of the data.extra corpora merged into the splits.
    extra: list[str]

    @property
    def counts(self) -> dict[str, int]:
        return {split: len(ds) for split, ds in self.splits.items()}

    def extra_counts(self) -> dict[str, dict[str, int]]:
        """Rows per split that each data.extra corpus added."""
        return {name: {s: len(extra_rows(ds.to_list(), name)) for s, ds in self.splits.items()} for name in self.extra}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job and return its record (as written to ``metrics.json``).

    A resumed run trains with the settings saved in its folder, not this invocation's.
    """
    resumed = resolve_resume(cfg.training.resume, Path(cfg.paths.output_dir).parent)
    overrides = hydra_overrides()
    if resumed is not None:
        cfg, overrides = restore_run_config(cfg, resumed, overrides)
    validate_train_config(cfg)
    output_dir = prepare_output_dir(Path(cfg.paths.output_dir), resumed)
    precision = precision_flags(cfg.training.precision)  # a bad value fails before any work
    rank = process_rank()
    if resumed is None and rank == 0:
        save_run_config(cfg, output_dir, overrides)
    torch.set_num_threads(cfg.training.num_threads)
    set_seed(cfg.seed)  # before the model exists: the new head's weights depend on it
    data = prepare_data(cfg)
    with tracking.tracked_run(cfg, output_dir, enabled=rank == 0) as run:
        tracking.use_dataset(run, cfg.data)
        tokenizer, model = build_model(cfg.model.name_or_path, data.labels, cfg.model.revision, cfg.model.pooling)
        args = training_arguments(cfg, output_dir, precision, run)
        fitted = fit(cfg, model, tokenizer, data.splits, args, resumed)
        if rank != 0:
            return {"rank": rank, "train": {"global_step": fitted.global_step}}
        reports, temperature = evaluate(cfg, fitted, data, output_dir, run)
        record = make_record(cfg, data, fitted, reports, temperature, output_dir, overrides)
        export(cfg, fitted, record, run)
        record.write(output_dir)
    if not cfg.training.keep_checkpoints:
        drop_checkpoints(output_dir)
    return record.to_dict()


def drop_checkpoints(output_dir: Path) -> None:
    """Delete a finished run's resume states: about 0.5 GB for MiniLM, never read once the model is exported."""
    folder = output_dir / "checkpoints"
    if folder.is_dir():
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        shutil.rmtree(folder)
        log.info("Deleted %s (%.0f MB; training.keep_checkpoints=true keeps them)", folder, size / 1e6)


def prepare_data(cfg: DictConfig) -> PreparedData:
    """The validated splits (with any data.extra corpora merged in), and the sets scored after the fit.

    The checkpoint is chosen on the merged validation split; each extra corpus is also reported on its own.
    """
    extra = extra_names(cfg.data.get("extra"))
    splits = load_splits(cfg.data)
    labels = list(cfg.data.labels)
    log.info("Data %s: %s", cfg.data.name, {split: len(ds) for split, ds in splits.items()})
    sets = configured_sets(cfg, splits, labels, extra)
    return PreparedData(labels, splits, sets, extra)


def calibrate(model: Any, logits: np.ndarray, gold: list[int]) -> float:
    """Temperature fitted on validation only, baked into the classifier so pipeline() sees calibrated scores."""
    temperature = fit_temperature(logits, gold)
    scale_logits(model, 1.0 / temperature)
    model.config.calibration_temperature = temperature
    log.info("Temperature scaling: T = %.3f (fitted on validation)", temperature)
    return temperature


def evaluate(
    cfg: DictConfig, fitted: FitResult, data: PreparedData, output_dir: Path, run: Any | None
) -> tuple[dict[str, SplitReport], float]:
    """Score validation, test and the real-text sets; write the reports; calibrate when asked."""
    t = cfg.training
    fn = torch_logits_fn(fitted.model, fitted.tokenizer, batch_size=t.eval_batch_size, max_length=t.max_length)
    logits = predict_sets(data.sets, fn)
    temperature = 1.0
    if t.calibrate:
        gold = [int(r["label"]) for r in data.sets["validation"].rows]
        temperature = calibrate(fitted.model, logits["validation"], gold)
    header = {
        "model": base_model_name(cfg),
        "data": cfg.data.name,
        "labels": data.labels,
        "seed": cfg.seed,
        "train sentences": data.counts["train"],
    }
    settings = EvalSettings.from_config(cfg.evaluation, cfg.seed)
    title = f"Training run {output_dir.name}"
    reports = evaluate_and_report(output_dir, title, header, data.sets, logits, data.labels, settings, run, temperature)
    return reports, temperature


def make_record(
    cfg: DictConfig,
    data: PreparedData,
    fitted: FitResult,
    reports: dict[str, SplitReport],
    temperature: float,
    output_dir: Path,
    overrides: list[str],
) -> RunRecord:
    splits, real = sections(reports, EVAL_SPLITS)
    summary = dict(fitted.summary)
    summary["temperature"] = temperature
    data_info: dict[str, Any] = {"name": cfg.data.name, "counts": data.counts}
    if data.extra:  # each data.extra corpus: its file and the rows it added to each split
        data_info["extra"] = {name: {"path": str(path), "counts": counts} for (name, counts), path in
                              zip(data.extra_counts().items(), cfg.data.extra, strict=True)}  # fmt: skip
    return RunRecord(
        kind="train",
        labels=data.labels,
        data=data_info,
        splits=splits,
        real=real,
        user=user_sections(reports, data.extra),
        run_dir=str(output_dir),
        model_dir=str(output_dir / "model"),
        model_name=str(cfg.model.name),
        base_model=base_model_name(cfg),
        seed=cfg.seed,
        tags=list(cfg.tags),
        group=cfg.wandb.group,
        overrides=overrides,
        train=summary,
    )


def export(cfg: DictConfig, fitted: FitResult, record: RunRecord, run: Any | None) -> Path:
    """The model folder with its card, ``models/latest`` pointed at it, and the W&B model artifact."""
    t = cfg.training
    training = {"epochs": t.epochs, "learning_rate": t.learning_rate, "batch_size": t.batch_size}
    training |= {"max_length": t.max_length, "precision": t.precision, "calibrate": t.calibrate}
    card = model_card(
        base_model=str(record.base_model),
        labels=record.labels,
        data=record.data,
        metrics=record.to_dict(),
        training=training,
        mask_names=mask_names_setting(cfg.data),
        mean_pooled=cfg.model.pooling == "mean",
    )
    record_pair_field(fitted.model, cfg.data.pair_field)  # inference then asks for pairs exactly when trained on them
    record_mask_names(fitted.model, mask_names_setting(cfg.data))  # and masks names exactly when trained masked
    model_dir = export_model(fitted.model, fitted.tokenizer, Path(str(record.model_dir)), card)
    record.latest = str(point_latest(Path(cfg.paths.models_dir), model_dir))
    if cfg.wandb.log_model:
        metadata = {"test/macro_f1": record.splits["test"]["macro_f1"], "labels": record.labels}
        metadata["base_model"] = record.base_model
        tracking.log_model(run, model_dir, tracking.model_artifact_name(cfg.data.name, cfg.model.name), metadata)
    return model_dir


def base_model_name(cfg: DictConfig) -> str:
    return str(cfg.model.base_model_id or cfg.model.name_or_path)


def hydra_overrides() -> list[str]:
    """The command-line overrides of this Hydra job (how `make compare` names a configuration)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)

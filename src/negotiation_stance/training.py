"""Fine-tuning with ``Trainer``: the body of ``scripts/train.py``.

One call of :func:`train` is one run: it seeds, loads and validates the data,
fine-tunes with evaluation every epoch, keeps the checkpoint with the best
validation macro-F1, scores validation, test and the real-text sets, exports
the model and writes ``metrics.json`` -- all inside the Hydra run folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from omegaconf import DictConfig
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

from negotiation_stance import tracking
from negotiation_stance.data import load_splits
from negotiation_stance.evaluation import classification_metrics, fit_temperature
from negotiation_stance.export import export_model, model_card, point_latest
from negotiation_stance.modeling import build_model, scale_logits
from negotiation_stance.reporting import (
    EvalSettings,
    SplitReport,
    predict_rows,
    score_real_sets,
    write_json,
    write_reports,
)

log = logging.getLogger(__name__)

DONE_MARKER = "metrics.json"


def precision_flags(precision: str) -> dict[str, bool]:
    """bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    if precision not in {"auto", "fp32", "fp16", "bf16"}:
        raise ValueError(f"training.precision must be auto, fp32, fp16 or bf16, got {precision!r}")
    if precision == "auto":
        gpu = torch.cuda.is_available()
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if gpu else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


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
            raise FileNotFoundError(f"training.resume=true: no unfinished run with a checkpoint under {runs_dir}")
        return unfinished[-1]
    folder = Path(str(resume)).expanduser().resolve()
    if not (folder / "checkpoints").is_dir():
        raise FileNotFoundError(f"training.resume={resume}: {folder}/checkpoints does not exist")
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


def tokenize(ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    has_pair = "pair" in ds.column_names

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        encoded = tokenizer(batch["text"], batch["pair"] if has_pair else None, truncation=True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    keep = {"label"}
    return ds.map(encode, batched=True, remove_columns=[c for c in ds.column_names if c not in keep])


def macro_f1_metric(labels: list[str]) -> Callable[[EvalPrediction], dict[str, float]]:
    def compute(pred: EvalPrediction) -> dict[str, float]:
        scores = classification_metrics(pred.label_ids, np.argmax(pred.predictions, axis=-1), labels)
        return {"macro_f1": scores["macro_f1"], "accuracy": scores["accuracy"]}

    return compute


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job and return its metrics (as written to ``metrics.json``)."""
    output_dir = Path(cfg.paths.output_dir)
    resumed = resolve_resume(cfg.training.resume, output_dir.parent)
    if resumed is not None and resumed != output_dir:
        log.info("Resuming run %s (this invocation's log stays in %s)", resumed, output_dir)
        (output_dir / "resumed_into.txt").write_text(str(resumed) + "\n")
        output_dir = resumed
    # Under torchrun every rank runs this function; only rank 0 logs, reports and exports.
    rank = int(os.environ.get("RANK", "0"))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".write_test.{rank}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise OSError(f"paths.output_dir {output_dir} is not writable: {exc.strerror or exc}") from exc

    precision = precision_flags(cfg.training.precision)  # a bad value fails before any work
    torch.set_num_threads(cfg.training.num_threads)
    set_seed(cfg.seed)  # before the model exists: the new head's weights depend on it
    labels = list(cfg.data.labels)
    splits = load_splits(cfg.data)
    counts = {split: len(ds) for split, ds in splits.items()}
    log.info("Data %s: %s", cfg.data.name, counts)

    run = tracking.start_run_for(cfg, output_dir) if rank == 0 else None
    base_model = str(cfg.model.base_model_id or cfg.model.name_or_path)
    failed = True
    try:
        tokenizer, model = build_model(cfg.model.name_or_path, labels, cfg.model.revision)
        encoded = {split: tokenize(ds, tokenizer, cfg.training.max_length) for split, ds in splits.items()}
        args = TrainingArguments(
            output_dir=str(output_dir / "checkpoints"),
            num_train_epochs=cfg.training.epochs,
            max_steps=cfg.training.max_steps,
            learning_rate=cfg.training.learning_rate,
            per_device_train_batch_size=cfg.training.batch_size,
            per_device_eval_batch_size=cfg.training.eval_batch_size,
            gradient_accumulation_steps=cfg.training.gradient_accumulation_steps,
            weight_decay=cfg.training.weight_decay,
            warmup_steps=cfg.training.warmup_ratio,
            eval_strategy="epoch",
            save_strategy="epoch",
            save_total_limit=cfg.training.save_total_limit,
            load_best_model_at_end=True,
            metric_for_best_model="macro_f1",
            greater_is_better=True,
            logging_steps=cfg.training.logging_steps,
            seed=cfg.seed,
            data_seed=cfg.seed,
            dataloader_num_workers=cfg.training.dataloader_num_workers,
            train_sampling_strategy="group_by_length" if cfg.training.group_by_length else "random",
            report_to=["wandb"] if run is not None else [],
            run_name=run.name if run is not None else None,
            disable_tqdm=not os.isatty(2),
            dataloader_pin_memory=torch.cuda.is_available(),
            # Explicit on CPU-only machines: torchrun then gets gloo data parallelism, not N copies.
            use_cpu=not torch.cuda.is_available(),
            # Per-device mean loss; DDP averages gradients. The default rescales the logged
            # train and eval losses by the number of processes.
            average_tokens_across_devices=False,
            ddp_find_unused_parameters=False,
            **precision,
        )
        if args.world_size > 1:
            log.info("Data-parallel training: rank %d of %d (%s)", rank, args.world_size, args.parallel_mode)
        callbacks = []
        if cfg.training.early_stopping_patience > 0:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.training.early_stopping_patience))
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=encoded["train"],
            eval_dataset=encoded["validation"],
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=macro_f1_metric(labels),
            callbacks=callbacks,
        )
        checkpoint = last_complete_checkpoint(Path(args.output_dir)) if resumed is not None else None
        if resumed is not None and checkpoint is None:
            raise FileNotFoundError(f"training.resume: no complete checkpoint-* folder in {args.output_dir}")
        if checkpoint is not None:
            log.info("Resuming from %s", checkpoint)
        started = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        train_seconds = time.perf_counter() - started

        if rank != 0:
            failed = False
            return {"rank": rank, "train": {"global_step": result.global_step}}
        # trainer.model is now the best checkpoint by validation macro-F1.
        model = trainer.model
        settings = EvalSettings.from_config(cfg.evaluation, cfg.seed)
        kwargs = {"batch_size": cfg.training.eval_batch_size, "max_length": cfg.training.max_length}
        rows = {split: splits[split].to_list() for split in ("validation", "test")}
        logits = {split: predict_rows(model, tokenizer, rows[split], **kwargs) for split in rows}
        temperature = 1.0
        if cfg.training.calibrate:
            # Fitted on validation only; baked into the classifier so pipeline() sees calibrated scores.
            temperature = fit_temperature(logits["validation"], [r["label"] for r in rows["validation"]])
            scale_logits(model, 1.0 / temperature)
            model.config.calibration_temperature = temperature
            log.info("Temperature scaling: T = %.3f (fitted on validation)", temperature)
        reports: dict[str, SplitReport] = {
            split: SplitReport(
                split,
                [str(r["id"]) for r in rows[split]],
                [r["text"] for r in rows[split]],
                [int(r["label"]) for r in rows[split]],
                logits[split],
                labels,
                settings,
                temperature,
            )
            for split in rows
        }
        # Real-text sets are scored with the (possibly rescaled) model: temperature already applied.
        real = score_real_sets(
            model,
            tokenizer,
            Path(cfg.paths.shared_eval_dir),
            list(cfg.evaluation.real_sets),
            labels,
            settings,
            **kwargs,
        )
        metrics: dict[str, Any] = {
            "kind": "train",
            "run_dir": str(output_dir),
            "model_dir": str(output_dir / "model"),
            "base_model": base_model,
            "model_name": str(cfg.model.name),
            "data": {"name": cfg.data.name, "counts": counts},
            "labels": labels,
            "seed": cfg.seed,
            "tags": list(cfg.tags),
            "group": cfg.wandb.group,
            "overrides": _overrides(),
            "train": {
                "seconds": round(train_seconds, 2),
                "global_step": result.global_step,
                "epochs": trainer.state.epoch,
                "train_loss": result.training_loss,
                "samples_per_second": result.metrics.get("train_samples_per_second"),
                "best_checkpoint": trainer.state.best_model_checkpoint,
                "best_validation_macro_f1": trainer.state.best_metric,
                "temperature": temperature,
                "log_history": trainer.state.log_history,
            },
            **{split: report.metrics for split, report in reports.items()},
            "real": {name: report.metrics for name, report in real.items()},
        }
        all_reports = {**reports, **real}
        write_reports(
            output_dir,
            f"Training run {output_dir.name}",
            all_reports,
            {
                "model": base_model,
                "data": cfg.data.name,
                "labels": labels,
                "seed": cfg.seed,
                "train sentences": counts["train"],
            },
        )
        model_dir = export_model(
            model,
            tokenizer,
            output_dir / "model",
            model_card(base_model=base_model, labels=labels, data=metrics["data"], metrics=metrics),
        )
        latest = point_latest(Path(cfg.paths.models_dir), model_dir)
        metrics["latest"] = str(latest)
        tracking.log_reports(run, all_reports, labels, output_dir, max_errors=cfg.evaluation.max_errors)
        if cfg.wandb.log_model:
            summary = {"test/macro_f1": metrics["test"]["macro_f1"], "labels": labels, "base_model": base_model}
            tracking.log_model(run, model_dir, f"stance-{cfg.data.name}-{cfg.model.name}", summary)
        write_json(output_dir / DONE_MARKER, metrics)
        failed = False
        return metrics
    finally:
        tracking.finish_run(run, failed=failed)


def _overrides() -> list[str]:
    """The command-line overrides of this Hydra job (how `make compare` names a configuration)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)

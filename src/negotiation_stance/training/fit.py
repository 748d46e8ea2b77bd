"""Fine-tuning with ``Trainer``: arguments, callbacks, and the fit from scratch or from a checkpoint."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from negotiation_stance.config.validation import CACHE_FROZEN_ALONE
from negotiation_stance.errors import ConfigError, MissingPathError
from negotiation_stance.evaluation.metrics import classification_metrics
from negotiation_stance.io import write_json
from negotiation_stance.modeling.model import count_truncated
from negotiation_stance.training.frozen_cache import FrozenCache, build_cache, from_layer
from negotiation_stance.training.probe import run_probe
from negotiation_stance.training.recipes import (
    TailAverage,
    balanced_class_weights,
    cross_entropy_loss,
    freeze_lower_layers,
    layerwise_param_groups,
)
from negotiation_stance.training.resume import last_complete_checkpoint

log = logging.getLogger(__name__)

# Beside each checkpoint: the training loss summed over every step up to it.
LOSS_SUM_FILE = "loss_sum.json"
# Beside each checkpoint of a run with training.average_last: the tail average so far.
TAIL_AVERAGE_FILE = "tail_average.pt"


@dataclass
class FitResult:
    """The model with the best validation macro-F1, and what the fit recorded."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    global_step: int
    summary: dict[str, Any]


class RunTrainer(Trainer):
    """``Trainer`` whose ``train_loss`` is the mean over the whole run, also when it was resumed.

    transformers restarts its loss sum at each ``train()`` call and divides by that call's
    steps, so a resumed run reported the mean of its last epochs only. Each checkpoint keeps
    the sum so far, written before the trainer state that marks the checkpoint complete.
    """

    # The loss summed over the steps before this train() call (read from the resumed checkpoint).
    loss_before: float = 0.0
    # training.layer_lr_decay: 1.0 = one learning rate for every layer (transformers' own optimizer groups).
    layer_lr_decay: float = 1.0
    # training.average_last > 0: the running tail average, saved with each checkpoint.
    tail_average: TailAverage | None = None
    # training.cache_frozen: the frozen layers' output per row; the forward starts above them.
    frozen_cache: FrozenCache | None = None

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if self.frozen_cache is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        with from_layer(model, self.frozen_cache.layers):
            return super().compute_loss(model, self.frozen_cache.inputs(inputs), return_outputs, num_items_in_batch)

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        if self.layer_lr_decay == 1.0 or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        optimizer_kwargs.pop("lr", None)  # each group carries its own
        groups = layerwise_param_groups(
            opt_model,
            self.args.learning_rate,
            self.layer_lr_decay,
            self.args.weight_decay,
            set(self.get_decay_parameter_names(opt_model)),
        )
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def run_train_loss(self) -> float:
        """Once train() has finished: the mean loss over every step of the run."""
        return (self.loss_before + self._total_loss_scalar) / max(self.state.global_step, 1)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)
            # transformers 5: _total_loss_scalar holds the logged steps, _tr_loss those since the last log.
            loss_sum = self.loss_before + self._total_loss_scalar + self._tr_loss.item()
            write_json(folder / LOSS_SUM_FILE, {"global_step": self.state.global_step, "loss_sum": loss_sum})
            if self.tail_average is not None:
                torch.save(self.tail_average.state_dict(), folder / TAIL_AVERAGE_FILE)
        super()._save_checkpoint(model, trial)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "train_loss" in logs:  # the end of train(): the whole run's mean, not this call's
            logs = {**logs, "train_loss": self.run_train_loss()}
        super().log(logs, start_time)


def loss_before(checkpoint: Path) -> float:
    """The loss summed over the steps up to ``checkpoint``; 0 with a warning for a checkpoint without it."""
    path = checkpoint / LOSS_SUM_FILE
    if not path.is_file():
        log.warning("%s has no %s: train_loss will average the resumed steps only", checkpoint, LOSS_SUM_FILE)
        return 0.0
    step = int(checkpoint.name.split("-")[-1])
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON ({exc}); delete this checkpoint to resume from the one before") from exc
    if not isinstance(saved, dict) or saved.get("global_step") != step or not isinstance(saved.get("loss_sum"), float):
        raise ConfigError(f"{path}: expected global_step {step} and a numeric loss_sum, got {saved}")
    return float(saved["loss_sum"])


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX or AVX512-BF16); elsewhere bf16 is emulated and slower."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def precision_flags(precision: str) -> dict[str, bool]:
    """``auto``: bf16 on GPUs that support it, fp16 on other GPUs; bf16 autocast on CPUs with native bf16, else fp32.

    On this project's 2-core Xeon (AMX) bf16 autocast trains about 1.6x faster than fp32 with
    scores within the seed-to-seed spread (README, "Training speed").
    """
    if precision not in {"auto", "fp32", "fp16", "bf16"}:
        raise ConfigError(f"training.precision must be auto, fp32, fp16 or bf16, got {precision!r}")
    if precision == "auto":
        if torch.cuda.is_available():
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif cpu_has_native_bf16():
            precision = "bf16"
        else:
            precision = "fp32"
            # Said once, up front: the same recipe takes about twice as long here (README, "Training speed").
            log.info(
                "training.precision=auto: this CPU has neither AMX nor AVX512-BF16, so training runs in fp32, "
                "about twice as slow as with bf16 in hardware (the default make train: ~20 min on 2 cores)"
            )
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def tokenize(ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, split: str = "train") -> Dataset:
    """Token ids of a split, truncated to ``max_length``, with a warning that counts the rows it cuts."""
    has_pair = "pair" in ds.column_names
    over, longest = count_truncated(tokenizer, ds["text"], ds["pair"] if has_pair else None, max_length)
    if over:
        log.warning(
            "%d of %d %s rows exceed training.max_length=%d tokens and are truncated (the longest has %d); "
            "the model sees only their first %d tokens.",
            over, len(ds), split, max_length, longest, max_length,
        )  # fmt: skip

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


def resume_tail_average(tail: TailAverage, checkpoint: Path) -> None:
    """Continue the tail average saved with ``checkpoint``; a checkpoint inside the window must have one."""
    path = checkpoint / TAIL_AVERAGE_FILE
    if path.is_file():
        tail.load_state_dict(torch.load(path, map_location="cpu"))
        return
    saved = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    # Before the averaging window nothing was averaged yet, so a missing file loses nothing.
    window = round(tail.fraction * saved["max_steps"])
    if saved["global_step"] > saved["max_steps"] - max(1, window):
        raise ConfigError(
            f"{checkpoint} has no {TAIL_AVERAGE_FILE}, but training.average_last={tail.fraction} averages "
            "from an earlier step: resume with the run's own settings, or start a fresh run"
        )


def training_arguments(
    cfg: DictConfig, output_dir: Path, precision: dict[str, bool], run: Any | None
) -> TrainingArguments:
    """``TrainingArguments`` from ``cfg.training``: evaluate and save every epoch, keep the best macro-F1."""
    t = cfg.training
    return TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,
        lr_scheduler_type=t.lr_scheduler,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_steps=t.logging_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=t.dataloader_num_workers,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        torch_compile=t.torch_compile,
        # The cached forward reads the rows' cache_index, a column the model's signature lacks.
        remove_unused_columns=not t.cache_frozen,
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


def resume_checkpoint(checkpoints: Path, resumed: Path | None) -> Path | None:
    """The checkpoint to continue from when resuming; a resumed run without one is an error."""
    if resumed is None:
        return None
    checkpoint = last_complete_checkpoint(checkpoints)
    if checkpoint is None:
        raise MissingPathError(f"training.resume: no complete checkpoint-* folder in {checkpoints}")
    log.info("Resuming from %s", checkpoint)
    return checkpoint


def fit(
    cfg: DictConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    splits: dict[str, Dataset],
    args: TrainingArguments,
    resumed: Path | None,
) -> FitResult:
    """Fine-tune on ``train``, choose the checkpoint on ``validation`` macro-F1 (``resumed``: continue it)."""
    if args.world_size > 1:
        log.info("Data-parallel training: rank %d of %d (%s)", args.process_index, args.world_size, args.parallel_mode)
    max_length = cfg.training.max_length
    encoded = {split: tokenize(splits[split], tokenizer, max_length, split) for split in ("train", "validation")}
    patience = cfg.training.early_stopping_patience
    t = cfg.training
    weights = balanced_class_weights(encoded["train"]["label"], len(cfg.data.labels)) if t.class_weights else None
    if weights is not None:
        log.info("Class weights (balanced): %s", dict(zip(cfg.data.labels, weights.tolist(), strict=True)))
    custom_loss = weights is not None or t.label_smoothing > 0
    if t.freeze_layers:
        trainable = freeze_lower_layers(model, t.freeze_layers)
        total = sum(p.numel() for p in model.parameters())
        log.info("Frozen: embeddings and layers 0-%d; %.1fM of %.1fM parameters train",
                 t.freeze_layers - 1, trainable / 1e6, total / 1e6)  # fmt: skip
    cache = None
    autocast = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
    if t.cache_frozen:
        if args.world_size > 1 or t.torch_compile:  # settings validation refuses both first (WORLD_SIZE)
            raise ConfigError(CACHE_FROZEN_ALONE)
        cache, encoded = build_cache(model, t.freeze_layers, encoded, t.eval_batch_size, args.device, autocast)
    loss_fn = cross_entropy_loss(weights, t.label_smoothing) if custom_loss else None
    checkpoint = resume_checkpoint(Path(args.output_dir), resumed)
    probe = None
    if t.probe_epochs and checkpoint is None:  # a resumed run's checkpoint already holds the probed head
        probe = run_probe(model, encoded, DataCollatorWithPadding(tokenizer), t, list(cfg.data.labels), cfg.seed,
                          args.device, autocast, cache, loss_fn)  # fmt: skip
    trainer = RunTrainer(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=macro_f1_metric(list(cfg.data.labels)),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=patience)] if patience > 0 else [],
        compute_loss_func=loss_fn,
    )
    trainer.layer_lr_decay = t.layer_lr_decay
    trainer.frozen_cache = cache
    if t.average_last > 0:
        trainer.tail_average = TailAverage(t.average_last)
        trainer.add_callback(trainer.tail_average)
    if checkpoint is not None:
        trainer.loss_before = loss_before(checkpoint)
        if trainer.tail_average is not None:
            resume_tail_average(trainer.tail_average, checkpoint)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    summary = {
        "seconds": round(time.perf_counter() - started, 2),
        # training.cache_frozen: the one forward pass of the frozen layers before training (not in "seconds").
        "cache_seconds": round(cache.seconds, 2) if cache is not None else 0.0,
        # training.probe_epochs: the head trained alone first (not in "seconds"); None when off or resumed.
        "probe": probe,
        "global_step": result.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": trainer.run_train_loss(),
        "samples_per_second": result.metrics.get("train_samples_per_second"),
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_validation_macro_f1": trainer.state.best_metric,
        "log_history": trainer.state.log_history,
    }
    # trainer.model is now the best checkpoint by validation macro-F1, unless the tail average replaces it.
    if trainer.tail_average is not None and not trainer.tail_average.count:
        log.warning("training.average_last: early stopping ended the run before step %d, so nothing was "
                    "averaged; exporting the best checkpoint", trainer.tail_average.start_step + 1)  # fmt: skip
    elif trainer.tail_average is not None:
        steps = trainer.tail_average.apply(trainer.model)
        scores = trainer.evaluate()
        summary["tail_average"] = {
            "fraction": t.average_last,
            "steps_averaged": steps,
            "from_step": trainer.tail_average.start_step + 1,
            "validation_macro_f1": scores["eval_macro_f1"],
        }
        log.info("Exporting the average of the last %d steps' weights (validation macro-F1 %.4f; best checkpoint %.4f)",
                 steps, scores["eval_macro_f1"], trainer.state.best_metric or float("nan"))  # fmt: skip
    return FitResult(trainer.model, tokenizer, result.global_step, summary)

"""Settings checked before any work: a bad value names its key instead of failing mid-run.

The schema catches unknown keys and wrong types at composition; these are the
range checks a type cannot express (issue #14: ``training.epochs=0`` exported an
untrained model, ``max_length`` past the encoder's positions crashed mid-training,
a read-only ``paths.models_dir`` was found only after training).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from negotiation_stance.config.paths import names_a_folder
from negotiation_stance.errors import ConfigError

# Derived data files and the command that writes them: a missing one is named with its command.
WRITTEN_BY = {"statements.jsonl": "make data", "statements_swapped.jsonl": "make augment"}
_POSITIVE = (
    "learning_rate", "probe_learning_rate", "batch_size", "eval_batch_size", "gradient_accumulation_steps",
    "num_threads",
)  # fmt: skip


# training.lr_scheduler's values: transformers' SchedulerType names, each with the warm-up of training.warmup_ratio.
LR_SCHEDULERS = ("linear", "cosine", "constant_with_warmup")

# The cached forward bypasses DDP's gradient sync and the compiled module, so it would train wrongly there.
CACHE_FROZEN_ALONE = (
    "training.cache_frozen runs in one process without torch_compile: set it false for DDP or compiled runs"
)


def training_problems(training: Any) -> list[str]:
    """Range problems of the ``training`` group, each naming its key."""
    problems = [f"training.{key} must be > 0, got {training[key]}" for key in _POSITIVE if not training[key] > 0]
    if training.max_steps <= 0 and not training.epochs > 0:
        problems.append(f"training.epochs must be > 0 (or training.max_steps set), got {training.epochs}")
    if not 0.0 <= training.warmup_ratio < 1.0:
        problems.append(f"training.warmup_ratio must be in [0, 1), got {training.warmup_ratio}")
    if training.lr_scheduler not in LR_SCHEDULERS:
        problems.append(f"training.lr_scheduler must be one of {list(LR_SCHEDULERS)}, got {training.lr_scheduler!r}")
    if training.weight_decay < 0 or training.early_stopping_patience < 0:
        problems.append("training.weight_decay and training.early_stopping_patience must be >= 0")
    if not 0.0 <= training.label_smoothing < 1.0:
        problems.append(f"training.label_smoothing must be in [0, 1), got {training.label_smoothing}")
    if not 0.0 < training.layer_lr_decay <= 1.0:
        problems.append(f"training.layer_lr_decay must be in (0, 1], got {training.layer_lr_decay}")
    if training.freeze_layers < 0:
        problems.append(f"training.freeze_layers must be >= 0, got {training.freeze_layers}")
    if training.probe_epochs < 0:
        problems.append(f"training.probe_epochs must be >= 0, got {training.probe_epochs}")
    if training.get("cache_frozen"):
        if training.freeze_layers <= 0:
            problems.append("training.cache_frozen needs training.freeze_layers > 0 (layers to cache), got 0")
        if training.torch_compile or int(os.environ.get("WORLD_SIZE", "1")) > 1:
            problems.append(CACHE_FROZEN_ALONE)
    if not 0.0 <= training.average_last < 1.0:
        problems.append(
            f"training.average_last must be in [0, 1) (a fraction of the steps), got {training.average_last}"
        )
    if training.max_length < 8:
        problems.append(f"training.max_length must be >= 8 tokens, got {training.max_length}")
    return problems


def label_map_problems(data: Any) -> list[str]:
    """``data.label_map`` problems, each naming its key: a target outside ``data.labels`` would make every
    mapped row an unknown label, or, if it is in ``data.drop_labels``, leave them all out."""
    mapping = data.get("label_map") or {}
    if not hasattr(mapping, "items"):
        return [f"data.label_map must map labels to labels, e.g. {{skeptical: stance}}; got {mapping!r}"]
    labels = list(data.labels)
    return [
        f"data.label_map.{key}: {target!r} is not one of data.labels {labels}"
        for key, target in mapping.items()
        if not isinstance(target, str) or target not in labels
    ]


# model.pooling's values, and the encoders (config.json model_type) the mean-pooled head is written for:
# MPNet, and an export of it (modeling.mean_pooling.MeanPooledMPNetConfig.model_type).
POOLINGS = ("first", "mean")
MEAN_POOLING_ENCODERS = ("mpnet", "mpnet_mean_pooled")


def pooling_problems(pooling: str, source: str, model_type: str | None) -> list[str]:
    """``model.pooling`` problems; ``model_type`` None (an encoder not readable here) checks the value only."""
    if pooling not in POOLINGS:
        return [f"model.pooling must be first or mean, got {pooling!r}"]
    if pooling == "mean" and model_type is not None and model_type not in MEAN_POOLING_ENCODERS:
        return [f"model.pooling=mean needs an MPNet encoder (model=mpnet); {source} is {model_type!r}"]
    return []


def encoder_config(name_or_path: str, revision: str | None = None) -> Any | None:
    """The encoder's config.json alone (no weights); None when it cannot be read here."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name_or_path, revision=revision)
    except (OSError, ValueError):
        return None  # a Hub id offline: building the model reports it with its own message


def writable(folder: str | Path) -> bool:
    path = Path(folder)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK)


def validate_train_config(cfg: Any) -> None:
    """Raise one ConfigError listing every bad setting of a training run, before anything is loaded or written."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:  # data=jsonl leaves its paths and labels to the command line
        raise ConfigError(f"no value for {', '.join(missing)}; set them on the command line, e.g. {missing[0]}=...")
    problems = training_problems(cfg.training) + label_map_problems(cfg.data)
    source = str(cfg.model.name_or_path)
    if names_a_folder(source) and not Path(source).expanduser().is_dir():
        hint = " (`make pretrained-mpnet` writes it)" if Path(source).name == "all-mpnet-base-v2" else ""
        problems.append(f"model.name_or_path: the folder {source} does not exist{hint}")
    encoder = encoder_config(source, cfg.model.get("revision"))
    limit = getattr(encoder, "max_position_embeddings", None)
    if limit is not None and cfg.training.max_length > limit:
        problems.append(f"training.max_length must be <= {limit}, the model's positions; got {cfg.training.max_length}")
    problems += pooling_problems(cfg.model.pooling, source, getattr(encoder, "model_type", None))
    layers = getattr(encoder, "num_hidden_layers", None)
    frozen = cfg.training.freeze_layers
    if layers is not None and frozen and frozen >= layers:  # nothing left to fine-tune: another model's recipe
        problems.append(
            f"training.freeze_layers must be < {layers}, the model's layers; got {frozen} "
            "(a recipe for another encoder? e.g. model=minilm wants training=default)"
        )
    for key in ("train_path", "validation_path", "test_path"):
        path = Path(cfg.data[key])
        if not path.is_file():
            hint = f" (`{WRITTEN_BY[path.name]}` writes it)" if path.name in WRITTEN_BY else ""
            problems.append(f"data.{key}: {path} is not a file{hint}")
    for i, extra in enumerate(cfg.data.get("extra") or []):
        if not Path(extra).is_file():
            problems.append(f"data.extra[{i}]: {extra} is not a file (make import-labels writes data/user/<name>/)")
    # The run folder itself is checked (and created) by the run's first step, prepare_output_dir.
    if not writable(cfg.paths.models_dir):
        problems.append(f"paths.models_dir is not writable: {cfg.paths.models_dir}")
    if problems:
        raise ConfigError("invalid settings: " + "; ".join(problems))

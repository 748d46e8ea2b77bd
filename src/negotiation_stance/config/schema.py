"""Typed schema of the Hydra config, so bad keys and types fail before any work.

The YAML files under ``configs/`` hold the values -- every default lives there,
none here (each field is ``MISSING``); these dataclasses hold the shape. Hydra
merges the YAML onto the schema in struct mode, so an unknown key
(``training.epoch=3``) or a wrong type (``training.epochs=abc``) is rejected at
composition time with the offending key named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from negotiation_stance.config.paths import package_path, project_root


@dataclass
class DataConfig:
    name: str = MISSING
    train_path: str = MISSING
    validation_path: str = MISSING
    test_path: str = MISSING
    # When set, each file holds several splits and rows are kept by this field.
    split_field: str | None = MISSING
    text_field: str = MISSING
    pair_field: str | None = MISSING
    label_field: str = MISSING
    id_field: str | None = MISSING
    labels: list[str] = MISSING
    # Labels present in the data but deliberately left out (never silent).
    drop_labels: list[str] = MISSING
    max_train_samples: int | None = MISSING
    max_eval_samples: int | None = MISSING
    # Keep only rows whose field takes one of the listed values, e.g. {version: [v2]}.
    filter: dict[str, list[str]] = MISSING
    # Rows sharing this field (an article) stay together when train_fraction subsamples.
    group_field: str | None = MISSING
    # Share of training groups kept (a learning curve): nested, seeded by group id, not by `seed`.
    train_fraction: float = MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    name_or_path: str = MISSING
    # The Hub id the weights come from, for model cards when loaded from a folder.
    base_model_id: str | None = MISSING
    # For Hub models a user may pin a revision; ignored for local folders.
    revision: str | None = MISSING


@dataclass
class TrainingConfig:
    epochs: float = MISSING
    learning_rate: float = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    max_length: int = MISSING
    num_threads: int = MISSING
    weight_decay: float = MISSING
    warmup_ratio: float = MISSING
    gradient_accumulation_steps: int = MISSING
    max_steps: int = MISSING
    early_stopping_patience: int = MISSING
    # "auto" = bf16 on a GPU that supports it, fp16 on other GPUs, fp32 on CPU.
    precision: str = MISSING
    dataloader_num_workers: int = MISSING
    # Batches of similar length pad less: about 1.4x faster on CPU here.
    group_by_length: bool = MISSING
    logging_steps: int = MISSING
    save_total_limit: int = MISSING
    # Fit a temperature on validation and bake it into the exported classifier.
    calibrate: bool = MISSING
    # null = fresh run; true = newest unfinished run; or a run folder path.
    resume: str | None = MISSING


@dataclass
class LoggerConfig:
    name: str = MISSING


@dataclass
class WandbConfig:
    mode: str = MISSING
    project: str = MISSING
    entity: str | None = MISSING
    group: str | None = MISSING
    name: str | None = MISSING
    job_type: str = MISSING
    log_model: bool = MISSING
    # Seconds to wait for the server before falling back to offline.
    init_timeout: float = MISSING


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    data_dir: str = MISSING
    log_dir: str = MISSING
    models_dir: str = MISSING
    shared_eval_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class EvaluationConfig:
    # Real-text sets read from ../shared/eval when present; never trained on.
    real_sets: list[str] = MISSING
    max_errors: int = MISSING
    # SemEval's F_avg: macro-F1 over these labels only (for 4-label models, all but none).
    favg_labels: list[str] = MISSING
    bootstrap_samples: int = MISSING
    confidence: float = MISSING
    ece_bins: int = MISSING


@dataclass
class BaselinesConfig:
    names: list[str] = MISSING
    c_grid: list[float] = MISSING


@dataclass
class TrainConfig:
    seed: int = MISSING
    task_name: str = MISSING
    tags: list[str] = MISSING
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


@dataclass
class BaselinesRunConfig(TrainConfig):
    """``make baselines``: the training config plus the baselines' own settings."""

    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)


@dataclass
class EvaluateConfig:
    seed: int = MISSING
    task_name: str = MISSING
    tags: list[str] = MISSING
    model_dir: str = MISSING
    splits: list[str] = MISSING
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


def register_configs() -> None:
    """Register the schemas and resolvers; idempotent, called on import."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    cs.store(name="baselines_schema", node=BaselinesRunConfig)
    if not OmegaConf.has_resolver("ns.package_path"):
        OmegaConf.register_new_resolver("ns.package_path", package_path)
    if not OmegaConf.has_resolver("ns.project_root"):
        OmegaConf.register_new_resolver("ns.project_root", lambda: str(project_root()))


def to_plain_dict(cfg: DictConfig) -> dict[str, Any]:
    """Resolved plain dict, as W&B and JSON writers need."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}


register_configs()

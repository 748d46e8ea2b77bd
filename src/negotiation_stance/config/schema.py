"""Typed schema of the Hydra config, so bad keys and types fail before any work.

The YAML files under ``configs/`` hold the values; these dataclasses hold the
shape. Hydra merges the YAML onto the schema in struct mode, so an unknown key
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
    split_field: str | None = None
    text_field: str = "text"
    pair_field: str | None = None
    label_field: str = "label"
    id_field: str | None = None
    labels: list[str] = MISSING
    # Labels present in the data but deliberately left out (never silent).
    drop_labels: list[str] = field(default_factory=list)
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    # Keep only rows whose field takes one of the listed values, e.g. {version: [v2]}.
    filter: dict[str, list[str]] = field(default_factory=dict)
    # Rows sharing this field (an article) stay together when train_fraction subsamples.
    group_field: str | None = None
    # Share of training groups kept (a learning curve): nested, seeded by group id, not by `seed`.
    train_fraction: float = 1.0


@dataclass
class ModelConfig:
    name: str = MISSING
    name_or_path: str = MISSING
    # The Hub id the weights come from, for model cards when loaded from a folder.
    base_model_id: str | None = None
    # For Hub models a user may pin a revision; ignored for local folders.
    revision: str | None = None


@dataclass
class TrainingConfig:
    epochs: float = 8.0
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    max_length: int = 128
    num_threads: int = 1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    early_stopping_patience: int = 3
    # "auto" = bf16 on a GPU that supports it, fp16 on other GPUs, fp32 on CPU.
    precision: str = "auto"
    dataloader_num_workers: int = 0
    # Batches of similar length pad less: about 1.4x faster on CPU here.
    group_by_length: bool = True
    logging_steps: int = 10
    save_total_limit: int = 2
    # Fit a temperature on validation and bake it into the exported classifier.
    calibrate: bool = False
    # null = fresh run; true = newest unfinished run; or a run folder path.
    resume: str | None = None


@dataclass
class LoggerConfig:
    name: str = MISSING


@dataclass
class WandbConfig:
    mode: str = "offline"
    project: str = "negotiation-stance"
    entity: str | None = None
    group: str | None = None
    name: str | None = None
    job_type: str = "train"
    log_model: bool = True
    # Seconds to wait for the server before falling back to offline.
    init_timeout: float = 30.0


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
    real_sets: list[str] = field(default_factory=lambda: ["seed", "real_dev"])
    max_errors: int = 200
    # SemEval's F_avg: macro-F1 over these labels only (for 4-label models, all but none).
    favg_labels: list[str] = field(default_factory=lambda: ["pro_negotiation", "skeptical", "conditional"])
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    ece_bins: int = 10


@dataclass
class BaselinesConfig:
    names: list[str] = field(default_factory=lambda: ["majority", "tfidf_lr"])
    c_grid: list[float] = field(default_factory=lambda: [0.3, 1.0, 3.0, 10.0, 30.0])


@dataclass
class TrainConfig:
    seed: int = 42
    task_name: str = "train"
    tags: list[str] = field(default_factory=list)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    # Read by `make baselines` only.
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)


@dataclass
class EvaluateConfig:
    seed: int = 42
    task_name: str = "evaluate"
    tags: list[str] = field(default_factory=list)
    model_dir: str = MISSING
    splits: list[str] = field(default_factory=lambda: ["validation", "test"])
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

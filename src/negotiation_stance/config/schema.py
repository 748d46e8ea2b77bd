"""Typed schema of the Hydra config, so bad keys and types fail before any work.

The YAML files under ``configs/`` hold the values -- every default lives there,
none here (a field without a default is ``MISSING``); these dataclasses hold the shape. Hydra
merges the YAML onto the schema in struct mode, so an unknown key
(``training.epoch=3``) or a wrong type (``training.epochs=abc``) is rejected at
composition time with the offending key named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from negotiation_stance.config.paths import composed_project_dir, package_path


@dataclass
class DataConfig:
    name: str
    train_path: str
    validation_path: str
    test_path: str
    # When set, each file holds several splits and rows are kept by this field.
    split_field: str | None
    text_field: str
    pair_field: str | None
    label_field: str
    id_field: str | None
    labels: list[str]
    # Renames row labels as they are read, before drop_labels and labels see them: {skeptical: stance}.
    # Any, not dict[str, str] | None: OmegaConf cannot merge a command-line dict into a typed null or empty
    # struct dict; config.validation.label_map_problems checks the values instead.
    label_map: Any
    # Labels present in the data but deliberately left out (never silent).
    drop_labels: list[str]
    max_train_samples: int | None
    max_eval_samples: int | None
    # Keep only rows whose field takes one of the listed values, e.g. {version: [v2]}.
    filter: dict[str, list[str]]
    # Rows sharing this field (an article) stay together when train_fraction subsamples.
    group_field: str | None
    # Share of training groups kept (a learning curve): nested, seeded by group id, not by `seed`.
    train_fraction: float
    # Users' corpora (`import-labels`: data/user/<name>/labels.jsonl) added to the splits their rows name.
    extra: list[str]
    # Person names -> [PERSON] in every trained and scored text, and at inference (recorded in the export).
    mask_names: bool


@dataclass
class ModelConfig:
    name: str
    name_or_path: str
    # The Hub id the weights come from, for model cards when loaded from a folder.
    base_model_id: str | None
    # For Hub models a user may pin a revision; ignored for local folders.
    revision: str | None
    # What the classification head reads: "first" (the stock head, the first token) or "mean"
    # (the mean of the token states, as sentence encoders were trained; MPNet encoders only).
    pooling: str


@dataclass
class TrainingConfig:
    # The recipe's name (the group option): default, mpnet_cpu, tiny.
    name: str
    epochs: float
    learning_rate: float
    batch_size: int
    eval_batch_size: int
    max_length: int
    num_threads: int
    weight_decay: float
    warmup_ratio: float
    # The learning-rate schedule after warm-up: linear (decay to 0), cosine, or
    # constant_with_warmup (SWAD-style: a flat rate while training.average_last averages).
    lr_scheduler: str
    gradient_accumulation_steps: int
    max_steps: int
    early_stopping_patience: int
    # "auto" = bf16 on a GPU that supports it, fp16 on other GPUs; on CPU bf16 autocast where the
    # CPU multiplies bf16 in hardware (AMX, AVX512-BF16), else fp32.
    precision: str
    dataloader_num_workers: int
    # Batches of similar length pad less: about 1.4x faster on CPU here.
    group_by_length: bool
    # TrainingArguments.torch_compile (scripts/benchmark_training.py measures it against eager).
    torch_compile: bool
    logging_steps: int
    save_total_limit: int
    keep_checkpoints: bool
    # Fit a temperature on validation and bake it into the exported classifier.
    calibrate: bool
    # Cross-entropy label smoothing in [0, 1) (0 = off).
    label_smoothing: float
    # Weigh each label by n / (k * count) in the loss, so rare labels count as much as common ones.
    class_weights: bool
    # Layer-wise learning-rate decay in (0, 1]: layer l learns at lr * decay^(top - l); 1 = off.
    layer_lr_decay: float
    # Freeze the embeddings and the lowest N encoder layers (0 = train everything): no backward
    # pass or optimizer step below layer N, so a large encoder trains faster on CPU.
    freeze_layers: int
    # Run the frozen layers once before training and train the layers above on their cached
    # output (needs freeze_layers > 0; the frozen layers then run without dropout).
    cache_frozen: bool
    # Average the trainable weights uniformly over this fraction of the optimizer steps at the
    # end of the run, and export the average (tail weight averaging, SWA-style); 0 = off, the
    # checkpoint with the best validation macro-F1 is exported.
    average_last: float
    # Train the classifier head alone on the frozen encoder for this many epochs before
    # fine-tuning (LP-FT: less distortion of the pretrained features); 0 = off.
    probe_epochs: int
    # The head's AdamW learning rate during those epochs.
    probe_learning_rate: float
    # null = fresh run; true = newest unfinished run; or a run folder path.
    resume: str | None


@dataclass
class LoggerConfig:
    name: str


@dataclass
class WandbConfig:
    mode: str
    project: str
    entity: str | None
    group: str | None
    name: str | None
    job_type: str
    log_model: bool
    # Seconds to wait for the server before falling back to offline.
    init_timeout: float


@dataclass
class PathsConfig:
    # Outputs: logs/ and models/ go under root_dir (the working directory by default).
    root_dir: str
    # Inputs that ship with the project: the checkout whose configs/ Hydra composed.
    project_dir: str
    data_dir: str
    log_dir: str
    models_dir: str
    shared_eval_dir: str
    output_dir: str


@dataclass
class EvaluationConfig:
    # Real-text sets read from ../shared/eval when present; never trained on.
    real_sets: list[str]
    # A context model's previous sentences of each real set: set name -> candidates .jsonl or article .txt.
    context_sources: dict[str, str]
    max_errors: int
    # SemEval's F_avg: macro-F1 over these labels only (for 4-label models, all but none).
    favg_labels: list[str]
    bootstrap_samples: int
    confidence: float
    ece_bins: int


@dataclass
class BaselinesConfig:
    names: list[str]
    c_grid: list[float]


@dataclass
class RunConfig:
    """What every task (train, evaluate, baselines) is configured by."""

    seed: int = MISSING
    task_name: str = MISSING
    tags: list[str] = MISSING
    data: DataConfig = MISSING
    training: TrainingConfig = MISSING
    logger: LoggerConfig = MISSING
    wandb: WandbConfig = MISSING
    paths: PathsConfig = MISSING
    evaluation: EvaluationConfig = MISSING


@dataclass
class TrainConfig(RunConfig):
    model: ModelConfig = MISSING


@dataclass
class BaselinesRunConfig(TrainConfig):
    """``make baselines``: the training config plus the baselines' own settings."""

    baselines: BaselinesConfig = MISSING


@dataclass
class EvaluateConfig(RunConfig):
    model_dir: str = MISSING
    splits: list[str] = MISSING


def register_configs() -> None:
    """Register the schemas and resolvers; idempotent, called on import."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    cs.store(name="baselines_schema", node=BaselinesRunConfig)
    if not OmegaConf.has_resolver("ns.package_path"):
        OmegaConf.register_new_resolver("ns.package_path", package_path)
    if not OmegaConf.has_resolver("ns.project_dir"):
        OmegaConf.register_new_resolver("ns.project_dir", composed_project_dir)


def to_plain_dict(cfg: DictConfig) -> dict[str, Any]:
    """Resolved plain dict, as W&B and JSON writers need."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}


register_configs()

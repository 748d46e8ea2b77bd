"""``make evaluate``: score an exported model on the configured splits and the real-text sets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from negotiation_stance import tracking
from negotiation_stance.data import load_split
from negotiation_stance.data.loading import (
    extra_names,
    label_map_setting,
    load_extra,
    mask_names_setting,
    split_options,
    warn_absent_labels,
)
from negotiation_stance.errors import ConfigError
from negotiation_stance.evaluation.record import RunRecord
from negotiation_stance.evaluation.report import EvalSettings
from negotiation_stance.evaluation.scoring import (
    USER_SET,
    LabelledSet,
    evaluate_and_report,
    load_real_sets,
    mask_set,
    predict_sets,
    sections,
    torch_logits_fn,
    user_sections,
)
from negotiation_stance.modeling import exported_mask_names, exported_pair_field, load_exported
from negotiation_stance.text import CONTEXT_FIELD

log = logging.getLogger(__name__)


def load_eval_splits(cfg: Any, labels: list[str]) -> dict[str, LabelledSet]:
    """The configured splits, with the model's label order; rows with labels the model lacks are counted."""
    missing = sorted(set(cfg.data.labels) - set(labels))
    if missing:
        log.warning(
            "The model at %s has no %s label(s) (its labels: %s); rows with them are left out and counted as "
            "'dropped'. Train with data=negotiation_all for a model that predicts none.",
            cfg.model_dir, missing, labels,
        )  # fmt: skip
    drop = sorted(set(cfg.data.drop_labels) | set(missing))
    paths = {"train": cfg.data.train_path, "validation": cfg.data.validation_path, "test": cfg.data.test_path}
    # Scored as they are: the training-only filter and groups do not apply.
    options = {**split_options(cfg.data), "keep": None, "group_field": None}
    sets = {}
    for split in cfg.splits:
        if split not in paths:
            raise ConfigError(f"splits: unknown split {split!r}; choose from {list(paths)}")
        rows, left_out = load_split(paths[split], labels=labels, split=split, drop_labels=drop, **options)
        warn_absent_labels(split, rows, labels)
        sets[split] = LabelledSet(rows, dict(left_out))
    # Each data.extra corpus is scored on its own rows of the same splits.
    for path, name in zip(cfg.data.get("extra") or [], extra_names(cfg.data.get("extra")), strict=True):
        own = load_extra(path, name, labels, drop, options["label_map"])
        for split in cfg.splits:
            if own.get(split):
                sets[USER_SET.format(name=name, split=split)] = LabelledSet(own[split])
    return sets


def check_pair_field(model_pair_field: str | None, data_pair_field: str | None) -> None:
    """A pair model is scored on pairs, a single-sentence model on single sentences: anything else scores nonsense."""
    if model_pair_field and not data_pair_field:
        raise ConfigError(
            f"the model was trained on sentence pairs (data.pair_field={model_pair_field!r}); "
            "set data.pair_field to the field holding each row's pair"
        )
    # A previous sentence is not a stance target, nor the reverse (a target may sit under any field name).
    context = CONTEXT_FIELD in (model_pair_field, data_pair_field)
    if model_pair_field and data_pair_field and context and model_pair_field != data_pair_field:
        raise ConfigError(
            f"the model was trained with data.pair_field={model_pair_field!r}, not {data_pair_field!r}; "
            f"set data.pair_field={model_pair_field}"
        )
    if data_pair_field and not model_pair_field:
        raise ConfigError(
            f"data.pair_field is {data_pair_field!r}, but the model was trained on single sentences; "
            "set data.pair_field=null"
        )


def masks_names(model_dir: str | Path, data_cfg: Any) -> bool:
    """Whether to mask person names before scoring: always for a model trained masked (it is scored as it is
    used), and when ``data.mask_names`` asks for it."""
    trained, asked = exported_mask_names(model_dir), mask_names_setting(data_cfg)
    if trained and not asked:
        log.info("The model at %s was trained with person names masked: every set is masked for it.", model_dir)
    elif asked and not trained:
        log.warning("data.mask_names=true, but the model at %s was trained on unmasked names.", model_dir)
    return trained or asked


def evaluate_model_dir(cfg: Any) -> dict[str, Any]:
    """Score an exported model on the configured splits (``make evaluate``); returns ``metrics.json``'s content.

    The model's own label order decides the ids; data labels the model lacks
    (``none`` for a three-label model) are left out and counted.
    """
    torch.set_num_threads(cfg.training.num_threads)
    output_dir = Path(cfg.paths.output_dir)
    tokenizer, model, labels = load_exported(cfg.model_dir)
    check_pair_field(exported_pair_field(cfg.model_dir), cfg.data.pair_field)
    settings = EvalSettings.from_config(cfg.evaluation, cfg.seed)
    sets = load_eval_splits(cfg, labels)
    real_dir, real_sets = Path(cfg.paths.shared_eval_dir), cfg.evaluation.real_sets
    label_map = label_map_setting(cfg.data)  # a relevance model: its real sets' gold labels renamed as in training
    sets.update(load_real_sets(real_dir, real_sets, labels, cfg.data.pair_field, cfg.evaluation.context_sources,
                               label_map=label_map))  # fmt: skip
    if masks_names(cfg.model_dir, cfg.data):
        context = cfg.data.pair_field == CONTEXT_FIELD
        sets = {name: mask_set(labelled, context) for name, labelled in sets.items()}
    fn = torch_logits_fn(model, tokenizer, batch_size=cfg.training.eval_batch_size, max_length=cfg.training.max_length)
    logits = predict_sets(sets, fn)
    with tracking.tracked_run(cfg, output_dir) as run:
        tracking.use_dataset(run, cfg.data)
        title, header = f"Evaluation of {cfg.model_dir}", {"data": cfg.data.name, "labels": labels}
        reports = evaluate_and_report(output_dir, title, header, sets, logits, labels, settings, run)
        splits, real = sections(reports, list(cfg.splits))
        record = RunRecord(
            kind="evaluate",
            labels=labels,
            data={"name": cfg.data.name},
            splits=splits,
            real=real,
            user=user_sections(reports, extra_names(cfg.data.get("extra"))),
            model_dir=str(Path(cfg.model_dir).resolve()),
        )
        record.write(output_dir)
    return record.to_dict()

"""Baselines in the same evaluation framework and on the same splits as the transformers.

A transformer result means little without them: the majority class shows the
floor, TF-IDF + logistic regression what word overlap alone achieves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict
from omegaconf import DictConfig
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline, make_pipeline

from negotiation_stance import tracking
from negotiation_stance.data import load_splits
from negotiation_stance.data.loading import extra_names
from negotiation_stance.errors import ConfigError
from negotiation_stance.evaluation import scoring
from negotiation_stance.evaluation.record import RunRecord
from negotiation_stance.evaluation.report import EvalSettings

log = logging.getLogger(__name__)


@dataclass
class FittedBaseline:
    name: str
    model: Pipeline | DummyClassifier
    params: dict[str, Any]

    def logits(self, texts: list[str]) -> np.ndarray:
        # Log-probabilities act as logits: softmax(log p) = p.
        return np.log(np.clip(self.model.predict_proba(texts), 1e-12, 1.0))


def fit_majority(texts: list[str], labels: list[int]) -> FittedBaseline:
    return FittedBaseline("majority", DummyClassifier(strategy="most_frequent").fit(texts, labels), {})


def fit_tfidf_lr(
    train: tuple[list[str], list[int]], validation: tuple[list[str], list[int]], c_grid: list[float], seed: int
) -> FittedBaseline:
    """Word 1-2-gram TF-IDF + logistic regression; C chosen on validation macro-F1."""
    best: tuple[float, float, Pipeline] | None = None
    for c in c_grid:
        pipe = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True),
            LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=seed),
        ).fit(*train)
        score = f1_score(validation[1], pipe.predict(validation[0]), average="macro")
        log.info("tfidf_lr C=%g validation macro-F1 %.4f", c, score)
        if best is None or score > best[0]:
            best = (score, c, pipe)
    assert best is not None
    return FittedBaseline("tfidf_lr", best[2], {"C": best[1], "validation_macro_f1_at_choice": best[0]})


def fit_baselines(splits: DatasetDict, names: list[str], c_grid: list[float], seed: int) -> list[FittedBaseline]:
    train = (splits["train"]["text"], splits["train"]["label"])
    validation = (splits["validation"]["text"], splits["validation"]["label"])
    fitted = []
    for name in names:
        if name == "majority":
            fitted.append(fit_majority(*train))
        elif name == "tfidf_lr":
            fitted.append(fit_tfidf_lr(train, validation, c_grid, seed))
        else:
            raise ConfigError(f"baselines.names: unknown baseline {name!r}; choose from majority, tfidf_lr")
    return fitted


def run_baselines(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Fit, score and report every configured baseline; one run folder and W&B run each."""
    labels = list(cfg.data.labels)
    extra = extra_names(cfg.data.get("extra"))
    splits = load_splits(cfg.data)
    sets = scoring.configured_sets(cfg, splits, labels, extra)
    settings = EvalSettings.from_config(cfg.evaluation, cfg.seed)
    results = {}
    for baseline in fit_baselines(splits, list(cfg.baselines.names), list(cfg.baselines.c_grid), cfg.seed):
        folder = Path(cfg.paths.output_dir) / baseline.name
        folder.mkdir(parents=True, exist_ok=True)
        logits = scoring.predict_sets(sets, lambda rows, b=baseline: b.logits([r["text"] for r in rows]))
        extra = {"baseline": baseline.name, "params": baseline.params}
        tags = [*cfg.tags, baseline.name]
        with tracking.tracked_run(cfg, folder, name=f"baseline-{baseline.name}", tags=tags, extra_config=extra) as run:
            tracking.use_dataset(run, cfg.data)
            title, header = f"Baseline {baseline.name}", {"data": cfg.data.name, "params": baseline.params}
            reports = scoring.evaluate_and_report(folder, title, header, sets, logits, labels, settings, run)
            own, real = scoring.sections(reports, scoring.EVAL_SPLITS)
            record = RunRecord(
                kind="baseline",
                labels=labels,
                data={"name": cfg.data.name, "counts": {k: len(v) for k, v in splits.items()}},
                splits=own,
                real=real,
                user=scoring.user_sections(reports, extra),
                run_dir=str(folder),
                model_name=baseline.name,
                params=baseline.params,
                seed=cfg.seed,
                group=cfg.wandb.group,
            )
            record.write(folder)
        results[baseline.name] = record.to_dict()
        log.info("%-9s validation macro-F1 %.4f | test macro-F1 %.4f", baseline.name,
                 own["validation"]["macro_f1"], own["test"]["macro_f1"])  # fmt: skip
    return results

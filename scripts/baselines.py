"""Baselines on the same splits and reports as the transformers: ``make baselines``."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from negotiation_stance.config import CONFIG_DIR, to_plain_dict

log = logging.getLogger("baselines")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="baselines")
def main(cfg: DictConfig) -> None:
    from negotiation_stance import tracking
    from negotiation_stance.baselines import fit_baselines, score_baseline
    from negotiation_stance.data import load_splits
    from negotiation_stance.reporting import EvalSettings, write_json, write_reports

    labels = list(cfg.data.labels)
    splits = load_splits(cfg.data)
    settings = EvalSettings.from_config(cfg.evaluation, cfg.seed)
    for baseline in fit_baselines(splits, list(cfg.baselines.names), list(cfg.baselines.c_grid), cfg.seed):
        folder = Path(cfg.paths.output_dir) / baseline.name
        folder.mkdir(parents=True, exist_ok=True)
        reports = score_baseline(
            baseline, splits, labels, settings, Path(cfg.paths.shared_eval_dir), list(cfg.evaluation.real_sets)
        )
        real = {k: v for k, v in reports.items() if k not in ("validation", "test")}
        metrics = {
            "kind": "baseline",
            "run_dir": str(folder),
            "model_name": baseline.name,
            "params": baseline.params,
            "data": {"name": cfg.data.name, "counts": {k: len(v) for k, v in splits.items()}},
            "labels": labels,
            "seed": cfg.seed,
            "group": cfg.wandb.group,
            "overrides": [],
            "validation": reports["validation"].metrics,
            "test": reports["test"].metrics,
            "real": {k: v.metrics for k, v in real.items()},
        }
        cfg_dict = {**to_plain_dict(cfg), "baseline": baseline.name, "params": baseline.params}
        run = tracking.start_run(
            _named(cfg, baseline.name),
            enabled=cfg.logger.name == "wandb",
            output_dir=folder,
            config=cfg_dict,
            tags=[*cfg.tags, baseline.name],
        )
        try:
            write_reports(folder, f"Baseline {baseline.name}", reports, {"data": cfg.data.name, "params": baseline.params})
            tracking.log_reports(run, reports, labels, folder, max_errors=settings.max_errors)
            write_json(folder / "metrics.json", metrics)
        finally:
            tracking.finish_run(run)
        log.info(
            "%-9s validation macro-F1 %.4f | test macro-F1 %.4f", baseline.name, metrics["validation"]["macro_f1"], metrics["test"]["macro_f1"]
        )
    print(f"Baselines: {cfg.paths.output_dir}")


def _named(cfg: DictConfig, name: str) -> DictConfig:
    settings = cfg.wandb.copy()
    settings.name = f"baseline-{name}"
    return settings


if __name__ == "__main__":
    main()

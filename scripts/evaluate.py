"""Score an exported model on any labelled data: ``make evaluate MODEL=models/latest``."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from negotiation_stance.config import register_configs
from negotiation_stance.errors import report_user_errors

log = logging.getLogger("evaluate")


# The typed schema the root configs list first; configs/ is read beside this script, not the package.
register_configs()


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
@report_user_errors
def main(cfg: DictConfig) -> None:
    from negotiation_stance.evaluation.evaluate import evaluate_model_dir

    metrics = evaluate_model_dir(cfg)
    for name in [*cfg.splits, *metrics["real"]]:
        scores = metrics.get(name) or metrics["real"][name]
        log.info("%-10s n=%4d  macro-F1 %.4f  accuracy %.4f", name, scores["n"], scores["macro_f1"], scores["accuracy"])
    print(f"Report: {cfg.paths.output_dir}/metrics.json")


if __name__ == "__main__":
    main()

"""Fine-tune a stance classifier: ``make train ARGS="training.epochs=3 seed=1"``."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from negotiation_stance.config import register_configs
from negotiation_stance.errors import report_user_errors

log = logging.getLogger("train")


# The typed schema the root configs list first; configs/ is read beside this script, not the package.
register_configs()


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
@report_user_errors
def main(cfg: DictConfig) -> float:
    from negotiation_stance.training.run import train  # heavy imports after config errors surface

    metrics = train(cfg)
    if metrics.get("rank", 0) != 0:
        return float("nan")  # data-parallel worker: rank 0 reports
    log.info(
        "validation macro-F1 %.4f | test macro-F1 %.4f", metrics["validation"]["macro_f1"], metrics["test"]["macro_f1"]
    )
    for name, scores in metrics["real"].items():
        log.info("real-text %s macro-F1 %.4f (n=%d)", name, scores["macro_f1"], scores["n"])
    print(f"Exported model: {metrics['model_dir']}")
    print(f"Latest model:   {metrics['latest']}")
    # The value an Optuna/Hydra sweeper optimises: validation, never test.
    return float(metrics["validation"]["macro_f1"])


if __name__ == "__main__":
    main()

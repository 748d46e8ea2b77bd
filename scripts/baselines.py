"""Baselines on the same splits and reports as the transformers: ``make baselines``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from negotiation_stance.config import CONFIG_DIR
from negotiation_stance.errors import report_user_errors


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="baselines")
@report_user_errors
def main(cfg: DictConfig) -> None:
    from negotiation_stance.training.baselines import run_baselines

    run_baselines(cfg)
    print(f"Baselines: {cfg.paths.output_dir}")


if __name__ == "__main__":
    main()

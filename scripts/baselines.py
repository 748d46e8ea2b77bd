"""Baselines on the same splits and reports as the transformers: ``make baselines``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from negotiation_stance.config import register_configs
from negotiation_stance.errors import report_user_errors

# The typed schema the root configs list first; configs/ is read beside this script, not the package.
register_configs()


@hydra.main(version_base="1.3", config_path="../configs", config_name="baselines")
@report_user_errors
def main(cfg: DictConfig) -> None:
    from negotiation_stance.training.baselines import run_baselines

    run_baselines(cfg)
    print(f"Baselines: {cfg.paths.output_dir}")


if __name__ == "__main__":
    main()

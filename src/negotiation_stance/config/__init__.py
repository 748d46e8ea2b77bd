"""The typed config schema and the project's paths."""

from negotiation_stance.config.paths import CONFIG_DIR, INFERENCE_BATCH_SIZE, PACKAGE_DIR, package_path, project_root
from negotiation_stance.config.schema import register_configs, to_plain_dict

__all__ = [
    "CONFIG_DIR",
    "INFERENCE_BATCH_SIZE",
    "PACKAGE_DIR",
    "package_path",
    "project_root",
    "register_configs",
    "to_plain_dict",
]

"""The typed config schema and the project's paths."""

from negotiation_stance.config.paths import INFERENCE_BATCH_SIZE, composed_project_dir, find_checkout, package_path
from negotiation_stance.config.schema import register_configs, to_plain_dict

__all__ = [
    "INFERENCE_BATCH_SIZE",
    "composed_project_dir",
    "find_checkout",
    "package_path",
    "register_configs",
    "to_plain_dict",
]

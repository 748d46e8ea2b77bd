"""Loading splits and users' labelled files (``data.*`` of the config)."""

from negotiation_stance.data.loading import SPLITS, load_split, load_splits, split_options, subsample_groups
from negotiation_stance.io import DataError, Row, read_records, required_text

__all__ = [
    "SPLITS",
    "DataError",
    "Row",
    "load_split",
    "load_splits",
    "read_records",
    "required_text",
    "split_options",
    "subsample_groups",
]

"""The sequence classifier: build a fresh one, load an exported one, and run batched forward passes."""

from negotiation_stance.modeling.model import (
    ModelLoadError,
    PairError,
    batched_logits,
    build_model,
    exported_mask_names,
    exported_pair_field,
    label_maps,
    length_sorted_batches,
    load_exported,
    load_labels_and_tokenizer,
    predict_logits,
    record_mask_names,
    record_pair_field,
    scale_logits,
    softmax,
)

__all__ = [
    "ModelLoadError",
    "PairError",
    "batched_logits",
    "build_model",
    "exported_mask_names",
    "exported_pair_field",
    "label_maps",
    "length_sorted_batches",
    "load_exported",
    "load_labels_and_tokenizer",
    "predict_logits",
    "record_mask_names",
    "record_pair_field",
    "scale_logits",
    "softmax",
]

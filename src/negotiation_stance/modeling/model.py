"""Building, loading and running the sequence classifier.

Everything above this module (training, evaluation, export, inference) gets
its model and its batched forward pass from here, so padding, truncation and
label order are decided in one place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BatchEncoding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from negotiation_stance.config.paths import names_a_folder
from negotiation_stance.config.validation import pooling_problems
from negotiation_stance.errors import UserError
from negotiation_stance.modeling.mean_pooling import MeanPooledMPNetConfig, MeanPooledMPNetForSequenceClassification

# Known in-process, so this project loads its mean-pooled exports without trust_remote_code; saved
# beside every such export (auto_map), so pipeline(..., trust_remote_code=True) loads them anywhere.
AutoConfig.register(MeanPooledMPNetConfig.model_type, MeanPooledMPNetConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    MeanPooledMPNetConfig, MeanPooledMPNetForSequenceClassification, exist_ok=True
)
MeanPooledMPNetConfig.register_for_auto_class()
MeanPooledMPNetForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")


class ModelLoadError(UserError, RuntimeError):
    """An exported or pretrained model folder that cannot be used, with what is missing."""


class PairError(UserError, ValueError):
    """Inputs that do not fit how the model was trained: pairs for a single-sentence model, or none for a pair model."""


# config.json block of what an export records beyond transformers' own keys.
CONFIG_BLOCK = "negotiation_stance"


def record_pair_field(model: PreTrainedModel, pair_field: str | None) -> None:
    """Note in the model's config (and so in the exported config.json) whether it reads (text, pair) inputs."""
    setattr(model.config, CONFIG_BLOCK, {"pair_field": pair_field})


def record_mask_names(model: PreTrainedModel, mask_names: bool) -> None:
    """Note in the exported config.json that the model was trained on texts with person names masked."""
    setattr(model.config, CONFIG_BLOCK, {**(getattr(model.config, CONFIG_BLOCK, None) or {}), "mask_names": mask_names})


def _exported_block(model_dir: str | Path) -> dict[str, Any]:
    """The export's own config.json block; empty for exports from before it existed. A missing or
    unreadable config.json is left to the loader to report."""
    try:
        config = json.loads((Path(model_dir).expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    block = config.get(CONFIG_BLOCK) if isinstance(config, dict) else None
    return block if isinstance(block, dict) else {}


def exported_pair_field(model_dir: str | Path) -> str | None:
    """The ``data.pair_field`` an exported model was trained with; None for single sentences
    (exports from before the block existed were all single-sentence models)."""
    return _exported_block(model_dir).get("pair_field")


def exported_mask_names(model_dir: str | Path) -> bool:
    """Whether an exported model was trained with person names masked (``data.mask_names``); inference must
    then mask too. False for exports from before the flag existed."""
    value = _exported_block(model_dir).get("mask_names", False)
    if not isinstance(value, bool):
        raise ModelLoadError(
            f"{Path(model_dir) / 'config.json'}: {CONFIG_BLOCK}.mask_names must be true or false, got {value!r}"
        )
    return value


def label_maps(labels: Sequence[str]) -> tuple[dict[int, str], dict[str, int]]:
    """``id2label``/``label2id`` from the one ordered label list in config."""
    return dict(enumerate(labels)), {label: i for i, label in enumerate(labels)}


def _check_source(name_or_path: str) -> None:
    if Path(name_or_path).expanduser().is_dir():
        return
    if names_a_folder(name_or_path):
        raise ModelLoadError(f"model folder {name_or_path!r} does not exist")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelLoadError(
            f"{name_or_path!r} is not a local folder and HF_HUB_OFFLINE=1 forbids downloading it from the "
            "Hugging Face Hub; unset HF_HUB_OFFLINE on a machine with internet, or give a local folder"
        )


def build_model(
    name_or_path: str, labels: Sequence[str], revision: str | None = None, pooling: str = "first"
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """A pretrained encoder with a fresh classification head for ``labels`` that reads ``pooling``."""
    _check_source(name_or_path)
    id2label, label2id = label_maps(labels)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision)
    if pooling != "first":
        return tokenizer, _mean_pooled(name_or_path, revision, pooling, id2label, label2id)
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path,
        revision=revision,
        num_labels=len(labels),
        id2label=id2label,
        label2id=label2id,
        # The bundled MiniLM is a sentence-transformers encoder without a head.
        ignore_mismatched_sizes=True,
    )
    return tokenizer, model


def _mean_pooled(
    name_or_path: str, revision: str | None, pooling: str, id2label: dict[int, str], label2id: dict[str, int]
) -> PreTrainedModel:
    encoder = AutoConfig.from_pretrained(name_or_path, revision=revision)
    problems = pooling_problems(pooling, name_or_path, encoder.model_type)  # the settings check's own rule
    if problems:
        raise ModelLoadError(problems[0])
    # The encoder's settings under the new model type (from_pretrained would warn that the types differ).
    settings = {k: v for k, v in encoder.to_dict().items() if k not in ("model_type", "architectures", "num_labels")}
    config = MeanPooledMPNetConfig(**{**settings, "id2label": id2label, "label2id": label2id})
    return MeanPooledMPNetForSequenceClassification.from_pretrained(
        name_or_path, config=config, revision=revision, ignore_mismatched_sizes=True
    )


def load_labels_and_tokenizer(model_dir: str | Path) -> tuple[PreTrainedTokenizerBase, list[str]]:
    """Check an exported folder and read its tokenizer and ordered labels (no weights)."""
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {str(folder)!r} does not exist (train one with `make train`)")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: config.json is missing; this is not an exported model folder")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")):
        raise ModelLoadError(f"{folder}: tokenizer files are missing (tokenizer.json / tokenizer_config.json)")
    config = AutoConfig.from_pretrained(folder)
    id2label = {int(k): v for k, v in config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]
    if all(label.startswith("LABEL_") for label in labels):
        raise ModelLoadError(
            f"{folder}/config.json has no label names (id2label is {labels}); export it with `make train`"
        )
    return AutoTokenizer.from_pretrained(folder), labels


def load_exported(model_dir: str | Path) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, list[str]]:
    """Load an exported folder and its ordered labels, saying exactly what is missing."""
    tokenizer, labels = load_labels_and_tokenizer(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(Path(model_dir).expanduser())
    return tokenizer, model, labels


def count_truncated(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    max_length: int,
    *,
    batch_size: int = 1000,
) -> tuple[int, int]:
    """How many inputs exceed ``max_length`` tokens (special tokens included), and the longest one's length."""
    texts, pairs = list(texts), list(pairs) if pairs is not None else None
    over, longest = 0, 0
    for start in range(0, len(texts), batch_size):
        chunk = slice(start, start + batch_size)
        # verbose=False: the tokenizer's own "longer than the maximum" notice would name no row.
        ids = tokenizer(texts[chunk], pairs[chunk] if pairs else None, verbose=False)["input_ids"]
        lengths = [len(i) for i in ids]
        over += sum(n > max_length for n in lengths)
        longest = max([longest, *lengths])
    return over, longest


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def length_sorted_batches(lengths: Sequence[int], batch_size: int, *, bucket: bool = True) -> list[list[int]]:
    """Indices in batches of ``batch_size``; with ``bucket``, sorted by token count so that a
    batch's rows are almost the same length and padding costs next to nothing."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__) if bucket else list(range(len(lengths)))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def padding_waste(lengths: Sequence[int], batches: Iterable[Sequence[int]]) -> float:
    """Padding tokens as a share of real tokens when ``batches`` are padded to their longest row."""
    padded = sum(len(idx) * max(lengths[i] for i in idx) for idx in batches if len(idx))
    real = sum(lengths)
    return padded / real - 1.0 if real else 0.0


def pad_rows(tokenizer: PreTrainedTokenizerBase, encoded: Any, idx: Sequence[int], tensors: str) -> BatchEncoding:
    """The rows ``idx`` of an unpadded encoding, padded to their longest row (on the tokenizer's side)."""
    if tokenizer.pad_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no padding token; batches of texts cannot be padded")
    width = max(len(encoded["input_ids"][i]) for i in idx)
    left = tokenizer.padding_side == "left"
    batch = {}
    for name in (n for n in tokenizer.model_input_names if n in encoded):
        fill = tokenizer.pad_token_id if name == "input_ids" else 0
        rows = np.full((len(idx), width), fill, dtype=np.int64)
        for row, i in enumerate(idx):
            values = encoded[name][i]
            if left:
                rows[row, width - len(values) :] = values
            else:
                rows[row, : len(values)] = values
        batch[name] = rows
    return BatchEncoding(batch, tensor_type=tensors)


def batched_logits(
    forward: Callable[[Any], np.ndarray],
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    batch_size: int = 64,
    max_length: int = 128,
    progress: bool = False,
    tensors: str = "pt",
    bucket: bool = True,
) -> np.ndarray:
    """Logits in input order from any backend's ``forward(padded batch)``.

    The texts are tokenized once, unpadded; with ``bucket`` the batches are
    formed by token count, so each is padded only to its own longest row.
    """
    if not len(texts):
        return np.zeros((0, 0), dtype=np.float32)
    encoded = tokenizer(list(texts), list(pairs) if pairs else None, truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    batches: Iterable[list[int]] = length_sorted_batches(lengths, batch_size, bucket=bucket)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="predict", unit="batch")
    out: np.ndarray | None = None
    for idx in batches:
        logits = forward(pad_rows(tokenizer, encoded, idx, tensors))
        if out is None:
            out = np.zeros((len(texts), logits.shape[-1]), dtype=np.float32)
        out[idx] = logits
    assert out is not None
    return out


def predict_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """PyTorch logits in input order (see ``batched_logits`` for the keyword arguments)."""
    model.eval()
    device = next(model.parameters()).device

    @torch.inference_mode()
    def forward(encoded: Any) -> np.ndarray:
        return model(**encoded.to(device)).logits.float().cpu().numpy()

    return batched_logits(forward, tokenizer, texts, pairs, **kwargs)


def scale_logits(model: PreTrainedModel, factor: float) -> None:
    """Multiply the model's logits by ``factor`` by rescaling its last classification layer.

    Temperature scaling then needs no custom code at inference: any loader,
    ``pipeline()`` included, gets calibrated probabilities.
    """
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels]
    if not heads:
        raise ValueError("no linear classification layer found to rescale")
    with torch.no_grad():
        heads[-1].weight.mul_(factor)
        if heads[-1].bias is not None:
            heads[-1].bias.mul_(factor)

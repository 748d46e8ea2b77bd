"""The head trained alone before fine-tuning: ``training.probe_epochs`` (LP-FT).

Fine-tuning starts from a randomly initialised head, so its first steps send large, noisy
gradients into the encoder and bend the pretrained features towards the training text.
Kumar et al. (ICLR 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution") train the head first on the frozen encoder (a linear probe), then
fine-tune everything: in-domain scores stay, out-of-distribution scores rise. Here "out of
distribution" is real official speech after training on the synthetic corpus.

The encoder runs once over the training rows (eval mode, no gradients; from the frozen
cache when there is one); the head then trains for a few epochs on what it received. The
head is the model's ``classifier`` module (BERT, MPNet, RoBERTa, DeBERTa...). transformers
has no such stage and the loop is short, so it lives here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers import DataCollatorWithPadding

from negotiation_stance.evaluation.metrics import classification_metrics
from negotiation_stance.training.frozen_cache import CACHE_INDEX, FrozenCache, from_layer, pad_states
from negotiation_stance.training.recipes import cross_entropy_loss

log = logging.getLogger(__name__)


def classifier_head(model: nn.Module) -> nn.Module:
    """The module the probe trains: the model's ``classifier`` (what sits above the pretrained weights)."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Module):
        raise ValueError(f"training.probe_epochs: {type(model).__name__} has no `classifier` head module to train")
    return head


def head_inputs(
    model: nn.Module, ds: Dataset, collator: DataCollatorWithPadding, batch_size: int, device: torch.device,
    autocast: torch.dtype | None, cache: FrozenCache | None = None,
) -> list[torch.Tensor]:  # fmt: skip
    """What the head receives for each row of ``ds`` (padding cut off), with the encoder in eval mode."""
    head = classifier_head(model)
    seen: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach()))
    rows: list[torch.Tensor] = []
    # The token columns (and the cache's row index); not the label or the length.
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids", CACHE_INDEX) if c in ds.column_names]
    was_training = model.training
    model.eval()
    keep = autocast or torch.float32
    amp = torch.autocast(device.type, dtype=keep, enabled=bool(autocast))
    try:
        with torch.no_grad(), amp, from_layer(model, cache.layers) if cache else contextlib.nullcontext():
            for start in range(0, len(ds), batch_size):
                rows_in = ds.select(range(start, min(start + batch_size, len(ds)))).select_columns(columns)
                batch = collator(list(rows_in))
                batch = {k: v.to(device) for k, v in batch.items()}
                if cache is not None:
                    batch = cache.inputs(batch)
                seen.clear()
                model(**batch)
                lengths = batch["attention_mask"].sum(dim=1).tolist()
                for j, features in enumerate(seen[0]):  # (tokens, hidden) for MPNet/RoBERTa heads, (hidden,) for BERT
                    rows.append((features[: lengths[j]] if features.dim() > 1 else features).to("cpu", keep).clone())
    finally:
        hook.remove()
        model.train(was_training)
    return rows


def _stack(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows of one batch as one fp32 tensor; token rows zero-padded to the longest."""
    return torch.stack(rows).float() if rows[0].dim() == 1 else pad_states(rows)


def train_probe(
    model: nn.Module, features: list[torch.Tensor], labels: list[int], *, epochs: int, learning_rate: float,
    batch_size: int, weight_decay: float, seed: int, device: torch.device,
    loss_fn: Callable[[Any, torch.Tensor, Any], torch.Tensor] | None = None,
) -> list[float]:  # fmt: skip
    """Train the head alone on ``features`` with AdamW for ``epochs`` (``loss_fn``: the run's loss, default plain
    cross-entropy); the mean loss of each epoch."""
    loss_fn = loss_fn or cross_entropy_loss(None, 0.0)
    head = classifier_head(model)
    was_training = head.training
    head.train()  # its dropout on, as in fine-tuning
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    targets = torch.tensor(labels)
    losses = []
    try:
        for _ in range(epochs):
            total = 0.0
            order = torch.randperm(len(features), generator=generator).tolist()
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                logits = head(_stack([features[i] for i in chunk]).to(device))
                y = targets[chunk].to(device)
                loss = loss_fn({"logits": logits}, y, None)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(chunk)
            losses.append(total / len(features))
    finally:
        head.train(was_training)
    return losses


def probe_macro_f1(model: nn.Module, features: list[torch.Tensor], labels: list[int], names: list[str]) -> float:
    """The head's validation macro-F1 on the features alone: how far the frozen encoder gets."""
    head = classifier_head(model)
    was_training = head.training
    head.eval()
    device = next(head.parameters()).device
    predictions = []
    with torch.no_grad():
        for start in range(0, len(features), 256):
            predictions.append(head(_stack(features[start : start + 256]).to(device)).argmax(-1).cpu().numpy())
    head.train(was_training)
    return float(classification_metrics(np.asarray(labels), np.concatenate(predictions), names)["macro_f1"])


def run_probe(
    model: nn.Module, encoded: dict[str, Dataset], collator: DataCollatorWithPadding, training: Any,
    label_names: list[str], seed: int, device: torch.device, autocast: torch.dtype | None,
    cache: FrozenCache | None, loss_fn: Callable[[Any, torch.Tensor, Any], torch.Tensor] | None,
) -> dict[str, Any]:  # fmt: skip
    """The whole stage: the head's inputs for train and validation, the head trained, its summary for metrics.json."""
    started = time.perf_counter()
    model.to(device)
    features = {
        split: head_inputs(model, encoded[split], collator, training.eval_batch_size, device, autocast, cache)
        for split in ("train", "validation")
    }
    losses = train_probe(
        model, features["train"], encoded["train"]["label"], epochs=training.probe_epochs,
        learning_rate=training.probe_learning_rate, batch_size=training.batch_size,
        weight_decay=training.weight_decay, seed=seed, device=device, loss_fn=loss_fn,
    )  # fmt: skip
    score = probe_macro_f1(model, features["validation"], encoded["validation"]["label"], label_names)
    seconds = time.perf_counter() - started
    log.info("training.probe_epochs: the head alone trained %d epochs in %.0f s (loss %.3f -> %.3f, "
             "validation macro-F1 %.4f)", training.probe_epochs, seconds, losses[0], losses[-1], score)  # fmt: skip
    return {"epochs": training.probe_epochs, "seconds": round(seconds, 2), "losses": [round(x, 4) for x in losses],
            "validation_macro_f1": score}  # fmt: skip

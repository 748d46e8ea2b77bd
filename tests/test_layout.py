"""The package's import graph flows one way, in the order of the pipeline (issue #13)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "negotiation_stance"
# Each stage may import its own and earlier stages, never a later one.
STAGES = [
    {"labels", "errors", "io", "text", "names", "config", "tracking"},
    {"corpus"},
    {"data"},
    {"modeling"},
    {"evaluation"},
    {"export"},
    {"training"},
    {"reporting"},
    {"inference"},
    {"cli", "__main__", "__init__"},
]


def stage_of(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, names in enumerate(STAGES) if top in names)


def imports() -> list[tuple[str, str]]:
    pairs = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("negotiation_stance."):
                pairs.append((module, node.module.removeprefix("negotiation_stance.")))
            elif isinstance(node, ast.ImportFrom) and node.module == "negotiation_stance":
                pairs += [(module, alias.name) for alias in node.names]
    return pairs


def test_no_module_imports_a_later_stage():
    backwards = [(a, b) for a, b in imports() if stage_of(b) > stage_of(a)]
    assert backwards == []


def test_inference_never_imports_corpus_building():
    assert [(a, b) for a, b in imports() if a.startswith("inference") and b.startswith("corpus")] == []

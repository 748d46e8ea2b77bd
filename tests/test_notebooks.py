"""The notebooks run top to bottom on the committed data."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, tiny_run, monkeypatch):
    # The comparison notebook reads run folders: give it the session's real tiny run.
    monkeypatch.setenv("NS_RUNS_DIR", str(tiny_run["run_dir"]))
    # The kernel runs in a temporary folder, outside the checkout: name the corpus it reads.
    monkeypatch.setenv("NS_DATA_DIR", str(ROOT / "data"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook should draw its plots"

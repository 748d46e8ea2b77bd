"""The notebooks run top to bottom on the committed data, as ``make notebooks`` runs them: in place, outputs kept."""

from __future__ import annotations

import shutil
import subprocess

import nbformat
import pytest

from conftest import ROOT
from negotiation_stance.reporting.notebooks import NotebookError, execute_notebook

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_in_place(path, tmp_path, tiny_run, monkeypatch):
    # The comparison notebook reads run folders: give it the session's real tiny run.
    monkeypatch.setenv("NS_RUNS_DIR", str(tiny_run["run_dir"]))
    # The kernel runs in a temporary folder, outside the checkout: name the corpus it reads.
    monkeypatch.setenv("NS_DATA_DIR", str(ROOT / "data"))
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    cells = execute_notebook(copy, timeout=300)
    nb = nbformat.read(copy, as_version=4)  # what make notebooks leaves on disk
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert cells == len(code) and all(cell.execution_count for cell in code)
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook should draw its plots"
    # Committed outputs carry no folder of the machine that ran them.
    text = nbformat.writes(nb)
    assert not [folder for folder in (tmp_path, ROOT, tiny_run["run_dir"]) if str(folder) in text]


def test_make_notebooks_runs_the_script_and_a_failing_cell_leaves_the_file(tmp_path):
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0 and "scripts/execute_notebooks.py" in dry.stdout
    broken = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('no runs here')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, broken)
    before = broken.read_text()
    with pytest.raises(NotebookError, match=r"broken\.ipynb: a cell failed.*ValueError: no runs here"):
        execute_notebook(broken, timeout=60)
    assert broken.read_text() == before and not list(tmp_path.glob("*.partial"))

"""``make notebooks``: run the notebooks top to bottom and keep their outputs, so the committed files show results."""

from __future__ import annotations

from pathlib import Path

from negotiation_stance.errors import UserError
from negotiation_stance.io import atomic_write


class NotebookError(UserError):
    """A cell failed; the notebook file is left as it was."""


def execute_notebook(path: Path, *, timeout: int = 600) -> int:
    """Execute ``path`` in its own folder and write it back with its outputs; returns the number of code cells run.

    Cell timings are not recorded, so a rerun on the same runs changes only what the runs changed.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        raise NotebookError(f"{path}: a cell failed, the file is unchanged: {exc.ename}: {exc.evalue}") from None
    with atomic_write(path) as tmp:
        nbformat.write(notebook, str(tmp))
    return sum(cell.cell_type == "code" for cell in notebook.cells)

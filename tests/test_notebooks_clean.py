"""The tour notebooks are kept without outputs, so they diff cleanly and never carry clips (CI runs them with nbval)."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_tours_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "sweep_and_compare", "reviewer_session"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear outputs before committing"
    assert "widgets" not in notebook.metadata

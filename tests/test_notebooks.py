"""Every notebook runs top to bottom with its small settings (as in CI)."""

import glob
import os

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "notebooks", "*.ipynb")))


def test_there_are_four_notebooks():
    assert [os.path.basename(path)[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_with_small_settings(path, tmp_path, monkeypatch, audiomnist_sample):
    monkeypatch.setenv("UVAC_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("AUDIOMNIST", audiomnist_sample)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    assert any(output.get("output_type") in ("stream", "execute_result", "display_data") for output in outputs)

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKSTART_EPOCHS", "3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("QUICKSTART_OUTPUT", str(tmp_path / "runs"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "recall@20" in outputs
    assert "IProgress" not in outputs and "TqdmWarning" not in outputs  # no widget warnings in notebooks
    assert list(tmp_path.glob("runs/*/learning_curve.png"))

"""The evaluation notebooks run end to end on the synthetic data in their fast mode and draw their plots."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECT = {  # notebook -> (text its outputs must show, figure it must write)
    "compare_samplers.ipynb": (["recall@20", "dns (16 candidates)", "p_t Holm"], "compare_samplers.png"),
    "negative_ratio_search.ipynb": (["best {", "sampler.num_negatives", "optimization_history"],
                                    "negative_ratio_search.png"),
    "evaluation_report.ipynb": (["recall_pop1@20", "ItemKNN", "p_wilcoxon"], "evaluation_report.png"),
}


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/markdown", ""), data.get("text/html", "")]
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_notebook_runs_fast_and_plots(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTEBOOK_FAST", "1")
    monkeypatch.setenv("NOTEBOOK_OUTPUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text = _text(nb)
    expected, figure = EXPECT[name]
    for snippet in expected:
        assert snippet in text, f"{name}: {snippet!r} not in its outputs"
    assert "Traceback" not in text and "IProgress" not in text
    assert (tmp_path / figure).stat().st_size > 10_000  # a drawn figure, not an empty canvas

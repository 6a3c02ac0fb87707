"""The README tells the truth: its commands run, its Python example runs, its tables are the generated ones."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
GOWALLA = ROOT.parent / "shared/datasets/gowalla"
# Kept short: the commands must run, not reproduce their figures.
QUICK = ["--set", "train.epochs=1", "--set", "data.source.n_users=200", "--set", "data.source.n_items=150"]
QUICK_GOWALLA = ["--set", "train.epochs=1", "--set", "train.time_budget_s=5", "--set", "eval.batch_size=4096"]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def commands() -> list[str]:
    """recsys-neg command lines of the README's shell blocks (comments stripped, continuations joined)."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("recsys-neg "):
                out.append(line)
    return out


def needs_network(cmd: str) -> bool:
    return " download " in f" {cmd} "


@pytest.mark.parametrize("cmd", [c for c in commands() if not needs_network(c)])
def test_readme_command_runs(cmd, tmp_path):
    args = shlex.split(cmd)[1:]
    if "<" in cmd:  # a placeholder such as runs/quickstart-<stamp>/: use a run made here
        pytest.skip("needs a run folder; covered by the train commands and tests/test_cli.py")
    if args and args[0] in ("train", "run") and "gowalla" in cmd:
        if not (GOWALLA / "train.txt").exists():
            pytest.skip(f"needs {GOWALLA}")
        args += [a for a in QUICK_GOWALLA] + ["--set", f"data.source.path={GOWALLA}"]
    elif args and args[0] in ("train", "run"):
        args += QUICK
    elif args and args[0] == "tune":
        args = [a if a != "20" else "2" for a in args] + ["--set", "train.epochs=1", "--set", "data.source.n_users=200",
                                                          "--set", "data.source.n_items=150",
                                                          # the study and its best file stay out of the checkout
                                                          "--storage", f"sqlite:///{tmp_path / 'optuna.db'}",
                                                          "--best-out", str(tmp_path / "best.yaml")]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    out = subprocess.run([sys.executable, "-m", "recsys_neg", *args, "--set", f"output_dir={tmp_path / 'runs'}"]
                         if args[0] in ("train", "run", "tune") else [sys.executable, "-m", "recsys_neg", *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}\n{out.stderr[-3000:]}"


def test_python_example_runs(tmp_path, monkeypatch):
    code = next(b for b in blocks("python") if "run_pipeline" in b)
    monkeypatch.chdir(ROOT)
    namespace = {"my_dataframe": None}
    code = code.replace("overrides=[", f"overrides=['output_dir={tmp_path}', 'tracking.enabled=false', "
                                       "'data.source.n_users=200', 'data.source.n_items=150', ")
    code = code.replace("df=my_dataframe", "df=None")
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the project's own README
    assert namespace["result"].test["recall@20"] >= 0


def test_results_tables_are_the_generated_ones():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from update_readme import filled

    assert filled(README) == README, "run: python benchmarks/update_readme.py"
    assert re.search(r"<!-- results: ", README), "the results table must be generated, not typed"


def test_sampler_example_trains(tmp_path, monkeypatch):
    """The extension example is a working plug-in: saved as its own file, imported, trained with."""
    import importlib

    from recsys_neg.config import load_config
    from recsys_neg.pipeline import run_pipeline
    from recsys_neg.samplers.base import SAMPLERS

    code = next(b for b in blocks("python") if "SAMPLERS.register" in b)
    (tmp_path / "my_sampler.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("my_sampler")
    try:
        cfg = load_config(ROOT / "pipelines/quickstart.yaml", overrides=[
            "sampler={name: my_sampler, first: 10, num_negatives: 8}", "train.epochs=2", "tracking.enabled=false",
            "data.source.n_users=200", "data.source.n_items=150", f"output_dir={tmp_path / 'runs'}"])
        result = run_pipeline(cfg)
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    finally:
        SAMPLERS.unregister("my_sampler")
        sys.modules.pop("my_sampler", None)

"""Command line: ``recsys-neg train|run|evaluate|datasets``."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import RecsysNegError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Train and evaluate collaborative-filtering models with pluggable negative samplers.")
datasets_app = typer.Typer(help="List built-in and downloadable datasets, or download one.")
app.add_typer(datasets_app, name="datasets")


def _fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg="red", err=True)
    raise typer.Exit(2)


def _train(pipeline: Path, overrides: list[str], tracking_uri: Optional[str]) -> None:
    from .config import load_config
    from .pipeline import make_tracker, run_pipeline

    try:
        cfg = load_config(pipeline, overrides)
        tracker = make_tracker(cfg, tracking_uri)
        result = run_pipeline(cfg, base_dir=pipeline.resolve().parent, tracker=tracker)
    except RecsysNegError as err:
        _fail(err)
        return
    shown = {k: round(v, 4) for k, v in result.test.items() if k.endswith("@20")}
    typer.echo(f"best epoch {result.best_epoch} ({result.stopped}); test {json.dumps(shown)}")
    if result.run_id:
        typer.echo(f"mlflow run {result.run_id}")
    typer.echo(str(result.out_dir / "metrics.json"))


SET_HELP = "Override a pipeline field, e.g. --set train.epochs=5 (repeatable)."
URI_HELP = "MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."


@app.command()
def train(pipeline: Path = typer.Argument(..., help="Pipeline YAML file."),
          set_: List[str] = typer.Option([], "--set", help=SET_HELP),
          tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP)) -> None:
    """Train and evaluate a pipeline; prints the path of its metrics.json."""
    _train(pipeline, set_, tracking_uri)


@app.command()
def run(pipeline: Path = typer.Argument(..., help="Pipeline YAML file."),
        set_: List[str] = typer.Option([], "--set", help=SET_HELP),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP)) -> None:
    """Run a pipeline (same as train)."""
    _train(pipeline, set_, tracking_uri)


@app.command()
def evaluate(path: Path = typer.Argument(..., help="A run folder or a checkpoint file."),
             split: List[str] = typer.Option(["valid", "test"], "--split", help="Splits to evaluate.")) -> None:
    """Re-evaluate a saved run with full ranking and print its metrics as JSON."""
    from .pipeline import evaluate_saved

    try:
        out = evaluate_saved(path, tuple(split))
    except RecsysNegError as err:
        _fail(err)
        return
    typer.echo(json.dumps(out, indent=2))


@datasets_app.callback(invoke_without_command=True)
def datasets(ctx: typer.Context) -> None:
    """List datasets (built-in and downloadable) and whether they are cached."""
    if ctx.invoked_subcommand is not None:
        return
    from .data.catalog import list_datasets

    for row in list_datasets():
        typer.echo("  ".join(str(v) for v in (row.values() if isinstance(row, dict) else row)))


@datasets_app.command("download")
def datasets_download(name: str, cache_dir: Path = typer.Option(Path("data/cache"), help="Where to store it.")) -> None:
    """Download a public dataset into the local cache (needs internet)."""
    from .data.catalog import download

    try:
        path = download(name, cache_dir)
    except (RecsysNegError, OSError) as err:
        _fail(err)
        return
    typer.echo(str(path))


def main() -> None:  # pragma: no cover
    sys.exit(app())

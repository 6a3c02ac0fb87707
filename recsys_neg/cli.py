"""Command line: ``recsys-neg train|run|evaluate|compare|datasets``."""
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
runs_app = typer.Typer(help="Maintain the MLflow run store.")
app.add_typer(runs_app, name="runs")


def _fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg="red", err=True)
    raise typer.Exit(2)


def _train(pipeline: Optional[Path], overrides: list[str], tracking_uri: Optional[str],
           resume: Optional[Path] = None) -> None:
    from .config import load_config  # validates before torch is imported

    parallel, finished = None, False
    try:
        note = None
        if resume is not None:
            from .runs.saved import resume_point

            point = resume_point(resume, pipeline, overrides)
            note = point.describe()
            cfg, base_dir, state, out_dir = point.cfg, point.base_dir, point.state, point.run_dir
        elif pipeline is None:
            raise RecsysNegError("give a pipeline file, or --resume RUN_DIR")
        else:
            cfg, base_dir, state, out_dir = load_config(pipeline, overrides), pipeline.resolve().parent, None, None
        from .distributed import from_env
        from .pipeline import make_tracker, run_pipeline

        parallel = from_env(cfg.train)  # one process, or one of torchrun's; only rank 0 speaks and writes
        if note and parallel.is_writer:
            typer.echo(note)
        tracker = make_tracker(cfg, tracking_uri) if parallel.is_writer else None
        result = run_pipeline(cfg, base_dir=base_dir, tracker=tracker, out_dir=out_dir, resume=state,
                              parallel=parallel)
        finished = True
    except RecsysNegError as err:
        _fail(err)
        return
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the run was closed as KILLED
        typer.secho("interrupted; the run was marked KILLED", fg="yellow", err=True)
        raise typer.Exit(130)
    finally:
        if parallel is not None:
            parallel.close(finished)
    if not parallel.is_writer:
        return
    shown = {k: round(v, 4) for k, v in result.test.items() if k.endswith("@20")}
    typer.echo(f"best epoch {result.best_epoch} ({result.stopped}); test {json.dumps(shown)}")
    if result.run_id:
        typer.echo(f"mlflow run {result.run_id}")
    typer.echo(str(result.out_dir / "metrics.json"))


SET_HELP = "Override a pipeline field, e.g. --set train.epochs=5 (repeatable)."
URI_HELP = "MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."


@app.command()
def train(pipeline: Optional[Path] = typer.Argument(None, help="Pipeline YAML file (optional with --resume)."),
          set_: List[str] = typer.Option([], "--set", help=SET_HELP),
          tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP),
          resume: Optional[Path] = typer.Option(
              None, "--resume", help="Continue an interrupted run from RUN_DIR/last.ckpt (same MLflow run); "
                                     "a pipeline given with it must match the run's config.")) -> None:
    """Train and evaluate a pipeline; prints the path of its metrics.json."""
    _train(pipeline, set_, tracking_uri, resume)


@app.command()
def run(pipeline: Path = typer.Argument(..., help="Pipeline YAML file."),
        set_: List[str] = typer.Option([], "--set", help=SET_HELP),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP)) -> None:
    """Run a pipeline (same as train)."""
    _train(pipeline, set_, tracking_uri)


@app.command()
def evaluate(path: Optional[Path] = typer.Argument(None, help="A run folder or a checkpoint file."),
             split: List[str] = typer.Option([], "--split", help="Splits to evaluate (default: valid and test; "
                                                                  "test for --recommendations)."),
             recommendations: Optional[Path] = typer.Option(
                 None, "--recommendations", help="Top-K lists made elsewhere (CSV/TSV/Parquet: user, item, "
                                                 "rank or score; raw ids). Needs --data."),
             data: Optional[Path] = typer.Option(None, "--data", help="Pipeline file or run folder whose data "
                                                                      "and eval settings the lists are scored on."),
             out: Optional[Path] = typer.Option(None, "--out", help="Output folder for --recommendations "
                                                                    "(default: <output_dir>/recommendations-<file>-<stamp>)."),
             set_: List[str] = typer.Option([], "--set", help=SET_HELP),
             strict: bool = typer.Option(False, "--strict", help="Unknown users or items are errors, not reported "
                                                                 "and left out.")) -> None:
    """Re-evaluate a saved run, or evaluate a recommendations file, with full ranking; prints JSON."""
    try:
        if recommendations is not None:
            _evaluate_recommendations(recommendations, data, split, out, set_, strict, path)
            return
        if path is None:
            raise RecsysNegError("give a run folder or checkpoint, or --recommendations FILE --data PIPELINE_OR_RUN")
        from .runs.saved import evaluate_saved

        out_json = evaluate_saved(path, tuple(split or ("valid", "test")))
    except RecsysNegError as err:
        _fail(err)
        return
    typer.echo(json.dumps(out_json, indent=2))


def _evaluate_recommendations(file: Path, data: Optional[Path], split: list[str], out: Optional[Path],
                              overrides: list[str], strict: bool, path: Optional[Path]) -> None:
    import warnings

    from .evaluation.external import RecommendationsWarning, evaluate_recommendations

    if data is None or path is not None or len(split) > 1:
        raise RecsysNegError("--recommendations takes --data PIPELINE_OR_RUN_DIR, one --split at most and no "
                             "run folder argument")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecommendationsWarning)
        run = evaluate_recommendations(file, data, (split or ["test"])[0], out_dir=out, overrides=overrides,
                                       strict=strict)
    for w in caught:
        if issubclass(w.category, RecommendationsWarning):
            typer.secho(f"warning: {w.message}", fg="yellow", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    typer.echo(json.dumps({**run.result.to_dict(), "recommendations": run.report.to_dict()}, indent=2))
    typer.echo(str(run.out_dir / "metrics.json"))


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


@app.command()
def tune(pipeline: Path = typer.Argument(..., help="Pipeline YAML file with a 'tuning:' section."),
         trials: int = typer.Option(20, "--trials", "-n", help="Trials to add to the study (total over workers)."),
         study: Optional[str] = typer.Option(None, "--study", help="Study name (default: tuning.study or the pipeline name)."),
         storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL (default: tuning.storage, sqlite:///optuna.db)."),
         workers: int = typer.Option(1, "--workers", "-j", help="Worker processes sharing the study."),
         timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds after which no new trial starts."),
         best_out: Optional[Path] = typer.Option(None, "--best-out", help="Where to write the best pipeline (default: <study>_best.yaml)."),
         set_: List[str] = typer.Option([], "--set", help=SET_HELP),
         tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP)) -> None:
    """Search the pipeline's tuning space with Optuna; each trial is a nested MLflow run."""
    from .distributed import launched_world_size
    from .tuning.study import tune as run_tune

    if launched_world_size() > 1:
        _fail(RecsysNegError("tune runs whole trials in worker processes (--workers); start it without torchrun"))
    try:
        res = run_tune(pipeline, trials, study, storage, workers, set_, tracking_uri, best_out, timeout)
    except RecsysNegError as err:
        _fail(err)
        return
    except KeyboardInterrupt:
        typer.secho("interrupted; finished trials are kept in the study", fg="yellow", err=True)
        raise typer.Exit(130)
    typer.echo(f"study {res.study_name}: {json.dumps(res.counts)}")
    if res.best_trial is None:
        typer.echo("no trial completed")
        return
    typer.echo(f"best trial {res.best_trial}: {res.best_value:.6g} {json.dumps(res.best_params)}")
    typer.echo(f"best pipeline: {res.best_file}")
    for p in res.plots:
        typer.echo(f"plot: {p}")


@app.command()
def compare(runs: List[Path] = typer.Argument(..., help="Run folders (each with metrics.json and test_per_user.csv)."),
            baseline: Optional[str] = typer.Option(None, "--baseline", help="Baseline run: a folder given above or its 0-based index (default: the first)."),
            metric: List[str] = typer.Option([], "--metric", help="Metric to compare, e.g. recall@20 (repeatable; default: all common ones)."),
            alpha: float = typer.Option(0.05, "--alpha", help="Significance level for the Holm-adjusted p-values."),
            bootstrap: int = typer.Option(10000, "--bootstrap", help="Bootstrap resamples for the confidence intervals."),
            seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
            plot_metric: Optional[str] = typer.Option(None, "--plot-metric", help="Metric plotted (default: recall@20)."),
            out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: comparisons/<stamp>/)."),
            track: bool = typer.Option(False, "--track", help="Log the comparison as an MLflow run."),
            tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP + " Implies --track."),
            experiment: str = typer.Option("comparisons", "--experiment", help="MLflow experiment of the comparison run.")) -> None:
    """Compare runs on the same test users with paired tests; writes comparison.md/.csv/.json/.png."""
    from .evaluation.compare import compare_runs
    from .evaluation.compare_report import default_out_dir, log_comparison, to_markdown, write_outputs

    try:
        comp = compare_runs(runs, baseline, metric or None, alpha, bootstrap, seed)
        out = out or default_out_dir()
        files = write_outputs(comp, out, plot_metric)
        run_id = log_comparison(comp, files, tracking_uri, experiment) if track or tracking_uri else None
    except RecsysNegError as err:
        _fail(err)
        return
    typer.echo(to_markdown(comp))
    if run_id:
        typer.echo(f"mlflow run {run_id}")
    typer.echo(str(out))


@runs_app.command("repair")
def runs_repair(tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=URI_HELP),
                experiment: List[str] = typer.Option([], "--experiment", help="Experiment names (default: all)."),
                all_hosts: bool = typer.Option(False, "--all-hosts", help="Also runs started on other hosts (needs --older-than)."),
                older_than: Optional[float] = typer.Option(None, "--older-than", help="Minutes without an update before another host's run counts as dead.")) -> None:
    """Mark FAILED the runs left RUNNING by a process that was killed (SIGKILL, crash)."""
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    from .tracking.mlflow_tracker import resolve_uri
    from .tracking.repair import repair_stale_runs

    if all_hosts and older_than is None:
        _fail(RecsysNegError("--all-hosts needs --older-than MINUTES (other hosts' processes cannot be checked)"))
    client = MlflowClient(tracking_uri=resolve_uri(tracking_uri))
    if experiment:
        found = [client.get_experiment_by_name(n) for n in experiment]
        missing = [n for n, e in zip(experiment, found) if e is None]
        if missing:
            _fail(RecsysNegError(f"--experiment: not found: {', '.join(missing)}"))
        ids = [e.experiment_id for e in found]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    fixed = repair_stale_runs(client, ids, all_hosts, None if older_than is None else older_than * 60)
    typer.echo(f"marked {len(fixed)} stale run(s) FAILED" + (": " + " ".join(fixed) if fixed else ""))


def main() -> None:  # pragma: no cover
    sys.exit(app())

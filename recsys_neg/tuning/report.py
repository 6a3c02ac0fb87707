"""After a search: the best trial as a ready pipeline file, plots, and a summary."""
from __future__ import annotations

import copy
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import yaml

from ..config import load_config, parse_override, set_path
from .result import TuneResult
from ..data.readers import resolve_path
from ..errors import RecsysNegError

log = logging.getLogger(__name__)
_PATH_KEYS = ("path", "train", "valid", "test")


def _absolute_data_paths(data: Any, base_dir: Path) -> Any:
    """Relative data paths made absolute, so the best file works from any folder."""
    if not isinstance(data, dict):
        return data
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out[k] = _absolute_data_paths(v, base_dir)
        elif k in _PATH_KEYS and isinstance(v, str):
            try:
                out[k] = str(resolve_path(v, base_dir).resolve())
            except RecsysNegError:
                out[k] = v  # missing here; leave it for the machine that has it
        else:
            out[k] = v
    return out


def best_pipeline_dict(study, raw: dict, pipeline: Path) -> dict | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    tree = copy.deepcopy(raw)
    for o in best.user_attrs.get("overrides", []):
        path, value = parse_override(o)
        set_path(tree, path, value)
    tree.pop("tuning", None)
    tree["name"] = f"{study.study_name}_best"
    if "data" in tree:
        tree["data"] = _absolute_data_paths(tree["data"], pipeline.resolve().parent)
    return tree


def write_best_pipeline(study, raw: dict, pipeline: Path, out: Path) -> Path | None:
    """The study's best trial as a pipeline file, written atomically (several workers may write it)."""
    import optuna

    study = optuna.load_study(study_name=study.study_name, storage=study._storage)  # the storage's truth
    tree = best_pipeline_dict(study, raw, pipeline)
    if tree is None:
        log.warning("no completed trial in study %s: no best pipeline written", study.study_name)
        return None
    best = study.best_trial
    header = (f"# Best trial {best.number} of study '{study.study_name}' "
              f"(validation value {best.value:.6g}), from {pipeline}.\n"
              f"# Trial values: {', '.join(best.user_attrs.get('overrides', []))}\n"
              f"#   recsys-neg train {out}\n")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(header + yaml.safe_dump(tree, sort_keys=False))
    load_config(tmp)  # never hand out a file that does not load
    os.replace(tmp, out)
    return out


def write_plots(study, folder: Path) -> list[Path]:
    """Optimisation history, parameter importances and per-parameter slices (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm
    from optuna.trial import TrialState

    folder.mkdir(parents=True, exist_ok=True)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = [("optimization_history", ovm.plot_optimization_history, 1),
             ("param_importances", ovm.plot_param_importances, 2),
             ("param_slices", ovm.plot_slice, 1)]
    written = []
    for name, fn, needed in plots:
        if len(done) < needed:
            continue
        try:
            with warnings.catch_warnings():
                # optuna marks these plots experimental; slices have a colour bar tight_layout warns about
                warnings.simplefilter("ignore")
                ax = fn(study)
                fig = (ax.flat[0] if hasattr(ax, "flat") else ax).get_figure()
                fig.set_size_inches(max(6.4, fig.get_size_inches()[0]), 4.2)
                fig.tight_layout()
            path = folder / f"{study.study_name}_{name}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            written.append(path)
        except Exception as err:  # e.g. importances need at least two varying parameters
            log.warning("plot %s skipped: %s", name, err)
            plt.close("all")
    return written


def summarise(study, storage: str, best_file, plots, parent_run_id) -> TuneResult:
    from optuna.trial import TrialState

    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    has_best = bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    best = study.best_trial if has_best else None
    return TuneResult(study.study_name, storage, counts, best.value if best else None,
                      dict(best.params) if best else {}, best.number if best else None,
                      best_file, plots, parent_run_id)


def finish(study_name: str, storage: str, tuning, raw: dict, pipeline: Path, best_out: Path, output_dir: Path,
           parent) -> TuneResult:
    """After this invocation's workers: best file, plots, summary, and the parent run's record."""
    from .storage import open_study

    study, _ = open_study(study_name, storage, tuning)
    best_file = write_best_pipeline(study, raw, pipeline, best_out)
    plots = write_plots(study, output_dir / study_name)
    result = summarise(study, storage, best_file, plots, parent.run_id if parent else None)
    if parent is not None:
        for path in [best_file, *plots]:
            if path is not None:
                parent.log_artifact(path)
        if result.best_value is not None:
            finished = sum(v for k, v in result.counts.items() if k in ("COMPLETE", "PRUNED", "FAIL"))
            # step = trials finished so far: the latest value is the study's best whoever logs last
            parent.log_metrics({f"best_{tuning.metric.tracked('valid')}": result.best_value,
                                **{f"trials_{k.lower()}": v for k, v in result.counts.items()}}, step=finished)
            parent.set_tags({"best_trial": str(result.best_trial)})
    return result

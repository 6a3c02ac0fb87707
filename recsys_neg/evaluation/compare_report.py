"""The files of a comparison (markdown, long CSV, JSON, CI plot) and its optional MLflow run."""
from __future__ import annotations

import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import ConfigError
from .compare import Comparison

COLUMNS = ["run", "path", "role", "metric", "mean", "baseline_mean", "diff", "rel_diff", "d_z",
           "ci_low", "ci_high", "p_t", "p_t_holm", "p_wilcoxon", "p_wilcoxon_holm",
           "sig_t", "sig_wilcoxon", "note"]
FILES = ("comparison.md", "comparison.csv", "comparison.json", "comparison.png")
HEADLINE = "@20"  # the metrics logged to MLflow: the cut-off this field reports


def frame(comp: Comparison) -> pd.DataFrame:
    return pd.DataFrame(comp.rows, columns=COLUMNS)


def _clean(v):
    """JSON has no NaN: undefined statistics become null."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def to_json(comp: Comparison) -> dict:
    base = comp.runs[comp.baseline]
    return {
        "runs": [{"label": r.label, "path": str(r.path.resolve()), "name": r.meta.get("name")} for r in comp.runs],
        "baseline": base.label, "metrics": comp.metrics, "users": comp.users,
        "data": {"name": base.meta["data"].get("name"), "fingerprint": comp.fingerprint},
        "protocol": comp.protocol, "settings": comp.settings,
        "rows": [{k: _clean(row.get(k)) for k in COLUMNS} for row in comp.rows],
    }


def _sig(row: dict) -> str:
    t, w = row["sig_t"], row["sig_wilcoxon"]
    return "yes" if t and w else "t only" if t else "w only" if w else "no"


def _p(v: float) -> str:
    return f"{v:.3g}"


def _num(v: float, fmt: str) -> str:
    return "n/a" if v is None or not math.isfinite(v) else format(v, fmt)


def to_markdown(comp: Comparison) -> str:
    base = comp.runs[comp.baseline]
    proto = comp.protocol
    lines = [
        "# Run comparison", "",
        f"Baseline: `{base.label}`. Data fingerprint `{comp.fingerprint}`, {comp.users} users, "
        f"split {proto['split']}, {proto['ranking']} ranking, masked: {', '.join(proto['masked'])}.",
        f"Paired tests on per-user values; Holm correction per metric and test over the "
        f"{len(comp.runs) - 1} comparison(s); alpha {comp.alpha}; "
        f"95% percentile bootstrap CI, {comp.settings['bootstrap']} resamples, seed {comp.settings['seed']}.",
        "", "## Means over users", "",
        "| run | " + " | ".join(comp.metrics) + " |",
        "|---|" + "---:|" * len(comp.metrics),
    ]
    means = {(r["run"], r["metric"]): r["mean"] for r in comp.rows}
    for run in comp.runs:
        mark = " (baseline)" if run is base else ""
        cells = " | ".join(f"{means[run.label, m]:.4f}" for m in comp.metrics)
        lines.append(f"| `{run.label}`{mark} | {cells} |")
    lines += ["", "## Differences vs baseline", "",
              "| run | metric | diff | rel diff | d_z | 95% CI | p_t | p_t Holm | p_wilcoxon | p_w Holm | sig | note |",
              "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---|"]
    for r in comp.rows:
        if r["role"] == "baseline":
            continue
        lines.append(
            f"| `{r['run']}` | {r['metric']} | {r['diff']:+.4f} | {_num(r['rel_diff'] * 100, '+.1f')}% | "
            f"{_num(r['d_z'], '.3f')} | [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {_p(r['p_t'])} | "
            f"{_p(r['p_t_holm'])} | {_p(r['p_wilcoxon'])} | {_p(r['p_wilcoxon_holm'])} | {_sig(r)} | {r['note']} |")
    lines += ["", "sig: Holm-adjusted p below alpha for both tests (yes), for one only (t only, w only), "
              "or neither (no).", ""]
    return "\n".join(lines)


def plot_differences(comp: Comparison, metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    rows = [r for r in comp.rows if r["metric"] == metric and r["role"] != "baseline"]
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.5 * len(rows)))
    ys = range(len(rows))
    diffs = [r["diff"] for r in rows]
    err = [[r["diff"] - r["ci_low"] for r in rows], [r["ci_high"] - r["diff"] for r in rows]]
    ax.errorbar(diffs, ys, xerr=err, fmt="o", capsize=4)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(list(ys), [r["run"] for r in rows], fontsize="small")
    ax.invert_yaxis()
    ax.set(xlabel=f"{metric} difference vs {comp.runs[comp.baseline].label}",
           title=f"{metric}: mean paired difference, 95% bootstrap CI")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Readers never see a half-written file: write beside it, then rename over it."""
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:6]}.tmp{path.suffix}")  # suffix kept: savefig reads it
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def default_out_dir() -> Path:
    return Path("comparisons") / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def pick_plot_metric(comp: Comparison, metric: str | None) -> str:
    if metric is None:
        return "recall@20" if "recall@20" in comp.metrics else comp.metrics[0]
    if metric not in comp.metrics:
        raise ConfigError(f"--plot-metric {metric}: not among the compared metrics ({', '.join(comp.metrics)})")
    return metric


def write_outputs(comp: Comparison, out_dir: str | Path, plot_metric: str | None = None) -> list[Path]:
    metric = pick_plot_metric(comp, plot_metric)
    out = Path(out_dir)
    md, csv, js, png = (out / name for name in FILES)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _atomic(md, lambda p: p.write_text(to_markdown(comp)))
        _atomic(csv, lambda p: frame(comp).to_csv(p, index=False))
        _atomic(js, lambda p: p.write_text(json.dumps(to_json(comp), indent=2)))
        _atomic(png, lambda p: plot_differences(comp, metric, p))
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write the comparison ({err})") from None
    return [md, csv, js, png]


def log_comparison(comp: Comparison, files: list[Path], uri: str | None = None,
                   experiment: str = "comparisons") -> str | None:
    """One MLflow run tagged kind=comparison: the folders as params, headline diffs as metrics, the files."""
    from ..metric_key import tracked_name as metric_key
    from ..tracking.mlflow_tracker import MLflowTracker

    headline = [m for m in comp.metrics if m.endswith(HEADLINE)] or comp.metrics
    params = {"baseline": str(comp.runs[comp.baseline].path.resolve()), "metrics": ",".join(comp.metrics),
              **{f"run{i}": str(r.path.resolve()) for i, r in enumerate(comp.runs)}, **comp.settings}
    index = {r.label: i for i, r in enumerate(comp.runs)}
    diffs = {f"run{index[r['run']]}_diff_{metric_key(r['metric'])}": r["diff"]
             for r in comp.rows if r["role"] != "baseline" and r["metric"] in headline}
    tracker = MLflowTracker(uri, experiment)
    tracker.start("comparison", params, {"kind": "comparison", "dataset_fingerprint": comp.fingerprint})
    status = "FAILED"
    try:
        tracker.log_metrics(diffs)
        for path in files:
            tracker.log_artifact(path)
        status = "FINISHED"
    finally:
        tracker.end(status)
    return tracker.run_id

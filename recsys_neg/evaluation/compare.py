"""Paired comparison of finished runs on their per-user test metrics.

Runs are compared only when they were evaluated on the same data, with the same
protocol and on the same users: then each user gives one paired difference per
metric, and the tests below are on those differences, not on two means.
Holm's correction runs, for each metric and each test, over the comparisons of
every non-baseline run with the baseline.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConfigError

PER_USER = "test_per_user.csv"
METRICS = "metrics.json"
CONFIG = "config.json"
_BOOT_CELLS = 1 << 22  # resamples x users drawn at once: bounds memory on large user sets


@dataclass
class Run:
    path: Path
    label: str
    meta: dict
    config: dict
    per_user: pd.DataFrame  # indexed by user, one column per metric

    @property
    def fingerprint(self) -> str:
        return self.meta["data"]["fingerprint"]


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path.parent}: no {path.name} (not a finished run folder?)") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path.parent}: {path.name} is not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{path.parent}: {path.name} does not hold a JSON object")
    return obj


def _read_per_user(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"{path.parent}: no {path.name} (was the run evaluated on a test split?)")
    try:
        df = pd.read_csv(path, float_precision="round_trip")
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path.parent}: {path.name} cannot be read as CSV ({err})") from None
    if "user" not in df.columns or len(df.columns) < 2:
        raise ConfigError(f"{path.parent}: {path.name} needs a 'user' column and at least one metric column")
    if df["user"].duplicated().any():
        raise ConfigError(f"{path.parent}: {path.name} lists some users more than once")
    values = df.drop(columns="user")
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in values.columns if not np.isfinite(numeric[c].to_numpy(dtype=float)).all()]
    if bad:
        raise ConfigError(f"{path.parent}: {path.name} has missing or non-numeric values in {', '.join(bad)}")
    numeric.index = df["user"].to_numpy()
    return numeric.astype(float)


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path}: not a run folder")
    meta = _read_json(path / METRICS)
    if not isinstance(meta.get("data"), dict) or not meta["data"].get("fingerprint"):
        raise ConfigError(f"{path}: {METRICS} has no data.fingerprint")
    return Run(path, path.name, meta, _read_json(path / CONFIG), _read_per_user(path / PER_USER))


def protocol_of(run: Run) -> dict:
    """The evaluation protocol; older runs lack it and used test split, full ranking, train+valid masked."""
    proto = run.meta.get("protocol")
    if isinstance(proto, dict):
        return {"split": proto.get("split"), "ranking": proto.get("ranking"),
                "masked": sorted(proto.get("masked") or [])}
    masked = ["train"] + (["valid"] if (run.meta["data"].get("valid") or 0) > 0 else [])
    return {"split": "test", "ranking": "full", "masked": masked}


def check_comparable(runs: list[Run]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if run.fingerprint != first.fingerprint:
            raise ConfigError(f"runs evaluated on different data: {first.path} has data.fingerprint "
                              f"{first.fingerprint}, {run.path} has {run.fingerprint}")
        a, b = protocol_of(first), protocol_of(run)
        diff = [f"{k}: {a[k]} vs {b[k]}" for k in a if a[k] != b[k]]
        if diff:
            raise ConfigError(f"runs evaluated with different protocols ({first.path} vs {run.path}): "
                              + "; ".join(diff))
        users_a, users_b = set(first.per_user.index), set(run.per_user.index)
        if users_a != users_b:
            raise ConfigError(
                f"runs evaluated on different users: {len(users_a - users_b)} user(s) only in "
                f"{first.path}, {len(users_b - users_a)} only in {run.path}; paired tests need the same users")


def select_metrics(runs: list[Run], wanted: list[str] | None) -> list[str]:
    common = [m for m in runs[0].per_user.columns if all(m in r.per_user.columns for r in runs)]
    if not wanted:
        if not common:
            raise ConfigError("the runs share no metric column in their " + PER_USER)
        return common
    for m in wanted:
        for r in runs:
            if m not in r.per_user.columns:
                raise ConfigError(f"--metric {m}: not in {r.path / PER_USER} "
                                  f"(it has {', '.join(r.per_user.columns)})")
    return list(dict.fromkeys(wanted))


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def cohens_dz(diffs: np.ndarray) -> float:
    """Mean difference over the standard deviation of the differences; undefined when they are constant."""
    sd = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    return float(np.mean(diffs)) / sd if sd > 0 else float("nan")


def bootstrap_ci(diffs, n_boot: int = 10000, seed: int = 0, level: float = 0.95):
    """Percentile bootstrap CI of the mean difference, resampling users with replacement.

    ``diffs`` is one vector of per-user differences, or a users x k matrix whose
    columns share the same resamples (so every comparison sees the same draws).
    Returns (low, high), floats for a vector, arrays for a matrix.
    """
    d = np.asarray(diffs, dtype=float)
    cols = d.reshape(len(d), -1)
    n = len(cols)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _BOOT_CELLS // max(1, n))
    means = np.empty((n_boot, cols.shape[1]))
    for lo in range(0, n_boot, per_chunk):  # chunks of resamples, each one vectorised
        b = min(n_boot, lo + per_chunk) - lo
        idx = rng.integers(0, n, size=(b, n))
        # how often each user is drawn in each resample; the resampled means are then one matmul
        counts = np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n)
        means[lo:lo + b] = counts.astype(float) @ cols / n
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    if d.ndim == 1:
        return float(low[0]), float(high[0])
    return low, high


def paired_tests(run: np.ndarray, base: np.ndarray) -> tuple[float, float, str]:
    """(paired t-test p, Wilcoxon signed-rank p, note). All-zero differences: both p = 1, nothing to test."""
    if np.array_equal(run, base):
        return 1.0, 1.0, "all differences zero"
    with warnings.catch_warnings():  # near-constant differences: scipy warns about precision, result stands
        warnings.simplefilter("ignore", RuntimeWarning)
        p_t = float(stats.ttest_rel(run, base).pvalue)
        p_w = float(stats.wilcoxon(run, base, zero_method="wilcox").pvalue)
    return p_t, p_w, ""


@dataclass
class Comparison:
    runs: list[Run]
    baseline: int
    metrics: list[str]
    users: int
    alpha: float
    settings: dict
    rows: list[dict] = field(default_factory=list)  # one per run x metric, baseline rows included

    @property
    def fingerprint(self) -> str:
        return self.runs[0].fingerprint

    @property
    def protocol(self) -> dict:
        return protocol_of(self.runs[0])


def resolve_baseline(runs: list[Run], baseline: str | int | None) -> int:
    if baseline is None:
        return 0
    text = str(baseline)
    for i, r in enumerate(runs):
        if Path(text).resolve() == r.path.resolve():
            return i
    if text.lstrip("-").isdigit() and -len(runs) <= int(text) < len(runs):
        return int(text) % len(runs)
    raise ConfigError(f"--baseline {text}: neither one of the compared folders nor an index in 0..{len(runs) - 1}")


def _labels(paths: list[Path]) -> list[str]:
    names = [p.name for p in paths]
    return [n if names.count(n) == 1 else f"{i}:{n}" for i, n in enumerate(names)]


def compare_runs(paths: list[str | Path], baseline: str | int | None = None, metrics: list[str] | None = None,
                 alpha: float = 0.05, n_boot: int = 10000, seed: int = 0) -> Comparison:
    if len(paths) < 2:
        raise ConfigError("compare needs at least two run folders")
    if not 0 < alpha < 1 or n_boot < 1:
        raise ConfigError(f"--alpha must lie in (0, 1) and --bootstrap be positive (got {alpha}, {n_boot})")
    runs = [load_run(p) for p in paths]
    for run, label in zip(runs, _labels([r.path for r in runs])):
        run.label = label
    check_comparable(runs)
    names = select_metrics(runs, metrics)
    base = resolve_baseline(runs, baseline)
    users = np.sort(runs[0].per_user.index.to_numpy())
    values = {m: np.stack([r.per_user.loc[users, m].to_numpy() for r in runs]) for m in names}
    others = [i for i in range(len(runs)) if i != base]
    comp = Comparison(runs, base, names, len(users), alpha,
                      {"bootstrap": n_boot, "seed": seed, "alpha": alpha, "level": 0.95,
                       "holm": "per metric and test, over the non-baseline runs"})
    pairs = [(m, i) for m in names for i in others]
    lows, highs = bootstrap_ci(np.stack([values[m][i] - values[m][base] for m, i in pairs], axis=1),
                               n_boot, seed)
    ci = {pair: (float(lo), float(hi)) for pair, lo, hi in zip(pairs, lows, highs)}
    for m in names:
        b = values[m][base]
        rows = []
        for i in others:
            d = values[m][i] - b
            p_t, p_w, note = paired_tests(values[m][i], b)
            diff, base_mean, d_z = float(d.mean()), float(b.mean()), cohens_dz(d)
            if note == "" and np.isnan(d_z):
                note = "constant differences: d_z undefined"
            rows.append({"diff": diff, "rel_diff": diff / base_mean if base_mean else float("nan"),
                         "d_z": d_z, "ci_low": ci[m, i][0], "ci_high": ci[m, i][1],
                         "p_t": p_t, "p_wilcoxon": p_w, "note": note})
        for key in ("p_t", "p_wilcoxon"):
            for row, adj in zip(rows, holm([r[key] for r in rows])):
                row[f"{key}_holm"] = float(adj)
                row[f"sig_{key[2:]}"] = bool(adj < alpha)
        by_run = dict(zip(others, rows))
        for i, run in enumerate(runs):
            comp.rows.append({"run": run.label, "path": str(run.path.resolve()),
                              "role": "baseline" if i == base else "run", "metric": m, "mean": float(values[m][i].mean()),
                              "baseline_mean": float(b.mean()), **by_run.get(i, {})})
    return comp

"""Render benchmarks/results/frontier.md from the frontier benchmarks' JSON (tables generated, never typed).

    python benchmarks/frontier_report.py [--samplers benchmarks/results/frontier_samplers.json]
        [--steps benchmarks/results/frontier_steps.json]
        [--quality benchmarks/results/{samplers_gowalla,frontier_losses,frontier_inbatch}.json]

Sections: throughput and memory of the new samplers (bench_samplers.py), the clustered
batch order's k-means and permutation cost, time per training step of every recipe
(frontier_smoke.py), and the quality of every recipe at equal training time, from the
time-to-quality harness's JSON (one file per family, same budget, seeds and clock).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from time_to_quality import mean_recall, mean_std

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results"
# time_to_quality.py --name ...: one comparison per family; their baselines are named here
QUALITY = ("samplers_gowalla", "frontier_losses", "frontier_inbatch")
BPR_BASELINES = {"uniform": "gowalla_samplers_uniform", "DNS": "gowalla_samplers_dns",
                 "mixed": "gowalla_samplers_mixed"}
FAMILY_LABEL = {"samplers_gowalla": "MF-BPR, 1 negative", "frontier_losses": "MF softmax, 256 shared uniform",
                "frontier_inbatch": "MF softmax, in-batch"}
FAMILY_BASELINE = {"frontier_losses": "frontier_mf_softmax_uniform",
                   "frontier_inbatch": "frontier_mf_softmax_inbatch"}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def sampler_table(doc: dict) -> list[str]:
    batch = doc["batch"]
    lines = ["| sampler | build s (wall) | build MB | refresh s (CPU) | negatives/row | ms per batch (CPU) "
             "| M negatives/s | peak call MB |", "|---|---|---|---|---|---|---|---|"]
    for label, e in doc["samplers"].items():
        refresh = f"{e['refresh_s']:.2f}" if "refresh_s" in e else "—"
        first = True
        for _, row in e["per_num"].items():
            lead = [label, f"{e['build_s']:.1f}", f"{e['build_mb']:.0f}", refresh] if first else ["", "", "", ""]
            lines.append("| " + " | ".join(lead + [str(row["negatives_per_row"]), ms(row["median_s"]),
                                                 f"{batch * row['negatives_per_row'] / row['median_s'] / 1e6:.2f}",
                                                 f"{row['peak_call_mb']:.0f}"]) + " |")
            first = False
    return lines


def batching_table(doc: dict) -> list[str]:
    lines = ["| batch order | clusters | k-means s (CPU) | k-means peak MB | order ms / epoch (CPU) "
             "| µs / batch | plain randperm ms / epoch |", "|---|---|---|---|---|---|---|"]
    for label, e in doc.get("batching", {}).items():
        lines.append(f"| {label} | {e['clusters']} | {e['kmeans_s']:.2f} | {e['kmeans_peak_mb']:.0f} | "
                     f"{ms(e['order_s'])} | {e['order_per_batch_s'] * 1e6:.0f} | {ms(e['shuffle_s'])} |")
    return lines


def steps_table(doc: dict) -> list[str]:
    lines = ["| recipe | steps run | s / step (epoch, refresh included) | s / step (step phases) "
             "| sampling s / step | diagnostics |", "|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        diag = ", ".join(f"{k} {v:.3g}" for k, v in r["diagnostics"].items()) or "—"
        note = f" ({', '.join(r['overrides'])})" if r["overrides"] else ""
        lines.append(f"| {r['recipe']}{note} | {r['steps']} | {r['s_per_step']:.3f} | "
                     f"{r['step_phases_s_per_step']:.3f} | {r['phases_s']['time_sampling'] / r['steps']:.3f} | {diag} |")
    return lines


def compare(rs: list[dict], base: list[dict], metric: str = "recall@20") -> tuple[float, float | None]:
    """Mean difference against a baseline and Welch's t-test p (seeds are independent runs)."""
    from scipy.stats import ttest_ind

    a = [r["final"]["test"][metric] for r in rs]
    b = [r["final"]["test"][metric] for r in base]
    p = ttest_ind(a, b, equal_var=False).pvalue if len(a) > 1 and len(b) > 1 else None
    return statistics.mean(a) - statistics.mean(b), p


def delta(rs: list[dict], base: list[dict] | None) -> str:
    if not base or rs is base:
        return "—"
    d, p = compare(rs, base)
    return f"{d:+.4f}" + ("" if p is None else f" (p {p:.2g})")


def at_epoch(rs: list[dict], epoch: int) -> float:
    """Validation Recall@20 at ``epoch``, linear between the curve's points, mean over seeds."""
    import numpy as np

    return statistics.mean(float(np.interp(epoch, [p["epoch"] for p in r["select"]["curve"]],
                                           [p["recall@20"] for p in r["select"]["curve"]])) for r in rs)


def verdict(name: str, rs: list[dict], bases: dict[str, list[dict]]) -> str:
    """Against the strongest baseline by mean test Recall@20: helps, no significant difference, or worse."""
    bases = {n: b for n, b in bases.items() if b and b is not rs}
    if not bases or name in BPR_BASELINES.values() or name in FAMILY_BASELINE.values():
        return "baseline"
    best = max(bases, key=lambda n: mean_recall(bases[n]))
    d, p = compare(rs, bases[best])
    if p is None or p >= 0.05:
        text = f"no significant difference from {best}"
    else:
        text = f"helps: above {best}" if d > 0 else f"does not help: below {best}"
    family = bases.get("family baseline")
    if best != "family baseline" and family:  # a gain inside its family, even where another family leads
        fd, fp = compare(rs, family)
        if fp is not None and fp < 0.05:
            text += "; above" if fd > 0 else "; below"
            text += " its family baseline"
    return text


def quality_section(paths: list[Path]) -> list[str]:
    """Section 5, generated from the time-to-quality JSON of each family."""
    docs = {p.stem: json.loads(p.read_text()) for p in paths if p.exists()}
    text = ["## 5. Quality at equal training time", ""]
    if not docs:
        return text + ["Not run yet: the commands are those printed at the top of each family's table once run.", ""]
    keys = ("budget_s", "eval_every_s", "seeds", "clock")
    metas = {name: tuple(str(d["meta"][k]) for k in keys) for name, d in docs.items()}
    if len(set(metas.values())) > 1:
        raise SystemExit(f"the families were not run under one budget, eval schedule, seeds and clock: {metas}")
    meta = next(iter(docs.values()))["meta"]
    runs: dict[str, list[dict]] = {}
    for d in docs.values():
        for r in d["runs"]:
            if r["name"] not in d["meta"].get("references", []):
                runs.setdefault(r["name"], []).append(r)
    clock = "CPU" if meta["clock"] == "cpu" else "wall-clock"
    text += [f"Every recipe: {meta['budget_s']:.0f} {clock} seconds of training per run at one thread, seeds "
             f"{', '.join(map(str, meta['seeds']))}; train -> valid for the number of epochs (validation every "
             f"{meta['eval_every_s']:.0f} training seconds, log-spaced at first, excluded from the budget), "
             "train+valid -> test once for that many epochs. Test Recall@20 / NDCG@20 mean ± std over seeds; "
             "Δ is the difference of mean test Recall@20 against a baseline with Welch's t-test p over seeds "
             "(uniform, DNS and mixed are the MF-BPR recipes; the family baseline is the softmax recipe with the "
             "same negatives: 256 shared uniform for the losses, in-batch for the batch orders). s / epoch is "
             "the median training epoch of the select phase, refreshes included. `valid @ E` separates the signal "
             "from the cost: validation Recall@20 of the select phase at the family's common epoch E (the fewest "
             "epochs any of its recipes reached; linear between validation points, mean over seeds).", ""]
    for name, d in docs.items():
        text.append(f"- `{name}` (load {d['meta'].get('load_range', '?')}): `{d['meta']['command']}`")
    text += ["", "| family | recipe | seeds | test Recall@20 | test NDCG@20 | epochs | s / epoch "
             "| valid @ E | Δ vs uniform | Δ vs DNS | Δ vs mixed | Δ vs family baseline | verdict (p < 0.05) |",
             "|---|" + "---|" * 12]
    for fam, d in docs.items():
        names = list(dict.fromkeys(r["name"] for r in d["runs"] if r["name"] not in d["meta"].get("references", [])))
        fam_base = runs.get(FAMILY_BASELINE.get(fam, ""))
        common = min((r["select"]["curve"][-1]["epoch"] for n in names for r in runs[n] if r["select"]["curve"]),
                     default=0)
        unfinished = [n for n in names if any(r["final"] is None for r in runs[n])]
        finished = sorted((n for n in names if n not in unfinished), key=lambda n: -mean_recall(runs[n]))
        for name in [*finished, *unfinished]:
            rs = runs[name]
            if name in unfinished:
                text.append(f"| {FAMILY_LABEL.get(fam, fam)} | {name} | {len(rs)} | no epoch within the budget | — | 0 | "
                            f"> {statistics.mean(r['select']['train_s'] for r in rs):.0f} | — | — | — | — | — | — |")
                continue

            text.append("| " + " | ".join([
                FAMILY_LABEL.get(fam, fam), name, str(len(rs)),
                *(mean_std([r["final"]["test"][m] for r in rs]) for m in ("recall@20", "ndcg@20")),
                "/".join(str(r["final"]["epochs"]) for r in rs),
                f"{statistics.median(r['select']['s_per_epoch'] for r in rs):.1f}",
                f"{at_epoch(rs, common):.4f} @ {common}",
                *(delta(rs, runs.get(b)) for b in BPR_BASELINES.values()),
                delta(rs, fam_base) if fam in FAMILY_BASELINE else "—",
                verdict(name, rs, {**{k: runs.get(b) for k, b in BPR_BASELINES.items()},
                                   "family baseline": fam_base})]) + " |")
    return text + [""]


def recipes_table() -> list[str]:
    """The recipes as pinned in their files (read through the config loader)."""
    import sys

    sys.path.insert(0, str(ROOT))
    from recsys_neg.config import load_config, resolved_dict

    lines = ["| recipe | model | sampler | loss | batch order | lr / batch / seed |", "|---|---|---|---|---|---|"]
    baselines = [ROOT / "pipelines" / f"{n}.yaml" for n in BPR_BASELINES.values()]
    for path in [*baselines, *sorted((ROOT / "pipelines").glob("frontier_*.yaml"))]:
        cfg = resolved_dict(load_config(path))
        model = f"{cfg['model']['name']} ({cfg['model']['similarity']})"
        sampler = cfg["sampler"]["name"] + (f" ×{cfg['sampler']['num_negatives']}"
                                            if cfg["sampler"].get("num_negatives") else "")
        temp = cfg["loss"].get("temperature")
        loss = cfg["loss"]["name"] + ("" if temp is None else f" (t {temp if not isinstance(temp, dict) else temp['mode'] + ' ' + str(temp['value'])})")
        t = cfg["train"]
        lines.append(f"| {path.stem} | {model} | {sampler} | {loss} | {cfg['batching']['name']} | "
                     f"{t['lr']} / {t['batch_size']} / {t['seed']} |")
    return lines


def render(samplers: Path, steps: Path, quality: list[Path], out: Path) -> None:
    doc = json.loads(samplers.read_text())
    m = doc["machine"]
    text = ["# The frontier of negatives on Gowalla: synthesised, model-refreshed, memory, batches, losses", "",
            "Generated by `python benchmarks/frontier_report.py` from the JSON next to it; do not edit by hand.", "",
            "Components: samplers `mixgcf`, `mochi`, `ann`, `xbm` (recsys_neg/samplers/), batch order "
            "`clustered` (recsys_neg/batching/), losses `debiased`, `decoupled`, `hard_infonce` and the "
            "`temperature` option of the softmax family (recsys_neg/losses/). Each file's docstring cites its "
            "paper and says where it differs from the official code.", "",
            "## 1. Sampler throughput and memory", "",
            f"Command: `{doc.get('command', 'python benchmarks/bench_samplers.py')}`. Gowalla train+valid "
            f"({m['data']['users']:,} users × {m['data']['items']:,} items, {m['data']['train']:,} pairs); one batch of {doc['batch']} training positives, median over repeated calls of the "
            f"calling thread's CPU time, torch {m['torch_threads']} thread(s). Score-based samplers score with a "
            "random MF (d = 64), mixgcf on LightGCN with a random 3-layer LightGCN's step representations "
            "(propagation done once, as in a step). `refresh s` is one index refresh of `ann` (encode, build "
            "the faiss index, search every user, exact exclusion), paid every N steps or epochs, apart from the "
            "per-batch cost; `build` includes the first refresh and the exclusion structure (a Gowalla dense "
            "mask, ~1.2 GB, shared with any uniform sampler of the run). `xbm` is timed with a full memory: its "
            "negatives are the batch plus the memory, shared by every row. Peak call MB is the process RSS "
            "above its level before the calls (allocator reuse can hide small allocations: 0 means below "
            "what the poll saw).", "",
            f"Machine: `{m.get('uptime_start', '')}` at the start, `{m.get('uptime_end', '')}` at the end.", "",
            *sampler_table(doc), "",
            "## 2. Clustered batch order: refresh versus per-batch cost", "",
            "k-means (spherical, k-means++ seeding) on the user vectors of a random MF, timed apart from the "
            "epoch's permutation (same run as section 1).", "", *batching_table(doc), ""]
    if steps.exists():
        sd = json.loads(steps.read_text())
        text += ["## 3. Every recipe trains: time per step on Gowalla", "",
                 f"Command: `{sd['command']}` ({sd['budget_s']:.0f} s of training per recipe, one thread, "
                 "train+valid, no evaluation). `s / step (epoch)` divides the epoch's seconds, which include an "
                 "index refresh or a k-means at the epoch's start, by the steps run; `step phases` counts "
                 "sampling + forward + backward + optimizer only. A short first epoch over-weights a refresh: "
                 "over a full epoch (396 steps of 2048 on train+valid) it is spread thin. Uptime before the first and after "
                 f"the last run: `{sd['runs'][0]['uptime_before']}` / `{sd['runs'][-1]['uptime_after']}`.", "",
                 *steps_table(sd), ""]
    text += ["## 4. Recipes for the Gowalla comparison", "",
             "Four families; within a family only the sampler, batch order or loss differs (every other setting "
             "is pinned in the file: embedding 64, init, Adam, l2 1e-4, batch 2048, seed 2020, one thread). "
             "MF-BPR and LightGCN-BPR compare samplers at one negative (MF-BPR's uniform, DNS and mixed are the "
             "sampler comparison's recipes, gowalla_samplers_*); the MF cosine softmax family compares "
             "losses on 256 shared uniform negatives and in-batch variants (clustered batches, cross-batch "
             "memory) against in-batch softmax; MF-CCL compares the memory against in-batch CCL.", "",
             *recipes_table(), ""]
    text += quality_section(quality)
    out.write_text("\n".join(text))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", type=Path, default=RESULTS / "frontier_samplers.json")
    ap.add_argument("--steps", type=Path, default=RESULTS / "frontier_steps.json")
    ap.add_argument("--quality", type=Path, nargs="+", default=[RESULTS / f"{n}.json" for n in QUALITY],
                    help="time_to_quality.py outputs of one budget, seeds and clock, one per family")
    ap.add_argument("--out", type=Path, default=RESULTS / "frontier.md")
    args = ap.parse_args()
    render(args.samplers, args.steps, args.quality, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

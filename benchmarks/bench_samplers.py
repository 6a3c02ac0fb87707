"""Negatives per second and memory of every sampler on Gowalla, with peers measured in the same run.

    python benchmarks/bench_samplers.py --data /work/shared/datasets/gowalla \
        [--recbole-python /opt/recbole-venv/bin/python] [--threads 1] [--budget-s 2]

For each sampler and 1 / 100 / 1000 negatives per positive, a batch of 2048
training positives (drawn once, fixed seed) is sampled repeatedly; the median
call time gives negatives/s. Score-based samplers score with a random MF (d=64).
Ratios measured in this run:
  * uniform with exact exclusion vs plain ``torch.randint`` of the same shape
    (timed alternately, call by call, so machine load hits both alike);
  * ours vs RecBole 1.2.1's ``recbole.sampler.Sampler`` (uniform and popularity),
    run in RecBole's own venv in a subprocess on the same training pairs.

Memory: tracemalloc cannot see torch's allocations, so a thread polls the
process RSS (psutil) every millisecond; "build MB" is RSS after building the
sampler minus RSS before, "peak call MB" the highest RSS during its calls minus
RSS after building.

Timing: the team machine is shared and often oversubscribed, so wall time mostly
measures the scheduler. Throughput is computed from the calling thread's CPU time
(``time.thread_time``, torch limited to --threads, default 1, so all work runs on
that thread); wall-clock medians are kept in the JSON. The same clock is used
for randint and for RecBole. Structures shared between samplers are dropped between
samplers so each pays for its own.

RecBole venv (kept out of this project's dependencies):
    python -m venv /opt/recbole-venv
    /opt/recbole-venv/bin/pip install torch==2.13.0 recbole==1.2.1 "setuptools<81" "numpy<2" "pandas<2.3" "scipy<1.12"
RecBole's sampler is fed a minimal stand-in for its Dataset (uid/iid fields,
user/item counts, inter_feat) holding the same pairs, ids shifted by one for its
[PAD]; its own code does all the sampling.

Synthesised and model-refreshed samplers (mixgcf, mochi, ann, xbm) are timed the same
way; for ``ann`` the index refresh (encode, faiss index, search of every user, exclusion)
is timed apart from the per-batch draw (``refresh_s``, median of --refreshes calls), and
``clustered`` batch order gets its own section: the k-means refresh apart from the
per-epoch permutation (and that divided by the epoch's batches). ``xbm`` is timed with a
full memory (warmed by as many calls as it takes); its count is the batch plus the memory.
mixgcf on LightGCN scores with a random 3-layer LightGCN's step representations
(propagated once, as a training step does). ``uptime`` is recorded before and after.

    python benchmarks/bench_samplers.py --only mixgcf mochi ann xbm clustered \
        --out benchmarks/results/frontier_samplers.json

Writes benchmarks/out/bench_samplers.json (or --out) and prints a markdown table.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys_neg.data.build import load_gowalla  # noqa: E402
from recsys_neg.models import build_model  # noqa: E402
from recsys_neg.samplers import build_sampler  # noqa: E402
from recsys_neg.samplers import exclusion  # noqa: E402
from recsys_neg.models import ModelScorer  # noqa: E402
from recsys_neg.step import Step  # noqa: E402

BATCH = 2048
NUMS = (1, 100, 1000)
# (label, sampler, params[, negatives per positive measured, scoring model])
SAMPLERS = [
    ("uniform (exact exclusion)", "uniform", {}),
    ("uniform (no exclusion)", "uniform", {"exclude_positives": False}),
    ("popularity α=0.75, alias", "popularity", {"alpha": 0.75, "method": "alias"}),
    ("popularity α=0.75, multinomial", "popularity", {"alpha": 0.75, "method": "multinomial"}),
    ("in_batch per-row", "in_batch", {"shared": False}),
    ("dns (8 candidates/negative)", "dns", {"candidates": 8}),
    ("simans (64 candidates/row)", "simans", {"candidates": 64}),
    ("mixed dns(8) 0.5 + uniform 0.5", "mixed", {"parts": [{"name": "dns", "candidates": 8, "fraction": 0.5},
                                                           {"name": "uniform", "fraction": 0.5}]}),
    ("als_static top-200", "als_static", {"top_k": 200}),
    ("fn_aware(uniform)", "fn_aware", {"base": {"name": "uniform"}}),
    ("mixgcf (MF, 64 candidates/negative)", "mixgcf", {"candidates": 64}, (1, 100), "mf"),
    ("mixgcf (LightGCN 3 layers, 64 candidates/negative)", "mixgcf", {"candidates": 64}, (1, 10), "lightgcn"),
    ("mochi (64 candidates, 16 hardest)", "mochi", {"candidates": 64, "hardest": 16}, NUMS, "mf"),
    ("ann flat top-100", "ann", {"top_k": 100, "index": "flat"}, NUMS, "mf"),
    ("ann ivf top-100 (nprobe 16)", "ann", {"top_k": 100, "index": "ivf"}, NUMS, "mf"),
    ("ann hnsw top-100 (ef 128)", "ann", {"top_k": 100, "index": "hnsw"}, NUMS, "mf"),
    ("xbm (memory 8192, shared)", "xbm", {"memory": 8192, "max_age": 1000}, (None,), "mf"),
]
CLUSTERED = [("clustered (32 users/cluster, 10 iterations)", {"users_per_cluster": 32, "iterations": 10,
                                                             "warmup_epochs": 0})]

RECBOLE_SCRIPT = r'''
import json, sys, time, statistics
from types import SimpleNamespace
import numpy as np, torch
from recbole.sampler import Sampler
d = np.load(sys.argv[1])
users, items, batch = d["users"] + 1, d["items"] + 1, d["batch_users"] + 1
n_users, n_items, budget = int(d["n_users"]) + 1, int(d["n_items"]) + 1, float(sys.argv[2])
feat = {"user_id": torch.from_numpy(users), "item_id": torch.from_numpy(items)}
ds = SimpleNamespace(uid_field="user_id", iid_field="item_id", user_num=n_users, item_num=n_items, inter_feat=feat)
out = {}
for dist in ("uniform", "popularity"):
    t = time.perf_counter()
    s = Sampler(["train"], [ds], distribution=dist).set_phase("train")
    build = time.perf_counter() - t
    for num in [int(x) for x in sys.argv[3].split(",")]:
        times, start = [], time.perf_counter()
        while len(times) < 2 or (time.perf_counter() - start < budget and len(times) < 20):
            t = time.thread_time(); neg = s.sample_by_user_ids(batch, None, num); times.append(time.thread_time() - t)
        used = s.used_ids
        assert not any(int(v) in used[int(u)] for u, v in zip(np.tile(batch, num)[:5000], neg[:5000].numpy()))
        out[f"{dist}/{num}"] = {"median_s": statistics.median(times), "calls": len(times), "build_s": build}
print(json.dumps(out))
'''


class RSSPeak:
    """Polls the process RSS in a thread; .peak is the highest seen since start()."""

    def __init__(self):
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def start(self):
        self.peak = self.proc.memory_info().rss
        self._stop.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def stop(self) -> int:
        self._stop.set()
        self.thread.join()
        return max(self.peak, self.proc.memory_info().rss)


def rss() -> int:
    return psutil.Process().memory_info().rss


def timed_calls(fn, budget_s: float, min_calls: int = 3, max_calls: int = 50) -> tuple[list[float], list[float]]:
    """(CPU seconds of this thread, wall seconds) per call, after one warm-up call."""
    fn()
    cpu, wall, start = [], [], time.perf_counter()
    while len(cpu) < min_calls or (time.perf_counter() - start < budget_s and len(cpu) < max_calls):
        t, c = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    return cpu, wall


def run_recbole(python: str, data, batch_users, budget_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        users, items = data.train_pairs
        path = Path(tmp) / "pairs.npz"
        np.savez(path, users=users.numpy(), items=items.numpy(), batch_users=batch_users.numpy(),
                 n_users=data.n_users, n_items=data.n_items)
        script = Path(tmp) / "recbole_sampler.py"
        script.write_text(RECBOLE_SCRIPT)
        proc = subprocess.run([python, str(script), str(path), str(budget_s), ",".join(map(str, NUMS))],
                              capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"RecBole subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/gowalla")
    ap.add_argument("--recbole-python", default=None, help="python of a RecBole 1.2.1 venv (see module doc)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the team machine is shared)")
    ap.add_argument("--budget-s", type=float, default=2.0, help="seconds of repeated calls per measurement")
    ap.add_argument("--only", nargs="*", help="sampler labels' first words to run (e.g. uniform dns)")
    ap.add_argument("--refreshes", type=int, default=3, help="timed index refreshes / k-means runs")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/out/bench_samplers.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    data = load_gowalla(args.data, merge_valid=True)
    g = torch.Generator().manual_seed(0)
    users_all, items_all = data.train_pairs
    idx = torch.randint(data.n_train, (BATCH,), generator=g)
    users, positives = users_all[idx], items_all[idx]
    torch.manual_seed(0)
    model = build_model({"name": "mf", "embedding_dim": 64, "sparse": True}, data).eval()
    step, scorer = Step(1, 0, g), ModelScorer(model, model.encode())
    report = {"machine": {"load_avg_start": os.getloadavg(), "uptime_start": uptime(), "cpus": os.cpu_count(),
                          "torch_threads": args.threads, "torch": torch.__version__, "data": data.summary()},
              "command": " ".join(["python", *sys.argv]), "batch": BATCH, "samplers": {}, "batching": {},
              "randint": {}, "ratios": {}}

    models = {"mf": model}
    for entry in SAMPLERS:
        label, name, params = entry[:3]
        nums, kind = (entry[3], entry[4]) if len(entry) > 3 else (NUMS, "mf")
        if args.only and label.split()[0] not in args.only:
            continue
        if kind not in models:
            torch.manual_seed(0)
            models[kind] = build_model({"name": kind, "embedding_dim": 64}, data).eval()
        scorer = ModelScorer(models[kind], models[kind].encode())
        report["samplers"][label] = bench_sampler(label, name, params, nums, models[kind], scorer, data, users,
                                                  positives, step, args)
    for label, params in CLUSTERED:
        if args.only and label.split()[0] not in args.only:
            continue
        report["batching"][label] = bench_clustered(params, model, data, args)

    # uniform-with-exclusion vs torch.randint of the same shape, alternating call by call
    if args.only and "uniform" not in args.only:
        return finish(report, args)
    exclusion._SHARED.clear()
    uni = build_sampler({"name": "uniform"}, data, "cpu")
    for num in NUMS:
        ours, ref = [], []
        uni.sample(users, positives, num, step, scorer)
        start = time.perf_counter()
        while len(ours) < 5 or (time.perf_counter() - start < 2 * args.budget_s and len(ours) < 100):
            t = time.thread_time()
            torch.randint(data.n_items, (BATCH, num), generator=g)
            t2 = time.thread_time()
            uni.sample(users, positives, num, step, scorer)
            t3 = time.thread_time()
            ref.append(t2 - t)
            ours.append(t3 - t2)
        r, o = statistics.median(ref), statistics.median(ours)
        report["randint"][num] = {"median_s": r, "negatives_per_s": BATCH * num / r}
        report["ratios"][f"uniform_vs_randint/{num}"] = o / r
        print(f"randint num={num}: {BATCH * num / r / 1e6:.1f} M/s; uniform+exclusion {BATCH * num / o / 1e6:.1f} M/s;"
              f" time ratio ours/randint {o / r:.2f}", flush=True)

    if args.recbole_python:
        rb = run_recbole(args.recbole_python, data, users, args.budget_s)
        report["recbole"] = rb
        for num in NUMS:
            rb_u = rb[f"uniform/{num}"]["median_s"]
            ours_u = report["samplers"].get("uniform (exact exclusion)", {}).get("per_num", {}).get(num)
            ours_u = ours_u["median_s"] if ours_u else BATCH * num / report["randint"][num]["negatives_per_s"] \
                * report["ratios"][f"uniform_vs_randint/{num}"]
            report["ratios"][f"recbole_uniform_over_ours/{num}"] = rb_u / ours_u
            rb_p = rb[f"popularity/{num}"]["median_s"]
            ours_p = report["samplers"].get("popularity α=0.75, alias", {}).get("per_num", {}).get(num)
            if ours_p:
                report["ratios"][f"recbole_popularity_over_ours/{num}"] = rb_p / ours_p["median_s"]
            print(f"RecBole num={num}: uniform {BATCH * num / rb_u / 1e6:.2f} M/s "
                  f"(ours {rb_u / ours_u:.1f}x faster), popularity {BATCH * num / rb_p / 1e6:.2f} M/s", flush=True)
    finish(report, args)


def finish(report: dict, args) -> None:
    report["machine"]["load_avg_end"] = os.getloadavg()
    report["machine"]["uptime_end"] = uptime()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print_table(report)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def bench_sampler(label, name, params, nums, model, scorer, data, users, positives, step, args) -> dict:
    """Build cost, per-call negatives/s and peak memory per count; a refreshing index's refresh apart."""
    exclusion._SHARED.clear()
    gc.collect()
    before = rss()
    t = time.perf_counter()
    sampler = build_sampler({"name": name, **params}, data, "cpu", model=model)
    sampler.epoch_start(step)
    build_s, build_mb = time.perf_counter() - t, (rss() - before) / 2**20
    entry = {"name": name, "params": params, "build_s": build_s, "build_mb": build_mb, "per_num": {}}
    if hasattr(sampler, "refresh"):  # a model-refreshed index: its cost is per refresh, not per batch
        base = rss()
        mon = RSSPeak().start()
        cpu, wall = timed_calls(lambda: sampler.refresh(step), 0.0, min_calls=args.refreshes,
                                max_calls=args.refreshes)
        entry.update(refresh_s=statistics.median(cpu), refresh_wall_s=statistics.median(wall),
                     refresh_peak_mb=(mon.stop() - base) / 2**20)
        print(f"{label:34s} refresh {entry['refresh_s']:.2f} s CPU-time ({entry['refresh_wall_s']:.2f} wall)",
              flush=True)
    for num in nums:
        if num is None:  # the memory decides the count: fill it first
            for t in range(params.get("memory", 8192) // BATCH + 2):
                sampler.sample(users, positives, None, Step(1, t + 1, step.generator), scorer)
        count = num if num is not None else None
        base = rss()
        mon = RSSPeak().start()
        with torch.no_grad():
            got = sampler.sample(users, positives, count, step, scorer)
            times, wall = timed_calls(lambda: sampler.sample(users, positives, count, step, scorer), args.budget_s)
        peak_mb = (mon.stop() - base) / 2**20
        k = got.items.shape[1]
        med = statistics.median(times)
        row = {"median_s": med, "median_wall_s": statistics.median(wall), "negatives_per_s": BATCH * k / med,
               "calls": len(times), "peak_call_mb": peak_mb, "negatives_per_row": k}
        entry["per_num"][num if num is not None else "memory"] = row
        print(f"{label:34s} num={k:5d} {BATCH * k / med / 1e6:9.2f} M/s CPU-time "
              f"({BATCH * k / statistics.median(wall) / 1e6:.2f} wall)  peak +{peak_mb:7.1f} MB "
              f"({len(times)} calls)", flush=True)
    del sampler
    return entry


def bench_clustered(params, model, data, args) -> dict:
    """k-means refresh vs the per-epoch permutation (and per batch), for the clustered batch order."""
    from recsys_neg.batching import build_batching

    order = build_batching({"name": "clustered", **params}, data, model=model)
    n = data.n_train
    g = torch.Generator().manual_seed(0)
    base = rss()
    mon = RSSPeak().start()
    cpu, wall = timed_calls(lambda: order.cluster(Step(1, 0, g)), 0.0, min_calls=args.refreshes,
                            max_calls=args.refreshes)
    refresh_peak = (mon.stop() - base) / 2**20
    perm_cpu, perm_wall = timed_calls(lambda: order.order(n, Step(1, 0, g)), args.budget_s)
    shuffle_cpu, _ = timed_calls(lambda: torch.randperm(n, generator=g), args.budget_s)
    batches = -(-n // BATCH)
    entry = {"params": params, "kmeans_s": statistics.median(cpu), "kmeans_wall_s": statistics.median(wall),
             "kmeans_peak_mb": refresh_peak, "order_s": statistics.median(perm_cpu),
             "order_wall_s": statistics.median(perm_wall), "order_per_batch_s": statistics.median(perm_cpu) / batches,
             "shuffle_s": statistics.median(shuffle_cpu), "clusters": int(order.clusters.max()) + 1,
             "batches_per_epoch": batches}
    print(f"clustered: k-means {entry['kmeans_s']:.2f} s CPU ({entry['clusters']} clusters), order "
          f"{entry['order_s'] * 1e3:.1f} ms/epoch ({entry['order_per_batch_s'] * 1e6:.1f} us/batch; randperm "
          f"{entry['shuffle_s'] * 1e3:.1f} ms)", flush=True)
    return entry


def print_table(report: dict) -> None:
    print("\n| sampler | build s | build MB | " + " | ".join(f"M neg/s @{n}" for n in NUMS)
          + " | " + " | ".join(f"peak call MB @{n}" for n in NUMS) + " |")
    print("|---" * (3 + 2 * len(NUMS)) + "|")
    rows = [("torch.randint (reference)", None, None, {n: report["randint"].get(n) for n in NUMS})]
    rows += [(k, v["build_s"], v["build_mb"], v["per_num"]) for k, v in report["samplers"].items()]
    for label, bs, bm, per in rows:
        speed = " | ".join(f"{per[n]['negatives_per_s'] / 1e6:.2f}" if per.get(n) else "—" for n in NUMS)
        mem = " | ".join(f"{per[n]['peak_call_mb']:.0f}" if per.get(n) and "peak_call_mb" in per[n] else "—"
                         for n in NUMS)
        print(f"| {label} | {'—' if bs is None else f'{bs:.1f}'} | {'—' if bm is None else f'{bm:.0f}'} | "
              f"{speed} | {mem} |")
    if "recbole" in report:
        rb = report["recbole"]
        for dist in ("uniform", "popularity"):
            speed = " | ".join(f"{BATCH * n / rb[f'{dist}/{n}']['median_s'] / 1e6:.2f}" for n in NUMS)
            print(f"| RecBole 1.2.1 Sampler ({dist}) | {rb[f'{dist}/1']['build_s']:.1f} | — | {speed} | — | — | — |")
    print("\nratios:", json.dumps(report["ratios"], indent=1))


if __name__ == "__main__":
    main()

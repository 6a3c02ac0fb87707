"""SimpleX training speed and peak memory at 1,000 negatives: ours vs RecBole 1.2.1.

    python benchmarks/bench_simplex.py --gowalla ../shared/datasets/gowalla \
        [--recbole-python /opt/recbole-venv/bin/python] [--batches 5] [--negatives 1000] \
        [--batch-size 2048] [--history 50] [--threads 2]

Both sides train SimpleX (dim 64, user_attention, gamma 0.8, cosine CCL margin 0.9 /
weight 250, Adam 1e-4) on Gowalla train+valid with ``--batch-size`` positives and
``--negatives`` uniform negatives per positive, history capped at ``--history`` items.
Each side runs in its own subprocess; after one warm-up batch, ``--batches`` full
steps (sampling, forward, backward, Adam) are timed and extrapolated to an epoch
(810,128 positives / batch size). The machine is shared, so besides wall time the
process CPU time per batch (all threads, from time.process_time) is reported: it
moves far less with other people's load. Peak memory is the worker's peak RSS (ru_maxrss)
minus its RSS just before the first batch, so it counts training, not data loading.

Our variants: per-row negatives excluding positives (what RecBole's sampler does),
per-row without exclusion (the published SimpleX setting) and one shared negative
set per batch. RecBole's ``train_batch_size`` counts rows after each positive is
repeated per negative, so it is set to batch_size x negatives.

RecBole venv (kept out of this project's dependencies):
    python -m venv /opt/recbole-venv
    /opt/recbole-venv/bin/pip install torch==2.13.0 recbole==1.2.1 "setuptools<81" "numpy<2" \
        "pandas<2.3" "scipy<1.12"
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(args) -> dict:
    import torch

    from recsys_neg.data import DataConfig, build_interactions
    from recsys_neg.losses import build_loss
    from recsys_neg.models import build_model
    from recsys_neg.positives import build_positive_selector
    from recsys_neg.samplers import build_sampler
    from recsys_neg.step import Step
    from recsys_neg.training import StepParts, train_step
    from recsys_neg.training.optim import build_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = build_interactions(DataConfig.model_validate(
        {"source": {"source": "gowalla", "path": args.gowalla}, "merge_valid": True}))
    model = build_model({"name": "simplex", "embedding_dim": 64, "aggregator": "user_attention", "gamma": 0.8,
                                    "dropout": 0.1, "max_history": args.history}, data)
    loss_fn = build_loss({"name": "ccl", "margin": 0.9, "negative_weight": 250}, data)
    sampler_params = {"exclude": {"exclude_positives": True},
                      "per_row": {"exclude_positives": False},
                      "shared": {"exclude_positives": False, "shared": True}}[args.variant]
    sampler = build_sampler({"name": "uniform", "num_negatives": args.negatives, **sampler_params}, data, "cpu")
    # the trainer's own step, so the timing is what training runs
    parts = StepParts(model, sampler, build_positive_selector({"name": "all"}, data), loss_fn,
                      build_optimizer(model, "adam", 1e-4), l2=1e-7)
    gen = torch.Generator().manual_seed(0)
    users_all, items_all = data.train_pairs
    perm = torch.randperm(len(users_all), generator=gen)
    base = rss_mb()
    times, cpu = [], []
    for b in range(args.batches + 1):
        idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
        t, c = time.perf_counter(), time.process_time()
        train_step(parts, users_all[idx], items_all[idx], Step(1, b + 1, gen))
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"s_per_batch": sum(times[1:]) / args.batches, "cpu_s_per_batch": sum(cpu[1:]) / args.batches, "peak_extra_mb": peak_mb() - base,
            "peak_rss_mb": peak_mb(), "n_train": int(len(users_all))}


RECBOLE_WORKER = textwrap.dedent("""
    import json, os, resource, sys, time
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import SimpleX
    a = json.loads(sys.argv[1])
    torch.set_num_threads(a["threads"])
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    cfg = Config(model="SimpleX", dataset="gowalla", config_dict={
        "data_path": a["data_path"], "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]},
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": a["negatives"],
                                  "alpha": 1.0, "dynamic": False, "candidate_num": 0},
        "train_batch_size": a["batch_size"] * a["negatives"], "eval_step": 0, "epochs": 1,
        "embedding_size": 64, "margin": 0.9, "negative_weight": 250, "gamma": 0.8,
        "aggregator": "user_attention", "history_len": a["history"], "reg_weight": 1e-7,
        "dropout_prob": 0.1, "learning_rate": 1e-4, "use_gpu": False, "show_progress": False,
        "seed": 2020, "reproducibility": True, "checkpoint_dir": a["data_path"], "worker": 0,
        "state": "ERROR"})
    dataset = create_dataset(cfg)
    train_data, _, _ = data_preparation(cfg, dataset)
    model = SimpleX(cfg, train_data.dataset)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    base, times, cpu = rss(), [], []
    it = iter(train_data)
    for b in range(a["batches"] + 1):
        t, c = time.perf_counter(), time.process_time()
        inter = next(it)  # RecBole samples the batch's negatives while collating it
        loss = model.calculate_loss(inter)
        opt.zero_grad(); loss.backward(); opt.step()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"s_per_batch": sum(times[1:]) / a["batches"],
                                  "cpu_s_per_batch": sum(cpu[1:]) / a["batches"],
                                  "peak_extra_mb": peak - base, "peak_rss_mb": peak,
                                  "n_train": int(len(train_data.dataset))}))
""")


def write_recbole_files(gowalla: Path, out: Path) -> None:
    """Atomic files: train+valid as RecBole's train, the test file in both eval slots."""
    def pairs(*names):
        for name in names:
            for line in (gowalla / name).read_text().splitlines():
                parts = line.split()
                for item in parts[1:]:
                    yield parts[0], item
    (out / "gowalla").mkdir(parents=True, exist_ok=True)
    for slot, names in (("train", ("train.txt", "valid.txt")), ("valid", ("test.txt",)), ("test", ("test.txt",))):
        with open(out / "gowalla" / f"gowalla.{slot}.inter", "w") as f:
            f.write("user_id:token\titem_id:token\n")
            f.writelines(f"{u}\t{i}\n" for u, i in pairs(*names))


def run_recbole(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        write_recbole_files(Path(args.gowalla), Path(tmp))
        payload = {"data_path": tmp, "negatives": args.negatives, "batch_size": args.batch_size,
                   "history": args.history, "batches": args.batches, "threads": args.threads}
        proc = subprocess.run([args.recbole_python, "-c", RECBOLE_WORKER, json.dumps(payload)],
                              capture_output=True, text=True, cwd=tmp)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"RecBole worker failed:\n{proc.stderr[-3000:]}")


def run_ours(args, variant: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant] + [a for a in sys.argv[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker {variant} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gowalla", default="../shared/datasets/gowalla")
    ap.add_argument("--recbole-python", default="/opt/recbole-venv/bin/python")
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--negatives", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--history", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-recbole", action="store_true")
    ap.add_argument("--worker", choices=["exclude", "per_row", "shared"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.variant = args.worker
        print("RESULT " + json.dumps(worker_ours(args)))
        return
    print(f"load average before: {os.getloadavg()}")
    rows = {}
    for variant in ("exclude", "per_row", "shared"):
        rows[f"ours ({variant})"] = run_ours(args, variant)
    if not args.skip_recbole:
        rows["RecBole 1.2.1"] = run_recbole(args)
    print(f"load average after: {os.getloadavg()}")
    n_train = rows["ours (exclude)"]["n_train"]
    batches_per_epoch = -(-n_train // args.batch_size)
    print(f"\nSimpleX, {args.batch_size} positives x {args.negatives} negatives per batch, history {args.history}, "
          f"{args.threads} threads, {args.batches} timed batches; epoch = {batches_per_epoch} batches (extrapolated)")
    print(f"{'':22s} {'wall s/batch':>12s} {'wall s/epoch':>12s} {'CPU s/batch':>11s} {'CPU s/epoch':>11s} "
          f"{'peak MB (train)':>15s} {'peak RSS MB':>11s}")
    for name, r in rows.items():
        print(f"{name:22s} {r['s_per_batch']:12.3f} {r['s_per_batch'] * batches_per_epoch:12.0f} "
              f"{r['cpu_s_per_batch']:11.3f} {r['cpu_s_per_batch'] * batches_per_epoch:11.0f} "
              f"{r['peak_extra_mb']:15.0f} {r['peak_rss_mb']:11.0f}")
    if "RecBole 1.2.1" in rows:
        rb = rows["RecBole 1.2.1"]
        for name, r in rows.items():
            if name != "RecBole 1.2.1":
                print(f"speed-up of {name} over RecBole: wall {rb['s_per_batch'] / r['s_per_batch']:.1f}x, "
                      f"CPU time {rb['cpu_s_per_batch'] / r['cpu_s_per_batch']:.1f}x, "
                      f"peak training memory {rb['peak_extra_mb'] / max(r['peak_extra_mb'], 1):.1f}x less")


if __name__ == "__main__":
    main()

"""RecBole's LightGCN / SimpleX under the time-to-quality protocol, as a reference in the same harness.

Runs in RecBole's own virtual environment (RecBole 1.2.1 needs numpy<2 and friends; see
DESIGN.md), one thread: select = train -> valid, an evaluation after every epoch, until
the budget of training seconds is spent (RecBole cannot stop inside an epoch: the epoch
that crosses the budget is finished and counted); final = train+valid -> test for the
epoch count where valid Recall@20 peaked. RecBole's own full-ranking evaluator masks the
training interactions, as ours does. Prints one JSON record in the harness's format.

    python benchmarks/recbole_reference.py --model LightGCN --budget 1800 \\
        --recbole-python /path/to/recbole-venv/bin/python --gowalla ../shared/datasets/gowalla
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

WORKER = textwrap.dedent("""
    import json, sys, time
    import torch
    a = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import get_model, init_seed
    params = {"LightGCN": {"embedding_size": 64, "n_layers": 3, "reg_weight": 1e-4, "learning_rate": 1e-3,
                           "train_batch_size": 2048, "neg": 1},
              "SimpleX": {"embedding_size": 64, "margin": 0.9, "negative_weight": 250, "gamma": 0.8,
                          "aggregator": "user_attention", "history_len": 500, "reg_weight": 1e-7,
                          "dropout_prob": 0.1, "learning_rate": 1e-4, "train_batch_size": 256 * 2000, "neg": 2000}}
    p = dict(params[a["model"]])
    neg = p.pop("neg")
    cfg = Config(model=a["model"], dataset="gowalla", config_dict={
        "data_path": a["data_path"], "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]},
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": neg, "alpha": 1.0, "dynamic": False,
                                  "candidate_num": 0},
        "eval_args": {"mode": "full", "order": "RO", "group_by": "user"}, "topk": [20],
        "metrics": ["Recall", "NDCG"], "valid_metric": "Recall@20", "eval_batch_size": 2048 * 40981,
        "epochs": 100000, "use_gpu": False, "show_progress": False, "seed": a["seed"], "reproducibility": True,
        "checkpoint_dir": a["data_path"], "worker": 0, "state": "ERROR", **p})
    init_seed(cfg["seed"], cfg["reproducibility"])
    dataset = create_dataset(cfg)
    train_data, valid_data, test_data = data_preparation(cfg, dataset)
    model = get_model(cfg["model"])(cfg, train_data.dataset)
    trainer = Trainer(cfg, model)
    curve, train_s, eval_s = [], 0.0, 0.0
    target = test_data if a["phase"] == "final" else valid_data
    for epoch in range(1, a["max_epochs"] + 1):
        t = time.process_time()
        trainer._train_epoch(train_data, epoch - 1, show_progress=False)
        train_s += time.process_time() - t
        if a["phase"] == "select" or epoch == a["max_epochs"]:
            t = time.process_time()
            res = trainer.evaluate(target, load_best_model=False, show_progress=False)
            eval_s += time.process_time() - t
            curve.append({"epoch": epoch, "train_s": train_s, "recall@20": float(res["recall@20"]),
                          "ndcg@20": float(res["ndcg@20"])})
            print("EPOCH " + json.dumps(curve[-1]), flush=True)
        if a["phase"] == "select" and train_s >= a["budget"]:
            break
    print("RESULT " + json.dumps({"curve": curve, "train_s": train_s, "eval_s": eval_s}))
""")


def pairs(folder: Path, *names: str):
    for name in names:
        for line in (folder / name).read_text().splitlines():
            parts = line.split()
            for item in parts[1:]:
                yield parts[0], item


def write_split(gowalla: Path, out: Path, train: tuple, target: tuple) -> None:
    """RecBole insists on three slots: the target file goes in both evaluation slots."""
    (out / "gowalla").mkdir(parents=True, exist_ok=True)
    for slot, names in (("train", train), ("valid", target), ("test", target)):
        with open(out / "gowalla" / f"gowalla.{slot}.inter", "w") as f:
            f.write("user_id:token\titem_id:token\n")
            f.writelines(f"{u}\t{i}\n" for u, i in pairs(gowalla, *names))


def run_phase(python: str, gowalla: Path, phase: str, model: str, seed: int, budget: float, max_epochs: int,
              log: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if phase == "select":
            write_split(gowalla, Path(tmp), ("train.txt",), ("valid.txt",))
        else:
            write_split(gowalla, Path(tmp), ("train.txt", "valid.txt"), ("test.txt",))
        payload = {"data_path": tmp, "phase": phase, "model": model, "seed": seed, "budget": budget,
                   "max_epochs": max_epochs}
        proc = subprocess.run([python, "-c", WORKER, json.dumps(payload)], capture_output=True, text=True, cwd=tmp)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + "\n" + proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"RecBole {model} {phase} failed; see {log}")


def recbole_reference(python: str, gowalla: str, model: str, budget: float, seed: int, scale: float,
                      work: Path) -> dict:
    """A record in the time-to-quality format: ``select`` curve and ``final`` test figures."""
    import os

    t0, load_before = time.perf_counter(), os.getloadavg()[0]
    sel = run_phase(python, Path(gowalla), "select", model, seed, budget * scale, 100000,
                    work / "logs" / f"recbole_{model}-{seed}-select.log")
    best = max(sel["curve"], key=lambda p: p["recall@20"])
    fin = run_phase(python, Path(gowalla), "final", model, seed, budget, best["epoch"],
                    work / "logs" / f"recbole_{model}-{seed}-final.log")
    epochs = sel["curve"]
    per_epoch = epochs[-1]["train_s"] / len(epochs)
    return {"recipe": f"RecBole {model}", "name": f"recbole_{model.lower()}", "seed": seed, "budget_s": budget,
            "select": {"curve": epochs, "best": best, "train_s": sel["train_s"], "eval_s": sel["eval_s"],
                       "epochs": len(epochs), "s_per_epoch": per_epoch},
            "final": {"epochs": best["epoch"], "train_s": fin["train_s"], "stopped": "epochs",
                      "test": {k: fin["curve"][-1][k] for k in ("recall@20", "ndcg@20")}},
            "clock": "cpu", "wall_s": time.perf_counter() - t0, "load1_before": round(load_before, 2),
            "load1_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["LightGCN", "SimpleX"], default="LightGCN")
    ap.add_argument("--budget", type=float, default=1800.0)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--scale", type=float, default=719081 / 810128, help="select budget = budget * scale")
    ap.add_argument("--recbole-python", required=True)
    ap.add_argument("--gowalla", default="../shared/datasets/gowalla")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/recbole-work"))
    args = ap.parse_args()
    print(json.dumps(recbole_reference(args.recbole_python, args.gowalla, args.model, args.budget, args.seed,
                                       args.scale, args.work)))


if __name__ == "__main__":
    main()

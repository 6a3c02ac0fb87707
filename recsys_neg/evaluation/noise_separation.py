"""Does the training loss tell injected interactions from normal ones?

For a dataset carrying injected noise (``extras["noise"]``), every training
interaction gets a loss from the current model: the run's
``loss.per_example`` of its score against a fixed random item (drawn once, so
epochs are comparable). Separation is measured as an AUC, the probability
that a noisy interaction has a larger loss than a normal one (ties count
half):

- ``noise_auc_global``: over all interactions at once;
- ``noise_auc_user``: per user, averaged over users having both kinds. PLD's
  central observation is that this per-user AUC is high even when the global
  one is not (users differ in their loss scales).

``NoiseSeparationHook`` is a training hook: built with the run's model, loss
and folder, it adds both metrics to every ``every``-th epoch's record and
redraws a PNG of them over epochs in the run folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from ..data.interactions import Interactions
from ..data.noise import injected_mask
from ..models.base import ModelScorer
from ..training.hooks import Hook


def auc_global(loss: np.ndarray, noisy: np.ndarray) -> float:
    """P(loss of a noisy item > loss of a normal item), ties half (Mann-Whitney U)."""
    n1 = int(noisy.sum())
    n0 = len(noisy) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(loss)
    return float((ranks[noisy].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_per_user(users: np.ndarray, loss: np.ndarray, noisy: np.ndarray) -> tuple[float, int]:
    """Mean over users with both kinds of their own AUC, and how many users that is."""
    frame = pd.DataFrame({"user": users, "loss": loss, "noisy": noisy})
    frame["rank"] = frame.groupby("user")["loss"].rank(method="average")
    g = frame.groupby("user")
    n1 = g["noisy"].sum()
    n0 = g["noisy"].count() - n1
    rank_sum = frame["rank"].where(frame["noisy"], 0.0).groupby(frame["user"]).sum()
    both = (n1 > 0) & (n0 > 0)
    if not both.any():
        return float("nan"), 0
    auc = (rank_sum[both] - n1[both] * (n1[both] + 1) / 2) / (n1[both] * n0[both])
    return float(auc.mean()), int(both.sum())


@torch.no_grad()
def interaction_losses(model, loss_fn, data: Interactions, reference_items: torch.Tensor,
                       batch_size: int = 65536) -> np.ndarray:
    """``loss_fn.per_example`` of every training pair against its reference item, in train_pairs order."""
    was_training = model.training
    model.eval()
    users_all, items_all = data.train_pairs
    scorer = ModelScorer(model, model.encode())
    dev = next(iter(model.parameters()), next(iter(model.buffers()), torch.empty(0))).device
    out = []
    for lo in range(0, len(users_all), batch_size):
        u = users_all[lo: lo + batch_size].to(dev)
        pos = scorer(u, items_all[lo: lo + batch_size].to(dev))
        neg = scorer(u, reference_items[lo: lo + batch_size].to(dev).unsqueeze(1))
        out.append(loss_fn.per_example(pos, neg).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


class NoiseSeparationHook(Hook):
    """Adds ``noise_auc_global`` / ``noise_auc_user`` to epoch records and draws them as a PNG."""

    def __init__(self, data: Interactions, model, loss, out_dir: Path | None = None, seed: int = 0,
                 every: int = 1, plot_name: str = "noise_separation.png"):
        mask = injected_mask(data)
        if mask is None:
            raise ValueError("the data carries no injected noise (extras['noise'])")
        self.noisy = mask
        self.users = data.train_pairs[0].numpy()
        gen = torch.Generator().manual_seed(seed)
        self.reference = torch.randint(data.n_items, (data.n_train,), generator=gen)
        self.data, self.model, self.loss, self.out_dir = data, model, loss, out_dir
        self.every, self.plot_name = every, plot_name
        self.history: list[dict] = []

    def epoch_metrics(self, epoch: int) -> dict:
        if epoch % self.every:
            return {}
        loss = interaction_losses(self.model, self.loss, self.data, self.reference)
        per_user, n_users = auc_per_user(self.users, loss, self.noisy)
        row = {"noise_auc_global": auc_global(loss, self.noisy), "noise_auc_user": per_user,
               "noise_auc_users": n_users,
               "loss_noisy_mean": float(loss[self.noisy].mean()),
               "loss_normal_mean": float(loss[~self.noisy].mean())}
        self.history.append({"epoch": epoch, **row})
        if self.out_dir is not None:
            plot_separation(self.history, Path(self.out_dir) / self.plot_name)
        return row


def plot_separation(history: list[dict], path: Path, title: str = "loss separation of injected noise") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs, [h["noise_auc_global"] for h in history], marker="o", label="global AUC")
    ax.plot(epochs, [h["noise_auc_user"] for h in history], marker="s", label="per-user AUC (mean)")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("P(loss noisy > loss normal)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def noise_hooks(data: Interactions, model, loss, out_dir: Path | None) -> list[NoiseSeparationHook]:
    """The hook when the data carries injected noise, else nothing (pipeline wiring)."""
    mask = injected_mask(data)
    return [NoiseSeparationHook(data, model, loss, out_dir)] if mask is not None and mask.any() else []

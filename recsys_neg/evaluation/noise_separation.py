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

``NoiseSeparationObserver`` is an epoch observer for the trainer: it returns
both metrics and redraws a PNG of them over epochs in the run folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from ..data.interactions import Interactions
from ..data.noise import injected_mask


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
    enc = model.encode()
    dev = model.device
    out = []
    for lo in range(0, len(users_all), batch_size):
        u = users_all[lo: lo + batch_size].to(dev)
        pos = model.score(u, items_all[lo: lo + batch_size].to(dev), enc)
        neg = model.score(u, reference_items[lo: lo + batch_size].to(dev).unsqueeze(1), enc)
        out.append(loss_fn.per_example(pos, neg).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


class NoiseSeparationObserver:
    """Epoch observer ``(epoch, trainer) -> {noise_auc_global, noise_auc_user}`` plus a PNG."""

    def __init__(self, data: Interactions, seed: int = 0, every: int = 1, plot_name: str = "noise_separation.png"):
        mask = injected_mask(data)
        if mask is None:
            raise ValueError("the data carries no injected noise (extras['noise'])")
        self.noisy = mask
        self.users = data.train_pairs[0].numpy()
        gen = torch.Generator().manual_seed(seed)
        self.reference = torch.randint(data.n_items, (data.n_train,), generator=gen)
        self.data, self.every, self.plot_name = data, every, plot_name
        self.history: list[dict] = []

    def __call__(self, epoch: int, trainer) -> dict:
        if epoch % self.every:
            return {}
        loss = interaction_losses(trainer.model, trainer.loss_fn, self.data, self.reference)
        per_user, n_users = auc_per_user(self.users, loss, self.noisy)
        row = {"noise_auc_global": auc_global(loss, self.noisy), "noise_auc_user": per_user,
               "noise_auc_users": n_users,
               "loss_noisy_mean": float(loss[self.noisy].mean()),
               "loss_normal_mean": float(loss[~self.noisy].mean())}
        flip_rates = getattr(trainer.loss_fn, "flip_rates", None)  # NBPO's learned label-flip rates
        if callable(flip_rates):
            eps_fp, eps_fn = (t.detach() for t in flip_rates())
            row.update(flip_false_positive=float(eps_fp), flip_false_negative=float(eps_fn))
        self.history.append({"epoch": epoch, **row})
        out_dir = getattr(trainer, "out_dir", None)
        if out_dir is not None:
            plot_separation(self.history, Path(out_dir) / self.plot_name)
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


def noise_observers(data: Interactions) -> list[NoiseSeparationObserver]:
    """The observer when the data carries injected noise, else nothing (pipeline wiring)."""
    mask = injected_mask(data)
    return [NoiseSeparationObserver(data)] if mask is not None and mask.any() else []

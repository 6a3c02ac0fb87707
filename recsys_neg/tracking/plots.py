"""Learning curves of one run as a PNG: train loss and validation metrics per epoch."""
from __future__ import annotations

from pathlib import Path


def plot_learning_curves(history: list[dict], path: str | Path, max_metrics: int = 6) -> Path | None:
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    valid_keys = sorted({k for h in history for k in h if k.startswith("valid_")})
    # @20 first: the headline metrics of this field
    valid_keys = sorted(valid_keys, key=lambda k: (not k.endswith("@20"), k))[:max_metrics]
    fig, axes = plt.subplots(1, 2 if valid_keys else 1, figsize=(10 if valid_keys else 5, 3.6),
                             squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, [h.get("train_loss") for h in history], marker="o")
    ax.set(xlabel="epoch", ylabel="train loss", title="training loss")
    if valid_keys:
        ax = axes[0][1]
        for key in valid_keys:
            points = [(h["epoch"], h[key]) for h in history if key in h]
            ax.plot(*zip(*points), marker="o", label=key[len("valid_"):])
        ax.set(xlabel="epoch", ylabel="value", title="validation metrics")
        ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

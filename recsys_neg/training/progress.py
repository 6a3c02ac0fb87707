"""What a training run prints while it goes.

On a terminal: a progress bar per epoch (stderr) and one summary line per
epoch. Redirected to a file or a pipe: no bar, the same summary line per
epoch on stdout, and a line at most every ``interval_s`` inside long epochs,
so a log always shows the run is alive and when it will end.
"""
from __future__ import annotations

import sys
import time

from tqdm.std import tqdm  # the plain-text bar: tqdm.auto wants ipywidgets in notebooks


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    def __init__(self, enabled: bool = True, epochs: int = 1, interval_s: float = 60.0, stream=None):
        self.enabled, self.epochs, self.interval_s = enabled, epochs, interval_s
        self.stream = stream or sys.stdout
        self.tty = enabled and self.stream.isatty() and sys.stderr.isatty()
        self.bar = None

    def epoch_start(self, epoch: int, batches: int, first: int = 0) -> None:
        self.epoch, self.batches, self.done = epoch, batches, first
        self.t0 = self.last_line = time.perf_counter()
        if self.tty:
            self.bar = tqdm(total=batches, initial=first, desc=f"epoch {epoch}", unit="batch", leave=False)

    def batch(self, loss: float, pos_per_s: float) -> None:
        if not self.enabled:
            return
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.done % 20 == 0:
                self.bar.set_postfix(loss=f"{loss:.4f}", pos_per_s=f"{pos_per_s:.0f}")
        elif time.perf_counter() - self.last_line >= self.interval_s:
            self.last_line = time.perf_counter()
            frac = self.done / max(self.batches, 1)
            left = (time.perf_counter() - self.t0) * (1 - frac) / max(frac, 1e-9)
            self._print(f"epoch {self.epoch}: {100 * frac:.0f}% ({self.done}/{self.batches} batches), "
                        f"loss {loss:.4f}, {pos_per_s:,.0f} positives/s, epoch ends in {_duration(left)}")

    def epoch_end(self, record: dict, eta_s: float | None, headline: list[str], best: bool) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if not self.enabled:
            return
        parts = [f"epoch {record['epoch']}/{self.epochs}",
                 *([f"loss {record['train_loss']:.4f}"] if "train_loss" in record else []),
                 f"{record['positives_per_s']:,.0f} positives/s", f"{record['epoch_seconds']:.1f}s"]
        shown = [f"{k} {record['valid_' + k]:.4f}" for k in headline if "valid_" + k in record]
        if shown:
            parts.append("valid " + " ".join(shown) + (" (best)" if best else ""))
        if eta_s is not None:
            parts.append(f"ETA {_duration(eta_s)}")
        self._print("  ".join(parts))

    def note(self, text: str) -> None:
        if self.enabled:
            self._print(text)

    def _print(self, text: str) -> None:
        if self.tty:
            tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=self.stream, flush=True)

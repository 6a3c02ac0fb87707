"""Public datasets that can be fetched into the local cache (``data/cache/`` by default)."""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import NamedTuple

from ..errors import DataError

DEFAULT_CACHE = "data/cache"
_LIGHTGCN = "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data/{}/{}"


class Dataset(NamedTuple):
    description: str
    urls: tuple[str, ...]
    format: str  # how to read it: "text" (LightGCN train/test) or "table"


def _lightgcn(name: str, what: str) -> Dataset:
    return Dataset(f"{what} (LightGCN split: train.txt/test.txt)",
                   tuple(_LIGHTGCN.format(name, f) for f in ("train.txt", "test.txt")), "text")


CATALOG: dict[str, Dataset] = {
    "gowalla": _lightgcn("gowalla", "Gowalla check-ins, 29,858 users x 40,981 items"),
    "yelp2018": _lightgcn("yelp2018", "Yelp 2018 challenge, 31,668 users x 38,048 items"),
    "amazon-book": _lightgcn("amazon-book", "Amazon books, 52,643 users x 91,599 items"),
    "movielens-1m": Dataset(
        "MovieLens 1M ratings, 6,040 users x 3,706 movies (ml-1m/ratings.dat, "
        "user::item::rating::timestamp)",
        ("https://files.grouplens.org/datasets/movielens/ml-1m.zip",), "table"),
}
SYNTHETIC_DESCRIPTION = "built-in latent-factor data (the default; generated, nothing to download)"


def _fetch(url: str, target: Path) -> None:
    """Download to a temporary file next to ``target``, then rename: never a half file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(name: str, cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """Fetch dataset ``name`` into ``cache_dir/name`` (files already there are kept); returns that folder."""
    if name not in CATALOG:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(CATALOG))}")
    folder = Path(cache_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for url in CATALOG[name].urls:
        target = folder / url.rstrip("/").rsplit("/", 1)[-1]
        if target.exists():
            continue
        try:
            _fetch(url, target)
        except OSError as err:
            raise DataError(f"could not download {url}: {err}") from None
        if target.suffix == ".zip":
            with zipfile.ZipFile(target) as zf:
                zf.extractall(folder)
    return folder


def list_datasets(cache_dir: str | Path = DEFAULT_CACHE) -> list[dict]:
    """One row per dataset: name, description, format, cached (all files present), location."""
    rows = [{"name": "synthetic", "description": SYNTHETIC_DESCRIPTION, "format": "synthetic",
             "cached": True, "location": "built-in"}]
    for name, ds in CATALOG.items():
        folder = Path(cache_dir) / name
        cached = all((folder / u.rsplit("/", 1)[-1]).exists() for u in ds.urls)
        rows.append({"name": name, "description": ds.description, "format": ds.format,
                     "cached": cached, "location": str(folder)})
    return rows

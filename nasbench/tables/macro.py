"""NAS-Bench-Macro on CIFAR-10 (Su et al., CVPR 2021), from ``nas-bench-macro_cifar10.json``.

The file (public repository xiusu/NAS-Bench-Macro, ``data/nas-bench-macro_cifar10.json``) maps the
8-digit key of each of the 6,561 networks (:mod:`nasbench.spaces.macro`) to ``test_acc`` (3 runs,
percent), ``mean_acc``, ``std``, ``params`` and ``flops``.

Benchmark ``macro-cifar10``:

* metric: CIFAR-10 test accuracy in **percent** of one of the 3 runs per query (the ``"sample"``
  noise model); the data has no separate validation metric, so a search selects on a sampled run
  and is scored on the mean, as the benchmark's authors do;
* ground truth: ``mean_acc`` (percent); optimum 93.13 (key ``22212220``);
* cost: **a proxy**, since the data records no training time: 1 simulated second per MFLOP of the
  network's forward pass (``flops / 1e6``; 7.7 to 105.7). It ranks networks by compute as training
  time would, but its scale is arbitrary: compare costs within this benchmark only.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from nasbench.benchmark import Benchmark, GroundTruth
from nasbench.data import CorruptData, DataFile, cached_arrays, find_file, source_checksum
from nasbench.registry import register
from nasbench.spaces.macro import N_ARCHS, N_CHOICES, N_LAYERS, macro_space

log = logging.getLogger(__name__)

FILE = DataFile(
    "nas-bench-macro_cifar10.json",
    ("nas-bench-macro/nas-bench-macro_cifar10.json", "nas-bench-macro_cifar10.json"),
    "https://github.com/xiusu/NAS-Bench-Macro (data/nas-bench-macro_cifar10.json)",
    commit="61a2bfc2ca0dce04d0997e6cf498047c27d6acf2",
    sha256="686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297",
)
CANDIDATES = list(FILE.candidates)
HOW_TO_GET = FILE.how_to_get()
N_RUNS = 3
METRIC = "test accuracy (%), one of 3 runs"
TRUTH_METRIC = "mean test accuracy (%) over 3 runs"
FLOPS_PER_SECOND = 1e6  # cost proxy: 1 simulated second per forward MFLOP
TABLE_VERSION = 1


def convert(path: Path) -> dict[str, np.ndarray]:
    """Columnar arrays: ``values [6561, 3]``, ``mean``, ``flops``, ``params`` in index order."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptData(f"{path}: not readable JSON ({exc}); download it again ({HOW_TO_GET})") from None
    if not isinstance(raw, dict) or len(raw) != N_ARCHS:
        raise CorruptData(f"{path}: expected a JSON object of {N_ARCHS} networks; download it again ({HOW_TO_GET})")
    radix = N_CHOICES ** np.arange(N_LAYERS - 1, -1, -1)
    values = np.full((N_ARCHS, N_RUNS), np.nan)
    mean = np.full(N_ARCHS, np.nan)
    flops = np.full(N_ARCHS, np.nan)
    params = np.full(N_ARCHS, np.nan)
    for key, rec in raw.items():
        if len(key) != N_LAYERS or any(c not in "012" for c in key):
            raise CorruptData(f"{path}: key {key!r} is not {N_LAYERS} digits 0..2")
        i = int(np.dot([int(c) for c in key], radix))
        runs = [float(v) for v in rec["test_acc"]]
        if len(runs) != N_RUNS:
            raise CorruptData(f"{path}: network {key} has {len(runs)} runs, expected {N_RUNS}")
        values[i] = runs
        mean[i] = float(rec["mean_acc"])
        flops[i] = float(rec["flops"])
        params[i] = float(rec["params"])
    if np.isnan(mean).any():
        raise CorruptData(f"{path}: {int(np.isnan(mean).sum())} networks missing")
    return {"values": values, "mean": mean, "flops": flops, "params": params}


@register(
    "macro-cifar10",
    "NAS-Bench-Macro on CIFAR-10: 6,561 networks (8 layers x 3 choices), test accuracy (%) of 3 runs",
    HOW_TO_GET,
    files=(FILE,),
)
def load(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``macro-cifar10``."""
    path = find_file(FILE, data_dir, "NAS-Bench-Macro (macro-cifar10)")
    arrays = cached_arrays("macro-cifar10", path, convert, version=TABLE_VERSION)
    return Benchmark(
        name="macro-cifar10",
        space=macro_space(),
        metric=METRIC,
        values=arrays["values"],
        cost=arrays["flops"] / FLOPS_PER_SECOND,
        truth=GroundTruth(arrays["mean"], TRUTH_METRIC),
        noise="sample",
        sources=("NAS-Bench-Macro (Su et al., CVPR 2021), xiusu/NAS-Bench-Macro commit 61a2bfc; Apache License 2.0", f"file: {path}"),
        checksums={path.name: source_checksum(path)},
    )

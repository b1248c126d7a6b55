"""Speed and memory of NAS-Bench-101: the subset table's load, the module hash, lookups, the
neighbour table and the TFRecord reader.

:func:`run` reports

* ``subset_load_cold_s``: wall time of ``nasbench.tables.nb101.load_subset`` in a fresh Python
  process with an empty temporary ``NASARENA_CACHE`` (CSV parse, checks, neighbour table, cache
  write); ``subset_load_cached_s``: the same in a second fresh process once the cache exists
  (median of ``repeats``); imports of ``nasbench`` are outside the timed call;
* ``subset_load_peak_mb`` (``tracemalloc`` peak during the cached load, numpy buffers included)
  and ``subset_rss_delta_mb`` (growth of the resident set over it);
* ``hashes_per_s``: official module hashes per second, ``module_hash(matrix, ops)`` on distinct
  cells with its cache cleared (validation, pruning, md5 rounds); ``fingerprint_per_s``: the md5
  rounds alone; ``lookup_per_s``: ``NB101Space.lookup`` of fresh mutated genotypes (prune,
  validate, hash, dict) in batches of 1,000;
* ``neighbor_candidates_per_s``: mutated cells mapped to table indices per second by the
  vectorised fingerprint (``neighbor_table``), and ``neighbor_table_30k_s`` its time for the
  subset;
* ``tfrecord_mb_per_s``: reading a synthetic TFRecord file with both CRCs checked.

Wall times are what a user waits; the ``*_cpu_s`` / ``*_per_cpu_s`` twins use this process's CPU
time, which a machine shared with other jobs inflates much less.

Everything needing the subset is listed under ``skipped`` when the data is absent.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, os, sys, time, tracemalloc
import nasbench.tables.nb101 as T
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
rss0 = rss()
tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
b = T.load_subset(sys.argv[1] or None)
x = b.space.encode("path")  # one encoding, as a predictor-based strategy would use
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"load_s": dt, "cpu_s": cpu, "peak_mb": peak / 2**20, "rss_delta_mb": (rss() - rss0) / 2**20, "n": b.n_space}))
"""


def _child(cache: str, data_dir: str) -> dict:
    env = {**os.environ, "NASARENA_CACHE": cache}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, data_dir], env=env, capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _subset_rows(data_dir: str | None, n: int) -> list[tuple[np.ndarray, list[str]]]:
    import pandas as pd

    from nasbench.data import find_data
    from nasbench.tables.nb101 import SUBSET_CANDIDATES, SUBSET_HOW_TO_GET

    df = pd.read_csv(find_data(SUBSET_CANDIDATES, SUBSET_HOW_TO_GET, data_dir), dtype={"matrix": str}, nrows=n)
    cells = []
    for v, m, ops in zip(df.n_vertices, df.matrix, df.ops):
        cells.append((np.array([int(c) for c in m], dtype=np.int8).reshape(v, v), ops.split(",")))
    return cells


def _tfrecord_rate() -> float:
    from nasbench.tables import tfrecord as R

    rng = np.random.default_rng(0)
    recs = [bytes(rng.integers(0, 256, int(k), dtype=np.uint8)) for k in rng.integers(300, 500, 40_000)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.tfrecord"
        R.write_records(path, recs)
        t0 = time.perf_counter()
        n = sum(1 for _ in R.iter_records(path))
        dt = time.perf_counter() - t0
        assert n == len(recs)
        return path.stat().st_size / dt / 1e6


def run(repeats: int = 3, data_dir: str | None = None) -> dict:
    from nasbench.data import DataNotFound, find_data
    from nasbench.spaces import nb101 as S
    from nasbench.tables.nb101 import SUBSET_CANDIDATES, SUBSET_HOW_TO_GET

    res: dict = {"skipped": {}}
    res["tfrecord_mb_per_s"] = round(_tfrecord_rate(), 1)
    try:
        find_data(SUBSET_CANDIDATES, SUBSET_HOW_TO_GET, data_dir)
    except DataNotFound as exc:
        res["skipped"]["nb101-30k"] = " ".join(str(exc).split())
        return res

    # -- load times, in fresh processes
    with tempfile.TemporaryDirectory() as cache:
        cold = _child(cache, data_dir or "")
        warm = [_child(cache, data_dir or "") for _ in range(repeats)]
    res["subset_load_cold_s"] = round(cold["load_s"], 3)
    res["subset_load_cold_cpu_s"] = round(cold["cpu_s"], 3)
    res["subset_load_cached_s"] = round(statistics.median(w["load_s"] for w in warm), 3)
    res["subset_load_cached_cpu_s"] = round(statistics.median(w["cpu_s"] for w in warm), 3)
    res["subset_load_peak_mb"] = round(statistics.median(w["peak_mb"] for w in warm), 1)
    res["subset_rss_delta_mb"] = round(statistics.median(w["rss_delta_mb"] for w in warm), 1)
    res["n_space"] = warm[0]["n"]

    # -- hashing
    cells = _subset_rows(data_dir, 3000)
    S._cached_fingerprint.cache_clear()
    t0, c0 = time.perf_counter(), time.process_time()
    for m, ops in cells:
        S.module_hash(m, ops)
    res["hashes_per_s"] = round(len(cells) / (time.perf_counter() - t0))
    res["hashes_per_cpu_s"] = round(len(cells) / (time.process_time() - c0))
    args = [(len(ops), S._succ_masks(m), S._labels_of(ops)) for m, ops in cells]
    t0, c0 = time.perf_counter(), time.process_time()
    for a in args:
        S._fingerprint(*a)
    res["fingerprint_per_s"] = round(len(args) / (time.perf_counter() - t0))
    res["fingerprint_per_cpu_s"] = round(len(args) / (time.process_time() - c0))

    # -- lookups and the neighbour table on the cached subset
    from nasbench.tables.nb101 import load_subset

    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("NASARENA_CACHE")
        os.environ["NASARENA_CACHE"] = cache
        try:
            space = load_subset(data_dir).space
        finally:
            if old is None:
                os.environ.pop("NASARENA_CACHE")
            else:
                os.environ["NASARENA_CACHE"] = old
    S._cached_fingerprint.cache_clear()
    rows = np.random.default_rng(0).choice(space.n, 200, replace=False)
    muts = S.mutations(space.genotypes[rows]).reshape(-1, S.GENOTYPE_LEN)
    t0 = time.perf_counter()
    for k in range(0, len(muts), 1000):
        space.lookup(muts[k : k + 1000])
    res["lookup_per_s"] = round(len(muts) / (time.perf_counter() - t0))
    t0, c0 = time.perf_counter(), time.process_time()
    S.neighbor_table(space.genotypes)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    res["neighbor_table_30k_s"] = round(dt, 2)
    res["neighbor_table_30k_cpu_s"] = round(cpu, 2)
    res["neighbor_candidates_per_s"] = round(space.n * S.N_NEIGHBORS / dt)
    return res


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))

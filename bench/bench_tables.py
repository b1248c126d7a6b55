"""Speed and memory of the tabular benchmarks NAS-Bench-201, NAS-Bench-Macro and NAS-Bench-Graph.

For each benchmark :func:`run` reports

* ``load_s``: wall time of ``get_benchmark(name)`` in a fresh Python process once the converted
  table is cached (the process has imported ``nasbench`` already; the space is built or read from
  its cache inside the timed call), median of ``repeats`` processes;
* ``load_peak_mb``: peak memory allocated during that call (``tracemalloc``, which sees numpy's
  buffers), and ``rss_delta_mb``: growth of the process's resident set over the call (Linux
  ``/proc/self/statm``; what the loaded benchmark keeps);
* ``jax_qps`` / ``numpy_qps``: queries per second for one batch of ``batch`` random indices
  answered as one gather: ``jax.jit(Benchmark.observe_fn())`` under the benchmark's default
  ``"sample"`` noise model (a seed drawn per architecture from the noise key), and the numpy
  equivalent ``values[idx, rep]``; best of ``repeats`` timed calls after one warm-up (compile).
  ``jax_mean_qps``: the same jitted gather under the ``"mean"`` noise model (no random draws).

Benchmarks whose data is absent are listed under ``skipped`` with the reason.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCHMARKS = (
    "nb201-cifar10",
    "nb201-cifar100",
    "nb201-imagenet16",
    "macro-cifar10",
    *(f"graph-{d}" for d in ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")),
)

_CHILD = r"""
import json, os, sys, time, tracemalloc
import nasbench.registry as reg
import nasbench.benchmark, nasbench.data, nasbench.space  # imports are not part of the load
reg._load_modules()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
rss0 = rss()
tracemalloc.start()
t0 = time.perf_counter()
b = reg.get_benchmark(sys.argv[1])
dt = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss1 = rss()
print(json.dumps({"load_s": dt, "load_peak_mb": peak / 2**20, "rss_delta_mb": (rss1 - rss0) / 2**20, "n": b.n_space}))
"""


def _child_load(name: str) -> dict[str, float]:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, name], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _qps(bench, batch: int, repeats: int, seed: int) -> tuple[float, float, float]:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    idx_np = rng.integers(0, bench.n_space, size=batch)
    arrays = bench.arrays()
    observe = jax.jit(bench.observe_fn())
    key = jax.random.key(seed)
    idx = jnp.asarray(idx_np, dtype=jnp.int32)
    observe(arrays, key, idx).block_until_ready()
    jax_best = min(_timed(lambda: observe(arrays, key, idx).block_until_ready()) for _ in range(repeats))
    observe_mean = jax.jit(bench.with_noise("mean").observe_fn())
    observe_mean(arrays, key, idx).block_until_ready()
    mean_best = min(_timed(lambda: observe_mean(arrays, key, idx).block_until_ready()) for _ in range(repeats))

    values = np.where(np.isfinite(bench.values), bench.values, 0.0)
    reps = np.maximum(bench.n_repeats, 1)

    def numpy_gather() -> np.ndarray:
        rep = (rng.random(batch) * reps[idx_np]).astype(np.int64)
        return values[idx_np, rep]

    numpy_gather()
    np_best = min(_timed(numpy_gather) for _ in range(repeats))
    return batch / jax_best, batch / mean_best, batch / np_best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(batch: int = 1_000_000, repeats: int = 3, seed: int = 0) -> dict:
    """Measure every benchmark of :data:`BENCHMARKS` whose data is found (see the module doc)."""
    from nasbench.data import DataNotFound
    from nasbench.registry import get_benchmark

    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for name in BENCHMARKS:
        try:
            bench = get_benchmark(name)  # builds the cache if needed
        except DataNotFound as exc:
            skipped[name] = str(exc).splitlines()[0]
            continue
        loads = [_child_load(name) for _ in range(repeats)]
        jax_qps, jax_mean_qps, np_qps = _qps(bench, batch, repeats, seed)
        results[name] = {
            "n_space": bench.n_space,
            "load_s": statistics.median(r["load_s"] for r in loads),
            "load_peak_mb": statistics.median(r["load_peak_mb"] for r in loads),
            "rss_delta_mb": statistics.median(r["rss_delta_mb"] for r in loads),
            "jax_qps": jax_qps,
            "jax_mean_qps": jax_mean_qps,
            "numpy_qps": np_qps,
        }
    return {"batch": batch, "repeats": repeats, "benchmarks": results, "skipped": skipped}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

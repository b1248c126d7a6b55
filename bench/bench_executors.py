"""Executors compared: wall time of one suite run in-process, by a local process pool and by Ray.

The suite: 64 seeds of a predictor-based strategy (``predictor-subsets:test``, budget 150) on
NAS-Bench-201 (CIFAR-10). Each executor runs it from scratch in a fresh ``nasarena run`` process
(interpreter and JAX start-up, benchmark loading and every compilation included), one executor
at a time, with ``--workers`` worker processes for the pool and the CPUs of the local Ray runtime.

    python -m bench.run --only bench_executors
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STRATEGY = "predictor-subsets:test"
BENCHMARK = "nb201-cifar10"
SEEDS = 64
BUDGET = 150
WORKERS = 2


def _suite(folder: Path) -> Path:
    p = folder / "executors.toml"
    p.write_text(
        f'name = "bench-executors"\nbenchmarks = ["{BENCHMARK}"]\nstrategies = ["{STRATEGY}"]\n'
        f"seeds = {SEEDS}\nbudget = {BUDGET}\n"
    )
    return p


def _time(suite: Path, out: Path, executor: str) -> float:
    cmd = [sys.executable, "-m", "experiments.cli", "run", str(suite), "--out", str(out), "--executor", executor]
    cmd += ["--no-report", "--quiet"]
    if executor != "inprocess":
        cmd += ["--workers", str(WORKERS)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1], env=os.environ.copy())
    wall = time.perf_counter() - t0
    n = len(list(out.glob("data/*/*/seed-*.json")))
    if n != SEEDS:
        raise RuntimeError(f"{executor}: {n} of {SEEDS} trials finished")
    return wall


def run() -> dict[str, Any]:
    executors = ["inprocess", "process"]
    try:
        import ray  # noqa: F401

        executors.append("ray")
    except ImportError:
        pass
    res: dict[str, Any] = {
        "suite": f"{STRATEGY} on {BENCHMARK}, {SEEDS} seeds, budget {BUDGET}",
        "workers": WORKERS,
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        suite = _suite(Path(tmp))
        walls = {ex: _time(suite, Path(tmp) / ex, ex) for ex in executors}
    for ex, wall in walls.items():
        res[f"{ex}_wall_s"] = round(wall, 1)
        res[f"{ex}_speedup_vs_inprocess"] = round(walls["inprocess"] / wall, 2)
    if "ray" not in walls:
        res["ray"] = "not installed (pip install -e '.[ray]')"
    return res

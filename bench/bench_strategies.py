"""Strategy speed: wall time of many seeds of the pure-JAX baselines as one vmapped computation,
and seconds per trial of the model-based strategies, on NAS-Bench-201 (CIFAR-10)."""

from __future__ import annotations

import time
from typing import Any

from experiments.harness.runner import run_trial, run_vectorized
from experiments.harness.spec import TrialSpec
from nasbench.registry import get_benchmark


def _vectorized(bench, name: str, seeds: int, budget: int) -> dict[str, float]:
    specs = [TrialSpec(bench.name, name, s, budget) for s in range(seeds)]
    t0 = time.perf_counter()
    run_vectorized(specs, bench)  # includes compilation
    first = time.perf_counter() - t0
    specs = [TrialSpec(bench.name, name, s, budget) for s in range(seeds, 2 * seeds)]
    t0 = time.perf_counter()
    run_vectorized(specs, bench)
    warm = time.perf_counter() - t0
    return {"seeds": seeds, "budget": budget, "wall_s_with_compile": round(first, 3), "wall_s_warm": round(warm, 3)}


def _per_trial(bench, name: str, budget: int, trials: int) -> dict[str, float]:
    times = []
    for s in range(trials):
        t0 = time.perf_counter()
        run_trial(TrialSpec(bench.name, name, s, budget), bench)
        times.append(time.perf_counter() - t0)
    return {"budget": budget, "trials": trials, "s_per_trial_first": round(times[0], 3),
            "s_per_trial_mean_rest": round(sum(times[1:]) / max(1, len(times) - 1), 3)}


def run() -> dict[str, Any]:
    bench = get_benchmark("nb201-cifar10")
    out: dict[str, Any] = {
        "random-search_100x150": _vectorized(bench, "random-search", 100, 150),
        "regularized-evolution_100x150": _vectorized(bench, "regularized-evolution", 100, 150),
        "reference": "naszilla: about 36 s per single trial of 150 queries (RS/RE), BANANAS about 360 s",
    }
    from strategies.registry import available_strategies

    if "bayesian-optimization" in available_strategies():
        out["bayesian-optimization_150"] = _per_trial(bench, "bayesian-optimization", 150, 3)
    return out

"""The event simulation's overhead: seconds per timed trial against the same trial unsimulated.

With one simulated worker a timed trial (:mod:`experiments.harness.timed`) evaluates exactly the
sequential loop's architectures (``tests/test_timed.py``), so the difference in wall time is the
simulation's own cost (the event queue, ``set_pending``, per-evaluation ``tell``). Per strategy on
NAS-Bench-201 CIFAR-10, seed 0, each path after a warm-up trial of its own: the timed trial at 150 mean training costs
and 1 worker, the sequential trial with the budget the timed one evaluated, and the same timed
trial with 8 workers (about 8 times the evaluations, for the seconds per trial of the
``time-protocol`` suite).
"""

from __future__ import annotations

import time
from typing import Any

from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec
from nasbench.registry import get_benchmark

STRATEGIES = ["random-search", "regularized-evolution", "lanas", "optuna-tpe", "bayesian-optimization"]
MEAN_COSTS = 150


def _wall(spec: TrialSpec, bench) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    rec = run_trial(spec, bench)  # sequentially (not vectorised): the timed loop's counterpart
    return time.perf_counter() - t0, rec


def run(strategies: list[str] | None = None) -> dict[str, Any]:
    bench = get_benchmark("nb201-cifar10")
    out: dict[str, Any] = {"benchmark": "nb201-cifar10", "time_budget_mean_costs": MEAN_COSTS,
                           "note": "seconds per trial, seed 0; overhead = timed (1 worker) / sequential, same evaluations"}
    for name in strategies or STRATEGIES:
        def timed(seed: int, workers: int, name: str = name) -> TrialSpec:
            return TrialSpec(bench.name, name, seed, bench.n_table, time_budget_mean_costs=MEAN_COSTS,
                             workers_sim=workers)

        # each path is warmed up first (seed 99 at the same budget), so neither pays compilation
        run_trial(timed(99, 1), bench)
        timed_s, rec = _wall(timed(0, 1), bench)
        n = len(rec["arch"])
        run_trial(TrialSpec(bench.name, name, 99, n), bench)
        seq_s, seq = _wall(TrialSpec(bench.name, name, 0, n), bench)
        row: dict[str, Any] = {"evaluations": n, "s_timed_w1": round(timed_s, 2), "s_sequential": round(seq_s, 2),
                               "overhead": round(timed_s / seq_s, 3), "same_architectures": seq["arch"] == rec["arch"]}
        if name != "bayesian-optimization":  # ~1,000 evaluations: over ten minutes for GP-BO here
            w8_s, rec8 = _wall(timed(0, 8), bench)
            row.update(s_timed_w8=round(w8_s, 2), evaluations_w8=len(rec8["arch"]))
        out[name] = row
    return out

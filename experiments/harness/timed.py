"""Budgets in simulated training time, with parallel asynchronous workers.

NATS-Bench gives a search a budget of simulated training seconds, nas_benchmarks plots regret
against cumulative training time, and a lab runs several GPUs at once (Syne Tune simulates exactly
this). A timed trial (``time_budget`` seconds, ``workers_sim`` simulated GPUs) is an event
simulation over the benchmark's recorded training costs (``bench.cost``: NB-201's 200-epoch and
NB-101's 108-epoch training seconds; 1 where a table records none):

* every free worker takes the next proposal of the strategy and trains it for its recorded cost;
  the oracle's answer is held until the worker finishes;
* when a worker finishes, the strategy is told that result, and the worker asks for the next
  architecture while the others are still running. Before each ``ask`` the strategy is told which
  architectures are pending (:meth:`strategies.base.Strategy.set_pending`); a strategy that
  proposes a pending one anyway is simply asked again (after ``max_idle_asks`` in a row, a uniformly
  random unevaluated architecture is taken, counted as ``sim_random_fallbacks``). A batch a
  strategy asks for is queued and handed to the next free workers before it is asked again;
* a strategy's own compute that is no evaluation (scoring cells with a zero-cost proxy:
  :meth:`strategies.base.Strategy.overhead_seconds`) runs before what it proposes: an ``ask`` whose
  scoring took ``s`` seconds makes its proposals, and every later one, start no earlier than
  ``s`` after the ask (the scoring at ``init`` counts from time 0);
* an evaluation counts only if it finishes within the budget. One still running at the budget is
  *cut*: recorded as cut, never told to the strategy, never in the metrics. ``budget`` stays a cap
  on the architectures started.

With one worker this is the sequential loop in time units. Events are processed in order of
finish time (ties: the earlier start first), so the same seed gives the same simulation, bit for
bit. The record holds, per evaluation in the order the strategy saw them, its simulated ``start``
and ``finish`` time and its ``worker``, and the ``cut`` evaluations.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Any

import numpy as np

from experiments.harness.records import build_record
from experiments.harness.spec import StrategyError, TrialSpec, make_strategy, trial_keys
from nasbench.benchmark import Benchmark, Status
from strategies.base import JaxStrategy


def time_budget_of(bench: Benchmark, seconds: float | None, mean_costs: float | None) -> float:
    """A time budget in seconds: given, or as ``mean_costs`` mean training costs of the table."""
    if seconds is not None:
        return float(seconds)
    cost = np.asarray(bench.cost, dtype=np.float64)[np.asarray(bench.in_table)]
    return float(mean_costs * cost.mean())


def run_trial_timed(spec: TrialSpec, bench: Benchmark, max_idle_asks: int = 100) -> dict[str, Any]:
    """Run one trial as an event simulation with ``spec.workers_sim`` workers until
    ``spec.time_budget`` simulated seconds (see the module docstring); returns its record."""
    T = time_budget_of(bench, spec.time_budget, spec.time_budget_mean_costs)
    if not T > 0:
        raise ValueError(f"a timed trial needs a positive time budget, got {T}")
    workers = int(spec.workers_sim or 1)
    if workers < 1:
        raise ValueError(f"workers_sim must be at least 1, got {workers}")
    cap = min(spec.budget, bench.n_table)
    strategy = make_strategy(spec, bench)
    k_strategy, k_noise = trial_keys(spec.seed)
    oracle = bench.oracle(k_noise)
    rng = np.random.default_rng(spec.seed)
    t0 = time.perf_counter()
    state = strategy.init(k_strategy, budget=cap) if isinstance(strategy, JaxStrategy) else strategy.init(k_strategy)
    cost = np.asarray(bench.cost, dtype=np.float64)
    running: list[tuple[float, int, int, int, float, float]] = []  # (finish, start seq, worker, idx, value, start)
    free = list(range(workers))
    queue: deque[int] = deque()
    pending: set[int] = set()
    done: list[tuple[int, float, float, float, int]] = []  # (idx, value, start, finish, worker)
    cut: list[dict[str, Any]] = []
    starts = asks = fallbacks = 0
    now = 0.0
    ready = strategy.overhead_seconds(state)  # no training starts before the strategy's scoring is done

    def propose() -> int | None:
        nonlocal state, asks, fallbacks, ready
        idle = 0
        while True:
            while queue:
                i = queue.popleft()
                if i not in pending and oracle.charges([i])[0]:
                    return i
            if idle >= max_idle_asks:  # the strategy keeps proposing what is running: random
                free_idx = np.flatnonzero(np.asarray(bench.in_table) & ~_known(oracle, pending, bench.n_space))
                if free_idx.size == 0:
                    return None
                fallbacks += 1
                return int(free_idx[rng.integers(free_idx.size)])
            state = strategy.set_pending(state, np.asarray(sorted(pending), dtype=np.int64))
            spent = strategy.overhead_seconds(state)
            state, asked = strategy.ask(state, max(1, cap - starts))
            spent = strategy.overhead_seconds(state) - spent
            if spent > 0:
                ready = max(ready, now) + spent
            asks += 1
            idx = [int(i) for i in np.asarray(asked, dtype=np.int64).reshape(-1)]
            if not idx:
                raise StrategyError(f"{spec.strategy} asked for nothing with {cap - starts} starts left")
            new = oracle.charges(idx)
            # repeats, invalid and out-of-table answers are free and immediate, as in the sequential loop
            free_now = [i for i, n in zip(idx, new) if not n and i not in pending]
            if free_now:
                res = oracle.query(free_now)
                state = strategy.tell(state, np.asarray(free_now), res.values, res.status)
            fresh = [i for i, n in zip(idx, new) if n and i not in pending]
            queue.extend(dict.fromkeys(fresh))
            idle = 0 if fresh else idle + 1

    while True:
        while free and now < T and starts < cap:
            i = propose()
            if i is None:
                break
            res = oracle.query([i])
            assert res.status[0] == Status.NEW
            worker = free.pop(0)
            start = max(now, ready)  # after the proxy scoring it depends on
            finish = start + float(cost[i])
            starts += 1
            if finish > T:  # still running at the budget: cut, never told, never counted
                cut.append({"arch": i, "start": start, "worker": worker})
                continue
            pending.add(i)
            heapq.heappush(running, (finish, starts, worker, i, float(res.values[0]), start))
        if not running:
            break
        finish, _, worker, i, value, start = heapq.heappop(running)
        now = finish
        pending.discard(i)
        state = strategy.tell(state, np.asarray([i]), np.asarray([value]), np.asarray([Status.NEW], np.int8))
        done.append((i, value, start, finish, worker))
        free.append(worker)
        free.sort()
    wall = time.perf_counter() - t0
    arch = np.asarray([d[0] for d in done], dtype=np.int64)
    rec = build_record(spec, bench, arch, np.asarray([d[1] for d in done]), wall, asks, strategy, state)
    rec["diagnostics"]["sim_random_fallbacks"] = float(fallbacks)
    rec.update({
        "time_budget": T, "workers_sim": workers,
        "start": [d[2] for d in done], "finish": [d[3] for d in done], "worker": [d[4] for d in done],
        "cut": cut,
    })
    return rec


def _known(oracle, pending: set[int], n: int) -> np.ndarray:
    known = np.zeros(n, bool)
    known[np.asarray(oracle.evaluated, dtype=np.int64)] = True
    known[np.asarray(sorted(pending), dtype=np.int64)] = True
    return known


def time_to_target(finish: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    """Simulated time at which a trial's first evaluation reaching ``threshold`` finished (``inf``)."""
    hit = np.flatnonzero(np.asarray(truth) >= threshold)
    return float(np.asarray(finish)[hit[0]]) if hit.size else float("inf")

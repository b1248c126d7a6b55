"""Run trials: one strategy on one benchmark for one seed and budget.

A trial's randomness comes from its seed only: ``key = jax.random.key(seed)``; the oracle's noise
key is ``fold_in(key, 0)`` and the strategy's ``fold_in(key, 1)``. Every strategy therefore sees
the same noise realisation for the same architecture under the same seed (common random numbers,
which makes paired tests across strategies sharper).

With ``stop`` set to a target, the trial ends at the first evaluation whose true score reaches it
(the record says ``stopped``), as the seed papers search "until the optimum is found"; the strategy
is not told the target, and ``budget`` stays its planning horizon and the cap (a trial that never
reaches the target is censored at the budget).

The budget counts unique in-table architectures. The ask/tell loop spends it on the first new
architectures of each batch and tells the strategy only what the oracle answered; a strategy that
asks ``max_idle_asks`` times in a row without proposing anything new is stopped with an error
(it would otherwise loop forever).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.records import build_record
from experiments.harness.spec import StrategyError, TrialSpec, make_strategy, stop_threshold, trial_keys
from experiments.harness.timed import run_trial_timed
from nasbench.benchmark import Benchmark
from strategies.base import JaxStrategy

log = logging.getLogger(__name__)


def run_trial(spec: TrialSpec, bench: Benchmark, max_idle_asks: int = 10_000) -> dict[str, Any]:
    """Run one trial through the ask/tell protocol; returns its record (a timed spec runs the
    event simulation of :mod:`experiments.harness.timed`)."""
    if spec.timed:
        return run_trial_timed(spec, bench, min(max_idle_asks, 100))
    if spec.benchmark != bench.name:
        raise ValueError(f"the trial names benchmark {spec.benchmark!r} but was given {bench.name!r}")
    if spec.budget < 1:
        raise ValueError(f"budget must be at least 1, got {spec.budget}")
    if spec.budget > bench.n_table:
        raise ValueError(f"budget {spec.budget} exceeds the {bench.n_table} architectures of {bench.name}")
    strategy = make_strategy(spec, bench)
    k_strategy, k_noise = trial_keys(spec.seed)
    oracle = bench.oracle(k_noise)
    threshold = stop_threshold(spec, bench)
    t0 = time.perf_counter()
    if isinstance(strategy, JaxStrategy):
        state = strategy.init(k_strategy, budget=spec.budget)
    else:
        state = strategy.init(k_strategy)
    asks = idle = checked = 0
    while oracle.budget_used < spec.budget:
        left = spec.budget - oracle.budget_used
        state, idx = strategy.ask(state, left)
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        asks += 1
        if idx.size == 0:
            raise StrategyError(f"{spec.strategy} asked for nothing with {left} budget left")
        charges = oracle.charges(idx)
        if charges.sum() > left:  # spend the budget on the first `left` new ones, drop the rest
            idx = idx[: int(np.searchsorted(np.cumsum(charges), left, side="left")) + 1]
        res = oracle.query(idx)
        state = strategy.tell(state, idx, res.values, res.status)
        idle = 0 if charges.any() else idle + 1
        if threshold is not None:  # the evaluations of this ask only
            fresh = np.asarray(oracle.evaluated[checked:], np.int64)
            checked += fresh.size
            if (bench.truth.truth[fresh] >= threshold).any():
                break
        if idle >= max_idle_asks:
            raise StrategyError(
                f"{spec.strategy} asked {idle} times in a row without a new architecture "
                f"({oracle.budget_used}/{spec.budget} spent) on {bench.name}"
            )
    wall = time.perf_counter() - t0
    return build_record(spec, bench, np.asarray(oracle.evaluated), np.asarray(oracle.observed), wall, asks, strategy, state)


_VECTOR_CACHE: dict[tuple, tuple[Any, Benchmark, JaxStrategy]] = {}


VECTOR_STEPS = 256  # steps per compiled scan segment: seeds that have all stopped end the scan early


def _build_vectorized(strategy: JaxStrategy, bench: Benchmark, budget: int):
    """Jitted functions over seeds: ``start(seeds[S]) -> carry`` and ``advance(carry, n) ->
    (carry, (idx[S, n], values[S, n], diagnostics {name: [S, n]}))``, the next ``n`` steps of each
    trial (one scan), with the strategy's diagnostics after each step."""
    s_arrays = strategy.space_arrays()
    b_arrays = bench.arrays()
    observe = bench.observe_fn()

    def start(seed):
        key = jax.random.key(seed)
        k_strategy, k_noise = jax.random.fold_in(key, 1), jax.random.fold_in(key, 0)
        return strategy.init_fn(s_arrays, k_strategy, budget), k_noise

    def advance(carry, n):
        state, k_noise = carry

        def step(state, _):
            state, i = strategy.ask_fn(s_arrays, state)
            v = observe(b_arrays, k_noise, jnp.reshape(i, (1,)))[0]
            state = strategy.tell_fn(s_arrays, state, i, v)
            return state, (i, v, strategy.diagnostics_fn(state))

        state, out = jax.lax.scan(step, state, None, length=n)
        return (state, k_noise), out

    return jax.jit(jax.vmap(start)), jax.jit(jax.vmap(advance, in_axes=(0, None)), static_argnums=1)


def run_vectorized(specs: list[TrialSpec], bench: Benchmark) -> list[dict[str, Any]]:
    """Run trials of one :class:`JaxStrategy` (same strategy, config and budget, several seeds)
    as one vmapped, jitted computation (compiled once per strategy, config, budget and benchmark),
    in segments of :data:`VECTOR_STEPS` steps: trials that stop at a target (``spec.stop``) end the
    computation once every one of them has stopped. Gives the same trajectories as :func:`run_trial`."""
    first = specs[0]
    if any((s.strategy, s.budget, s.config, s.benchmark) != (first.strategy, first.budget, first.config, first.benchmark) for s in specs):
        raise ValueError("run_vectorized needs one strategy, config, budget and benchmark")
    budget = first.budget
    if budget > bench.n_table:
        raise ValueError(f"budget {budget} exceeds the {bench.n_table} architectures of {bench.name}")
    key = (id(bench), bench.noise, first.strategy, json.dumps(first.config, sort_keys=True), budget)
    if key not in _VECTOR_CACHE:
        strategy = make_strategy(first, bench)
        if not isinstance(strategy, JaxStrategy):
            raise TypeError(f"{first.strategy} is not a JaxStrategy")
        # keep `bench` alive with its compiled run so id(bench) is never reused for another
        _VECTOR_CACHE[key] = (_build_vectorized(strategy, bench, budget), bench, strategy)
    start, advance = _VECTOR_CACHE[key][0]
    thresholds = {stop_threshold(s, bench) for s in specs}
    threshold = thresholds.pop() if len(thresholds) == 1 else None
    t0 = time.perf_counter()
    carry = start(jnp.asarray([s.seed for s in specs], dtype=jnp.uint32))
    parts, done, hit = [], 0, np.zeros(len(specs), bool)
    while done < budget:  # segment by segment, until the budget or every trial has stopped
        n = min(VECTOR_STEPS, budget - done)
        carry, (i, v, d) = advance(carry, n)
        parts.append((np.asarray(i), np.asarray(v, dtype=np.float64), {k: np.asarray(x) for k, x in d.items()}))
        done += n
        if threshold is not None:
            hit |= (bench.truth.truth[parts[-1][0]] >= threshold).any(axis=1)
            if hit.all():
                break
    idx = np.concatenate([p[0] for p in parts], axis=1)
    vals = np.concatenate([p[1] for p in parts], axis=1)
    wall = (time.perf_counter() - t0) / len(specs)
    diags = {name: np.concatenate([p[2][name] for p in parts], axis=1) for name in parts[0][2]}
    strategy = _VECTOR_CACHE[key][2]
    recs = []
    for k, s in enumerate(specs):
        # one evaluation per ask (as run_trial counts them), up to the first hit where the trial stops;
        # the diagnostics of the state after that step
        hit = np.flatnonzero(bench.truth.truth[idx[k]] >= threshold) if threshold is not None else np.zeros(0, int)
        n_asks = int(hit[0]) + 1 if hit.size else budget
        recs.append(build_record(s, bench, idx[k], vals[k], wall, n_asks, strategy,
                                 diagnostics={name: float(d[k, n_asks - 1]) for name, d in diags.items()}))
    return recs

"""A trial's specification and the pieces every runner shares: its keys, its stop threshold and
its strategy object. Imports nothing else of the harness, so every harness module can import it.

A trial's randomness comes from its seed only: ``key = jax.random.key(seed)``; the oracle's noise
key is ``fold_in(key, 0)`` and the strategy's ``fold_in(key, 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax

from experiments.analysis.metrics import TARGETS
from nasbench.benchmark import Benchmark
from strategies.base import Strategy
from strategies.registry import resolve


class StrategyError(RuntimeError):
    """A strategy broke the protocol (asked nothing, or stalled)."""


@dataclass(frozen=True)
class TrialSpec:
    benchmark: str
    strategy: str  # "name" or "name:preset"
    seed: int
    budget: int
    label: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    noise: str | None = None
    stop: str | None = None  # a target ("optimum", "top-0.1%", "top-1%"): stop at the first evaluation reaching it
    time_budget: float | None = None  # simulated seconds (experiments.harness.timed); budget then caps the starts
    time_budget_mean_costs: float | None = None  # or the time budget as this many mean training costs
    workers_sim: int | None = None  # simulated parallel workers of a timed trial (default 1)

    @property
    def timed(self) -> bool:
        return self.time_budget is not None or self.time_budget_mean_costs is not None

    @property
    def name(self) -> str:
        return self.label or self.strategy


def stop_threshold(spec: TrialSpec, bench: Benchmark) -> float | None:
    """The true-score threshold of the trial's stop target (``None``: run the whole budget)."""
    if spec.stop is None:
        return None
    if spec.stop not in TARGETS:
        raise ValueError(f"stop must be one of {list(TARGETS)}, got {spec.stop!r}")
    t = bench.truth.target(TARGETS[spec.stop])
    if t is None:
        raise ValueError(f"{bench.name} has no known target {spec.stop!r} (a live benchmark): give no stop rule")
    return float(t[0])


def trial_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(strategy key, noise key) of a trial."""
    key = jax.random.key(seed)
    return jax.random.fold_in(key, 1), jax.random.fold_in(key, 0)


def make_strategy(spec: TrialSpec, bench: Benchmark) -> Strategy:
    cls, config = resolve(spec.strategy, spec.config)
    return cls(bench.space, config)

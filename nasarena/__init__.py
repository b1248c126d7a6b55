"""nasarena's Python API: one strategy on one benchmark, its gain over random search, a comparison.

    >>> import nasarena
    >>> bench = nasarena.benchmark("nb201-cifar10")
    >>> trial = nasarena.run("regularized-evolution", bench, seed=0, budget=100)
    >>> trial.best_so_far.shape, trial.samples_to["top-1%"]
    >>> nasarena.gain(nasarena.runs("regularized-evolution", bench, seeds=range(10), budget=100))
    >>> nasarena.compare(["random-search", "regularized-evolution"], bench, seeds=range(10), budget=100)

A thin layer over the packages that do the work: :mod:`nasbench` (benchmarks), :mod:`strategies`
(the strategies), :mod:`experiments.harness` (trials and their records) and
:mod:`experiments.analysis` (aRT, gain, bootstrap). A trial here is exactly the trial
``nasarena run`` writes for the same benchmark, strategy, seed and budget (``Trial.record``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis import metrics, stats
from experiments.analysis.metrics import TARGETS
from experiments.analysis.survival import rng_for
from experiments.harness.runner import run_trial, run_vectorized
from experiments.harness.spec import TrialSpec, make_strategy
from experiments.studies.reports import write_report
from nasbench.benchmark import Benchmark, Status
from nasbench.registry import available_benchmarks, get_benchmark
from strategies.base import JaxStrategy
from strategies.registry import available_strategies

try:
    __version__ = version("nasarena")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "unknown"

__all__ = ["Benchmark", "Gain", "Status", "Trial", "available_benchmarks", "available_strategies", "benchmark",
           "compare", "gain", "report", "run", "runs"]


def benchmark(name: str, data_dir: str | Path | None = None, noise: str | None = None) -> Benchmark:
    """The benchmark ``name`` (``nasarena.available_benchmarks()``), loaded once per process."""
    return get_benchmark(name, data_dir=data_dir, noise=noise)


@dataclass(frozen=True)
class Trial:
    """One search: what it evaluated, in order, and what it found."""

    benchmark: str
    strategy: str
    seed: int
    budget: int
    arch: np.ndarray  # [n] indices of the evaluated architectures, in order
    observed: np.ndarray  # [n] the scores the strategy was told
    truth: np.ndarray  # [n] their true (noise-free) scores
    samples_to: dict[str, float]  # target -> samples until the first evaluation reaching it (inf: never)
    targets: dict[str, tuple[float, int]]  # target -> (threshold, K architectures meeting it)
    n: int  # architectures in the benchmark's table
    record: dict[str, Any] = field(repr=False)  # the record ``nasarena run`` writes for this trial

    @property
    def best_so_far(self) -> np.ndarray:
        """``[n]`` the best true score after each evaluation."""
        return metrics.best_so_far(self.truth)[0]


def _trial(spec: TrialSpec, bench: Benchmark, rec: dict[str, Any]) -> Trial:
    truth = np.asarray(rec["truth"], dtype=np.float64)
    targets = {name: bench.truth.target(top) for name, top in TARGETS.items()}
    samples_to = {name: float(metrics.samples_to_target(truth, thr)[0]) for name, (thr, _) in targets.items()}
    return Trial(bench.name, spec.strategy, spec.seed, spec.budget, np.asarray(rec["arch"], np.int64),
                 np.asarray(rec["observed"], np.float64), truth, samples_to,
                 {k: (float(t), int(c)) for k, (t, c) in targets.items()}, int(bench.n_table), rec)


def _spec(strategy: str, bench: Benchmark, seed: int, budget: int, config: dict[str, Any] | None,
          stop: str | None) -> TrialSpec:
    return TrialSpec(bench.name, strategy, int(seed), int(budget), config=dict(config or {}), noise=bench.noise,
                     stop=stop)


def run(strategy: str, bench: Benchmark, seed: int = 0, budget: int = 100, config: dict[str, Any] | None = None,
        stop: str | None = None) -> Trial:
    """Run ``strategy`` (``"name"`` or ``"name:preset"``, see ``nasarena.available_strategies()``) on
    ``bench`` for ``budget`` unique evaluations; ``stop`` ends it at a target (``"optimum"``)."""
    spec = _spec(strategy, bench, seed, budget, config, stop)
    return _trial(spec, bench, run_trial(spec, bench))


def runs(strategy: str, bench: Benchmark, seeds: Iterable[int] = range(10), budget: int = 100,
         config: dict[str, Any] | None = None) -> list[Trial]:
    """:func:`run` for every seed; a pure-JAX strategy runs all seeds as one compiled computation
    (the same records as one by one, as ``nasarena run`` does)."""
    specs = [_spec(strategy, bench, s, budget, config, None) for s in seeds]
    if specs and isinstance(make_strategy(specs[0], bench), JaxStrategy):
        return [_trial(s, bench, r) for s, r in zip(specs, run_vectorized(specs, bench))]
    return [_trial(s, bench, run_trial(s, bench)) for s in specs]


@dataclass(frozen=True)
class Gain:
    """Sample-efficiency gain over random search at one target: aRT(random search) / aRT(strategy)."""

    target: str
    trials: int
    successes: int
    art: float  # COCO's aRT of the trials (inf without a success)
    art_random: float  # random search's exact aRT, (N + 1) / (K + 1)
    gain: float
    low: float  # bootstrap 95% interval of the gain
    high: float  # (BCa, as the report's)


def gain(trials: Sequence[Trial], target: str = "top-0.1%", seed: int = 0) -> Gain:
    """The gain of ``trials`` (one strategy, one benchmark) at ``target``, as the report computes it."""
    if not trials:
        raise ValueError("gain needs at least one trial")
    if len({(t.benchmark, t.strategy) for t in trials}) > 1:
        raise ValueError("gain pools trials of one strategy on one benchmark; use compare() for several")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
    first = trials[0]
    art_rs = metrics.art_random_exact(first.n, first.targets[target][1])
    est = stats.bootstrap_gain([t.samples_to[target] for t in trials], [len(t.truth) for t in trials], art_rs,
                               seed=rng_for(seed, first.benchmark, first.strategy, target))
    return Gain(target, est.n_trials, est.successes, est.art, art_rs, est.gain, est.gain_low, est.gain_high)


def compare(strategies: Iterable[str], bench: Benchmark, seeds: Iterable[int] = range(10), budget: int = 100,
            target: str = "top-0.1%") -> pd.DataFrame:
    """Run every strategy for every seed and tabulate its gain at ``target`` (one row per strategy)."""
    seeds = list(seeds)
    rows = []
    for s in strategies:
        g = gain(runs(s, bench, seeds, budget), target=target)
        rows.append({"strategy": s, **{k: getattr(g, k) for k in Gain.__dataclass_fields__}})
    return pd.DataFrame(rows)


def report(folder: str | Path) -> Path:
    """Write the figures, tables and README of a results folder (``nasarena run`` output), with the
    study its suite calls for, as ``nasarena report`` does."""
    return write_report(Path(folder))

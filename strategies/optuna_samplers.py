"""Optuna's samplers as strategies: the reference every reader knows.

Akiba, Sano, Yanase, Ohta, Koyama: "Optuna: A Next-generation Hyperparameter Optimization
Framework", KDD 2019. TPE: Bergstra, Bardenet, Bengio, Kégl: "Algorithms for Hyper-Parameter
Optimization", NeurIPS 2011 (Optuna's ``TPESampler``; Watanabe, arXiv 2304.11127, for its details).

The adapter drives Optuna through its own ask/tell interface. An architecture is the space's
genotype written as categorical choices, one ``CategoricalDistribution`` per position (NB-201:
6 edges x 5 ops; Macro: 8 x 3; Graph: link pattern + 4 ops; NB-101: 21 edge bits + 5 ops).

* A genotype that is not a valid architecture (an NB-101 cell with > 9 edges or a disconnected
  output), or that the table does not hold (the NB-101 30k subset), is told to Optuna as a
  *failed* trial (TPE ignores failed trials) and costs no budget. The adapter then enqueues the
  table's nearest unevaluated architecture to it (Hamming distance on the genotype, ties broken at
  random), so Optuna evaluates, and learns from, exactly the architecture that was queried. Without
  this projection TPE over raw genotypes wanders a space the 30k subset covers to 7%: about 98% of
  its suggestions miss, each miss costs a full TPE ask (26 Parzen estimators), and a 150-query trial
  took 150-215 s, most of whose queries then came from a random fallback anyway.
* A repeated suggestion (an architecture evaluated before) is told its cached value and costs
  nothing, as the budget counts unique architectures. After ``max_repeats`` suggestions in a row
  that are not new, the last one is projected like a miss (the nearest unevaluated architecture is
  enqueued), so a converged sampler cannot loop forever. The cap is small because every repeat is
  a full TPE ask on a study that grows with it: on the 6,561 Macro architectures, where TPE
  converges fast, a cap of 100 made a 150-query trial take 40-60 s.
* The sampler's seed is drawn from the trial's JAX key, so runs are reproducible.
* With asynchronous workers (:mod:`experiments.harness.timed`) several trials are RUNNING at once, and
  Optuna's own ``constant_liar`` (on by default) accounts for them.

``optuna-tpe`` is the sampler a user gets from ``TPESampler(seed=s)``: every sampler argument is
left at Optuna's default (nothing is restated here, so a release that changes a default is
followed, and the record shows it). With Optuna >= 4 that is *multivariate* TPE for one objective
(``multivariate=None`` resolves to ``True``; the earlier adapter forced ``False``, and on
nb201-cifar10 that halved TPE's top-0.1% gain). The univariate sampler (independent Parzen
estimators per position, Optuna 3's default) is the preset ``optuna-tpe:univariate``.

Each record's ``settings`` hold the sampler's effective settings (Optuna's version, the resolved
``multivariate``, ``n_startup_trials``, ``group``, ``constant_liar``) and its ``diagnostics`` count
how often the adapter stepped in: ``projected_misses`` (invalid or out-of-table suggestions
replaced by their nearest unevaluated architecture), ``projected_repeats`` (repeat streaks cut the
same way), ``repeat_suggestions`` (suggestions answered from the cache) and ``optuna_trials`` (all
trials of the study, failed and repeated ones included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from nasbench.benchmark import Status
from nasbench.space import INVALID, OUT_OF_TABLE
from strategies.base import Strategy
from strategies.registry import register


@dataclass(frozen=True)
class OptunaConfig:
    # None leaves the sampler argument unset: Optuna's own default applies (and is recorded)
    n_startup_trials: int | None = None  # TPE's random start-up trials
    multivariate: bool | None = None  # TPE's multivariate option (Optuna 5: True for one objective)
    max_repeats: int = 10  # non-new suggestions in a row before the last one is projected


@dataclass
class OptunaState:
    """Mutable on purpose: it owns the Optuna study (Optuna's own state)."""

    study: Any
    rng: np.random.Generator
    seen: dict[int, float] = field(default_factory=dict)
    pending: dict[int, Any] = field(default_factory=dict)  # asked index -> its RUNNING Optuna trial
    counts: dict[str, int] = field(default_factory=lambda: {
        "projected_misses": 0, "projected_repeats": 0, "repeat_suggestions": 0})


class _OptunaStrategy(Strategy):
    requires = {"optuna": "optuna"}
    Config = OptunaConfig
    presets = {"test": {"n_startup_trials": 3}}

    def _sampler(self, seed: int):
        raise NotImplementedError

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution

        return {f"x{p}": CategoricalDistribution(list(range(int(c)))) for p, c in enumerate(self.space.cardinalities)}

    def init(self, key: jax.Array) -> OptunaState:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        study = optuna.create_study(direction="maximize", sampler=self._sampler(seed))
        return OptunaState(study=study, rng=np.random.default_rng(seed))

    def _nearest_unseen(self, state: OptunaState, genotype: np.ndarray) -> int:
        """The table's unevaluated architecture nearest to ``genotype`` (Hamming; random ties)."""
        dist = (self.space.genotypes != genotype[None, :]).sum(axis=1)
        if state.seen:
            dist[np.fromiter(state.seen, dtype=np.int64)] = np.iinfo(dist.dtype).max
        ties = np.flatnonzero(dist == dist.min())
        return int(ties[state.rng.integers(len(ties))])

    def _enqueue(self, state: OptunaState, idx: int) -> None:
        state.study.enqueue_trial({f"x{p}": int(v) for p, v in enumerate(self.space.genotypes[idx])})

    def ask(self, state: OptunaState, budget_left: int) -> tuple[OptunaState, np.ndarray]:
        from optuna.trial import TrialState

        dists = self._distributions()
        repeats = 0
        while True:
            trial = state.study.ask(dists)
            params = trial.params  # a copy per access: read once
            g = np.asarray([params[f"x{p}"] for p in range(len(dists))])
            idx = int(self.space.lookup(g[None])[0])
            if idx in (INVALID, OUT_OF_TABLE):
                state.study.tell(trial, state=TrialState.FAIL)
                self._enqueue(state, self._nearest_unseen(state, g))
                state.counts["projected_misses"] += 1
            elif idx in state.seen or idx in state.pending:  # a pending one: asked again (RUNNING in Optuna)
                if idx in state.seen:
                    state.study.tell(trial, state.seen[idx])
                else:
                    state.study.tell(trial, state=TrialState.FAIL)
                state.counts["repeat_suggestions"] += 1
                repeats += 1
                if repeats >= self.config.max_repeats:
                    self._enqueue(state, self._nearest_unseen(state, g))
                    state.counts["projected_repeats"] += 1
                    repeats = 0
            else:
                state.pending[idx] = trial
                return state, np.asarray([idx])

    def tell(self, state: OptunaState, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> OptunaState:
        from optuna.trial import TrialState

        for i, v, s in zip(idx, values, status):
            trial = state.pending.pop(int(i), None)
            if trial is None:
                continue
            if s in (Status.NEW, Status.CACHED):
                state.seen[int(i)] = float(v)
                state.study.tell(trial, float(v))
            else:
                state.study.tell(trial, state=TrialState.FAIL)
        return state

    def diagnostics(self, state: OptunaState) -> dict[str, float]:
        return {**state.counts, "optuna_trials": len(state.study.get_trials(deepcopy=False))}

    def settings(self, state: OptunaState) -> dict[str, Any]:
        import optuna

        return {"optuna": optuna.__version__, "sampler": type(state.study.sampler).__name__,
                **sampler_settings(state.study.sampler, state.study)}


def sampler_settings(sampler: Any, study: Any) -> dict[str, Any]:
    """The effective settings of an Optuna sampler on ``study`` (TPE's resolved defaults)."""
    out: dict[str, Any] = {}
    if hasattr(sampler, "_is_multivariate"):
        out["multivariate"] = bool(sampler._is_multivariate(study))
    for name in ("n_startup_trials", "n_ei_candidates", "group", "constant_liar"):
        if hasattr(sampler, f"_{name}"):
            v = getattr(sampler, f"_{name}")
            out[name] = v if isinstance(v, bool | int | float | str) else repr(v)
    return out


@register
class OptunaTPE(_OptunaStrategy):
    name = "optuna-tpe"
    paper = "Akiba et al., Optuna, KDD 2019; Bergstra et al., Algorithms for Hyper-Parameter Optimization (TPE), NeurIPS 2011"
    summary = "Optuna's TPE sampler over the genotype's categorical choices (ask/tell)."
    version = 2  # 2: Optuna's own defaults (multivariate TPE); 1 forced multivariate=False
    presets = {"test": {"n_startup_trials": 3}, "univariate": {"multivariate": False}}

    def _sampler(self, seed: int):
        import optuna

        given = {k: getattr(self.config, k) for k in ("n_startup_trials", "multivariate")}
        return optuna.samplers.TPESampler(seed=seed, **{k: v for k, v in given.items() if v is not None})


@register
class OptunaRandom(_OptunaStrategy):
    name = "optuna-random"
    paper = "Akiba et al., Optuna: A Next-generation Hyperparameter Optimization Framework, KDD 2019"
    summary = "Optuna's RandomSampler over the genotype's categorical choices (with replacement, repeats free)."

    def _sampler(self, seed: int):
        import optuna

        return optuna.samplers.RandomSampler(seed=seed)


logging.getLogger("optuna").setLevel(logging.WARNING)

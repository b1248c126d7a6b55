"""Bayesian optimisation with a Gaussian-process surrogate and expected improvement.

The classic BO loop (Jones, Schonlau & Welch, "Efficient Global Optimization of Expensive
Black-Box Functions", J. Global Optim. 1998; Snoek, Larochelle & Adams, "Practical Bayesian
Optimization of Machine Learning Algorithms", NeurIPS 2012) applied to architectures as in
Kandasamy et al., "Neural Architecture Search with Bayesian Optimisation and Optimal Transport"
(NASBOT), NeurIPS 2018, and White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with
Neural Architectures for Neural Architecture Search", AAAI 2021 (whose acquisition optimisation
by mutating the best architectures we follow). Ru et al., "Interpretable Neural Architecture
Search via Bayesian Optimisation with Weisfeiler-Lehman Kernels" (NAS-BOWL), ICLR 2021, compare
such encoding kernels with graph kernels.

Algorithm (defaults in :class:`BOConfig`):

1. Evaluate ``n_init`` = 10 architectures drawn uniformly without replacement (BANANAS's 10).
2. Each iteration: encode the evaluated architectures (``encoding``: ``"path"``, the BANANAS path
   encoding, where the space has it, e.g. NAS-Bench-101; otherwise ``"onehot"``), standardise the
   observed values, and fit an exact GP (:mod:`strategies.models.gp`: Matern-5/2 on the Euclidean, i.e.
   Hamming, distance of the binary encoding, one shared lengthscale) by maximising its log marginal
   likelihood with ``fit_steps`` = 50 Adam steps, every iteration, starting from whichever of the
   previous iteration's fit and the distance heuristic has the larger likelihood on the new data
   (the first fit starts from the heuristic).
3. Candidates: ``n_mutations`` architectures drawn without replacement from the unevaluated
   one-step mutations (``space.neighbors``) of the ``top_k`` best evaluated architectures, plus
   ``n_random`` unevaluated architectures drawn uniformly. Out-of-table and invalid neighbours are
   excluded, and so is anything the oracle answered out-of-table before.
4. Ask the candidate of largest expected improvement (closed form, over the best standardised
   observation). With ``batch > 1`` the batch is built by the *kriging believer* rule (Ginsbourger,
   Le Riche & Carraro, 2010): after each pick its posterior mean is added to the training set as
   if observed (hyperparameters kept), the posterior is updated and EI recomputed; or, with
   ``batch_rule="top-ei"``, simply the ``batch`` candidates of largest EI.

Compilation: the training set is padded (with a mask, see :mod:`strategies.models.gp`) to half-octave
sizes (:func:`strategies.models.gp.bucket_size`), and the candidate pool to ``n_mutations + n_random``
rows, so one trial of budget 150 compiles the jitted proposal eight times (16, 24, 32, 48, 64, 96,
128 and 192 rows) and later trials in the same process none. ``TRACE_COUNTS["propose"]`` in
:mod:`strategies.models.gp` counts them.

Departures from BANANAS's official code (naszilla/bananas), and why:

* Surrogate: an exact GP with closed-form EI instead of an ensemble of five MLPs with
  independent-Thompson-sampling acquisition: this module is the GP-BO baseline the issue asks for
  (BANANAS itself reports GP-BO on the path encoding as a baseline).
* Candidates: single mutations of the top ``top_k`` = 5 architectures plus random ones, instead of
  100 mutations of the single best with random edit distance: the neighbour table makes one-step
  mutations exact gathers, and the random part keeps some global exploration.
* Batch: one architecture per iteration by default (the issue's default), not ten; ``batch=10``
  with the kriging believer reproduces BANANAS's schedule.
* When fewer unevaluated mutations exist than ``n_mutations`` (e.g. on the NAS-Bench-101 30k
  subset, where most neighbours are out of table), the shortfall is filled with random candidates,
  so the pool keeps its size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.benchmark import Status
from strategies.base import ConfigError, Strategy
from strategies.models import gp
from strategies.registry import register

log = logging.getLogger(__name__)

BATCH_RULES = ("kriging-believer", "top-ei")


@dataclass(frozen=True)
class BOConfig:
    n_init: int = 10  # random architectures before the first GP fit
    batch: int = 1  # architectures per ask
    batch_rule: str = "kriging-believer"  # or "top-ei" (used when batch > 1)
    encoding: str = "auto"  # "auto": "path" where the space has it, else "onehot"
    kernel: str = "matern52"  # or "rbf"
    ard: bool = False  # one lengthscale per encoding dimension
    fit_steps: int = 50  # Adam steps on the log marginal likelihood, every iteration (warm-started)
    learning_rate: float = 0.05
    top_k: int = 5  # incumbents whose one-step mutations are candidates
    n_mutations: int = 100  # mutation candidates per iteration
    n_random: int = 100  # uniformly random candidates per iteration
    xi: float = 0.0  # EI exploration margin, in standardised units
    min_bucket: int = 16  # smallest padded training-set size


@dataclass(frozen=True)
class BOState:
    key: jax.Array
    evaluated: tuple[int, ...] = ()  # in evaluation order
    values: tuple[float, ...] = ()
    failed: frozenset[int] = frozenset()  # indices the oracle answered out-of-table
    params: gp.GPParams | None = None  # the last fit (numpy), the warm start of the next one
    pending: tuple[int, ...] = ()  # asked, not yet answered (asynchronous workers): constant liar


@partial(jax.jit, static_argnames=("kernel", "ard", "steps", "learning_rate", "batch", "rule", "xi"))
def propose(x: jax.Array, y: jax.Array, mask: jax.Array, cand: jax.Array, cand_mask: jax.Array,
            warm: gp.GPParams, has_warm: jax.Array, *, kernel: str, ard: bool, steps: int,
            learning_rate: float, batch: int, rule: str,
            xi: float) -> tuple[jax.Array, jax.Array, gp.GPParams, jax.Array]:
    """Fit the GP on the masked rows of ``(x, y)`` and pick ``batch`` rows of ``cand``.

    The fit starts from whichever of the distance heuristic (:func:`gp.init_params`) and ``warm``
    (the previous fit, used when ``has_warm``) has the larger marginal likelihood on the current
    data. The real rows of ``x`` must come first (the kriging believer appends its fantasies
    after them) and the padded size must leave room for ``batch`` of them. Returns (picked
    candidate rows ``[batch]``, their EI when picked ``[batch]`` (``-inf`` when no valid
    candidate was left), the fitted params, the LML trace of the fit).
    """
    gp.TRACE_COUNTS["propose"] += 1
    ys, _, _ = gp.standardize(y, mask)
    cold = gp.init_params(x, mask, ard)
    lml_cold = gp.log_marginal_likelihood(cold, x, ys, mask, kernel)
    lml_warm = gp.log_marginal_likelihood(warm, x, ys, mask, kernel)
    use_warm = has_warm & jnp.isfinite(lml_warm) & ~(lml_warm < lml_cold)
    start = jax.tree_util.tree_map(lambda w, c: jnp.where(use_warm, w, c), warm, cold)
    params, lml = gp.fit(start, x, ys, mask, kernel=kernel, steps=steps, learning_rate=learning_rate)
    best = jnp.max(jnp.where(mask, ys, -jnp.inf))

    def scores(x, ys, mask, best, cand_mask):
        post = gp.posterior(params, x, ys, mask, kernel)
        mean, var = gp.predict(post, cand, kernel)
        ei = gp.expected_improvement(mean, jnp.sqrt(var), best, xi)
        return jnp.where(cand_mask, ei, -jnp.inf), mean

    if rule == "top-ei":
        ei, _ = scores(x, ys, mask, best, cand_mask)
        top, picks = jax.lax.top_k(ei, batch)
        return picks, top, params, lml

    def believe(j, carry):
        x, ys, mask, best, cand_mask, picks, top = carry
        ei, mean = scores(x, ys, mask, best, cand_mask)
        p = jnp.argmax(ei)
        slot = jnp.sum(mask)
        x = x.at[slot].set(cand[p])
        ys = ys.at[slot].set(mean[p])
        mask = mask.at[slot].set(True)
        return (x, ys, mask, jnp.maximum(best, mean[p]), cand_mask.at[p].set(False),
                picks.at[j].set(p), top.at[j].set(ei[p]))

    init = (x, ys, mask, best, cand_mask, jnp.zeros(batch, jnp.int32), jnp.zeros(batch, x.dtype))
    *_, picks, top = jax.lax.fori_loop(0, batch, believe, init)
    return picks, top, params, lml


def _numpy_rng(key: jax.Array) -> np.random.Generator:
    """A numpy generator seeded by a JAX key (host-side sampling of variable-size sets)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)))


@register
class BayesianOptimization(Strategy):
    name = "bayesian-optimization"
    paper = (
        "Jones, Schonlau & Welch, Efficient Global Optimization of Expensive Black-Box Functions, "
        "J. Global Optim. 1998; Kandasamy et al., Neural Architecture Search with Bayesian "
        "Optimisation and Optimal Transport, NeurIPS 2018; White, Neiswanger & Savani, BANANAS, AAAI 2021"
    )
    summary = "GP (Matern-5/2 on the architecture encoding) + expected improvement over mutations and random samples."
    Config = BOConfig
    presets = {
        # tiny sizes, one padded bucket (32 rows) for budgets up to 31: one compilation in tests
        "test": {"n_init": 4, "fit_steps": 20, "n_mutations": 16, "n_random": 16, "min_bucket": 32},
        "batch10": {"batch": 10},  # BANANAS's 10 architectures per iteration (kriging believer)
        "rbf": {"kernel": "rbf"},
    }

    def __init__(self, space, config=None):
        super().__init__(space, config)
        c = self.config
        if c.kernel not in gp.KERNELS:
            raise ConfigError(f"{self.name}: unknown kernel {c.kernel!r}; choose one of {gp.KERNELS}")
        if c.batch_rule not in BATCH_RULES:
            raise ConfigError(f"{self.name}: unknown batch_rule {c.batch_rule!r}; choose one of {BATCH_RULES}")
        for field in ("n_init", "batch", "fit_steps", "top_k", "min_bucket"):
            if getattr(c, field) < 1:
                raise ConfigError(f"{self.name}: {field} must be at least 1, got {getattr(c, field)}")
        if c.n_mutations < 0 or c.n_random < 0 or c.n_mutations + c.n_random < 1:
            raise ConfigError(f"{self.name}: n_mutations and n_random must be >= 0 and not both 0")
        kind = c.encoding
        if kind == "auto":
            kind = "path" if "path" in space.features else "onehot"
        if kind not in space.features:
            raise ConfigError(
                f"{self.name}: space {space.name!r} has no encoding {kind!r}; it has {sorted(space.features)}"
            )
        self.encoding = kind
        self._features = np.asarray(space.encode(kind), dtype=np.float32)
        ls_shape = (self._features.shape[1],) if c.ard else ()
        self._no_params = gp.GPParams(np.zeros(ls_shape, np.float32), np.float32(0.0), np.float32(0.0))

    # ------------------------------------------------------------------ protocol
    def init(self, key: jax.Array) -> BOState:
        return BOState(key=key)

    def set_pending(self, state: BOState, pending: np.ndarray) -> BOState:
        return replace(state, pending=tuple(int(i) for i in pending))

    def _unseen(self, state: BOState, exclude: np.ndarray | None = None) -> np.ndarray:
        seen = np.zeros(self.space.n, bool)
        seen[list(state.evaluated)] = True
        seen[list(state.failed)] = True
        seen[list(state.pending)] = True
        if exclude is not None:
            seen[exclude] = True
        return np.flatnonzero(~seen)

    def _candidates(self, state: BOState, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        ev = np.asarray(state.evaluated, dtype=np.int64)
        vals = np.asarray(state.values, dtype=np.float64)
        top = ev[np.argsort(-vals, kind="stable")[: c.top_k]]
        nb = np.unique(np.asarray(self.space.neighbors)[top].ravel())
        nb = nb[nb >= 0]  # drop OUT_OF_TABLE (-1) and INVALID (-2)
        seen = np.zeros(self.space.n, bool)
        seen[ev] = True
        seen[list(state.failed)] = True
        seen[list(state.pending)] = True
        nb = nb[~seen[nb]]
        muts = rng.permutation(nb)[: c.n_mutations]
        unseen = self._unseen(state, exclude=muts)
        k = min(c.n_random + c.n_mutations - muts.size, unseen.size)
        rand = rng.choice(unseen, size=k, replace=False) if k else np.zeros(0, np.int64)
        return np.concatenate([muts, rand]).astype(np.int64)

    def ask(self, state: BOState, budget_left: int) -> tuple[BOState, np.ndarray]:
        c = self.config
        key, sub = jax.random.split(state.key)
        state = replace(state, key=key)
        rng = _numpy_rng(sub)
        n_ev = len(state.evaluated)
        if n_ev < c.n_init:
            unseen = self._unseen(state)
            k = max(1, min(c.n_init - n_ev, budget_left, unseen.size))
            if unseen.size == 0:
                raise RuntimeError(f"{self.name}: every architecture of {self.space.name} was tried")
            return state, rng.choice(unseen, size=k, replace=False)

        cand = self._candidates(state, rng)
        if cand.size == 0:
            raise RuntimeError(f"{self.name}: no unevaluated architecture of {self.space.name} is left")
        pool = c.n_mutations + c.n_random
        cand_x = np.zeros((pool, self._features.shape[1]), np.float32)
        cand_x[: cand.size] = self._features[cand]
        cand_mask = np.arange(pool) < cand.size

        # pending architectures (asynchronous workers) enter the GP at the constant liar's value,
        # the worst observed (CL-min, Ginsbourger, Le Riche & Carraro 2010); none when synchronous
        n_fit = n_ev + len(state.pending)
        size = gp.bucket_size(n_fit + c.batch, c.min_bucket)
        x = np.zeros((size, self._features.shape[1]), np.float32)
        x[:n_ev] = self._features[list(state.evaluated)]
        x[n_ev:n_fit] = self._features[list(state.pending)]
        y = np.zeros(size, np.float32)
        y[:n_ev] = state.values
        y[n_ev:n_fit] = min(state.values)
        mask = np.arange(size) < n_fit
        warm = state.params if state.params is not None else self._no_params
        picks, top, params, lml = propose(
            jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask), jnp.asarray(cand_x), jnp.asarray(cand_mask),
            gp.GPParams(*(jnp.asarray(v) for v in warm)), jnp.asarray(state.params is not None),
            kernel=c.kernel, ard=c.ard, steps=c.fit_steps, learning_rate=c.learning_rate,
            batch=c.batch, rule=c.batch_rule, xi=c.xi,
        )
        picks, top = np.asarray(picks), np.asarray(top)
        chosen = cand[picks[np.isfinite(top) & (picks < cand.size)]]
        chosen = chosen[: max(1, min(c.batch, budget_left))]
        if log.isEnabledFor(logging.DEBUG):
            p = gp.clip_params(params)
            log.debug(
                "BO n=%d lml %.3f -> %.3f lengthscale %s signal %.3g noise %.3g pick %s ei %s",
                n_ev, float(lml[0]), float(lml[-1]), np.exp(np.asarray(p.log_lengthscale)),
                float(np.exp(p.log_signal)), float(np.exp(p.log_noise)), chosen.tolist(), top.tolist(),
            )
        if chosen.size == 0:  # cannot happen with a non-empty pool, kept as a guard
            chosen = cand[:1]
        state = replace(state, params=gp.GPParams(*(np.asarray(v) for v in params)))  # type: ignore[arg-type]  # host copies
        return state, chosen

    def tell(self, state: BOState, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> BOState:
        evaluated, vals, failed = list(state.evaluated), list(state.values), set(state.failed)
        known = set(evaluated)
        for i, v, s in zip(np.asarray(idx).reshape(-1), np.asarray(values).reshape(-1), np.asarray(status).reshape(-1)):
            i = int(i)
            if s in (Status.NEW, Status.CACHED) and i not in known and np.isfinite(v):
                evaluated.append(i)
                vals.append(float(v))
                known.add(i)
            elif s == Status.OUT_OF_TABLE and i >= 0:
                failed.add(i)
        told = {int(i) for i in np.asarray(idx).reshape(-1)}
        return replace(state, evaluated=tuple(evaluated), values=tuple(vals), failed=frozenset(failed),
                       pending=tuple(i for i in state.pending if i not in told))

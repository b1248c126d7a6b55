"""Predictor-based search whose predictor scores the whole space or a (random or smart) subset of it.

Mauch, Tiedemann, Garcia, Cong, Yoshiyama, Cardinaux, Kemp: "Efficient Sampling for
Predictor-Based Neural Architecture Search", arXiv:2011.12043, 2020. Its claims: (2) the
sample efficiency of predictor-based NAS drops sharply when the predictor scores only a random
subset of the space; (3) choosing the subset smartly regains the efficiency of scoring it all.
Only the abstract is available to us (no code, no formula), so the loop below is the generic
predictor-based search the paper studies, with BANANAS' predictor (White, Neiswanger, Savani,
"BANANAS: Bayesian Optimization with Neural Architectures for Neural Architecture Search",
AAAI 2021; official code naszilla/bananas): an ensemble of 5 MLPs of 10 layers x 20 units on the
path encoding, MAE loss, 200 epochs, batch 32, Adam lr 0.01, independent Thompson sampling.

Algorithm: evaluate ``initial`` uniformly random architectures; then each round train the
ensemble (from scratch) on everything evaluated, score a *candidate set* of unevaluated
architectures, and evaluate the ``batch`` best by the acquisition. Candidate sets (``candidates``),
with their cost in predictor calls per round (``M`` = ``subset``, ``n`` = space size, ``t`` =
architectures evaluated so far):

* ``"full"``: every unevaluated architecture, scored in padded chunks. Cost ``n - t``.
* ``"random"``: a fresh uniform random subset of ``M`` unevaluated architectures. Cost ``M``.
* ``"bananas"``: BANANAS' own generator (naszilla/bananas ``data.py:get_candidates``,
  ``nas_bench/cell.py:Cell.mutate``): the ``parents`` (5) best evaluated architectures in turn,
  ``mutations`` (100) random multi-edit mutations of each, until at least ``M`` (100) distinct
  unevaluated candidates are collected (duplicates of evaluated or collected ones are dropped, as
  the official path-hash check drops them). A mutation changes each genotype position with
  probability ``1 / (positions of its group)`` to another value, uniformly: on NAS-Bench-101 the
  21 edge bits (p = 1/21, a flip) and the 5 ops (p = 1/5) as the official ``mutate``; on the other
  spaces all positions form one group (naszilla's NAS-Bench-201 cell mutates each op w.p. 1/6).
  A mutation that is no valid architecture is redrawn (the official ``is_valid`` loop). On a
  partial table (the NB-101 30k subset) a valid child the table lacks is redrawn too, at most
  ``table_tries`` (100) draws per mutation; after that the child is replaced by the nearest
  unevaluated architecture of the table (Hamming distance on the genotype, random ties), the
  projection the TPE adapter uses. Cost ``>= M``.
* ``"bananas-evolution"`` (ours; the subsets experiment's evolved pool that works on partial
  tables): a pool of ``P = M // (generations + 1)`` that starts as the ``"bananas"`` set of size
  ``P``; each generation every member gets one ``"bananas"`` mutation kept to the table (projected
  when the table lacks it), children are scored by the ensemble mean and the best ``P`` of pool
  and children survive. Cost at most ``M`` (as ``"evolution"``), but its steps are BANANAS'
  multi-edit mutations, which reach table cells where single-edit neighbours do not.
* ``"mutation"``: the unevaluated mutation neighbours (``space.neighbors``) of the evaluated
  architectures, best observed first, each parent's neighbours in random order; if all 1-hop
  neighbours give fewer than ``M``, the ball grows by a hop around what was collected, and a
  still-short set is filled uniformly at random. Cost ``M``. (BANANAS: 100 mutations of the best.)
* ``"evolution"``: a pool of ``P = M // (generations + 1)`` evolved on the predictor: start from
  the ``"mutation"`` set of size ``P``, then each generation every pool member gets one random
  unevaluated neighbour, children are scored by the ensemble mean and the best ``P`` of pool and
  children survive. Cost at most ``P * (generations + 1) <= M``, so it is compared at equal
  predictor cost with the other kinds.
* ``"prefilter"`` (ours): a uniform random pool of ``prefilter_factor * M`` unevaluated
  architectures is ranked by a cheap first-stage model (ridge regression on the one-hot
  encoding, closed form, fitted to the same data), and the top ``M`` go to the ensemble. Cost
  ``M`` ensemble calls plus ``prefilter_factor * M`` dot products of length ``d_onehot``.

* ``"zc-prefilter"`` (ours, the proxy as a smart subset): the same pool ranked instead by a
  zero-cost proxy (``proxy``, synflow; :mod:`strategies.models.proxy`), which needs no fit. Cost
  ``M`` ensemble calls plus the proxy on every pooled cell not scored before (``proxy_evaluations``).

``subset`` is a count when an integer and a fraction of the space when a float in ``(0, 1]``
(``0.05`` = 5% of the space). ``candidates = "full"`` ignores it.

Preset ``bananas`` is BANANAS as the official code runs it on NAS-Bench-101: the ``"bananas"``
generator, Thompson sampling, 150 epochs, and the truncated path encoding (``encoding="bananas"``:
the first 40 of the 364 path bits, the official ``trunc_path`` with ``cutoff=40``, on spaces with
a path encoding; the one-hot encoding elsewhere, since NB-201, Macro and Graph have no path
encoding here). The 10 initial architectures are uniform over the table (the official code draws
them with the NAS-Bench-101 notebook sampler, ``Cell.random_cell``, which favours some cells).
Preset ``zc-warmup`` is ``bananas`` with Abdelfattah et al.'s zero-cost warm-up ("Zero-Cost
Proxies for Lightweight NAS", ICLR 2021, section 5): the 10 initial architectures are the
synflow-best distinct architectures of a pool of 3,000 drawn with replacement. Their predictor-based
search (BRP-NAS's binary predictor) warms up differently, by pre-training the predictor on the
pool's proxy ranking (SamsungLabs/eagle ``__main__.py:525-569``); BANANAS' ensemble regresses
accuracies, so it gets the warm-up their random search and evolution get. Pool scoring costs no
budget; it is counted in ``proxy_evaluations``/``proxy_seconds`` and charged in the simulated-time
protocol.
Preset ``bananas-neighbours`` keeps our earlier generator (``"mutation"``, single-edit
neighbours of all evaluated architectures): on the 30k subset, where a cell has 1.38 in-table
single-edit neighbours on average, it is a loose ball around every evaluated cell, not mutations
of the best, and it was no better than random search there.

Diagnostics (per trial record): ``candidates_scored`` (predictor calls on candidates, summed over
rounds: the measured ``M``), ``candidates_mutated`` (candidates that came from a mutation as
drawn), ``candidates_projected`` (from a mutation via the nearest-cell rule), ``candidates_random_fill``
(uniformly random candidates, ``"mutation"``'s last resort and a batch that ran out),
``mutation_redraws`` (mutations drawn again because invalid or outside the table), ``random_picks``
(queries taken uniformly at random because a round's candidate set held fewer unseen
architectures than its batch: random search, not BANANAS; on nb101-30k-v6, where mutations of a
<= 6-vertex cell rarely reach an unseen one, most queries), ``rounds``;
each round's candidate set is this strategy's :meth:`offers`, from which the runner counts the
rounds whose candidates held a target (``offered_<target>``).

Departures from the official BANANAS code, and why:

* Adam uses optax's default ``b2 = 0.999`` (BANANAS' Keras model uses 0.99); targets are
  standardised before fitting (BANANAS fits raw validation losses): the same network then works
  on every benchmark's metric scale.
* The ensemble is retrained from scratch every round with its own key, members vmapped together
  (the official code trains the 5 networks one after another).
* ``"mutation"``, ``"evolution"`` (the first subsets experiment's smart subsets) step to a precomputed
  single-mutation neighbour (``space.neighbors``), not BANANAS' random multi-edit ``mutate``; it is
  what every space here offers, and it makes the candidate sets of those kinds comparable.
* Acquisition maximises the metric (accuracy): Thompson sampling draws ``N(mean, std)`` of the
  ensemble predictions per candidate, as BANANAS' ``its`` does for losses.
* An index the oracle answers ``OUT_OF_TABLE`` is marked seen and left out of training.

Asynchronous workers (:mod:`experiments.harness.timed`): architectures still training (``set_pending``)
are left out of every candidate set and of the initial draws, and the ensemble trains on answered
architectures only: BANANAS proposes a batch of distinct unevaluated architectures
(``nas_algorithms.py:198-206``, the top ``k`` of the candidates) and dedups candidates against the
data it holds (``data.py:get_candidates``), so a running one is treated as held. Sequential trials
never have pending architectures at an ``ask``, so they are unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import jax
import numpy as np

from nasbench.benchmark import Status
from nasbench.space import OUT_OF_TABLE
from nasbench.spaces.nb101 import N_EDGE_BITS, NB101Space
from strategies.base import ConfigError, Strategy, later_setting
from strategies.models import proxy
from strategies.models.predictors import (
    ACQUISITIONS,
    PREDICTOR_KINDS,
    PredictorSpec,
    acquisition,
    fit_predictor,
    predict_predictor,
    predictor_inputs,
    standardize,
)
from strategies.registry import register

log = logging.getLogger(__name__)

CANDIDATE_KINDS = ("full", "random", "bananas", "bananas-evolution", "mutation", "evolution", "prefilter", "zc-prefilter")
#: BANANAS as its official code runs it (preset ``bananas``)
BANANAS = {"candidates": "bananas", "subset": 100, "encoding": "bananas", "epochs": 150}
DEFAULT_HIDDEN = {"mlp": (20,) * 10, "gnn": (64, 64, 64)}
DEFAULT_LR = {"mlp": 0.01, "gnn": 1e-3}
DEFAULT_EPOCHS = {"mlp": 200, "gnn": 100}


@dataclass(frozen=True)
class PredictorSubsetsConfig:
    initial: int = 10  # uniformly random architectures before the first predictor round
    batch: int = 10  # architectures evaluated per round (BANANAS k = 10)
    candidates: str = "full"  # one of CANDIDATE_KINDS
    subset: int | float = 100  # M: a count (int) or a fraction of the space (float in (0, 1])
    acquisition: str = "thompson"  # "thompson" (BANANAS its), "ucb" or "mean"
    ucb_beta: float = 1.0
    predictor: str = "mlp"  # "mlp" (on `encoding`) or "gnn" (GIN on space.graph)
    members: int = 5
    hidden: tuple[int, ...] | None = None  # None: (20,)*10 for mlp, (64, 64, 64) for gnn
    epochs: int | None = None  # None: 200 for mlp, 100 for gnn
    predictor_batch: int = 32
    lr: float | None = None  # None: 0.01 for mlp, 1e-3 for gnn
    weight_decay: float = 0.0
    loss: str = "mae"  # BANANAS trains on the mean absolute error
    encoding: str = "auto"  # "auto": "path" where the space has it, else "onehot"
    generations: int = 3  # evolution: generations of mutate + select on the predictor
    prefilter_factor: int = 10  # prefilter: random pool size / M
    ridge: float = 1.0  # prefilter: ridge penalty of the first-stage linear model
    parents: int = 5  # bananas: best evaluated architectures to mutate (num_arches_to_mutate x patience)
    mutations: int = 100  # bananas: mutations per parent
    table_tries: int = 100  # bananas: draws per mutation before projecting onto the table
    proxy: str = later_setting("synflow")  # the zero-cost proxy of warmup_pool and "zc-prefilter"
    warmup_pool: int = later_setting(0)  # > 0: the initial architectures are the proxy's best of a pool this size

    def proxies_used(self) -> tuple[str, ...]:
        return (self.proxy,) if self.warmup_pool > 0 or self.candidates == "zc-prefilter" else ()

    def __post_init__(self) -> None:
        if self.hidden is not None:
            object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.candidates not in CANDIDATE_KINDS:
            raise ConfigError(f"candidates must be one of {CANDIDATE_KINDS}, got {self.candidates!r}")
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(f"acquisition must be one of {ACQUISITIONS}, got {self.acquisition!r}")
        if self.predictor not in PREDICTOR_KINDS:
            raise ConfigError(f"predictor must be one of {PREDICTOR_KINDS}, got {self.predictor!r}")
        if self.initial < 1 or self.batch < 1 or self.members < 1:
            raise ConfigError("initial, batch and members must be at least 1")
        if isinstance(self.subset, bool) or not isinstance(self.subset, int | float):
            raise ConfigError(f"subset must be a count (int) or a fraction (float), got {self.subset!r}")
        if isinstance(self.subset, float) and not 0 < self.subset <= 1:
            raise ConfigError(f"a fractional subset must lie in (0, 1], got {self.subset}; give a count as an int")
        if isinstance(self.subset, int) and self.subset < 1:
            raise ConfigError(f"subset count must be at least 1, got {self.subset}")
        if self.generations < 0 or self.prefilter_factor < 1:
            raise ConfigError("generations must be >= 0 and prefilter_factor >= 1")
        if self.parents < 1 or self.mutations < 1 or self.table_tries < 1:
            raise ConfigError("parents, mutations and table_tries must be at least 1")
        if self.warmup_pool < 0:
            raise ConfigError(f"warmup_pool must be >= 0, got {self.warmup_pool}")

    def predictor_spec(self) -> PredictorSpec:
        k = self.predictor
        return PredictorSpec(
            kind=k,
            members=self.members,
            hidden=self.hidden if self.hidden is not None else DEFAULT_HIDDEN[k],
            epochs=self.epochs if self.epochs is not None else DEFAULT_EPOCHS[k],
            batch_size=self.predictor_batch,
            lr=self.lr if self.lr is not None else DEFAULT_LR[k],
            weight_decay=self.weight_decay,
            loss=self.loss,
            encoding=self.encoding,
        )


@dataclass(frozen=True)
class PredictorSubsetsState:
    key: jax.Array
    seen: np.ndarray  # [n] bool: evaluated or answered (never proposed again)
    arch: np.ndarray  # [t] int64: evaluated architectures with a value, in order
    values: np.ndarray  # [t] float64: their observed values
    round: int = 0  # predictor rounds done
    counts: tuple[tuple[str, int], ...] = ()  # diagnostics counters, as (name, count) pairs
    offers: tuple[np.ndarray, ...] = ()  # each round's candidate set (Strategy.offers)
    running: tuple[int, ...] = ()  # set_pending: training on other workers, never a candidate
    warm: np.ndarray | None = None  # warm-up: the pool's distinct architectures, proxy-best first
    scored: np.ndarray | None = None  # [n] bool: scored by the proxy (None: no proxy)


COUNTERS = ("candidates_scored", "candidates_mutated", "candidates_projected", "candidates_random_fill",
            "mutation_redraws", "random_picks")


# ------------------------------------------------------------------------ candidate sets
def subset_size(subset: int | float, n: int) -> int:
    """``M`` for a space of ``n``: the count itself, or ``round(fraction * n)`` (at least 1)."""
    if isinstance(subset, float):
        return max(1, int(round(subset * n)))
    return int(subset)


def random_candidates(rng: np.random.Generator, seen: np.ndarray, m: int) -> np.ndarray:
    """``min(m, #unseen)`` distinct uniformly random unseen indices."""
    unseen = np.flatnonzero(~seen)
    if m >= unseen.size:
        return rng.permutation(unseen)
    return unseen[rng.choice(unseen.size, m, replace=False)]


def mutation_candidates(rng: np.random.Generator, neighbors: np.ndarray, seen: np.ndarray,
                        parents: np.ndarray, m: int, fill: bool = True) -> np.ndarray:
    """Up to ``m`` distinct unseen neighbours of ``parents`` (best first), growing hop by hop.

    Parents are taken in the given order; each parent's neighbours in random order. When the
    1-hop neighbours give fewer than ``m``, the neighbours of the collected set are added, and so
    on; with ``fill`` a set still short is completed uniformly at random.
    """
    taken = seen.copy()
    out: list[np.ndarray] = []
    count = 0
    frontier = np.asarray(parents, dtype=np.int64)
    while count < m and frontier.size:
        nb = rng.permuted(neighbors[frontier], axis=1).reshape(-1)
        nb = nb[nb >= 0]
        _, first = np.unique(nb, return_index=True)
        nb = nb[np.sort(first)]
        new = nb[~taken[nb]][: m - count]
        taken[new] = True
        out.append(new)
        count += new.size
        frontier = new
    if fill and count < m:
        extra = random_candidates(rng, taken, m - count)
        out.append(extra)
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def mutation_groups(space) -> list[np.ndarray]:
    """Genotype positions mutated at a common rate: NB-101's edge bits and ops, else all positions."""
    p = len(space.cardinalities)
    if isinstance(space, NB101Space):
        return [np.arange(N_EDGE_BITS), np.arange(N_EDGE_BITS, p)]
    return [np.arange(p)]


def mutate_genotypes(rng: np.random.Generator, parent: np.ndarray, cardinalities: np.ndarray,
                     groups: list[np.ndarray], k: int) -> np.ndarray:
    """``k`` multi-edit mutations of ``parent`` (BANANAS ``Cell.mutate`` at mutation rate 1): each
    position changes w.p. ``1 / len(its group)`` to another of its values, uniformly."""
    prob = np.zeros(parent.size)
    for g in groups:
        prob[g] = 1.0 / len(g)
    change = rng.random((k, parent.size)) < prob
    shift = rng.integers(1, np.maximum(cardinalities, 2), size=(k, parent.size))
    out = np.where(change, (parent[None, :] + shift) % cardinalities, parent[None, :])
    return out.astype(np.int64)


def _mutate_into_table(rng: np.random.Generator, space, parent: np.ndarray, card: np.ndarray,
                       groups: list[np.ndarray], table_tries: int, counts: dict[str, int]) -> tuple[int, np.ndarray]:
    """One mutation of ``parent`` redrawn until the table holds it: ``(index, child)``, or
    ``(-1, last valid child)`` after ``table_tries`` valid children outside the table (the parent
    itself when 5,000 draws gave no valid child)."""
    misses, draws, last = 0, 0, parent
    while draws < 5000:
        batch = mutate_genotypes(rng, parent, card, groups, 16)
        for g, c in zip(batch, space.lookup(batch)):
            draws += 1
            if c >= 0:
                return int(c), g
            counts["mutation_redraws"] += 1
            if c == OUT_OF_TABLE:
                misses, last = misses + 1, g
                if misses >= table_tries:
                    return -1, last
    return -1, last


def _mutation_candidate(rng: np.random.Generator, space, genotypes: np.ndarray, card: np.ndarray,
                        groups: list[np.ndarray], table_tries: int, parent: int, taken: np.ndarray,
                        counts: dict[str, int]) -> int | None:
    """One BANANAS mutation of architecture ``parent`` kept to the table: the child's index, or
    the nearest architecture not ``taken`` when the table lacks it (projection); ``None`` when
    that index is ``taken`` (a duplicate, dropped as the official path-hash check drops it).
    Marks the result taken and counts it (``candidates_mutated`` / ``candidates_projected``)."""
    idx, child = _mutate_into_table(rng, space, genotypes[parent], card, groups, table_tries, counts)
    kind = "candidates_mutated"
    if idx < 0:  # projection: the nearest architecture of the table not seen or collected yet
        if taken.all():
            return None
        dist = np.where(taken, np.iinfo(np.int64).max, (genotypes != child[None, :]).sum(axis=1))
        ties = np.flatnonzero(dist == dist.min())
        idx, kind = int(ties[rng.integers(len(ties))]), "candidates_projected"
    if taken[idx]:
        return None
    taken[idx] = True
    counts[kind] += 1
    return idx


def bananas_candidates(rng: np.random.Generator, space, seen: np.ndarray, parents: np.ndarray, m: int,
                       mutations: int, table_tries: int, groups: list[np.ndarray]) -> tuple[np.ndarray, dict[str, int]]:
    """BANANAS' candidate set: ``mutations`` mutations of each of ``parents`` (best first) until
    at least ``m`` distinct unseen ones are collected; children already seen or collected are dropped.

    Returns ``(candidates, counts)``: counts of children taken as drawn, projected onto the table's
    nearest unseen architecture, and of redrawn mutations.
    """
    card = np.asarray(space.cardinalities, dtype=np.int64)
    genotypes = np.asarray(space.genotypes, dtype=np.int64)
    taken = seen.copy()
    out: list[int] = []
    counts = {"candidates_mutated": 0, "candidates_projected": 0, "mutation_redraws": 0}
    for parent in parents:
        if len(out) >= m:
            break
        for _ in range(mutations):
            if taken.all():
                break
            idx = _mutation_candidate(rng, space, genotypes, card, groups, table_tries, int(parent), taken, counts)
            if idx is not None:
                out.append(idx)
    return np.asarray(out, dtype=np.int64), counts


def ridge_scores(x_train: np.ndarray, y: np.ndarray, x: np.ndarray, lam: float) -> np.ndarray:
    """Predictions at ``x`` of a ridge regression (intercept unpenalised) fitted to ``(x_train, y)``."""
    mu_x, mu_y = x_train.mean(0), y.mean()
    xc = x_train - mu_x
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(xc.shape[1]), xc.T @ (y - mu_y))
    return (x - mu_x) @ w + mu_y


@register
class PredictorSubsets(Strategy):
    name = "predictor-subsets"
    paper = (
        "Mauch, Tiedemann, Garcia, Cong, Yoshiyama, Cardinaux, Kemp: Efficient Sampling for "
        "Predictor-Based Neural Architecture Search, arXiv:2011.12043, 2020 (predictor: White et al., "
        "BANANAS, AAAI 2021)"
    )
    summary = "Predictor-based search (MLP/GNN ensemble) scoring the full space or a random/smart subset."
    Config = PredictorSubsetsConfig
    version = 2  # 2: BANANAS' own candidate generator and diagnostics (preset bananas)
    presets = {
        "test": {"initial": 4, "batch": 4, "members": 2, "hidden": (8, 8), "epochs": 5,
                 "candidates": "mutation", "subset": 16},
        "bananas": BANANAS,
        "bananas-neighbours": {"candidates": "mutation", "subset": 100},
        "gnn": {"predictor": "gnn"},
        "random-5pct": {"candidates": "random", "subset": 0.05},
        "mutation-5pct": {"candidates": "mutation", "subset": 0.05},
        "evolution-5pct": {"candidates": "evolution", "subset": 0.05},
        "prefilter-5pct": {"candidates": "prefilter", "subset": 0.05},
        "zc-prefilter-5pct": {"candidates": "zc-prefilter", "subset": 0.05},
        "zc-warmup": {**BANANAS, "warmup_pool": proxy.POOL},
    }

    def __init__(self, space, config=None):
        super().__init__(space, config)
        self.spec = self.config.predictor_spec()
        self.inputs = predictor_inputs(space, self.spec)
        self.neighbors = np.asarray(space.neighbors, dtype=np.int64)
        self.onehot = np.asarray(space.encode("onehot"), dtype=np.float64) if self.config.candidates == "prefilter" else None
        self.m = space.n if self.config.candidates == "full" else subset_size(self.config.subset, space.n)
        self.groups = mutation_groups(space)
        self.uses_proxy = bool(self.config.proxies_used())
        if self.uses_proxy:
            self.proxy_ranks, self.proxy_seconds = proxy.proxy_values(space, self.config.proxy)

    # ------------------------------------------------------------------ protocol
    def init(self, key: jax.Array) -> PredictorSubsetsState:
        n = self.space.n
        warm, scored = None, np.zeros(n, bool)
        if self.config.warmup_pool > 0:
            key, k_pool = jax.random.split(key)
            pool = proxy.draw_pool(k_pool, n, self.config.warmup_pool)
            first = np.asarray(proxy.first_distinct(proxy.ranked(pool, self.proxy_ranks), n, self.config.warmup_pool))
            warm = first[first >= 0].astype(np.int64)
            scored[warm] = True
        return PredictorSubsetsState(key=key, seen=np.zeros(n, bool), arch=np.zeros(0, np.int64),
                                     values=np.zeros(0, np.float64), warm=warm,
                                     scored=scored if self.uses_proxy else None)

    def set_pending(self, state: PredictorSubsetsState, pending: np.ndarray) -> PredictorSubsetsState:
        return replace(state, running=tuple(int(i) for i in np.asarray(pending).reshape(-1)))

    def ask(self, state: PredictorSubsetsState, budget_left: int) -> tuple[PredictorSubsetsState, np.ndarray]:
        cfg = self.config
        if state.running:  # architectures training elsewhere are no candidates (nor initial draws)
            seen = state.seen.copy()
            seen[list(state.running)] = True
            new_state, pick = self.ask(replace(state, seen=seen, running=()), budget_left)
            return replace(new_state, seen=state.seen, running=state.running), pick
        key, k_round = jax.random.split(state.key)
        rng = np.random.default_rng(np.asarray(jax.random.key_data(k_round)).ravel().tolist())
        k = max(1, min(cfg.batch, budget_left))
        if state.arch.size < cfg.initial:
            want = max(1, min(cfg.initial - state.arch.size, budget_left))
            if state.warm is not None:  # the warm-up pool's best not yet evaluated, then random
                idx = state.warm[~state.seen[state.warm]][:want]
                seen = state.seen.copy()
                seen[idx] = True
                idx = np.concatenate([idx, random_candidates(rng, seen, want - idx.size)]).astype(np.int64)
            else:
                idx = random_candidates(rng, state.seen, want)
            return replace(state, key=key), idx
        k_fit, k_acq = jax.random.split(k_round)
        y, _, _ = standardize(state.values)
        params = fit_predictor(k_fit, self.spec, self.inputs, state.arch, y)
        pool = None
        if cfg.candidates == "zc-prefilter" and state.scored is not None:
            pool = random_candidates(rng, state.seen, cfg.prefilter_factor * self.m)
            scored = state.scored.copy()
            scored[pool] = True
            state = replace(state, scored=scored)
        cand, preds, found = self.counted_candidates(rng, state, params, pool)
        score = np.asarray(acquisition(preds, cfg.acquisition, key=k_acq, beta=cfg.ucb_beta))
        order = np.argsort(-score, kind="stable")[:k]
        pick = cand[order]
        counts = dict(state.counts)
        for name, v in {**found, "candidates_scored": int(cand.size)}.items():
            counts[name] = counts.get(name, 0) + v
        if pick.size < k:  # fewer unevaluated candidates than the batch: top up at random
            seen = state.seen.copy()
            seen[pick] = True
            extra = random_candidates(rng, seen, k - pick.size)
            counts["candidates_random_fill"] = counts.get("candidates_random_fill", 0) + extra.size
            counts["random_picks"] = counts.get("random_picks", 0) + extra.size
            pick = np.concatenate([pick, extra])
        return replace(state, key=key, round=state.round + 1, counts=tuple(sorted(counts.items())),
                       offers=(*state.offers, cand)), pick

    def diagnostics(self, state: PredictorSubsetsState) -> dict[str, float]:
        counts = dict(state.counts)
        out: dict[str, float] = {**{name: counts.get(name, 0) for name in COUNTERS}, "rounds": state.round}
        if state.scored is not None:
            out.update({"proxy_evaluations": int(state.scored.sum()), "proxy_seconds": self.overhead_seconds(state)})
        return out

    def overhead_seconds(self, state: PredictorSubsetsState) -> float:
        return float(state.scored.sum()) * self.proxy_seconds if state.scored is not None else 0.0

    def offers(self, state: PredictorSubsetsState) -> list[np.ndarray]:
        return list(state.offers)

    def tell(self, state: PredictorSubsetsState, idx: np.ndarray, values: np.ndarray,
             status: np.ndarray) -> PredictorSubsetsState:
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        status = np.asarray(status).reshape(-1)
        seen = state.seen.copy()
        in_space = (idx >= 0) & (idx < self.space.n)
        answered = (status == Status.NEW) | (status == Status.CACHED)
        fresh = in_space & answered & np.isfinite(values) & ~state.seen[np.clip(idx, 0, self.space.n - 1)]
        # a CACHED repeat within one batch: keep the first occurrence only
        _, first = np.unique(idx, return_index=True)
        once = np.zeros(idx.size, bool)
        once[first] = True
        fresh &= once
        seen[idx[in_space]] = True
        return replace(state, seen=seen, arch=np.concatenate([state.arch, idx[fresh]]),
                       values=np.concatenate([state.values, values[fresh]]))

    # ------------------------------------------------------------ candidate sets
    def candidates(self, rng: np.random.Generator, state: PredictorSubsetsState, params) -> tuple[np.ndarray, np.ndarray]:
        """``(candidate indices [m], ensemble predictions [members, m])`` for this round."""
        cand, preds, _ = self.counted_candidates(rng, state, params)
        return cand, preds

    def counted_candidates(self, rng: np.random.Generator, state: PredictorSubsetsState, params,
                           pool: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """:meth:`candidates` and the diagnostics counters of where they came from; ``pool`` is
        the ``"zc-prefilter"`` pool when the caller drew it (to count what the proxy scored)."""
        kind, m = self.config.candidates, self.m
        counts: dict[str, int] = {}
        if kind == "full":
            cand = np.flatnonzero(~state.seen)
        elif kind == "random":
            cand = random_candidates(rng, state.seen, m)
        elif kind == "bananas":
            c = self.config
            cand, counts = bananas_candidates(rng, self.space, state.seen, self._ranked(state)[: c.parents],
                                              m, c.mutations, c.table_tries, self.groups)
        elif kind == "mutation":
            cand = mutation_candidates(rng, self.neighbors, state.seen, self._ranked(state), m, fill=False)
            taken = state.seen.copy()
            taken[cand] = True
            extra = random_candidates(rng, taken, m - cand.size)
            counts = {"candidates_mutated": int(cand.size), "candidates_random_fill": int(extra.size)}
            cand = np.concatenate([cand, extra]).astype(np.int64)
        elif kind == "prefilter":
            pool = random_candidates(rng, state.seen, self.config.prefilter_factor * m)
            s = ridge_scores(self.onehot[state.arch], state.values, self.onehot[pool], self.config.ridge)
            cand = pool[np.argsort(-s, kind="stable")[:m]]
        elif kind == "zc-prefilter":
            if pool is None:
                pool = random_candidates(rng, state.seen, self.config.prefilter_factor * m)
            cand = pool[np.argsort(-self.proxy_ranks[pool], kind="stable")[:m]]
        elif kind == "bananas-evolution":
            return self._evolve_bananas(rng, state, params)
        else:
            return (*self._evolve(rng, state, params), counts)
        return cand, np.asarray(predict_predictor(self.spec, params, self.inputs, cand)), counts

    def _ranked(self, state: PredictorSubsetsState) -> np.ndarray:
        return state.arch[np.argsort(-state.values, kind="stable")]

    def _evolve_bananas(self, rng: np.random.Generator, state: PredictorSubsetsState,
                        params) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """A pool of ``M // (generations + 1)`` evolved on the ensemble mean with BANANAS'
        mutation kept to the table (cost <= M calls): it starts as BANANAS' candidate set of that
        size; each generation every member gets one mutation (redrawn until the table holds it,
        else projected to the nearest unseen architecture), and the best of pool and children
        by the ensemble mean survive."""
        c = self.config
        p = max(1, self.m // (c.generations + 1))
        pool, counts = bananas_candidates(rng, self.space, state.seen, self._ranked(state)[: c.parents], p,
                                          c.mutations, c.table_tries, self.groups)
        preds = np.asarray(predict_predictor(self.spec, params, self.inputs, pool))
        taken = state.seen.copy()
        taken[pool] = True
        card = np.asarray(self.space.cardinalities, dtype=np.int64)
        genotypes = np.asarray(self.space.genotypes, dtype=np.int64)
        for _ in range(c.generations):
            found = (_mutation_candidate(rng, self.space, genotypes, card, self.groups, c.table_tries,
                                         int(a), taken, counts) for a in pool)
            children = np.asarray([i for i in found if i is not None], dtype=np.int64)
            if children.size == 0:
                break
            c_preds = np.asarray(predict_predictor(self.spec, params, self.inputs, children))
            pool = np.concatenate([pool, children])
            preds = np.concatenate([preds, c_preds], axis=1)
            keep = np.argsort(-preds.mean(0), kind="stable")[:p]
            pool, preds = pool[keep], preds[:, keep]
        return pool, preds, counts

    def _evolve(self, rng: np.random.Generator, state: PredictorSubsetsState, params) -> tuple[np.ndarray, np.ndarray]:
        """A pool of ``M // (generations + 1)`` evolved on the ensemble mean (cost <= M calls)."""
        p = max(1, self.m // (self.config.generations + 1))
        pool = mutation_candidates(rng, self.neighbors, state.seen, self._ranked(state), p)
        preds = np.asarray(predict_predictor(self.spec, params, self.inputs, pool))
        taken = state.seen.copy()
        taken[pool] = True
        for _ in range(self.config.generations):
            nb = self.neighbors[pool]
            ok = nb >= 0
            ok[ok] = ~taken[nb[ok]]
            # one random unevaluated, not-yet-pooled neighbour per member (where it has one)
            u = np.where(ok, rng.random(nb.shape), -1.0)
            j = u.argmax(1)
            has = ok[np.arange(len(pool)), j]
            children = np.unique(nb[np.arange(len(pool)), j][has])
            if children.size == 0:
                break
            taken[children] = True
            c_preds = np.asarray(predict_predictor(self.spec, params, self.inputs, children))
            pool = np.concatenate([pool, children])
            preds = np.concatenate([preds, c_preds], axis=1)
            keep = np.argsort(-preds.mean(0), kind="stable")[:p]
            pool, preds = pool[keep], preds[:, keep]
        return pool, preds


"""LaNAS: Monte Carlo tree search over a learned partition of the search space.

Wang, Xie, Li, Fonseca, Tian: "Sample-Efficient Neural Architecture Search by Learning Action
Space for Monte Carlo Tree Search", arXiv:1906.06832, 2019 (journal version in IEEE TPAMI, 2021).
Official code: facebookresearch/LaMCTS, ``LaNAS/LaNAS_NASBench101/{MCTS,Node,Classifier}.py`` (the tabular
NAS-Bench-101 search) and ``LaNAS/one-shot_LaNAS/LaNAS/{MCTS,Node}.py`` (one-shot LaNAS).

The algorithm, as the official NAS-Bench-101 code runs it (and as this module runs it by default):

1. Evaluate ``init_samples`` (10) architectures drawn uniformly without replacement.
2. Every round, rebuild the tree from scratch on all evaluated architectures:

   * a full binary tree of ``height`` levels (5: 31 nodes, 16 leaves), nodes numbered in heap
     order (node ``i`` has children ``2i+1``, the *good* one, and ``2i+2``, the *bad* one);
   * the root's bag holds every evaluated architecture; each internal node fits a linear model
     ``f(x) = w.x + b`` (MSE) to the (encoding, value) pairs of its bag, sets its threshold to
     the **mean prediction over its bag**, and sends a bag sample to the good (left) child when its
     **true** value is ``>= threshold``, else to the bad (right) child (``Classifier.split_data``:
     ``if v < avg_acc: bad else good`` over the true accuracies ``v``);
   * node statistics are reset: ``xbar`` = mean value of the node's bag, ``n`` = its size
     (``xbar = inf, n = 0`` for an empty bag).

3. Every unevaluated architecture of the space is pushed through the tree by **prediction**
   (``Classifier.split_predictions``: left when ``f(x) >= threshold``), which fills the leaves.
   Here this is one batched matrix product ``X @ W.T`` over the encoded space ``[n, d]`` against
   the ``[2^(h-1)-1, d]`` weights of all internal nodes, followed by a walk down the levels
   (a gather per level), so it is cheap even for NAS-Bench-101's 423,624 cells.
4. Draw ``samples_per_rebuild`` (20) architectures: descend from the root to a leaf choosing the
   child with the larger ``UCB = xbar + 2 Cp sqrt(2 ln n_parent / n)`` (``n == 0`` is ``+inf``,
   ties are broken uniformly at random), draw an architecture of that leaf uniformly without
   replacement, evaluate it and back-propagate (``n += 1`` and the running mean ``xbar`` on the
   path). When the chosen leaf holds nothing, take the *first* non-empty leaf in node order (the
   left-most one), and back-propagate to that leaf, as ``MCTS.search`` does.

Rejection sampling (``sampling="rejection"``, as one-shot LaNAS samples its space, which cannot be
enumerated): instead of classifying the whole space, descend by UCB to a leaf, propose random
unevaluated architectures (uniform over the space's indices) and accept the first one that
satisfies every linear constraint on the root-to-leaf path (``f_a(x) >= thr_a`` towards a good
child, ``<`` towards a bad one). Constraints of nodes with an empty bag are skipped, as
``prepare_boundaries`` skips a node whose ``x_bar`` is infinite.

The per-node linear models, two ways:

* ``fit="adam"`` (the default, ``lanas``): the official trainer, ``Classifier.py:15-87``.
  Each internal node owns one ``nn.Linear(d, 1)`` (weight ``xavier_uniform_``, bias PyTorch's
  default ``U(+-1/sqrt(d))``) and one Adam optimiser (lr 1e-5, betas (0.9, 0.999), eps 1e-8), both
  kept across rounds (one ``Classifier`` per ``Node``, built once: ``MCTS.py:48-60``). At every
  rebuild a node with a non-empty bag takes full-batch MSE steps on its bag (accuracy fractions:
  values / ``value_scale``), gradient norm clipped to 5 (``clip_grad_norm_``): 20,000 at its first
  fit, 3,000 at every later one (``Classifier.py:67-72``). A node with an empty bag is not trained
  and keeps its stale (or untrained) model with threshold 0 (``predict_mean`` returns 0), exactly
  as the official code. Implemented in pure JAX (:func:`~strategies.models.partition.adam_step`, :func:`~strategies.models.partition.train_linear`: one
  compiled ``while_loop`` per tree level over the bags' sufficient statistics, the exact PyTorch
  update rule; tested against a transcription of it). At lr 1e-5 these fits are far from
  converged for hundreds of samples (rank correlation with the truth 0.32 against 0.66 for the
  exact fit at 250 samples on NB-201), which makes the official algorithm about 2x *less*
  sample-efficient than its converged form on NB-201.
* ``fit="exact"`` (the preset ``lanas:exact-fit``, ours): the paper's linear regression solved in
  closed form: ridge least squares in JAX (one jitted call fits a whole level of nodes from masked
  Gram matrices, the intercept unpenalised and a tiny ridge, ``ridge * trace(Cov)/d``, because
  one-hot and adjacency encodings are collinear). It is what the official fits converge to, and
  its mean prediction over a bag equals the bag's mean value. A node with an empty bag has
  ``w = 0, b = 0, thr = 0``, so every candidate goes to its good child.

Defaults are the official NAS-Bench-101 code's: height 5, Cp 0.1, 10 initial samples, 20 samples
per rebuild, one draw evaluated at a time, the Adam trainer, classification of the whole space.
Preset ``oneshot`` holds one-shot LaNAS's: Cp 10, 300 initial samples, rejection sampling, one
sample per rebuild (its ``search`` loop rebuilds the tree before every sample).

Diagnostics (per trial record): ``rebuilds`` (trees built), ``draws_chosen_leaf`` (draws from the
leaf the UCB path chose), ``draws_fallback_leaf`` (the chosen leaf was empty, so the first
non-empty leaf served; in rejection mode: no proposal satisfied the path), ``draws_initial``.

Encoding: ``space.encode("adjacency")`` when the space has it (the flattened adjacency + op vector,
the analogue of LaNAS's 49-float NAS-Bench-101 code), else ``"onehot"``; ``encoding`` overrides.
**The official NB-101 mapping is unknown**: LaNAS reads its 49 floats from AlphaX's preprocessed
``nasbench_dataset``, which we do not have, and the one example in ``Node.py:28`` (``best_arch``:
input -1.0, ops 0.5, output 1.0, padding 0.0, with an adjacency block that is not the row-major
upper triangle) does not determine it. We use our reconstruction (rows 0..5 of the embedded 7x7
matrix and AlphaX's Meta-DNN op codes: input 2, conv1x1 3, maxpool 4, conv3x3 5, output 6, pad 0;
see :mod:`nasbench.spaces.nb101`).
The 49-float vector codes ops as ordinal numbers, which a linear split handles poorly: on the
NAS-Bench-101 30k subset ``encoding="onehot"`` reached the optimum within 3,000 samples in 29 of
30 seeds against 21 of 30 (suite ``experiments/suites/lanas.toml``).

Departures from the official code, and why:

* ``lanas:exact-fit`` replaces the Adam trainer by the closed form (see above); ``lanas`` does not.
* ``lanas:batched`` (``batch=True``, ours) asks a whole round of ``samples_per_rebuild`` draws at
  once, so a draw's value cannot enter ``xbar`` before the next draw of the same round; a node that
  has visits but no value yet scores the ``xbar`` of its nearest ancestor that has values. The
  default ``batch=False`` asks one architecture at a time and back-propagates each value before
  the next draw: exactly the official loop (``MCTS.py:194-204``).
* Exploration scale: Cp = 0.1 was set for accuracies in [0, 1]; a UCB comparison with values in
  percent is the same as one with Cp 100 times smaller. ``value_scale`` (0 = automatic: 100 when an
  observed value exceeds 1 in magnitude, as NAS-Bench-201's percent accuracies do, else 1) divides
  the values seen by the UCB, i.e. multiplies Cp; set it to 1 to use raw values.
* Back-propagation enters every finite value into ``xbar`` (the official code skips values
  ``<= 0``, i.e. failed trainings of an accuracy objective; a general objective may be negative).
* Rejection sampling accepts a proposal only when it satisfies *all* constraints of the path (the
  official one-shot ``search_samples_under_constraints`` returns as soon as one constraint holds,
  a known bug, LaMCTS issue #17) and uses the same threshold as the tree (mean prediction; the
  one-shot code uses the node's ``x_bar``). It proposes indices of the enumerated space (an
  architecture outside the table has no index and so no encoding); after ``rejection_tries``
  proposals without success it takes the proposal that the tree classifies into the first
  (left-most) leaf, mirroring the tabular fallback (the official sampler loops forever).
* Architectures the oracle answers ``OUT_OF_TABLE`` are never proposed again and carry no value.

Asynchronous workers (:mod:`experiments.harness.timed`): architectures still training (``set_pending``)
are left out of the draws until their answer comes, as the official distributed LaNAS removes a
dispatched architecture from its search space and trains the tree on received results only
(``LaNAS/Distributed_LaNAS/server/MCTS.py:255-264``, ``dispatch_and_retrieve_jobs``). Without it a
round's draw order (one uniform key per architecture per round) proposes the same running
architecture again and again. Sequential trials never have pending architectures at an ``ask``,
so they are unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.benchmark import Status
from strategies.base import ConfigError, Strategy
from strategies.models.partition import (
    bag_stats,
    classify,
    draw_classified,
    draw_rejection,
    fit_tree,
    fit_tree_adam,
    init_models,
    leaf_path,
    n_internal,
    random_available,
)
from strategies.registry import register

log = logging.getLogger(__name__)

SAMPLING_MODES = ("classify", "rejection")
FIT_MODES = ("adam", "exact")


@dataclass(frozen=True)
class LaNASConfig:
    height: int = 5  # levels of the full binary tree (5: 31 nodes, 16 leaves)
    cp: float = 0.1  # UCB exploration constant (official tabular code; one-shot uses 10)
    init_samples: int = 10  # uniformly random architectures before the first tree
    samples_per_rebuild: int = 20  # draws per tree rebuild (one ask when batch=True)
    sampling: str = "classify"  # "classify" the whole space, or "rejection" against the path
    encoding: str = "auto"  # "auto": "adjacency" when the space has it, else "onehot"
    ridge: float = 1e-4  # relative ridge of the closed-form fits (times trace(Cov)/d)
    value_scale: float = 0.0  # divide values by this in the UCB; 0 = auto (100 for percentages)
    batch: bool = False  # False: one draw per ask, evaluated before the next (official loop); True: a round per ask
    rejection_tries: int = 4096  # proposals per draw in rejection mode before the fallback
    fit: str = "adam"  # "adam": the official trainer (Classifier.py); "exact": closed-form least squares
    lr: float = 1e-5  # adam: Adam's learning rate (Classifier.py:38)
    clip: float = 5.0  # adam: gradient-norm clipping (Classifier.py:85)
    first_epochs: int = 20_000  # adam: full-batch steps at a node's first fit (Classifier.py:69)
    later_epochs: int = 3_000  # adam: steps at each later fit, warm-started (Classifier.py:71)


# ----------------------------------------------------------------------------- state
@dataclass(frozen=True)
class Tree:
    """One rebuilt tree: the linear models and the UCB statistics (visits and value sums)."""

    w: jax.Array  # [I, d]
    b: jax.Array  # [I]
    thr: jax.Array  # [I]
    active: jax.Array  # [I] bool: the node's bag was not empty
    xsum: np.ndarray  # [N] sum of values / value_scale on the node (bag + back-propagated)
    m: np.ndarray  # [N] number of values on the node
    n: np.ndarray  # [N] visits (bag size + draws)
    leaf_of: jax.Array | None  # [n_arch] leaf of every architecture (classify mode)
    u: jax.Array  # [n_arch] uniform keys of this round (draws without replacement)


@dataclass(frozen=True)
class LaNASState:
    key: jax.Array
    obs_idx: np.ndarray  # [t] evaluated indices, in order
    obs_val: np.ndarray  # [t] their observed values
    evaluated: np.ndarray  # [n_arch] bool
    dead: np.ndarray  # [n_arch] bool: answered out of table / invalid, never proposed again
    tree: Tree | None = None
    drawn: int = 0  # draws since the last rebuild
    pending: tuple[tuple[int, int], ...] = ()  # (index, leaf) of draws not yet told
    value_scale: float = 0.0  # resolved at the first rebuild when the config says 0 (auto)
    rounds: int = 0  # trees built
    models: dict[str, jax.Array] | None = None  # fit="adam": every node's model and Adam state, kept across rounds
    draws_leaf: int = 0  # draws from the leaf the UCB path chose
    draws_fallback: int = 0  # draws from the first non-empty leaf (the chosen one was empty / no proposal fitted)
    running: tuple[int, ...] = ()  # set_pending: architectures training on other workers, not drawn


def _bucket(m: int) -> int:
    """Padded row count for the fit (powers of two from 256) so that jit compiles few shapes."""
    return max(256, 1 << (m - 1).bit_length())


@register
class LaNAS(Strategy):
    name = "lanas"
    paper = (
        "Wang, Xie, Li, Fonseca, Tian: Sample-Efficient Neural Architecture Search by Learning "
        "Action Space for Monte Carlo Tree Search, arXiv:1906.06832, 2019 (journal version: IEEE TPAMI, 2021)"
    )
    summary = "MCTS over a tree of linear splits learned from evaluated architectures (UCB to a leaf, sample it)."
    Config = LaNASConfig
    version = 2  # 2: the official Adam trainer and sequential draws by default; 1 was the exact fit, batched
    presets = {
        "exact-fit": {"fit": "exact"},
        "oneshot": {"cp": 10.0, "init_samples": 300, "sampling": "rejection", "samples_per_rebuild": 1},
        "batched": {"batch": True},
        "test": {"height": 3, "init_samples": 4, "samples_per_rebuild": 5, "first_epochs": 200, "later_epochs": 30},
    }

    def __init__(self, space, config: Any = None):
        super().__init__(space, config)
        c = self.config
        if not 1 <= c.height <= 16:
            raise ConfigError(f"lanas: height must be in 1..16 levels, got {c.height}")
        if c.sampling not in SAMPLING_MODES:
            raise ConfigError(f"lanas: sampling must be one of {SAMPLING_MODES}, got {c.sampling!r}")
        if c.init_samples < 1 or c.samples_per_rebuild < 1 or c.rejection_tries < 1:
            raise ConfigError("lanas: init_samples, samples_per_rebuild and rejection_tries must be >= 1")
        if c.fit not in FIT_MODES:
            raise ConfigError(f"lanas: fit must be one of {FIT_MODES}, got {c.fit!r}")
        if c.first_epochs < 0 or c.later_epochs < 0 or c.lr <= 0 or c.clip <= 0:
            raise ConfigError("lanas: first_epochs and later_epochs must be >= 0, lr and clip > 0")
        if c.cp < 0 or c.ridge < 0 or c.value_scale < 0:
            raise ConfigError("lanas: cp, ridge and value_scale must be >= 0 (value_scale 0 = automatic)")
        enc = c.encoding
        if enc == "auto":
            enc = "adjacency" if "adjacency" in space.features else "onehot"
        self.encoding = enc
        self._x_host = np.asarray(space.encode(enc), dtype=np.float32)  # KeyError names the encodings
        self._x = jnp.asarray(self._x_host)

    # ------------------------------------------------------------------ protocol
    def init(self, key: jax.Array) -> LaNASState:
        n = self.space.n
        models = None
        if self.config.fit == "adam":  # its own stream: the draws are the same as with the exact fit
            models = init_models(jax.random.fold_in(key, 7), n_internal(self.config.height), self._x_host.shape[1])
        return LaNASState(
            key=key,
            obs_idx=np.zeros(0, np.int64),
            obs_val=np.zeros(0, np.float64),
            evaluated=np.zeros(n, bool),
            dead=np.zeros(n, bool),
            models=models,
        )

    def diagnostics(self, state: LaNASState) -> dict[str, float]:
        return {"rebuilds": state.rounds, "draws_chosen_leaf": state.draws_leaf,
                "draws_fallback_leaf": state.draws_fallback,
                "draws_initial": min(int(state.obs_idx.size), self.config.init_samples)}

    def set_pending(self, state: LaNASState, pending: np.ndarray) -> LaNASState:
        return replace(state, running=tuple(int(i) for i in np.asarray(pending).reshape(-1)))

    def ask(self, state: LaNASState, budget_left: int) -> tuple[LaNASState, np.ndarray]:
        c = self.config
        key, sub = jax.random.split(state.key)
        avail = ~state.evaluated & ~state.dead
        if state.running:
            avail[list(state.running)] = False
        if not avail.any():
            raise RuntimeError(f"lanas: every architecture of {self.space.name} has been evaluated or is out of table")
        if state.obs_idx.size < c.init_samples:
            k = max(1, min(c.init_samples - state.obs_idx.size, budget_left))
            idx = np.asarray(random_available(sub, jnp.asarray(avail), k=k))
            return replace(state, key=key), idx[idx >= 0]
        if state.tree is None or state.drawn >= c.samples_per_rebuild:
            key, k_build = jax.random.split(key)
            state = self._rebuild(replace(state, key=key), k_build, avail)
            key = state.key
        tree = state.tree
        assert tree is not None  # built above
        # a whole round per ask (batch) or one draw; a fixed k keeps jit to one compiled shape,
        # and draws past the budget are dropped (the runner would drop them anyway)
        k = c.samples_per_rebuild - state.drawn if c.batch else 1
        cp = jnp.float32(c.cp)
        if c.sampling == "classify":
            idx, leaves, n, fallback = draw_classified(
                sub, jnp.asarray(tree.xsum.astype(np.float32)), jnp.asarray(tree.m.astype(np.int32)), jnp.asarray(tree.n.astype(np.int32)), cp,
                tree.leaf_of, jnp.asarray(avail), tree.u, height=c.height, k=k,
            )
        else:
            idx, leaves, n, fallback = draw_rejection(
                sub, jnp.asarray(tree.xsum.astype(np.float32)), jnp.asarray(tree.m.astype(np.int32)), jnp.asarray(tree.n.astype(np.int32)), cp,
                tree.active, tree.w, tree.b, tree.thr, self._x, jnp.asarray(avail), tree.u,
                height=c.height, k=k, tries=c.rejection_tries,
            )
        idx, leaves, fallback = np.asarray(idx, np.int64), np.asarray(leaves, np.int64), np.asarray(fallback)
        keep = idx >= 0
        idx, leaves = idx[keep][: max(1, budget_left)], leaves[keep][: max(1, budget_left)]
        fallback = fallback[keep][: max(1, budget_left)]
        tree = replace(tree, n=np.asarray(n, np.int64))
        pending = state.pending + tuple((int(i), int(lf)) for i, lf in zip(idx, leaves))
        return replace(state, key=key, tree=tree, drawn=state.drawn + k, pending=pending,
                       draws_leaf=state.draws_leaf + int((~fallback).sum()),
                       draws_fallback=state.draws_fallback + int(fallback.sum())), idx

    def tell(self, state: LaNASState, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> LaNASState:
        idx = np.asarray(idx, np.int64).reshape(-1)
        values = np.asarray(values, np.float64).reshape(-1)
        status = np.asarray(status).reshape(-1)
        evaluated, dead = state.evaluated.copy(), state.dead.copy()
        new_i, new_v = [], []
        pending = dict(state.pending)
        tree = state.tree
        xsum, m = (tree.xsum.copy(), tree.m.copy()) if tree is not None else (None, None)
        for raw, v, s in zip(idx, values, status):
            i = int(raw)
            leaf = pending.pop(i, None)
            if s in (Status.NEW, Status.CACHED) and np.isfinite(v):
                if 0 <= i < evaluated.size and not evaluated[i]:
                    evaluated[i] = True
                    new_i.append(i)
                    new_v.append(float(v))
                    if leaf is not None and xsum is not None and m is not None:  # back-propagate the value
                        for anc in self._path_nodes(leaf):
                            xsum[anc] += v / state.value_scale
                            m[anc] += 1
            elif 0 <= i < dead.size:
                dead[i] = True
        if tree is not None and xsum is not None and m is not None:
            tree = replace(tree, xsum=xsum, m=m)
        return replace(
            state,
            obs_idx=np.concatenate([state.obs_idx, np.asarray(new_i, np.int64)]),
            obs_val=np.concatenate([state.obs_val, np.asarray(new_v, np.float64)]),
            evaluated=evaluated,
            dead=dead,
            tree=tree,
            pending=tuple(pending.items()),
        )

    # ------------------------------------------------------------------ internals
    def _path_nodes(self, leaf: int) -> list[int]:
        h = self.config.height
        return [a for a, _ in leaf_path(leaf, h)] + [leaf + n_internal(h)]

    def _rebuild(self, state: LaNASState, key: jax.Array, avail: np.ndarray) -> LaNASState:
        """Fit the tree on every evaluated architecture and (classify mode) classify the space."""
        c = self.config
        t = state.obs_idx.size
        scale = state.value_scale or c.value_scale
        if scale == 0:
            scale = 100.0 if np.abs(state.obs_val).max() > 1.0 else 1.0
        rows = _bucket(t)
        # padded on the host: eager device ops on shapes that change every round would each compile
        x = np.zeros((rows, self._x_host.shape[1]), np.float32)
        x[:t] = self._x_host[state.obs_idx]
        y = np.zeros(rows, np.float32)
        y[:t] = state.obs_val
        valid = jnp.asarray(np.arange(rows) < t)
        models = state.models
        if c.fit == "adam":  # the official trainer, on accuracy fractions (values / value_scale)
            fit, models = fit_tree_adam(jnp.asarray(x), jnp.asarray(y / scale), valid, models,
                                        c.first_epochs, c.later_epochs, c.lr, c.clip, height=c.height)
            # back to value units for the classification (a positive scale keeps every comparison)
            fit = {**fit, "W": fit["W"] * scale, "b": fit["b"] * scale, "thr": fit["thr"] * scale}
        else:
            fit = fit_tree(jnp.asarray(x), jnp.asarray(y), valid, c.ridge, height=c.height)
        cnt, ysum = bag_stats(np.asarray(fit["path"])[:, :t], state.obs_val, c.height)
        xsum = ysum / scale  # the UCB sees values / value_scale
        leaf_of = None
        if c.sampling == "classify":
            leaf_of = classify(self._x, fit["W"], fit["b"], fit["thr"], height=c.height)
        u = jax.random.uniform(key, (self.space.n,))
        tree = Tree(
            w=fit["W"], b=fit["b"], thr=fit["thr"], active=jnp.asarray(cnt[: n_internal(c.height)] > 0),
            xsum=xsum, m=cnt.copy(), n=cnt.copy(), leaf_of=leaf_of, u=u,
        )
        log.debug("lanas round %d: %d samples, leaf bags %s", state.rounds, t, cnt[n_internal(c.height):].tolist())
        return replace(state, tree=tree, drawn=0, pending=(), value_scale=scale, rounds=state.rounds + 1, models=models)

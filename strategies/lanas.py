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
  as the official code. Implemented in pure JAX (:func:`adam_step`, :func:`train_linear`: one
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

Asynchronous workers (:mod:`experiments.timed`): architectures still training (``set_pending``)
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
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.benchmark import Status
from strategies.base import ConfigError, Strategy
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


# ----------------------------------------------------------------------------- tree layout
def n_nodes(height: int) -> int:
    """Nodes of a full binary tree of ``height`` levels."""
    return 2**height - 1


def n_internal(height: int) -> int:
    """Internal nodes (each with a linear model); the leaves are nodes ``n_internal .. n_nodes-1``."""
    return 2 ** (height - 1) - 1


def leaf_path(leaf: int, height: int) -> list[tuple[int, bool]]:
    """``[(ancestor, goes_left)]`` from the root to leaf position ``leaf`` (0 = left-most)."""
    j = leaf + n_internal(height) + 1  # 1-based heap id
    out = []
    for level in range(height - 1):
        anc = (j >> (height - 1 - level)) - 1
        child = (j >> (height - 2 - level)) - 1
        out.append((anc, child == 2 * anc + 1))
    return out


# ----------------------------------------------------------------------------- pure kernels
def ucb(xbar: jax.Array, n: jax.Array, n_parent: jax.Array, cp: float | jax.Array) -> jax.Array:
    """LaNAS's UCB score ``xbar + 2 Cp sqrt(2 ln n_parent / n)``; ``+inf`` where ``n == 0``."""
    n = jnp.asarray(n, jnp.float32)
    safe_n = jnp.maximum(n, 1.0)
    safe_p = jnp.maximum(jnp.asarray(n_parent, jnp.float32), 1.0)
    score = xbar + 2.0 * cp * jnp.sqrt(2.0 * jnp.log(safe_p) / safe_n)
    return jnp.where(n > 0, score, jnp.inf)


def _solve_spd(a: jax.Array, r: jax.Array) -> jax.Array:
    """Solve ``a @ w = r`` for a batch of symmetric positive-definite ``a [k, d, d]`` (Cholesky)."""
    chol = jnp.linalg.cholesky(a)
    z = jax.lax.linalg.triangular_solve(chol, r[..., None], left_side=True, lower=True)
    return jax.lax.linalg.triangular_solve(chol, z, left_side=True, lower=True, transpose_a=True)[..., 0]


def fit_masked(x: jax.Array, y: jax.Array, mask: jax.Array, ridge: float | jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Ridge least squares of ``y ~ w.x + b`` on each bag ``mask [k, m]`` (0/1 rows of ``x [m, d]``).

    The intercept is unpenalised; the ridge is ``ridge * trace(Cov) / d`` (scale-free). Returns
    ``(w [k, d], b [k], thr [k])`` with ``thr`` the mean prediction over the bag (LaNAS's split
    threshold); all zero for an empty bag.
    """
    d = x.shape[1]
    cnt = mask.sum(axis=1)  # [k]
    safe = jnp.maximum(cnt, 1.0)
    xm = mask @ x / safe[:, None]  # [k, d]
    ym = mask @ y / safe  # [k]
    xx = jnp.einsum("km,md,me->kde", mask, x, x) / safe[:, None, None]
    cov = xx - xm[:, :, None] * xm[:, None, :]
    rhs = (mask @ (x * y[:, None])) / safe[:, None] - xm * ym[:, None]
    lam = ridge * jnp.trace(cov, axis1=1, axis2=2) / d + 1e-12
    w = _solve_spd(cov + lam[:, None, None] * jnp.eye(d, dtype=x.dtype), rhs)
    b = ym - (w * xm).sum(axis=1)
    thr = (mask * (x @ w.T + b).T).sum(axis=1) / safe
    empty = cnt == 0
    return jnp.where(empty[:, None], 0.0, w), jnp.where(empty, 0.0, b), jnp.where(empty, 0.0, thr)


@partial(jax.jit, static_argnames=("height",))
def fit_tree(x: jax.Array, y: jax.Array, valid: jax.Array, ridge: float, *, height: int) -> dict[str, jax.Array]:
    """Build the tree on evaluated architectures (``x [m, d]``, values ``y [m]``, ``valid [m]``
    masks padding rows).

    Level by level, every node of the level fits its linear model on its bag, and its bag is split
    by **true** value against the node's mean prediction. Returns ``W [I, d]``, ``b [I]``,
    ``thr [I]`` (internal nodes) and ``path [height, m]``, the node of every row at every level
    (its bag membership; -1 for padding rows).
    """
    m, d = x.shape
    n_int = n_internal(height)
    node0 = jnp.where(valid, 0, -1).astype(jnp.int32)
    # centre globally for float32 accuracy (the fit is shift-invariant; shifts go back into b, thr)
    vf = valid.astype(x.dtype)
    x0 = vf @ x / jnp.maximum(vf.sum(), 1.0)
    y0 = vf @ y / jnp.maximum(vf.sum(), 1.0)
    x, y = (x - x0) * vf[:, None], (y - y0) * vf
    ids = jnp.arange(max(n_int, 1))

    def level(carry, _):
        node, w_all, b_all, t_all = carry
        # every valid row sits on a node of the current level; other nodes get empty bags
        mask = (node[None, :] == ids[:, None]).astype(x.dtype)  # [I, m]
        w, b, t = fit_masked(x, y, mask, ridge)
        fitted = mask.sum(axis=1) > 0
        w_all = jnp.where(fitted[:, None], w, w_all)
        b_all = jnp.where(fitted, b, b_all)
        t_all = jnp.where(fitted, t, t_all)
        good = y >= t[jnp.clip(node, 0, n_int - 1)]  # TRUE value vs mean prediction (split_data)
        node = jnp.where(node >= 0, 2 * node + 1 + (~good).astype(jnp.int32), node)
        return (node, w_all, b_all, t_all), node

    zeros = (jnp.zeros((max(n_int, 1), d), x.dtype), jnp.zeros(max(n_int, 1), x.dtype), jnp.zeros(max(n_int, 1), x.dtype))
    (_, w_all, b_all, t_all), nodes = jax.lax.scan(level, (node0, *zeros), None, length=height - 1)
    path = jnp.concatenate([node0[None], nodes], axis=0)  # [height, m]
    fitted = jnp.zeros(max(n_int, 1), bool).at[jnp.clip(path[:-1], 0, None)].max(path[:-1] >= 0)
    # back to raw units: f(x) = w.(x - x0) + b + y0; empty nodes keep w = b = thr = 0
    b_raw = jnp.where(fitted, b_all - w_all @ x0 + y0, 0.0)
    t_raw = jnp.where(fitted, t_all + y0, 0.0)
    return {"W": w_all[:n_int], "b": b_raw[:n_int], "thr": t_raw[:n_int], "path": path}


# ----------------------------------------------------------------------------- the official trainer
def init_models(key: jax.Array, n_int: int, d: int) -> dict[str, jax.Array]:
    """Every internal node's ``nn.Linear(d, 1)`` and Adam state, as PyTorch initialises them:
    weight ``xavier_uniform_`` (bound ``sqrt(6 / (d + 1))``), bias ``U(-1/sqrt(d), 1/sqrt(d))``
    (``nn.Linear``'s default), Adam moments zero, step 0, no fit yet."""
    kw, kb = jax.random.split(key)
    bw, bb = float(np.sqrt(6.0 / (d + 1))), float(1.0 / np.sqrt(d))
    return {
        "w": jax.random.uniform(kw, (n_int, d), jnp.float32, -bw, bw),
        "b": jax.random.uniform(kb, (n_int,), jnp.float32, -bb, bb),
        "mw": jnp.zeros((n_int, d), jnp.float32), "vw": jnp.zeros((n_int, d), jnp.float32),
        "mb": jnp.zeros(n_int, jnp.float32), "vb": jnp.zeros(n_int, jnp.float32),
        "t": jnp.zeros(n_int, jnp.int32), "fits": jnp.zeros(n_int, jnp.int32),
    }


def adam_step(p: dict[str, jax.Array], gw: jax.Array, gb: jax.Array, lr: float, clip: float,
              b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> dict[str, jax.Array]:
    """One ``clip_grad_norm_(params, clip)`` + ``torch.optim.Adam`` step of a batch of linear models.

    PyTorch's rules exactly: the gradient of weight and bias together is scaled by
    ``min(1, clip / (norm + 1e-6))``; then ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """
    norm = jnp.sqrt((gw * gw).sum(-1) + gb * gb)
    scale = jnp.minimum(clip / (norm + 1e-6), 1.0)
    gw, gb = gw * scale[..., None], gb * scale
    t = p["t"] + 1
    tf = t.astype(jnp.float32)
    bc1, bc2 = 1.0 - b1**tf, 1.0 - b2**tf
    mw, vw = b1 * p["mw"] + (1 - b1) * gw, b2 * p["vw"] + (1 - b2) * gw * gw
    mb, vb = b1 * p["mb"] + (1 - b1) * gb, b2 * p["vb"] + (1 - b2) * gb * gb
    step = lr / bc1
    w = p["w"] - step[..., None] * mw / (jnp.sqrt(vw) / jnp.sqrt(bc2)[..., None] + eps)
    b = p["b"] - step * mb / (jnp.sqrt(vb) / jnp.sqrt(bc2) + eps)
    return {**p, "w": w, "b": b, "mw": mw, "vw": vw, "mb": mb, "vb": vb, "t": t}


def train_linear(p: dict[str, jax.Array], mask: jax.Array, x: jax.Array, y: jax.Array, steps: jax.Array,
                 lr: float, clip: float) -> dict[str, jax.Array]:
    """``steps [k]`` full-batch Adam steps of each node's MSE on its bag ``mask [k, m]`` (one
    compiled loop; a node stops after its own count). The gradient of the mean squared error is
    computed from the bag's sufficient statistics: ``dL/dw = 2 (G w + xm b - xy)``,
    ``dL/db = 2 (xm.w + b - ym)`` with ``G = X'X/m``, ``xm``, ``xy = X'y/m``, ``ym`` the bag means."""
    cnt = jnp.maximum(mask.sum(axis=1), 1.0)
    xm = mask @ x / cnt[:, None]
    ym = mask @ y / cnt
    gram = jnp.einsum("km,md,me->kde", mask, x, x) / cnt[:, None, None]
    xy = mask @ (x * y[:, None]) / cnt[:, None]

    def body(carry):
        i, p = carry
        gw = 2.0 * (jnp.einsum("kde,ke->kd", gram, p["w"]) + xm * p["b"][:, None] - xy)
        gb = 2.0 * ((xm * p["w"]).sum(-1) + p["b"] - ym)
        q = adam_step(p, gw, gb, lr, clip)
        on = i < steps
        p = jax.tree.map(lambda new, old: jnp.where(on.reshape(on.shape + (1,) * (old.ndim - 1)), new, old), q, p)
        return i + 1, p

    _, p = jax.lax.while_loop(lambda c: c[0] < steps.max(), body, (jnp.int32(0), p))
    return p


@partial(jax.jit, static_argnames=("height",))
def fit_tree_adam(x: jax.Array, y: jax.Array, valid: jax.Array, models: dict[str, jax.Array], first: int,
                  later: int, lr: float, clip: float, *, height: int) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """The official rebuild: level by level, each node with a non-empty bag trains its persistent
    model (``first`` steps at its first fit, ``later`` afterwards), sets its threshold to the mean
    prediction over its bag and splits the bag by **true** value. A node with an empty bag keeps its
    model untrained and has threshold 0 (``predict_mean`` of an empty bag). Returns the tree
    (``W, b, thr, path`` as :func:`fit_tree`) and the updated models."""
    n_int = n_internal(height)
    node0 = jnp.where(valid, 0, -1).astype(jnp.int32)
    ids = jnp.arange(n_int)

    def level(carry, _):
        node, p, thr = carry
        mask = (node[None, :] == ids[:, None]).astype(x.dtype)  # [I, m]
        cnt = mask.sum(axis=1)
        has = cnt > 0
        steps = jnp.where(has, jnp.where(p["fits"] == 0, first, later), 0)
        p = train_linear(p, mask, x, y, steps, lr, clip)
        p = {**p, "fits": p["fits"] + has.astype(jnp.int32)}
        mean_pred = (mask * (x @ p["w"].T + p["b"]).T).sum(axis=1) / jnp.maximum(cnt, 1.0)
        thr = jnp.where(has, mean_pred, thr)
        good = y >= thr[jnp.clip(node, 0, n_int - 1)]  # TRUE value vs mean prediction (split_data)
        node = jnp.where(node >= 0, 2 * node + 1 + (~good).astype(jnp.int32), node)
        return (node, p, thr), node

    (_, models, thr), nodes = jax.lax.scan(level, (node0, models, jnp.zeros(n_int, x.dtype)), None, length=height - 1)
    path = jnp.concatenate([node0[None], nodes], axis=0)
    return {"W": models["w"], "b": models["b"], "thr": thr, "path": path}, models


def _walk(pred: jax.Array, thr: jax.Array, height: int) -> jax.Array:
    """Leaf positions of rows with node predictions ``pred [m, I]``: left when ``pred >= thr``."""
    node = jnp.zeros(pred.shape[0], jnp.int32)
    for _ in range(height - 1):
        p = jnp.take_along_axis(pred, node[:, None], axis=1)[:, 0]
        node = 2 * node + 1 + (p < thr[node]).astype(jnp.int32)
    return node - n_internal(height)


@partial(jax.jit, static_argnames=("height",))
def classify(x: jax.Array, w: jax.Array, b: jax.Array, thr: jax.Array, *, height: int) -> jax.Array:
    """Leaf position (0 = left-most) of every row of ``x [n, d]``: one matrix product ``x @ W.T``
    for all internal nodes, then one gather per level (``Classifier.split_predictions``)."""
    if height == 1:
        return jnp.zeros(x.shape[0], jnp.int32)
    return _walk(x @ w.T + b, thr, height)


def _xbar_eff(xsum: jax.Array, m: jax.Array, height: int) -> jax.Array:
    """Mean value per node; a node without values takes its nearest ancestor's mean."""
    xbar = jnp.where(m > 0, xsum / jnp.maximum(m, 1), jnp.inf)
    for level in range(1, height):
        first, width = 2**level - 1, 2**level
        ids = first + jnp.arange(width)
        par = (ids - 1) // 2
        xbar = xbar.at[ids].set(jnp.where(m[ids] > 0, xbar[ids], xbar[par]))
    return xbar


def _descend(coins: jax.Array, xbar: jax.Array, n: jax.Array, cp: jax.Array, height: int) -> jax.Array:
    """Leaf position chosen by UCB descent from the root; ``coins [height-1]`` break ties."""
    node = jnp.zeros((), jnp.int32)
    for level in range(height - 1):
        good, bad = 2 * node + 1, 2 * node + 2
        ug, ub = ucb(xbar[good], n[good], n[node], cp), ucb(xbar[bad], n[bad], n[node], cp)
        go_bad = (ub > ug) | ((ub == ug) & coins[level])
        node = jnp.where(go_bad, bad, good)
    return node - n_internal(height)


def _visit_path(n: jax.Array, leaf: jax.Array, height: int) -> jax.Array:
    """``n + 1`` on every node of the root-to-leaf path."""
    j = leaf + n_internal(height) + 1  # 1-based heap id; its ancestor at level l is j >> (depth - l)
    for level in range(height):
        n = n.at[(j >> (height - 1 - level)) - 1].add(1)
    return n


@partial(jax.jit, static_argnames=("height", "k"))
def draw_classified(key, xsum, m, n, cp, leaf_of, avail, u, *, height: int, k: int):
    """``k`` draws of the tabular LaNAS loop over a classified space.

    ``xsum, m, n [N]``: value sums, value counts and visits per node; ``leaf_of [n_arch]`` every
    architecture's leaf; ``avail [n_arch]`` the unevaluated ones; ``u [n_arch]`` this round's
    uniform keys (the available architecture of a leaf with the largest key is a uniform draw
    without replacement). An empty chosen leaf gives way to the first non-empty one. Returns
    ``(idx [k], leaf [k], n, fallback [k])``, ``idx = -1`` once nothing is left; ``fallback``
    marks draws whose UCB-chosen leaf was empty.
    """
    n_leaves = 2 ** (height - 1)
    xbar = _xbar_eff(xsum, m, height)
    counts = jax.ops.segment_sum(avail.astype(jnp.int32), leaf_of, n_leaves)
    coins = jax.random.bernoulli(key, shape=(k, max(height - 1, 1)))
    score0 = jnp.where(avail, u, -1.0)

    def body(i, carry):
        n, score, counts, out_i, out_l, out_f = carry
        chosen = _descend(coins[i], xbar, n, cp, height)
        leaf = jnp.where(counts[chosen] > 0, chosen, jnp.argmax(counts > 0)).astype(jnp.int32)
        any_left = counts.sum() > 0
        idx = jnp.argmax(jnp.where(leaf_of == leaf, score, -1.0)).astype(jnp.int32)
        idx = jnp.where(any_left, idx, -1)
        score = jnp.where(any_left, score.at[idx].set(-1.0), score)
        counts = jnp.where(any_left, counts.at[leaf].add(-1), counts)
        n = jnp.where(any_left, _visit_path(n, leaf, height), n)
        return n, score, counts, out_i.at[i].set(idx), out_l.at[i].set(leaf), out_f.at[i].set(leaf != chosen)

    init = (n, score0, counts, jnp.zeros(k, jnp.int32), jnp.zeros(k, jnp.int32), jnp.zeros(k, bool))
    n, _, _, idx, leaves, fallback = jax.lax.fori_loop(0, k, body, init)
    return idx, leaves, n, fallback


@partial(jax.jit, static_argnames=("height", "k", "tries"))
def draw_rejection(key, xsum, m, n, cp, active, w, b, thr, x_all, avail, u, *, height: int, k: int, tries: int):
    """``k`` draws by rejection sampling against the linear constraints of the UCB-chosen path.

    For each draw, ``tries`` uniform indices of the space are proposed; the first available one
    that satisfies the constraint of every active (non-empty) node on the path is taken. Without
    one, the available proposal classified into the left-most leaf is taken; without any available
    proposal, a uniformly random available architecture. Returns ``(idx [k], leaf [k], n)``.
    """
    n_arch = x_all.shape[0]
    xbar = _xbar_eff(xsum, m, height)
    k_coin, k_prop = jax.random.split(key)
    coins = jax.random.bernoulli(k_coin, shape=(k, max(height - 1, 1)))
    props = jax.random.randint(k_prop, (k, tries), 0, n_arch)
    j_levels = jnp.arange(height - 1)

    def body(i, carry):
        n, avail, out_i, out_l, out_f = carry
        leaf = _descend(coins[i], xbar, n, cp, height)
        prop = props[i]
        pred = x_all[prop] @ w.T + b  # [tries, I]
        j = leaf + n_internal(height) + 1  # 1-based heap id of the leaf
        anc = (j >> (height - 1 - j_levels)) - 1  # [height-1] path nodes
        child = (j >> (height - 2 - j_levels)) - 1
        left = child == 2 * anc + 1
        p = pred[:, anc] if height > 1 else pred  # [tries, height-1]
        sat = jnp.where(left, p >= thr[anc], p < thr[anc]) | ~active[anc]
        free = avail[prop]
        ok = free & sat.all(axis=1)
        pleaf = _walk(pred, thr, height) if height > 1 else jnp.zeros(tries, jnp.int32)
        fallback = jnp.argmin(jnp.where(free, pleaf, jnp.iinfo(jnp.int32).max))
        rnd = jnp.argmax(jnp.where(avail, u, -1.0)).astype(jnp.int32)
        rnd_leaf = classify(x_all[rnd][None], w, b, thr, height=height)[0]
        idx = jnp.where(ok.any(), prop[jnp.argmax(ok)], jnp.where(free.any(), prop[fallback], rnd)).astype(jnp.int32)
        used = jnp.where(ok.any(), leaf, jnp.where(free.any(), pleaf[fallback], rnd_leaf)).astype(jnp.int32)
        any_left = avail.any()
        idx = jnp.where(any_left, idx, -1)
        avail = jnp.where(any_left, avail.at[idx].set(False), avail)
        n = jnp.where(any_left, _visit_path(n, used, height), n)
        return n, avail, out_i.at[i].set(idx), out_l.at[i].set(used), out_f.at[i].set(used != leaf)

    init = (n, avail, jnp.zeros(k, jnp.int32), jnp.zeros(k, jnp.int32), jnp.zeros(k, bool))
    n, _, idx, leaves, fallback = jax.lax.fori_loop(0, k, body, init)
    return idx, leaves, n, fallback


@partial(jax.jit, static_argnames=("k",))
def random_available(key: jax.Array, avail: jax.Array, *, k: int) -> jax.Array:
    """``k`` available indices uniformly without replacement (``-1`` past the available count)."""
    score = jnp.where(avail, jax.random.uniform(key, avail.shape), -1.0)
    top, idx = jax.lax.top_k(score, k)
    return jnp.where(top >= 0, idx, -1)


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


def bag_stats(path: np.ndarray, values: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Bag size and value sum (float64) of every node from ``path [height, t]`` of :func:`fit_tree`."""
    nodes = n_nodes(height)
    cnt = np.zeros(nodes, np.int64)
    ysum = np.zeros(nodes, np.float64)
    for level_nodes in path:
        np.add.at(cnt, level_nodes, 1)
        np.add.at(ysum, level_nodes, values)
    return cnt, ysum


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

"""LaNAS's learned partition of a search space, as pure functions over arrays.

Wang, Xie, Li, Fonseca, Tian: "Sample-Efficient Neural Architecture Search by Learning Action
Space for Monte Carlo Tree Search", arXiv:1906.06832 (official code: ``facebookresearch/LaMCTS``,
``LaNAS``). A full binary tree of ``height`` levels: every internal node holds a linear regressor
fitted on the architectures that reach it and splits them at its mean prediction (left: better),
so a leaf is a region of the space; MCTS descends the tree by UCB and samples the chosen leaf.

Here: the tree's layout (:func:`n_nodes`, :func:`leaf_path`), the UCB score, the two ways to fit
the node models (the closed-form ridge fit :func:`fit_tree`, and the official Adam trainer
:func:`fit_tree_adam`, ``Classifier.py``), classification of the whole space into leaves
(:func:`classify`), and the draws: from the classified leaf (:func:`draw_classified`), by rejection
against the path's constraints (:func:`draw_rejection`), or uniformly (:func:`random_available`).
All jit-compiled kernels; :class:`strategies.lanas.LaNAS` holds the state and the search loop.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


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


def bag_stats(path: np.ndarray, values: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Bag size and value sum (float64) of every node from ``path [height, t]`` of :func:`fit_tree`."""
    nodes = n_nodes(height)
    cnt = np.zeros(nodes, np.int64)
    ysum = np.zeros(nodes, np.float64)
    for level_nodes in path:
        np.add.at(cnt, level_nodes, 1)
        np.add.at(ysum, level_nodes, values)
    return cnt, ysum

"""Shared performance predictors: ensembles of MLPs and of graph neural networks, and acquisitions.

Every predictor here is an *ensemble*: ``members`` independently initialised networks whose
parameters are stacked along a leading axis, trained together with one ``jax.vmap`` over the
members (each member draws its own minibatch order), jitted once per padded training-set size.

* :class:`MLP`: a feed-forward net on a fixed-length encoding (one-hot, path, adjacency). The
  BANANAS meta neural network (White, Neiswanger, Savani, "BANANAS: Bayesian Optimization with
  Neural Architectures for Neural Architecture Search", AAAI 2021) is ``hidden=(20,) * 10``
  trained 200 epochs, batch 32, Adam lr 0.01, 5 members.
* :class:`GIN`: a graph isomorphism network (Xu, Hu, Leskovec, Jegelka, "How Powerful are Graph
  Neural Networks?", ICLR 2019) over ``space.graph`` = ``(adjacency [n, V, V], node features
  [n, V, F])``. The cells are DAGs, so each layer aggregates the in-neighbours and the
  out-neighbours with separate weights (as the bidirectional GCN of Dudziak et al., BRP-NAS,
  NeurIPS 2020). Padding nodes (all-zero feature rows) are masked out; the readout is a masked
  mean, so the output is invariant to any relabelling of the nodes.
* Acquisitions from the ensemble's ``[members, m]`` predictions (larger is better): the mean,
  UCB ``mean + beta * std``, and independent Thompson sampling (BANANAS' ``its``: one draw from
  ``N(mean, std)`` per candidate).

Training sets are padded to *bucket* sizes (powers of two, at least 64 rows) with a row mask, so
a search that refits after every batch compiles only ``log2`` many training functions. Targets
are used as given; callers standardise them (see :func:`standardize`).

All functions are pure; all randomness comes from explicit keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

Params = Any

OUT_ACTIVATIONS = ("none", "sigmoid")
LOSSES = ("mse", "mae")
ACQUISITIONS = ("mean", "ucb", "thompson")


def _out(x: jnp.ndarray, out_activation: str) -> jnp.ndarray:
    if out_activation == "sigmoid":
        return jax.nn.sigmoid(x)
    if out_activation != "none":
        raise ValueError(f"out_activation must be one of {OUT_ACTIVATIONS}, got {out_activation!r}")
    return x


# ---------------------------------------------------------------------------------- models
class MLP(nn.Module):
    """Feed-forward regressor: ``Dense(h) -> ReLU`` for each ``h`` in ``hidden``, then
    ``Dense(1)`` and ``out_activation``. ``x [..., d] -> [...]``."""

    hidden: tuple[int, ...]
    out_activation: str = "none"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
        return _out(nn.Dense(1)(x)[..., 0], self.out_activation)


class GIN(nn.Module):
    """Directed graph isomorphism network on padded DAGs.

    Input ``(adj [..., V, V], feats [..., V, F])`` with ``adj[i, j] = 1`` for an edge ``i -> j``.
    Layer: ``h <- ReLU(Dense(h) + Dense_in(A^T h) + Dense_out(A h))`` then ``ReLU(Dense(.))``
    (GIN's two-layer update, with separate weights for in- and out-neighbours). Readout: masked
    mean over real nodes, then ``Dense(hidden[-1]) -> ReLU -> Dense(1)``. Output ``[...]``.
    """

    hidden: tuple[int, ...] = (64, 64, 64)
    out_activation: str = "none"

    @nn.compact
    def __call__(self, adj: jnp.ndarray, feats: jnp.ndarray) -> jnp.ndarray:
        node_mask = (jnp.abs(feats).sum(-1) > 0).astype(feats.dtype)  # [..., V]
        adj = adj * node_mask[..., :, None] * node_mask[..., None, :]
        h = feats
        for width in self.hidden:
            incoming = jnp.einsum("...ij,...if->...jf", adj, h)  # sum over predecessors i -> j
            outgoing = jnp.einsum("...ij,...jf->...if", adj, h)  # sum over successors
            h = nn.Dense(width)(h) + nn.Dense(width, use_bias=False)(incoming) + nn.Dense(width, use_bias=False)(outgoing)
            h = nn.relu(nn.Dense(width)(nn.relu(h)))
            h = h * node_mask[..., None]
        pooled = h.sum(-2) / jnp.maximum(node_mask.sum(-1, keepdims=True), 1.0)
        z = nn.relu(nn.Dense(self.hidden[-1] if self.hidden else 16)(pooled))
        return _out(nn.Dense(1)(z)[..., 0], self.out_activation)


# ----------------------------------------------------------------------- generic ensemble core
def _bucket(n: int, minimum: int = 64) -> int:
    """The padded size of a training set of ``n`` rows: the next power of two, at least ``minimum``."""
    b = minimum
    while b < n:
        b *= 2
    return b


def _pad_rows(a: np.ndarray | jnp.ndarray, size: int) -> jnp.ndarray:
    """``a`` with zero rows appended up to ``size`` rows, padded on the host: ``jnp.pad`` would
    compile once per input shape, and a search's training set grows by a batch every round."""
    a = np.asarray(a)
    pad = size - a.shape[0]
    if pad < 0:
        raise ValueError(f"cannot pad {a.shape[0]} rows down to {size}")
    return jnp.asarray(np.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1)) if pad else a)


def _loss(pred: jnp.ndarray, y: jnp.ndarray, w: jnp.ndarray, loss: str) -> jnp.ndarray:
    err = pred - y
    per = err**2 if loss == "mse" else jnp.abs(err)
    return (per * w).sum() / jnp.maximum(w.sum(), 1.0)


@functools.cache
def _fit_fn(apply: Callable, batch_size: int, loss: str) -> Callable:
    """A jitted ``(keys [M], params [M,...], inputs, y, mask, epochs, lr, wd) -> params`` trainer.

    Per epoch, each member shuffles the valid rows (padding last) and takes ``ceil(n_valid /
    batch_size)`` minibatch steps; a minibatch's padding rows get zero weight. Epochs, learning
    rate and weight decay are traced, so only the padded size, the batch size and the loss
    trigger a compilation.
    """

    def one(key, params, inputs, y, mask, epochs, lr, weight_decay):
        opt = optax.adamw(lr, weight_decay=weight_decay)  # weight_decay 0: exactly Adam
        n_pad = y.shape[0]
        n_valid = mask.sum().astype(jnp.int32)
        steps = (n_valid + batch_size - 1) // batch_size
        opt_state = opt.init(params)

        def grad_step(params, opt_state, rows, w):
            def objective(p):
                batch = tuple(x[rows] for x in inputs)
                return _loss(apply(p, *batch), y[rows], w, loss)

            g = jax.grad(objective)(params)
            updates, opt_state = opt.update(g, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        def epoch(e, carry):
            params, opt_state = carry
            u = jax.random.uniform(jax.random.fold_in(key, e), (n_pad,))
            order = jnp.argsort(jnp.where(mask > 0, u, 2.0))  # valid rows first, shuffled
            order = jnp.concatenate([order, jnp.zeros(batch_size, order.dtype)])
            pos = jnp.arange(batch_size)

            def step(b, carry):
                params, opt_state = carry
                rows = jax.lax.dynamic_slice(order, (b * batch_size,), (batch_size,))
                w = ((b * batch_size + pos) < n_valid).astype(jnp.float32) * mask[rows]
                return grad_step(params, opt_state, rows, w)

            return jax.lax.fori_loop(0, steps, step, (params, opt_state))

        params, _ = jax.lax.fori_loop(0, epochs, epoch, (params, opt_state))
        return params

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, None, None, None, None)))


def _fit(apply: Callable, key: jax.Array, params: Params, inputs: Sequence[np.ndarray], y: np.ndarray,
         mask: np.ndarray | None, epochs: int, batch_size: int, lr: float, weight_decay: float, loss: str) -> Params:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = y.shape[0]
    if any(np.shape(x)[0] != n for x in inputs):
        raise ValueError(f"inputs and targets disagree on the number of rows: {[np.shape(x) for x in inputs]} vs {n}")
    if not np.all(np.isfinite(y if mask is None else y[np.asarray(mask) > 0])):
        raise ValueError("training targets contain NaN/inf; drop unanswered (out-of-table) architectures first")
    m = np.ones(n, np.float32) if mask is None else np.asarray(mask, dtype=np.float32).reshape(-1)
    size = _bucket(n)
    padded = tuple(_pad_rows(np.asarray(x, np.float32), size) for x in inputs)
    members = jax.tree_util.tree_leaves(params)[0].shape[0]
    keys = jax.random.split(key, members)
    fn = _fit_fn(apply, int(batch_size), loss)
    return fn(keys, params, padded, _pad_rows(np.nan_to_num(y), size), _pad_rows(m, size),
              jnp.asarray(epochs, jnp.int32), jnp.asarray(lr, jnp.float32), jnp.asarray(weight_decay, jnp.float32))


def _predict(apply: Callable, params: Params, inputs: Sequence[np.ndarray], chunk: int) -> jnp.ndarray:
    """``[members, m]`` predictions, computed in fixed-size padded chunks (one compilation)."""
    m = int(np.shape(inputs[0])[0])
    fn = _predict_chunk_fn(apply, len(inputs))
    if m <= chunk:
        size = _bucket(m, 16)
        return fn(params, *(_pad_rows(np.asarray(x, np.float32), size) for x in inputs))[:, :m]
    outs = []
    for s in range(0, m, chunk):
        part = [np.asarray(x[s:s + chunk], np.float32) for x in inputs]
        k = part[0].shape[0]
        outs.append(fn(params, *(_pad_rows(p, chunk) for p in part))[:, :k])
    return jnp.concatenate(outs, axis=1)


@functools.cache
def _predict_chunk_fn(apply: Callable, n_inputs: int) -> Callable:
    return jax.jit(jax.vmap(apply, in_axes=(0,) + (None,) * n_inputs))


@functools.cache
def _init_fn(module: nn.Module, shapes: tuple[tuple[int, ...], ...]) -> Callable:
    def one(k):
        return module.init(k, *(jnp.ones(s, jnp.float32) for s in shapes))

    return jax.jit(one)


def _init(module: nn.Module, key: jax.Array, members: int, *shapes: tuple[int, ...]) -> Params:
    """Stacked parameters of ``members`` inits, member ``i`` from ``split(key, members)[i]``.

    (A Python loop over one jitted init: XLA compiles a vmapped init several times slower.)
    """
    if members < 1:
        raise ValueError(f"an ensemble needs at least one member, got {members}")
    fn = _init_fn(module, tuple(tuple(s) for s in shapes))
    each = [fn(k) for k in jax.random.split(key, members)]
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *each)


# ------------------------------------------------------------------------------ MLP ensemble
@functools.cache
def _mlp_apply(hidden: tuple[int, ...], out_activation: str) -> Callable:
    model = MLP(tuple(hidden), out_activation)
    return model.apply


def init_ensemble(key: jax.Array, members: int, in_dim: int, hidden: tuple[int, ...],
                  out_activation: str = "none") -> Params:
    """Parameters of ``members`` independently initialised :class:`MLP` s, stacked on axis 0."""
    _out(jnp.zeros(()), out_activation)  # validates the name
    return _init(MLP(tuple(hidden), out_activation), key, members, (1, in_dim))


def fit_ensemble(key: jax.Array, params: Params, x: np.ndarray, y: np.ndarray, *, hidden: tuple[int, ...],
                 out_activation: str = "none", epochs: int = 200, batch_size: int = 32, lr: float = 0.01,
                 weight_decay: float = 0.0, mask: np.ndarray | None = None, loss: str = "mse") -> Params:
    """Train every member of an MLP ensemble on ``(x [n, d], y [n])`` from ``params``.

    Adam (decoupled weight decay ``weight_decay``, AdamW) on the ``loss`` (MSE by default) over minibatches of
    ``batch_size``; each member shuffles with its own key. ``mask [n]`` (1 = use the row) lets a
    caller pass its own padded buffers. Returns the trained, stacked parameters.
    """
    return _fit(_mlp_apply(tuple(hidden), out_activation), key, params, (x,), y, mask,
                epochs, batch_size, lr, weight_decay, loss)


def predict_ensemble(params: Params, x: np.ndarray, *, hidden: tuple[int, ...], out_activation: str = "none",
                     chunk: int = 16384) -> jnp.ndarray:
    """``[members, m]`` predictions of an MLP ensemble for ``x [m, d]`` (chunked, padded)."""
    return _predict(_mlp_apply(tuple(hidden), out_activation), params, (x,), chunk)


# ------------------------------------------------------------------------------ GNN ensemble
@functools.cache
def _gin_apply(hidden: tuple[int, ...], out_activation: str) -> Callable:
    return GIN(tuple(hidden), out_activation).apply


def init_gnn_ensemble(key: jax.Array, members: int, n_nodes: int, node_dim: int,
                      hidden: tuple[int, ...] = (64, 64, 64), out_activation: str = "none") -> Params:
    """Parameters of ``members`` :class:`GIN` s for graphs of ``n_nodes`` nodes, stacked on axis 0."""
    _out(jnp.zeros(()), out_activation)
    return _init(GIN(tuple(hidden), out_activation), key, members, (1, n_nodes, n_nodes), (1, n_nodes, node_dim))


def fit_gnn_ensemble(key: jax.Array, params: Params, adj: np.ndarray, feats: np.ndarray, y: np.ndarray, *,
                     hidden: tuple[int, ...] = (64, 64, 64), out_activation: str = "none", epochs: int = 100,
                     batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 0.0,
                     mask: np.ndarray | None = None, loss: str = "mse") -> Params:
    """Train a GIN ensemble on graphs ``(adj [n, V, V], feats [n, V, F])`` and targets ``y [n]``."""
    return _fit(_gin_apply(tuple(hidden), out_activation), key, params, (adj, feats), y, mask,
                epochs, batch_size, lr, weight_decay, loss)


def predict_gnn_ensemble(params: Params, adj: np.ndarray, feats: np.ndarray, *, hidden: tuple[int, ...] = (64, 64, 64),
                         out_activation: str = "none", chunk: int = 8192) -> jnp.ndarray:
    """``[members, m]`` predictions of a GIN ensemble (chunked, padded)."""
    return _predict(_gin_apply(tuple(hidden), out_activation), params, (adj, feats), chunk)


# -------------------------------------------------------------------------------- acquisition
def acquisition(preds: jnp.ndarray | np.ndarray, kind: str = "thompson", key: jax.Array | None = None,
                beta: float = 1.0) -> jnp.ndarray:
    """Score candidates from ensemble predictions ``[members, m]`` (larger is better).

    ``"mean"``: the ensemble mean. ``"ucb"``: ``mean + beta * std``. ``"thompson"``: independent
    Thompson sampling, one draw from ``N(mean, std)`` per candidate (needs ``key``).
    """
    preds = jnp.asarray(preds)
    mean = preds.mean(0)
    if kind == "mean":
        return mean
    std = preds.std(0)
    if kind == "ucb":
        return mean + beta * std
    if kind == "thompson":
        if key is None:
            raise ValueError("Thompson sampling needs a PRNG key: acquisition(preds, 'thompson', key=...)")
        return mean + std * jax.random.normal(key, mean.shape)
    raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {kind!r}")


def standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``((y - mean) / std, mean, std)`` with ``std`` floored so constant targets stay finite."""
    y = np.asarray(y, dtype=np.float64)
    mu = float(y.mean()) if y.size else 0.0
    sd = float(y.std()) if y.size > 1 else 1.0
    sd = sd if sd > 1e-12 else 1.0
    return ((y - mu) / sd).astype(np.float32), mu, sd


# --------------------------------------------------------------- one interface for strategies
PREDICTOR_KINDS = ("mlp", "gnn")
#: BANANAS' truncated path encoding keeps the first 40 paths (nas_algorithms.py: cutoff=40), in the
#: official order: the paths of length 0..3 (1 + 3 + 9 + 27)
TRUNC_PATHS = 40


@dataclass(frozen=True)
class PredictorSpec:
    """Everything needed to build, train and query an ensemble predictor on a space.

    ``kind="mlp"`` uses ``space.encode(encoding)``; ``kind="gnn"`` uses ``space.graph``.
    ``encoding="auto"`` picks ``"path"`` when the space has it (BANANAS), else ``"onehot"``;
    ``encoding="bananas"`` the first :data:`TRUNC_PATHS` path bits (BANANAS' ``trunc_path``) where
    the space has a path encoding, else ``"onehot"``.
    """

    kind: str = "mlp"
    members: int = 5
    hidden: tuple[int, ...] = (20,) * 10
    epochs: int = 200
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 0.0
    loss: str = "mse"
    out_activation: str = "none"
    encoding: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in PREDICTOR_KINDS:
            raise ValueError(f"predictor kind must be one of {PREDICTOR_KINDS}, got {self.kind!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


def predictor_inputs(space: Any, spec: PredictorSpec) -> tuple[np.ndarray, ...]:
    """The arrays a predictor reads for every architecture of ``space`` (rows are indices)."""
    if spec.kind == "gnn":
        if space.graph is None:
            raise ValueError(f"space {space.name!r} has no graph form; use the 'mlp' predictor there")
        adj, feats = space.graph
        return (np.asarray(adj, np.float32), np.asarray(feats, np.float32))
    enc = spec.encoding
    if enc in ("auto", "bananas"):
        enc = "path" if "path" in space.features else "onehot"
        if spec.encoding == "bananas" and enc == "path":  # BANANAS' trunc_path: the first 40 paths
            return (np.asarray(space.encode("path")[:, :TRUNC_PATHS], np.float32),)
    return (np.asarray(space.encode(enc), np.float32),)


def init_predictor(key: jax.Array, spec: PredictorSpec, inputs: tuple[np.ndarray, ...]) -> Params:
    if spec.kind == "gnn":
        _, v, f = inputs[1].shape
        return init_gnn_ensemble(key, spec.members, v, f, spec.hidden, spec.out_activation)
    return init_ensemble(key, spec.members, inputs[0].shape[1], spec.hidden, spec.out_activation)


def fit_predictor(key: jax.Array, spec: PredictorSpec, inputs: tuple[np.ndarray, ...], idx: np.ndarray,
                  y: np.ndarray) -> Params:
    """Fresh ensemble (``fold_in(key, 0)``) trained on architectures ``idx`` with targets ``y``."""
    params = init_predictor(jax.random.fold_in(key, 0), spec, inputs)
    idx = np.asarray(idx)
    rows = tuple(x[idx] for x in inputs)
    kw: dict[str, Any] = dict(out_activation=spec.out_activation, epochs=spec.epochs, batch_size=spec.batch_size,
                              lr=spec.lr, weight_decay=spec.weight_decay, loss=spec.loss, hidden=spec.hidden)
    k = jax.random.fold_in(key, 1)
    if spec.kind == "gnn":
        return fit_gnn_ensemble(k, params, rows[0], rows[1], y, **kw)
    return fit_ensemble(k, params, rows[0], y, **kw)


def predict_predictor(spec: PredictorSpec, params: Params, inputs: tuple[np.ndarray, ...],
                      idx: np.ndarray) -> jnp.ndarray:
    """``[members, m]`` predictions for architectures ``idx``."""
    idx = np.asarray(idx)
    rows = tuple(x[idx] for x in inputs)
    if spec.kind == "gnn":
        return predict_gnn_ensemble(params, rows[0], rows[1], hidden=spec.hidden, out_activation=spec.out_activation)
    return predict_ensemble(params, rows[0], hidden=spec.hidden, out_activation=spec.out_activation)

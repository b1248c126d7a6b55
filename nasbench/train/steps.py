"""The jitted pieces of training: augmentation, the optimiser, the network families, the train and
eval steps, and their ahead-of-time compilation.

Data are device-resident uint8 arrays; augmentation, normalisation and batch gathering run inside
the jitted step, so the host only draws the permutation indices.

**Compilation** (``TrainConfig.compile_mode``):

* ``"per_arch"``: the network of the cell is built with the cell as a static structure and its
  train and eval steps are compiled ahead of time, once per distinct (architecture, config) in
  this process (:func:`compile_count`). Cheapest steps, one compile per new architecture.
* ``"masked"``: one network for the whole space, the cell passed as traced arrays (NB-201: a
  one-hot ``[6, 5]`` op mask per edge, every candidate op computed, see
  :mod:`nasbench.train.nb201`; NB-101: the padded ``7 x 7`` adjacency and a ``[7, 3]`` op mask, an
  *approximation* of the NB-101 cell, see :class:`~nasbench.train.networks.NB101MaskedCell`). One
  compile per config serves every architecture; each step costs more. For NB-201 the masked
  network computes exactly the per-architecture network (same initial weights for the same key,
  same outputs), so the two modes train the same model.
* ``"switched"`` (NB-201 only): the same one compile per config, but each edge runs only its chosen
  op (``lax.switch``, the switched supernet of :mod:`nasbench.train.nb201`), so a step costs about
  what the per-architecture one does. The chosen ops' weights follow the per-architecture training
  up to the order of floating-point sums; the others get zero gradients (weight decay still shrinks
  them, and they never reach the output).

Compiled steps are kept per process (:func:`compile_count`, :func:`count_xla_compiles`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nasbench.spaces.nb101 import module_hash
from nasbench.spaces.nb201 import arch_string
from nasbench.train import nb201 as nb201_net
from nasbench.train import networks
from nasbench.train.config import CIFAR_MEAN, CIFAR_STD, TrainConfig


class TrainState(NamedTuple):
    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array


# --------------------------------------------------------------------------- augmentation
def crop(images: jax.Array, offsets: jax.Array, pad: int) -> jax.Array:
    """Crop each zero-padded image at its ``(dy, dx)`` offset (0..2*pad); shape is kept."""
    n, h, w, c = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

    def one(img: jax.Array, off: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, c))

    return jax.vmap(one)(padded, offsets)


def flip(images: jax.Array, mask: jax.Array) -> jax.Array:
    """Mirror left-right the images where ``mask`` is true."""
    return jnp.where(mask[:, None, None, None], images[:, :, ::-1, :], images)


def augment(key: jax.Array, images: jax.Array, pad: int = 4) -> jax.Array:
    """Random crop of the ``pad``-padded image and random horizontal flip, per image."""
    k1, k2 = jax.random.split(key)
    n = images.shape[0]
    offsets = jax.random.randint(k1, (n, 2), 0, 2 * pad + 1)
    return flip(crop(images, offsets, pad), jax.random.bernoulli(k2, 0.5, (n,)))


def normalize(images_u8: jax.Array) -> jax.Array:
    """uint8 NHWC -> float32, standardised per channel with :data:`CIFAR_MEAN`/:data:`CIFAR_STD`."""
    x = images_u8.astype(jnp.float32)
    return (x - jnp.asarray(CIFAR_MEAN)) / jnp.asarray(CIFAR_STD)


# --------------------------------------------------------------------------- optimiser
def learning_rate_schedule(config: TrainConfig, total_steps: int) -> Callable[[jax.Array], jax.Array]:
    """Cosine decay by step from ``learning_rate`` to 0 (0 at step 0 with ``zero_lr_first_step``,
    as in the official NB-101 code)."""
    cosine = optax.cosine_decay_schedule(config.learning_rate, total_steps)
    if not config.zero_lr_first_step:
        return cosine
    return lambda step: jnp.where(step == 0, 0.0, cosine(step))


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    lr = learning_rate_schedule(config, total_steps)
    if config.optimizer == "rmsprop":
        opt = optax.rmsprop(lr, decay=0.9, eps=1.0, initial_scale=1.0, momentum=config.momentum)
    elif config.optimizer == "sgd":
        opt = optax.sgd(lr, momentum=config.momentum, nesterov=config.nesterov)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'rmsprop' (official NB-101) or 'sgd'")
    return optax.chain(optax.add_decayed_weights(config.weight_decay), opt)


def _dtype(config: TrainConfig) -> Any:
    return None if config.dtype is None else jnp.dtype(config.dtype)


# --------------------------------------------------------------------------- network families
class _NB101:
    """Cells are ``(matrix, ops)``; identity the official module hash."""

    @staticmethod
    def network(cell: Any, c: TrainConfig) -> Any:
        matrix, ops = cell
        return networks.nb101_network(matrix, ops, c.channels, c.stacks, c.cells_per_stack, c.num_classes, _dtype(c))

    @staticmethod
    def masked_network(c: TrainConfig) -> Any:
        return networks.nb101_masked_network(c.channels, c.stacks, c.cells_per_stack, c.num_classes, _dtype(c))

    @staticmethod
    def arch_arrays(cell: Any) -> Any:
        return networks.masked_arrays(*cell)

    @staticmethod
    def arch_id(cell: Any) -> str:
        return module_hash(*cell)

    @staticmethod
    def static_key(model: Any) -> Any:
        return (model.matrix, model.ops)


class _NB201:
    """Cells are 6 op indices, 6 op names or an arch string; identity the arch string."""

    @staticmethod
    def network(cell: Any, c: TrainConfig) -> Any:
        return nb201_net.nb201_network(cell, c.channels, c.stacks, c.cells_per_stack, c.num_classes, _dtype(c))

    @staticmethod
    def masked_network(c: TrainConfig) -> Any:
        return nb201_net.nb201_network(None, c.channels, c.stacks, c.cells_per_stack, c.num_classes, _dtype(c),
                                       switched=c.compile_mode == "switched")

    @staticmethod
    def arch_arrays(cell: Any) -> Any:
        return nb201_net.onehot(cell)

    @staticmethod
    def arch_id(cell: Any) -> str:
        return arch_string(nb201_net.as_genotype(cell))

    @staticmethod
    def static_key(model: Any) -> Any:
        return model.genotype


#: The network family of each ``TrainConfig.space``.
FAMILIES: dict[str, Any] = {"nb101": _NB101, "nb201": _NB201}


def arch_id(cell: Any, config: TrainConfig) -> str:
    """The identity of a cell in ``config.space``: NB-101's module hash (isomorphic cells share
    it), NB-201's arch string."""
    return FAMILIES[config.space].arch_id(cell)


def build_network(cell: Any, config: TrainConfig) -> Any:
    """The per-architecture network of ``cell`` (validated; an NB-101 cell is pruned first)."""
    return FAMILIES[config.space].network(cell, config)


def build_masked_network(config: TrainConfig) -> Any:
    """The masked network serving every architecture of ``config.space``."""
    return FAMILIES[config.space].masked_network(config)


def arch_arrays(cell: Any, config: TrainConfig) -> Any:
    """The traced input of the masked network for ``cell`` (numpy arrays)."""
    return FAMILIES[config.space].arch_arrays(cell)


# --------------------------------------------------------------------------- steps
def _apply(model: Any, variables: Any, x: jax.Array, arch: Any, train: bool, **kw: Any) -> Any:
    if arch is None:
        return model.apply(variables, x, train=train, **kw)
    return model.apply(variables, x, arch, train=train, **kw)


def init_state(
    model: Any, tx: optax.GradientTransformation, key: jax.Array, image_shape: tuple, arch: Any = None
) -> TrainState:
    """Initial parameters, batch statistics and optimiser state (``arch``: the masked network's input)."""
    x = jnp.zeros((1, *image_shape), jnp.float32)
    variables = model.init(key, x, train=False) if arch is None else model.init(key, x, arch, train=False)
    params = variables["params"]
    return TrainState(params, variables.get("batch_stats", {}), tx.init(params), jnp.zeros((), jnp.int32))


def make_train_step(model: Any, tx: optax.GradientTransformation, augment_on: bool, pad: int) -> Callable:
    """``step(state, arch, images_u8, labels, idx, key) -> (state, loss)``: one step on ``images[idx]``.

    ``arch`` is ``None`` for a per-architecture network, the mask arrays for a masked one; the
    augmentation key of step ``s`` is ``fold_in(key, s)``.
    """

    def nasarena_train_step(
        state: TrainState, arch: Any, images: jax.Array, labels: jax.Array, idx: jax.Array, key: jax.Array
    ):
        x = normalize(images[idx])
        y = labels[idx]
        if augment_on:
            x = augment(jax.random.fold_in(key, state.step), x, pad)

        def loss_fn(params):
            logits, updates = _apply(
                model, {"params": params, "batch_stats": state.batch_stats}, x, arch, True, mutable=["batch_stats"]
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, updates["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, stats, opt_state, state.step + 1), loss

    return nasarena_train_step


def make_eval_step(model: Any) -> Callable:
    """``eval(params, batch_stats, arch, images_u8, labels, valid) -> number correct`` (masked)."""

    def nasarena_eval_step(params, batch_stats, arch, images, labels, valid):
        logits = _apply(model, {"params": params, "batch_stats": batch_stats}, normalize(images), arch, False)
        return jnp.sum((jnp.argmax(logits, -1) == labels) & valid)

    return nasarena_eval_step


_COMPILED: dict[tuple, tuple[Any, Any, Any]] = {}
_LOCK = threading.Lock()


def compile_count() -> int:
    """Distinct train steps compiled in this process so far: one per (architecture, config) in
    ``per_arch`` mode, one per config in ``masked`` mode, one per (config, batch) for :func:`train_many`."""
    return len(_COMPILED)


@contextmanager
def count_xla_compiles() -> Iterator[dict[str, int]]:
    """Count XLA backend compiles of the training path's train steps while the block runs.

    Yields a dict whose ``"train_step"`` entry counts compiles of the jitted train step (whatever
    caches this module keeps) and ``"all"`` every XLA compile (eager init ops included), from JAX's
    ``/jax/core/compile/backend_compile_duration`` monitoring event.
    """
    counts = {"train_step": 0, "all": 0}

    def listener(event: str, duration_secs: float, **kw: str | int) -> None:
        if event != "/jax/core/compile/backend_compile_duration":
            return
        counts["all"] += 1
        if "nasarena_train_step" in str(kw.get("fun_name", "")):
            counts["train_step"] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _abstract_step_inputs(config: TrainConfig, train_shape: tuple, n_vmap: int | None) -> tuple:
    lead = () if n_vmap is None else (n_vmap,)
    images = jax.ShapeDtypeStruct(train_shape, jnp.uint8)
    labels = jax.ShapeDtypeStruct((train_shape[0],), jnp.int32)
    idx = jax.ShapeDtypeStruct((*lead, config.batch_size), jnp.int32)
    b = config.eval_batch_size
    ev = (
        jax.ShapeDtypeStruct((b, *train_shape[1:]), jnp.uint8),
        jax.ShapeDtypeStruct((b,), jnp.int32),
        jax.ShapeDtypeStruct((b,), jnp.bool_),
    )
    return images, labels, idx, ev


def compile_steps(
    ck: tuple,
    model: Any,
    tx: Any,
    config: TrainConfig,
    state: TrainState,
    arch: Any,
    train_shape: tuple,
    key: jax.Array,
    n_vmap: int | None = None,
) -> tuple[Any, Any, float]:
    """``(train step, eval step, compile seconds)``, compiled ahead of time once per ``ck``."""
    with _LOCK:
        if ck in _COMPILED:
            train_c, eval_c, _ = _COMPILED[ck]
            return train_c, eval_c, 0.0
    t0 = time.perf_counter()
    images, labels, idx, ev = _abstract_step_inputs(config, train_shape, n_vmap)
    step = make_train_step(model, tx, config.augment, config.pad)
    evs = make_eval_step(model)
    if n_vmap is not None:
        step = jax.vmap(step, in_axes=(0, 0, None, None, 0, 0))
        evs = jax.vmap(evs, in_axes=(0, 0, 0, None, None, None))
    train_c = jax.jit(step, donate_argnums=(0,)).lower(state, arch, images, labels, idx, key).compile()
    eval_c = jax.jit(evs).lower(state.params, state.batch_stats, arch, *ev).compile()
    with _LOCK:
        _COMPILED[ck] = (train_c, eval_c, None)
    return train_c, eval_c, time.perf_counter() - t0


def evaluate(
    eval_c: Any, state: TrainState, images: np.ndarray, labels: np.ndarray, batch: int, arch: Any = None
) -> Any:
    """Accuracy over ``images`` in padded batches of ``batch`` (an array of them for a vmapped eval)."""
    n = len(images)
    if n == 0:
        return float("nan")
    correct: Any = 0
    for s in range(0, n, batch):
        xb, yb = images[s : s + batch], labels[s : s + batch]
        k = len(xb)
        valid = np.arange(batch) < k
        if k < batch:
            xb = np.concatenate([xb, np.zeros((batch - k, *xb.shape[1:]), xb.dtype)])
            yb = np.concatenate([yb, np.zeros(batch - k, yb.dtype)])
        correct = correct + np.asarray(eval_c(state.params, state.batch_stats, arch, xb, yb.astype(np.int32), valid))
    out = np.asarray(correct, dtype=np.float64) / n
    return float(out) if out.ndim == 0 else out

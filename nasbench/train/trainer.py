"""Training and evaluation of NB-101 and NB-201 networks: jitted steps, two ways to compile.

**NB-101 defaults** (:class:`TrainConfig`, :func:`nb101_config`) follow NAS-Bench-101's official
training code (``model_builder.py``, ``config.py``): batch 256, base learning rate 0.2 (0.1 scaled
by the 2 TPU shards used there) with cosine decay by step and learning rate 0 at step 0, momentum
0.9, L2 weight decay 1e-4 on every trainable variable (``add_decayed_weights``, the gradient of
``1e-4 * sum(v**2) / 2``), no label smoothing, augmentation by a random crop of the 4-pixel
zero-padded image and a random horizontal flip, 108 epochs. The official optimiser is *RMSProp*
(decay 0.9, momentum 0.9, epsilon 1.0, mean-square slot initialised to 1, as TF1's
``RMSPropOptimizer``): ``optimizer="rmsprop"``, the default. ``optimizer="sgd"`` gives SGD with
momentum 0.9 (what the NB-101 paper's text and issue 9 name).

**NB-201 defaults** (:func:`nb201_config`) follow NAS-Bench-201's ``CIFAR-10`` config: SGD with
Nesterov momentum 0.9, learning rate 0.1 with cosine decay to 0 (by step, no warm-up; the rate at
step 0 is 0.1), weight decay 5e-4 on every parameter (PyTorch's L2 form), batch 256, 200 epochs,
C = 16, N = 5, the same crop-and-flip augmentation. :func:`nb201_proxy_config` is a CPU proxy.

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

:func:`train_many` trains several architectures at once with ``jax.vmap`` over the masked
network's masks, parameters and optimiser states (one compile per config and batch size). The
compile is done ahead of time so its wall time is measured apart (``compile_time``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nasbench.data import atomic_write_text, cache_dir
from nasbench.errors import UnknownName
from nasbench.spaces.nb101 import module_hash
from nasbench.spaces.nb201 import arch_string
from nasbench.train import nb201 as nb201_net
from nasbench.train import networks

log = logging.getLogger(__name__)

#: CIFAR-10 per-channel mean and std of the 0..255 pixels (the usual training-set values).
CIFAR_MEAN = (125.307, 122.950, 113.865)
CIFAR_STD = (62.993, 62.089, 66.705)

SPACES = ("nb101", "nb201")
COMPILE_MODES = ("per_arch", "masked")
#: The compile mode of :func:`nb201_proxy_config`, chosen by the break-even measurement of
#: ``bench/bench_train.py`` on a 2-core CPU: the masked step costs ~2.4x the per-architecture one
#: and a per-architecture compile ~10 CPU s, so per-architecture compiles win above ~37 steps per
#: architecture; the proxy trains 78 per epoch (see the README's live-benchmark section).
NB201_PROXY_COMPILE_MODE = "per_arch"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What a training run does; ``steps`` (when set) overrides ``epochs``. Defaults: NB-101's."""

    epochs: float = 108.0
    steps: int | None = None
    batch_size: int = 256
    learning_rate: float = 0.2
    optimizer: str = "rmsprop"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    zero_lr_first_step: bool = True  # NB-101's schedule trains nothing at step 0
    augment: bool = True
    pad: int = 4
    channels: int = 128
    stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    dtype: str | None = None  # "float32", "bfloat16" or None: bf16 on accelerators, f32 on CPU
    eval_batch_size: int = 500
    space: str = "nb101"  # which network family: "nb101" or "nb201"
    compile_mode: str = "per_arch"  # "per_arch" or "masked" (see the module docstring)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"TrainConfig.space must be one of {SPACES}, got {self.space!r}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"TrainConfig.compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")

    def total_steps(self, n_train: int) -> int:
        if self.steps is not None:
            return int(self.steps)
        return max(1, int(self.epochs * n_train / self.batch_size))

    def key(self) -> str:
        """A stable text identity, for caches."""
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


NB201_DEFAULTS: dict[str, Any] = dict(
    epochs=200.0,
    batch_size=256,
    learning_rate=0.1,
    optimizer="sgd",
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    zero_lr_first_step=False,
    channels=16,
    stacks=3,
    cells_per_stack=5,
    space="nb201",
)


def nb101_config(**overrides: Any) -> TrainConfig:
    """NAS-Bench-101's training (the :class:`TrainConfig` defaults): C = 128, 108 epochs."""
    return TrainConfig(**overrides)


def proxy_config(**overrides: Any) -> TrainConfig:
    """A small NB-101 CPU proxy: C=16, 1 stack of 1 cell, batch 64, 1 epoch."""
    base: dict[str, Any] = dict(epochs=1.0, batch_size=64, channels=16, stacks=1, cells_per_stack=1)
    base.update(overrides)
    return TrainConfig(**base)


def nb201_config(**overrides: Any) -> TrainConfig:
    """NAS-Bench-201's training: C = 16, N = 5, SGD Nesterov 0.9, lr 0.1 cosine, wd 5e-4, batch 256,
    200 epochs."""
    return TrainConfig(**{**NB201_DEFAULTS, **overrides})


def nb201_proxy_config(**overrides: Any) -> TrainConfig:
    """A small NB-201 CPU proxy: NB-201's optimiser at C = 8, N = 1 (3 stages), batch 64, 1 epoch,
    compiled per architecture (:data:`NB201_PROXY_COMPILE_MODE`)."""
    base = {
        **NB201_DEFAULTS,
        "channels": 8,
        "cells_per_stack": 1,
        "batch_size": 64,
        "epochs": 1.0,
        "compile_mode": NB201_PROXY_COMPILE_MODE,
    }
    return TrainConfig(**{**base, **overrides})


PRESETS: dict[str, Callable[..., TrainConfig]] = {
    "nb101": nb101_config,
    "nb101-proxy": proxy_config,
    "nb201": nb201_config,
    "nb201-proxy": nb201_proxy_config,
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named config (:data:`PRESETS`) with ``overrides``."""
    if name not in PRESETS:
        raise UnknownName(f"unknown training preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name](**overrides)


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
        return nb201_net.nb201_network(None, c.channels, c.stacks, c.cells_per_stack, c.num_classes, _dtype(c))

    @staticmethod
    def arch_arrays(cell: Any) -> Any:
        return nb201_net.onehot(cell)

    @staticmethod
    def arch_id(cell: Any) -> str:
        return arch_string(nb201_net.as_genotype(cell))

    @staticmethod
    def static_key(model: Any) -> Any:
        return model.genotype


_FAMILIES: dict[str, Any] = {"nb101": _NB101, "nb201": _NB201}


def arch_id(cell: Any, config: TrainConfig) -> str:
    """The identity of a cell in ``config.space``: NB-101's module hash (isomorphic cells share
    it), NB-201's arch string."""
    return _FAMILIES[config.space].arch_id(cell)


def build_network(cell: Any, config: TrainConfig) -> Any:
    """The per-architecture network of ``cell`` (validated; an NB-101 cell is pruned first)."""
    return _FAMILIES[config.space].network(cell, config)


def build_masked_network(config: TrainConfig) -> Any:
    """The masked network serving every architecture of ``config.space``."""
    return _FAMILIES[config.space].masked_network(config)


def arch_arrays(cell: Any, config: TrainConfig) -> Any:
    """The traced input of the masked network for ``cell`` (numpy arrays)."""
    return _FAMILIES[config.space].arch_arrays(cell)


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


def _compiled(
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


def _check_data(data: Mapping[str, np.ndarray], config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    train_x = np.asarray(data["train_x"])
    train_y = np.asarray(data["train_y"]).astype(np.int32)
    if train_x.dtype != np.uint8 or train_x.ndim != 4:
        raise ValueError(f"train_x must be uint8 NHWC, got {train_x.dtype} {train_x.shape}")
    if len(train_x) < config.batch_size:
        raise ValueError(
            f"{len(train_x)} training images is fewer than batch_size {config.batch_size}; lower batch_size"
        )
    return train_x, train_y


def _keys(key: jax.Array) -> tuple[jax.Array, jax.Array, np.random.Generator]:
    """``(init key, augmentation key, host rng of the permutations)`` of a run's key."""
    k_init, k_train = jax.random.split(key)
    k_train, k_perm = jax.random.split(k_train)
    rng = np.random.default_rng(int(jax.random.randint(k_perm, (), 0, 2**31 - 1)))
    return k_init, k_train, rng


class _Batches:
    """Indices of step ``s``: a fresh permutation per epoch, the last partial batch dropped."""

    def __init__(self, rng: np.random.Generator, n: int, batch: int):
        self.rng, self.n, self.batch = rng, n, batch
        self.per_epoch = n // batch
        self.perm = rng.permutation(n)

    def __call__(self, s: int) -> np.ndarray:
        e = s % self.per_epoch
        if s > 0 and e == 0:
            self.perm = self.rng.permutation(self.n)
        return self.perm[e * self.batch : (e + 1) * self.batch].astype(np.int32)


def _split_eval(data: Mapping[str, np.ndarray], train_x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(data.get(f"{name}_x", train_x[:0]))
    return x, np.asarray(data.get(f"{name}_y", np.zeros(len(x), np.int32)))


def _accuracies(
    eval_c: Any, state: TrainState, data: Mapping[str, np.ndarray], train_x: np.ndarray, config: TrainConfig, arch: Any
) -> tuple[Any, Any]:
    """(validation, test) accuracy; NaN for a split the data do not hold."""
    vx, vy = _split_eval(data, train_x, "valid")
    tx_, ty = _split_eval(data, train_x, "test")
    b = config.eval_batch_size
    return evaluate(eval_c, state, vx, vy, b, arch), evaluate(eval_c, state, tx_, ty, b, arch)


def train_and_evaluate(
    cell: Any,
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    key: jax.Array,
    return_state: bool = False,
) -> dict[str, Any]:
    """Train the network of ``cell`` (``config.space``: an NB-101 ``(matrix, ops)`` or an NB-201
    genotype / arch string) on ``data`` and evaluate it.

    ``data`` holds uint8 NHWC ``train_x``/``valid_x``/``test_x`` and int ``*_y`` (see
    :mod:`nasbench.train.cifar`). Returns ``val_acc``, ``test_acc`` (fractions), ``train_time``
    (seconds of training steps, compile excluded), ``compile_time`` (0 when this process already
    compiled the same program: the same architecture and config in ``per_arch`` mode, the same
    config in ``masked`` mode), ``init_time`` (parameter initialisation, compile excluded),
    ``wall_time`` (the whole call), ``train_cpu_time``/``compile_cpu_time`` (process CPU seconds,
    all threads), ``steps``, ``losses`` (the loss of every step, float32 array) and, with
    ``return_state``, the final ``state``.
    """
    t_call = time.perf_counter()
    train_x, train_y = _check_data(data, config)
    n = len(train_x)
    total = config.total_steps(n)
    fam = _FAMILIES[config.space]
    masked = config.compile_mode == "masked"
    tx = make_optimizer(config, total)
    k_init, k_train, rng = _keys(key)
    if masked:
        model = fam.masked_network(config)
        arch = jax.tree_util.tree_map(jnp.asarray, fam.arch_arrays(cell))
        ck = (config.space, "masked", config.key(), train_x.shape, None)
        name = fam.arch_id(cell)
    else:
        model = fam.network(cell, config)
        arch = None
        ck = (config.space, fam.static_key(model), config.key(), train_x.shape, None)
        name = str(fam.static_key(model))
    # eager initialisation: a jitted init compiles slowly (every random draw inlined), while the
    # eager ops are compiled once per shape and then shared by every architecture
    t0 = time.perf_counter()
    state = jax.block_until_ready(init_state(model, tx, k_init, train_x.shape[1:], arch))
    init_time = time.perf_counter() - t0
    c_compile = time.process_time()
    train_c, eval_c, compile_time = _compiled(ck, model, tx, config, state, arch, train_x.shape, k_train)
    compile_cpu = time.process_time() - c_compile if compile_time else 0.0

    images = jax.device_put(train_x)
    labels = jax.device_put(train_y)
    batches = _Batches(rng, n, config.batch_size)
    losses = []
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(total):
        state, loss = train_c(state, arch, images, labels, batches(s), k_train)
        losses.append(loss)
    jax.block_until_ready(state)
    train_time = time.perf_counter() - t0
    train_cpu = time.process_time() - c0
    val, test = _accuracies(eval_c, state, data, train_x, config, arch)
    out = {
        "val_acc": val,
        "test_acc": test,
        "train_time": train_time,
        "compile_time": compile_time,
        "init_time": init_time,
        "train_cpu_time": train_cpu,
        "compile_cpu_time": compile_cpu,
        "steps": total,
        "losses": np.asarray(jax.device_get(losses), dtype=np.float32),
    }
    out["wall_time"] = time.perf_counter() - t_call
    log.info(
        "trained %s (%s): %d steps in %.2fs (compile %.2fs), val %.4f test %.4f",
        name,
        config.compile_mode,
        total,
        train_time,
        compile_time,
        out["val_acc"],
        out["test_acc"],
    )
    if return_state:
        out["state"] = state
    return out


def train_many(
    cells: Sequence[Any],
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    keys: Sequence[jax.Array] | jax.Array,
) -> list[dict[str, Any]]:
    """Train several architectures at once: ``jax.vmap`` of the masked network's step over their
    masks, parameters and optimiser states (each its own key, permutation and augmentation).

    Always uses the masked network (whatever ``config.compile_mode``); architecture ``k`` gets the
    same result, to float tolerance, as ``train_and_evaluate(cells[k], data,
    replace(config, compile_mode="masked"), keys[k])``. One compile per (config, number of cells).
    Each result holds the same fields as :func:`train_and_evaluate` (no ``state``); ``train_time``,
    ``compile_time`` and ``init_time`` are the batch's divided by its size, ``batch_wall_time`` the
    whole call, ``vmap`` the batch size.
    """
    t_call = time.perf_counter()
    cells = list(cells)
    m = len(cells)
    if m == 0:
        return []
    keys = list(keys)
    if len(keys) != m:
        raise ValueError(f"train_many: {m} cells but {len(keys)} keys")
    config = dataclasses.replace(config, compile_mode="masked")
    train_x, train_y = _check_data(data, config)
    n = len(train_x)
    total = config.total_steps(n)
    fam = _FAMILIES[config.space]
    model = fam.masked_network(config)
    tx = make_optimizer(config, total)
    split = [_keys(k) for k in keys]
    k_train = jnp.stack([s[1] for s in split])
    arch_list = [jax.tree_util.tree_map(jnp.asarray, fam.arch_arrays(c)) for c in cells]
    arch = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *arch_list)
    ck = (config.space, "masked", config.key(), train_x.shape, m)
    t0 = time.perf_counter()
    states = [init_state(model, tx, s[0], train_x.shape[1:], a) for s, a in zip(split, arch_list)]
    state = jax.block_until_ready(jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states))
    init_time = time.perf_counter() - t0
    c_compile = time.process_time()
    train_c, eval_c, compile_time = _compiled(ck, model, tx, config, state, arch, train_x.shape, k_train, n_vmap=m)
    compile_cpu = time.process_time() - c_compile if compile_time else 0.0
    images = jax.device_put(train_x)
    labels = jax.device_put(train_y)
    batches = [_Batches(s[2], n, config.batch_size) for s in split]
    losses = []
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(total):
        idx = np.stack([b(s) for b in batches])
        state, loss = train_c(state, arch, images, labels, idx, k_train)
        losses.append(loss)
    jax.block_until_ready(state)
    train_time = time.perf_counter() - t0
    train_cpu = time.process_time() - c0
    val, test = _accuracies(eval_c, state, data, train_x, config, arch)
    losses_np = np.asarray(jax.device_get(losses), dtype=np.float32)  # [steps, m]
    wall = time.perf_counter() - t_call
    out = []
    for k in range(m):
        out.append(
            {
                "val_acc": float(val[k]) if np.ndim(val) else float(val),
                "test_acc": float(test[k]) if np.ndim(test) else float(test),
                "train_time": train_time / m,
                "compile_time": compile_time / m,
                "init_time": init_time / m,
                "train_cpu_time": train_cpu / m,
                "compile_cpu_time": compile_cpu / m,
                "steps": total,
                "losses": losses_np[:, k],
                "wall_time": wall / m,
                "batch_wall_time": wall,
                "vmap": m,
            }
        )
    log.info(
        "trained %d architectures at once (vmap): %d steps in %.2fs (compile %.2fs)", m, total, train_time, compile_time
    )
    return out


def cached_train_and_evaluate(
    cell: Any,
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    seed: int,
    data_id: str,
    folder: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`train_and_evaluate` with key ``jax.random.key(seed)``, cached on disk.

    The cache key is (:func:`arch_id` of the cell: the official module hash for NB-101, so an
    isomorphic cell is the same entry; the arch string for NB-201, ``config.key()``, ``seed``,
    ``data_id``), so a repeated query or a resumed run never retrains. ``data_id`` names the data
    (e.g. the source's sha256 and the subset). Results (scalars only) are JSON files written
    atomically under ``folder`` (default ``$NASARENA_CACHE/train``); a hit has ``cached: True``.
    """
    path = cache_path(cell, config, seed, data_id, folder)
    hit = read_cached(path)
    if hit is not None:
        return hit
    r = train_and_evaluate(cell, data, config, jax.random.key(seed))
    return write_cached(path, r, cell, config, seed, data_id)


def cache_path(
    cell: Any, config: TrainConfig, seed: int, data_id: str, folder: str | os.PathLike[str] | None = None
) -> Path:
    """The cache file of a (cell, config, seed, data) training run."""
    h = arch_id(cell, config)
    ident = hashlib.sha256(f"{h}|{config.key()}|{seed}|{data_id}".encode()).hexdigest()[:32]
    root = Path(folder) if folder is not None else cache_dir() / "train"
    return root / f"{ident}.json"


def read_cached(path: Path) -> dict[str, Any] | None:
    """A cached result (with ``cached: True``), or ``None`` when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        out = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("training cache %s unreadable (%s); training again", path, exc)
        return None
    out["cached"] = True
    return out


def write_cached(
    path: Path, r: Mapping[str, Any], cell: Any, config: TrainConfig, seed: int, data_id: str
) -> dict[str, Any]:
    """Write the scalars of a :func:`train_and_evaluate` result to ``path``; returns them (``cached: False``)."""
    skip = ("losses", "state")
    out: dict[str, Any] = {k: (int(v) if k in ("steps", "vmap") else float(v)) for k, v in r.items() if k not in skip}
    h = arch_id(cell, config)
    out.update(final_loss=float(r["losses"][-1]), arch_id=h, config=config.key(), seed=seed, data_id=data_id)
    if config.space == "nb101":
        out["module_hash"] = h
    atomic_write_text(path, json.dumps(out))
    out["cached"] = False
    return out


__all__ = [
    "TrainConfig",
    "TrainState",
    "SPACES",
    "COMPILE_MODES",
    "PRESETS",
    "preset",
    "nb101_config",
    "nb201_config",
    "proxy_config",
    "nb201_proxy_config",
    "augment",
    "crop",
    "flip",
    "normalize",
    "make_optimizer",
    "learning_rate_schedule",
    "arch_id",
    "arch_arrays",
    "build_network",
    "build_masked_network",
    "init_state",
    "make_train_step",
    "make_eval_step",
    "train_and_evaluate",
    "train_many",
    "cached_train_and_evaluate",
    "cache_path",
    "read_cached",
    "write_cached",
    "compile_count",
    "count_xla_compiles",
    "evaluate",
]

"""Training and evaluation of an NB-101 network: jitted steps, one compile per architecture.

Defaults follow NAS-Bench-101's official training code (``model_builder.py``, ``config.py``):
batch 256, base learning rate 0.2 (0.1 scaled by the 2 TPU shards used there) with cosine decay by
step and learning rate 0 at step 0, momentum 0.9, L2 weight decay 1e-4 on every trainable
variable (``add_decayed_weights``, the gradient of ``1e-4 * sum(v**2) / 2``), no label smoothing,
augmentation by a random crop of the 4-pixel zero-padded image and a random horizontal flip.

The official optimiser is *RMSProp* (decay 0.9, momentum 0.9, epsilon 1.0, mean-square slot
initialised to 1, as TF1's ``RMSPropOptimizer``): ``optimizer="rmsprop"``, the default.
``optimizer="sgd"`` gives SGD with momentum 0.9 (what the NB-101 paper's text and issue 9 name).

Data are device-resident uint8 arrays; augmentation, normalisation and batch gathering run inside
the jitted step, so the host only draws the permutation indices. Each distinct
(architecture, network config, optimiser config) is compiled once and cached in this process
(:func:`compile_count`); the compile is done ahead of time so its wall time is measured apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nasbench.data import atomic_write_text, cache_dir
from nasbench.spaces.nb101 import module_hash
from nasbench.train.networks import NB101Network, nb101_network

log = logging.getLogger(__name__)

#: CIFAR-10 per-channel mean and std of the 0..255 pixels (the usual training-set values).
CIFAR_MEAN = (125.307, 122.950, 113.865)
CIFAR_STD = (62.993, 62.089, 66.705)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What a training run does; ``steps`` (when set) overrides ``epochs``."""

    epochs: float = 108.0
    steps: int | None = None
    batch_size: int = 256
    learning_rate: float = 0.2
    optimizer: str = "rmsprop"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    augment: bool = True
    pad: int = 4
    channels: int = 128
    stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    dtype: str | None = None  # "float32", "bfloat16" or None: bf16 on accelerators, f32 on CPU
    eval_batch_size: int = 500

    def total_steps(self, n_train: int) -> int:
        if self.steps is not None:
            return int(self.steps)
        return max(1, int(self.epochs * n_train / self.batch_size))

    def key(self) -> str:
        """A stable text identity, for caches."""
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


def proxy_config(**overrides: Any) -> TrainConfig:
    """A small CPU proxy: C=16, 1 stack of 1 cell, batch 64, 1 epoch."""
    base = dict(epochs=1.0, batch_size=64, channels=16, stacks=1, cells_per_stack=1)
    base.update(overrides)
    return TrainConfig(**base)


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
    """Cosine decay by step from ``learning_rate`` to 0; 0 at step 0 as in the official code."""
    cosine = optax.cosine_decay_schedule(config.learning_rate, total_steps)
    return lambda step: jnp.where(step == 0, 0.0, cosine(step))


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    lr = learning_rate_schedule(config, total_steps)
    if config.optimizer == "rmsprop":
        opt = optax.rmsprop(lr, decay=0.9, eps=1.0, initial_scale=1.0, momentum=config.momentum)
    elif config.optimizer == "sgd":
        opt = optax.sgd(lr, momentum=config.momentum)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'rmsprop' (official NB-101) or 'sgd'")
    return optax.chain(optax.add_decayed_weights(config.weight_decay), opt)


def _dtype(config: TrainConfig) -> Any:
    return None if config.dtype is None else jnp.dtype(config.dtype)


def build_network(cell: tuple[Any, Any], config: TrainConfig) -> NB101Network:
    matrix, ops = cell
    return nb101_network(
        matrix, ops, config.channels, config.stacks, config.cells_per_stack, config.num_classes, _dtype(config)
    )


# --------------------------------------------------------------------------- steps
def init_state(model: NB101Network, tx: optax.GradientTransformation, key: jax.Array, image_shape: tuple) -> TrainState:
    variables = model.init(key, jnp.zeros((1, *image_shape), jnp.float32), train=False)
    params = variables["params"]
    return TrainState(params, variables.get("batch_stats", {}), tx.init(params), jnp.zeros((), jnp.int32))


def make_train_step(model: NB101Network, tx: optax.GradientTransformation, augment_on: bool, pad: int) -> Callable:
    """``step(state, images_u8, labels, idx, key) -> (state, loss)``: one SGD step on ``images[idx]``."""

    def step(state: TrainState, images: jax.Array, labels: jax.Array, idx: jax.Array, key: jax.Array):
        x = normalize(images[idx])
        y = labels[idx]
        if augment_on:
            x = augment(key, x, pad)

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats}, x, train=True, mutable=["batch_stats"]
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, updates["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, stats, opt_state, state.step + 1), loss

    return step


def make_eval_step(model: NB101Network) -> Callable:
    """``eval(params, batch_stats, images_u8, labels, valid) -> number correct`` (masked)."""

    def ev(params, batch_stats, images, labels, valid):
        logits = model.apply({"params": params, "batch_stats": batch_stats}, normalize(images), train=False)
        return jnp.sum((jnp.argmax(logits, -1) == labels) & valid)

    return ev


_COMPILED: dict[tuple, tuple[Any, Any]] = {}


def compile_count() -> int:
    """Distinct (architecture, config) train steps compiled in this process so far."""
    return len(_COMPILED)


def _compiled_steps(model, tx, config, state, train_shape, n_train, key) -> tuple[Any, Any, float]:
    ck = (model.matrix, model.ops, config.key(), train_shape, n_train)
    if ck in _COMPILED:
        train_c, eval_c = _COMPILED[ck]
        return train_c, eval_c, 0.0
    t0 = time.perf_counter()
    images = jax.ShapeDtypeStruct(train_shape, jnp.uint8)
    labels = jax.ShapeDtypeStruct((train_shape[0],), jnp.int32)
    idx = jax.ShapeDtypeStruct((config.batch_size,), jnp.int32)
    train_c = (
        jax.jit(make_train_step(model, tx, config.augment, config.pad), donate_argnums=(0,))
        .lower(state, images, labels, idx, key)
        .compile()
    )
    b = config.eval_batch_size
    eval_c = (
        jax.jit(make_eval_step(model))
        .lower(
            state.params,
            state.batch_stats,
            jax.ShapeDtypeStruct((b, *train_shape[1:]), jnp.uint8),
            jax.ShapeDtypeStruct((b,), jnp.int32),
            jax.ShapeDtypeStruct((b,), jnp.bool_),
        )
        .compile()
    )
    _COMPILED[ck] = (train_c, eval_c)
    return train_c, eval_c, time.perf_counter() - t0


def evaluate(eval_c: Any, state: TrainState, images: np.ndarray, labels: np.ndarray, batch: int) -> float:
    """Accuracy over ``images`` in padded batches of ``batch``."""
    n = len(images)
    if n == 0:
        return float("nan")
    correct = 0
    for s in range(0, n, batch):
        xb, yb = images[s : s + batch], labels[s : s + batch]
        k = len(xb)
        valid = np.arange(batch) < k
        if k < batch:
            xb = np.concatenate([xb, np.zeros((batch - k, *xb.shape[1:]), xb.dtype)])
            yb = np.concatenate([yb, np.zeros(batch - k, yb.dtype)])
        correct += int(eval_c(state.params, state.batch_stats, xb, yb.astype(np.int32), valid))
    return correct / n


def train_and_evaluate(
    cell: tuple[Any, Any],
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    key: jax.Array,
    return_state: bool = False,
) -> dict[str, Any]:
    """Train the NB-101 network of ``cell = (matrix, ops)`` on ``data`` and evaluate it.

    ``data`` holds uint8 NHWC ``train_x``/``valid_x``/``test_x`` and int ``*_y`` (see
    :mod:`nasbench.train.cifar`). Returns ``val_acc``, ``test_acc``, ``train_time`` (seconds of
    training steps, compile excluded), ``compile_time`` (0 when this process already compiled the
    same architecture and config), ``train_cpu_time``/``compile_cpu_time`` (process CPU seconds,
    all threads), ``steps``, ``losses`` (the loss of every step, float32 array)
    and, with ``return_state``, the final ``state``.
    """
    train_x = np.asarray(data["train_x"])
    train_y = np.asarray(data["train_y"]).astype(np.int32)
    n = len(train_x)
    if train_x.dtype != np.uint8 or train_x.ndim != 4:
        raise ValueError(f"train_x must be uint8 NHWC, got {train_x.dtype} {train_x.shape}")
    if n < config.batch_size:
        raise ValueError(f"{n} training images is fewer than batch_size {config.batch_size}; lower batch_size")
    total = config.total_steps(n)
    model = build_network(cell, config)
    tx = make_optimizer(config, total)
    k_init, k_train = jax.random.split(key)
    state = init_state(model, tx, k_init, train_x.shape[1:])
    c_compile = time.process_time()
    train_c, eval_c, compile_time = _compiled_steps(model, tx, config, state, train_x.shape, n, k_train)

    images = jax.device_put(train_x)
    labels = jax.device_put(train_y)
    per_epoch = n // config.batch_size
    losses = []
    compile_cpu = time.process_time() - c_compile if compile_time else 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    k_train, k_perm = jax.random.split(k_train)
    rng = np.random.default_rng(int(jax.random.randint(k_perm, (), 0, 2**31 - 1)))
    perm = rng.permutation(n)
    for s in range(total):
        e = s % per_epoch
        if s > 0 and e == 0:
            perm = rng.permutation(n)
        idx = perm[e * config.batch_size : (e + 1) * config.batch_size].astype(np.int32)
        state, loss = train_c(state, images, labels, idx, jax.random.fold_in(k_train, s))
        losses.append(loss)
    jax.block_until_ready(state)
    train_time = time.perf_counter() - t0
    train_cpu = time.process_time() - c0
    b = config.eval_batch_size
    out = {
        "val_acc": evaluate(
            eval_c, state, np.asarray(data.get("valid_x", train_x[:0])), np.asarray(data.get("valid_y", train_y[:0])), b
        ),
        "test_acc": evaluate(
            eval_c, state, np.asarray(data.get("test_x", train_x[:0])), np.asarray(data.get("test_y", train_y[:0])), b
        ),
        "train_time": train_time,
        "compile_time": compile_time,
        "train_cpu_time": train_cpu,
        "compile_cpu_time": compile_cpu,
        "steps": total,
        "losses": np.asarray(jax.device_get(losses), dtype=np.float32),
    }
    log.info(
        "trained %s: %d steps in %.2fs (compile %.2fs), val %.4f test %.4f",
        model.ops,
        total,
        train_time,
        compile_time,
        out["val_acc"],
        out["test_acc"],
    )
    if return_state:
        out["state"] = state
    return out


__all__ = [
    "TrainConfig",
    "TrainState",
    "proxy_config",
    "augment",
    "crop",
    "flip",
    "normalize",
    "make_optimizer",
    "learning_rate_schedule",
    "build_network",
    "init_state",
    "make_train_step",
    "make_eval_step",
    "train_and_evaluate",
    "cached_train_and_evaluate",
    "compile_count",
    "evaluate",
]


def cached_train_and_evaluate(
    cell: tuple[Any, Any],
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    seed: int,
    data_id: str,
    folder: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`train_and_evaluate` with key ``jax.random.key(seed)``, cached on disk.

    The cache key is (official module hash of the cell, ``config.key()``, ``seed``, ``data_id``),
    so an isomorphic cell, a repeated query or a resumed run never retrains. ``data_id`` names
    the data (e.g. the source's sha256). Results (scalars only) are JSON files written atomically
    under ``folder`` (default ``$NASARENA_CACHE/train``); a hit has ``cached: True``.
    """
    h = module_hash(*cell)
    ident = hashlib.sha256(f"{h}|{config.key()}|{seed}|{data_id}".encode()).hexdigest()[:32]
    path = Path(folder) if folder is not None else cache_dir() / "train"
    path = path / f"{ident}.json"
    if path.is_file():
        try:
            out = json.loads(path.read_text())
            out["cached"] = True
            return out
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("training cache %s unreadable (%s); training again", path, exc)
    r = train_and_evaluate(cell, data, config, jax.random.key(seed))
    out = {k: (float(v) if k != "steps" else int(v)) for k, v in r.items() if k not in ("losses", "state")}
    out.update(final_loss=float(r["losses"][-1]), module_hash=h, config=config.key(), seed=seed, data_id=data_id)
    atomic_write_text(path, json.dumps(out))
    out["cached"] = False
    return out

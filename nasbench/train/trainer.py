"""Training and evaluation of NB-101 and NB-201 networks: one architecture, or several at once.

:func:`train_and_evaluate` trains one cell with the config's compile mode (see
:mod:`nasbench.train.steps`); :func:`train_many` trains several architectures at once with
``jax.vmap`` over the masked network's masks, parameters and optimiser states (one compile per
config and batch size). The compile is done ahead of time so its wall time is measured apart
(``compile_time``). :func:`cached_train_and_evaluate` keeps each result on disk, keyed by the
architecture, config, seed and data.

The configs (:class:`TrainConfig`, the NB-101 and NB-201 presets) are in
:mod:`nasbench.train.config`, the jitted steps in :mod:`nasbench.train.steps`; this module
re-exports both (``__all__``), so ``trainer.nb201_config`` and ``trainer.build_network`` keep working.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.data import atomic_write_text, cache_dir
from nasbench.train.config import (
    CIFAR_MEAN,
    CIFAR_STD,
    COMPILE_MODES,
    NB201_PROXY_COMPILE_MODE,
    PRESETS,
    SPACES,
    TrainConfig,
    nb101_config,
    nb201_config,
    nb201_proxy_config,
    nb201_tiny_config,
    preset,
    proxy_config,
)
from nasbench.train.steps import (
    FAMILIES,
    TrainState,
    arch_arrays,
    arch_id,
    augment,
    build_masked_network,
    build_network,
    compile_count,
    compile_steps,
    count_xla_compiles,
    crop,
    evaluate,
    flip,
    init_state,
    learning_rate_schedule,
    make_eval_step,
    make_optimizer,
    make_train_step,
    normalize,
)

log = logging.getLogger(__name__)


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
    fam = FAMILIES[config.space]
    one_program = config.compile_mode in ("masked", "switched")  # one compile serves every cell
    switched = config.compile_mode == "switched"
    tx = make_optimizer(config, total)
    k_init, k_train, rng = _keys(key)
    if one_program:
        model = fam.masked_network(config)
        arch = jax.tree_util.tree_map(jnp.asarray, fam.arch_arrays(cell))
        ck = (config.space, config.compile_mode, config.key(), train_x.shape, None)
        name = fam.arch_id(cell)
    else:
        model = fam.network(cell, config)
        arch = None
        ck = (config.space, fam.static_key(model), config.key(), train_x.shape, None)
        name = str(fam.static_key(model))
    # eager initialisation: a jitted init compiles slowly (every random draw inlined), while the
    # eager ops are compiled once per shape and then shared by every architecture
    t0 = time.perf_counter()
    # the switched supernet has the masked one's variables (same layout, same values for the same key),
    # and the masked one initialises eagerly ~15x faster (no switch to run op by op)
    init_model = fam.masked_network(dataclasses.replace(config, compile_mode="masked")) if switched else model
    state = jax.block_until_ready(init_state(init_model, tx, k_init, train_x.shape[1:], arch))
    init_time = time.perf_counter() - t0
    c_compile = time.process_time()
    train_c, eval_c, compile_time = compile_steps(ck, model, tx, config, state, arch, train_x.shape, k_train)
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
    fam = FAMILIES[config.space]
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
    train_c, eval_c, compile_time = compile_steps(ck, model, tx, config, state, arch, train_x.shape, k_train, n_vmap=m)
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
    "CIFAR_MEAN",
    "CIFAR_STD",
    "NB201_PROXY_COMPILE_MODE",
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
    "nb201_tiny_config",
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

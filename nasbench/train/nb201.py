"""The NAS-Bench-201 network in Flax (linen): one cell per architecture, or one supernet (masked or switched).

Follows the official ``xautodl`` code (Dong & Yang, ICLR 2020: ``models/cell_infers/tiny_network.py``,
``cells.py`` and ``cell_operations.py``):

* stem: 3x3 conv (no bias, padding 1) -> BatchNorm, ``channels`` (C) filters (no ReLU);
* ``stages`` stages (3 in NB-201) of ``cells_per_stage`` (N, 5 in NB-201) cells with C, 2C, 4C
  channels; between stages a ResNet basic block with stride 2: ``ReLU-Conv3x3(stride 2)-BN``,
  ``ReLU-Conv3x3-BN``, plus the shortcut ``AvgPool2x2(stride 2) -> Conv1x1`` (no BN);
* final BatchNorm -> ReLU, global average pool, dense classifier.

A cell is a 4-node DAG; node ``i`` is the sum over ``j < i`` of ``op_ij(node_j)`` and the cell
returns node 3. Ops (:data:`~nasbench.spaces.nb201.OPS`): ``none`` (zeros), ``skip_connect``
(identity), ``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU -> Conv -> BN, no bias, "same" padding),
``avg_pool_3x3`` (stride 1, padding 1, ``count_include_pad=False``). As in the official
``InferCell`` nothing is pruned: an op whose input is all zeros still runs (its BatchNorm then
outputs its bias), exactly as the benchmark's networks were trained.

Two forms of the cell share one parameter layout (module names ``edge{i}_{j}_{op}``):

* ``genotype`` given (static): only the chosen op of each edge is built, one compiled program
  per architecture;
* ``genotype=None``: the *masked supernet* cell. Every edge computes all its candidate ops and
  sums them weighted by ``arch[edge, op]``, a one-hot ``[6, 5]`` array passed as a traced input,
  so one compiled program serves all 15,625 cells. With a one-hot ``arch`` the output is the
  per-architecture network's output (the other terms are multiplied by exactly 0), and because
  Flax derives each parameter's initial value from its module path, ``init`` with the same key
  gives the chosen ops the same initial weights in both forms.
* ``genotype=None, switched=True``: the *switched supernet* cell. The same parameters and the same
  traced ``arch``, but each edge runs only its chosen op (``flax.linen.switch`` over the 5 ops, the
  index ``argmax(arch[edge])``), so a pass costs about what the per-architecture network's does
  (5x less than the masked one on an average cell). Its cell convolutions use
  :func:`nasbench.train.same_conv.same_conv`, whose gradients XLA:CPU runs at full speed inside
  the switch. Ops not chosen get exactly zero gradients.

Every cell records the input of each edge with ``sow("intermediates", "edge{i}_{j}_input")``
(the ReLU input of a convolution on that edge; kept only where the caller makes
``intermediates`` mutable, as the zero-cost proxies do).

BatchNorm: PyTorch's momentum 0.1 (Flax ``momentum=0.9``) and epsilon 1e-5. Initialisers follow
PyTorch's defaults (convolutions and dense kernels uniform in ``+-1/sqrt(fan_in)``, i.e.
``variance_scaling(1/3, "fan_in", "uniform")``; dense bias likewise). Parameter counts equal the
table's ``model_size`` (e.g. 73,306 for the empty cell, 1,531,546 for all ``nor_conv_3x3`` at
C = 16, N = 5; see ``tests/test_train_nb201.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasbench.space import InvalidArchitecture
from nasbench.spaces.nb201 import EDGES, N_EDGES, N_OPS, OPS, parse_arch_string
from nasbench.train.same_conv import same_conv_general

BN_MOMENTUM = 0.9  # PyTorch's BatchNorm momentum 0.1
BN_EPSILON = 1e-5
_TORCH_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _torch_bias_init(fan_in: int):
    bound = 1.0 / np.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _bn(train: bool, dtype: Any, name: str | None = None) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=dtype, name=name)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv (no bias, padding ``kernel // 2``) -> BatchNorm, as NB-201's ``ReLUConvBN``."""

    features: int
    kernel: int
    stride: int = 1
    dtype: Any = jnp.float32
    switched: bool = False  # inside the switched supernet's lax.switch: see nasbench.train.same_conv

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        p = self.kernel // 2
        x = nn.Conv(
            self.features,
            (self.kernel, self.kernel),
            strides=(self.stride, self.stride),
            padding=((p, p), (p, p)),
            use_bias=False,
            kernel_init=_TORCH_INIT,
            dtype=self.dtype,
            conv_general_dilated=same_conv_general if self.switched else None,
        )(nn.relu(x))
        return _bn(train, self.dtype)(x)


def _pool_counts(h: int, w: int) -> np.ndarray:
    """``[1, h, w, 1]`` the in-image positions of each 3x3 window (9 inside, 6 on an edge, 4 in a corner)."""
    rows = np.minimum(np.arange(h) + 1, h - 1) - np.maximum(np.arange(h) - 1, 0) + 1
    cols = np.minimum(np.arange(w) + 1, w - 1) - np.maximum(np.arange(w) - 1, 0) + 1
    return (rows[:, None] * cols[None, :]).astype(np.float32)[None, :, :, None]


def avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3x3 average pool, stride 1, padding 1, padded positions not counted (``count_include_pad=False``).

    The same sum and the same divisors as ``flax.linen.avg_pool(..., count_include_pad=False)``
    (bit for bit: the divisors are small integers), but the divisors are a numpy constant of the
    image's shape instead of a pool over a ones tensor of the batch's shape, which XLA
    constant-folds slowly (minutes of compile for a whole NB-201 network)."""
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1),
                                  ((0, 0), (1, 1), (1, 1), (0, 0)))
    return total / jnp.asarray(_pool_counts(x.shape[1], x.shape[2]), x.dtype)


class ResNetBlock(nn.Module):
    """NB-201's reduction block: ``ResNetBasicblock(C_in, C_out, stride=2)``."""

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = ReLUConvBN(self.features, 3, 2, self.dtype, name="conv_a")(x, train)
        y = ReLUConvBN(self.features, 3, 1, self.dtype, name="conv_b")(y, train)
        r = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="VALID")
        r = nn.Conv(
            self.features, (1, 1), use_bias=False, kernel_init=_TORCH_INIT, dtype=self.dtype, name="downsample"
        )(r)
        return r + y


class NB201Cell(nn.Module):
    """One cell; ``genotype`` (6 op indices) static, or ``None`` for the masked supernet cell."""

    genotype: tuple[int, ...] | None = None
    dtype: Any = jnp.float32
    switched: bool = False

    def _op(self, k: int, h: jax.Array, edge: str, train: bool) -> jax.Array | None:
        op = OPS[k]
        c = h.shape[-1]
        if op == "none":
            return None
        if op == "skip_connect":
            return h
        if op == "nor_conv_1x1":
            return ReLUConvBN(c, 1, 1, self.dtype, self.switched, name=f"{edge}_{op}")(h, train)
        if op == "nor_conv_3x3":
            return ReLUConvBN(c, 3, 1, self.dtype, self.switched, name=f"{edge}_{op}")(h, train)
        return avg_pool_3x3(h)

    @nn.compact
    def __call__(self, x: jax.Array, arch: jax.Array | None = None, train: bool = False) -> jax.Array:
        if self.genotype is None and arch is None:
            raise ValueError("the masked NB-201 cell needs arch, a one-hot [6, 5] array of edge ops")
        nodes = [x]
        for node in (1, 2, 3):
            acc = jnp.zeros_like(x)
            for p, (dst, src) in enumerate(EDGES):
                if dst != node:
                    continue
                h = nodes[src]
                edge = f"edge{dst}_{src}"
                self.sow("intermediates", f"{edge}_input", h)  # kept only where "intermediates" is mutable
                if self.genotype is not None:
                    y = self._op(int(self.genotype[p]), h, edge, train)
                    acc = acc + (h * 0 if y is None else y)
                elif self.switched:
                    assert arch is not None
                    branches = [functools.partial(_edge_branch, k=k, edge=edge, train=train) for k in range(N_OPS)]
                    if self.is_initializing():  # every branch's modules exist before the switch
                        for branch in branches:
                            branch(self, h)
                    acc = acc + nn.switch(jnp.argmax(arch[p]), branches, self, h)
                else:
                    assert arch is not None
                    for k in range(N_OPS):
                        y = self._op(k, h, edge, train)
                        if y is not None:
                            acc = acc + arch[p, k].astype(y.dtype) * y
            nodes.append(acc)
        return nodes[3]


def _edge_branch(cell: NB201Cell, h: jax.Array, k: int, edge: str, train: bool) -> jax.Array:
    y = cell._op(k, h, edge, train)
    return jnp.zeros_like(h) if y is None else y


class NB201Network(nn.Module):
    """The NAS-Bench-201 network (``TinyNetwork``). ``genotype=None``: the masked supernet, called
    as ``apply(variables, x, arch, train=...)`` with ``arch`` a one-hot ``[6, 5]`` array."""

    genotype: tuple[int, ...] | None = None
    channels: int = 16
    stages: int = 3
    cells_per_stage: int = 5
    num_classes: int = 10
    dtype: Any = jnp.float32
    switched: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, arch: jax.Array | None = None, train: bool = False) -> jax.Array:
        x = x.astype(self.dtype)
        x = nn.Conv(
            self.channels,
            (3, 3),
            padding=((1, 1), (1, 1)),
            use_bias=False,
            kernel_init=_TORCH_INIT,
            dtype=self.dtype,
            name="stem_conv",
        )(x)
        x = _bn(train, self.dtype, "stem_bn")(x)
        ch = self.channels
        for s in range(self.stages):
            if s > 0:
                ch *= 2
                x = ResNetBlock(ch, self.dtype, name=f"reduce{s}")(x, train)
            for c in range(self.cells_per_stage):
                x = NB201Cell(self.genotype, self.dtype, self.switched, name=f"stage{s}_cell{c}")(x, arch, train)
        x = nn.relu(_bn(train, self.dtype, "lastact_bn")(x))
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dense(
            self.num_classes,
            dtype=self.dtype,
            kernel_init=_TORCH_INIT,
            bias_init=_torch_bias_init(ch),
            name="classifier",
        )(x)
        return x.astype(jnp.float32)


def as_genotype(cell: Any) -> tuple[int, ...]:
    """A genotype tuple from 6 op indices, 6 op names, or an arch string."""
    if isinstance(cell, str):
        items: list[Any] = list(parse_arch_string(cell))
    else:
        items = list(np.asarray(cell).reshape(-1)) if not isinstance(cell, (list, tuple)) else list(cell)
    g = [OPS.index(v) if isinstance(v, str) else int(v) for v in items]
    if len(g) != N_EDGES or any(not 0 <= v < N_OPS for v in g):
        raise InvalidArchitecture(f"nb201: a cell is {N_EDGES} op indices in 0..{N_OPS - 1}, got {g}")
    return tuple(g)


def onehot(cell: Any) -> np.ndarray:
    """The ``[6, 5]`` float32 one-hot mask of a cell (the masked supernet's ``arch`` input)."""
    m = np.zeros((N_EDGES, N_OPS), np.float32)
    m[np.arange(N_EDGES), list(as_genotype(cell))] = 1.0
    return m


def nb201_network(
    cell: Any | None,
    channels: int = 16,
    stages: int = 3,
    cells_per_stage: int = 5,
    num_classes: int = 10,
    dtype: Any = None,
    switched: bool = False,
) -> NB201Network:
    """The network of ``cell`` (see :func:`as_genotype`), or the supernet when ``None``: masked, or
    ``switched`` (the chosen op of each edge only, through ``lax.switch``)."""
    from nasbench.train.networks import check_sizes, default_dtype

    check_sizes("NB201", channels=channels, stages=stages, cells_per_stage=cells_per_stage, num_classes=num_classes)
    return NB201Network(
        genotype=None if cell is None else as_genotype(cell),
        channels=channels,
        stages=stages,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        dtype=default_dtype() if dtype is None else dtype,
        switched=switched and cell is None,
    )


__all__ = ["NB201Network", "NB201Cell", "ResNetBlock", "ReLUConvBN", "as_genotype", "onehot", "nb201_network"]

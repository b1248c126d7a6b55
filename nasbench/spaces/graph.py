"""The NAS-Bench-Graph space (Qin et al., NeurIPS 2022 Datasets and Benchmarks): GNN architectures
of 4 layers, each layer reading the graph input or an earlier layer's output, one op per layer.

A raw architecture is a *link* ``[l0, l1, l2, l3]`` (``li`` in ``0..i``: layer ``i+1`` reads node
``li``, node 0 being the input) and 4 ops. Many raw architectures compute the same function, so
the benchmark's package (``nas-bench-graph``, ``architecture.Arch.valid_hash``) canonicalises them:
it rewrites the 24 links onto 9 canonical *link patterns* (:data:`LINKS`) permuting the ops,
moves ``skip`` layers that do not change the function to the front, sorts the ops of
interchangeable layers, and hashes the result. That logic is ported here (:func:`canonicalize`);
``tests/test_graph.py`` checks it agrees with the package on every raw architecture. The
architecture whose 4 layers are all ``skip`` is not a GNN and is ``INVALID``.

Spaces (index order = the package's hash, ascending, so index ``i`` is the ``i``-th smallest
key of the ``.bench`` file):

* :func:`graph_space` (``"graph"``): 9 ops :data:`OPS`, 26,206 architectures (the 8 datasets other
  than ogbn-proteins);
* :func:`graph_space` with ``proteins=True`` (``"graph-proteins"``): 5 ops :data:`OPS_PROTEINS`,
  2,021 architectures.

Genotype: ``[link pattern index (0..8), op0, op1, op2, op3]`` (op indices into the space's op
list). Every genotype except the all-``skip`` ones is an architecture; :meth:`GraphSpace.lookup`
canonicalises it (a gather in a precomputed table over all genotypes). Mutation neighbours: change
one op or the link pattern of *any* genotype of the architecture, canonicalised, without the
architecture itself and without repeats (so the relation is symmetric), padded with ``INVALID``.

Graph form (``graph``): 6 nodes ``[input, layer 1..4, output]``; an edge from node ``li`` to layer
``i+1``, and from every layer that no other layer reads to the output (the layers whose outputs the
network combines). Node features are one-hot over ``[input, *ops, output]``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nasbench.data import cached_arrays
from nasbench.space import (
    INVALID,
    InvalidArchitecture,
    Space,
    categorical_fields,
)

#: The package's op list (``architecture.gnn_list``); its order defines the hash and op sorting.
OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: The ops of the ogbn-proteins table (``architecture.gnn_list_proteins``).
OPS_PROTEINS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")
#: The 9 canonical link patterns (``architecture.link_list``), in hash order.
LINKS: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
N_LAYERS = 4
SKIP = OPS.index("skip")
HASH_BASE = len(OPS) + 1  # the package hashes with base len(gnn_list) + 1 = 10, proteins included
ALL_SKIP_HASH = 88888  # hash of the all-skip architecture, which the package excludes

# Arch.regularize: non-canonical link -> (canonical link, new ops as positions of the old ones).
_REGULARIZE: dict[tuple[int, ...], tuple[tuple[int, ...], tuple[int, ...]]] = {
    (0, 0, 0, 2): ((0, 0, 0, 1), (1, 0, 2, 3)),
    (0, 0, 0, 3): ((0, 0, 0, 1), (2, 0, 1, 3)),
    (0, 0, 1, 0): ((0, 0, 0, 1), (0, 1, 3, 2)),
    (0, 0, 2, 0): ((0, 0, 0, 1), (1, 0, 3, 2)),
    (0, 0, 2, 1): ((0, 0, 1, 2), (1, 0, 2, 3)),
    (0, 0, 2, 2): ((0, 0, 1, 1), (1, 0, 2, 3)),
    (0, 0, 2, 3): ((0, 0, 1, 3), (1, 0, 2, 3)),
    (0, 1, 0, 0): ((0, 0, 0, 1), (0, 2, 3, 1)),
    (0, 1, 0, 1): ((0, 0, 1, 1), (0, 2, 1, 3)),
    (0, 1, 0, 2): ((0, 0, 1, 3), (0, 2, 1, 3)),
    (0, 1, 0, 3): ((0, 0, 1, 2), (0, 2, 1, 3)),
    (0, 1, 1, 0): ((0, 0, 1, 1), (0, 3, 1, 2)),
    (0, 1, 1, 3): ((0, 1, 1, 2), (0, 2, 1, 3)),
    (0, 1, 2, 0): ((0, 0, 1, 3), (0, 3, 1, 2)),
    (0, 1, 2, 1): ((0, 1, 1, 2), (0, 1, 3, 2)),
}
# Arch.equalpart_sort: layers whose ops are interchangeable under each canonical link.
_EQUAL_PARTS: dict[tuple[int, ...], tuple[int, ...]] = {
    (0, 0, 0, 0): (0, 1, 2, 3),
    (0, 0, 0, 1): (1, 2),
    (0, 0, 1, 1): (2, 3),
    (0, 1, 1, 1): (1, 2, 3),
    (0, 1, 2, 2): (2, 3),
}


# ------------------------------------------------------------ canonicalisation (the package's rules)
def _regularize(link: list[int], ops: list[int]) -> tuple[list[int], list[int]]:
    rule = _REGULARIZE.get(tuple(link))
    if rule is None:
        return list(link), list(ops)
    new_link, perm = rule
    return list(new_link), [ops[p] for p in perm]


def _move_one(k: int, link: list[int], ops: list[int]) -> tuple[list[int], list[int]]:
    """Move layer ``k`` (a skip) to the front, rewiring the links (``Arch.move_skip_op.move_one``;
    the in-place updates are kept in the package's order, on which its result depends)."""
    ops = [ops[k]] + ops[:k] + ops[k + 1 :]
    for i, father in enumerate(link):
        if father == k + 1:
            link[i] = link[k]
        if father <= k:
            link[i] = link[i] + 1
    link = [0] + link[:k] + link[k + 1 :]
    return link, ops


def _is_original_dim(k: int, link: list[int], ops: list[int]) -> bool:
    """Whether layer ``k`` only passes the input through skips (``check_dim``)."""
    while k > -1:
        if ops[k] != SKIP:
            return False
        k = link[k] - 1
    return True


def _move_skip_ops(link: list[int], ops: list[int]) -> tuple[list[int], list[int]]:
    link, ops = list(link), list(ops)
    for i in range(len(link)):
        if ops[i] != SKIP:
            continue
        son = brother = False
        for j, fa in enumerate(link):
            if fa == i + 1:
                son = True
            elif j != i and fa == link[i]:
                brother = True
        if son or not brother or (_is_original_dim(i, link, ops) and not son):
            link, ops = _move_one(i, link, ops)
    if link == [0, 1, 2, 1]:
        link, ops = [0, 1, 1, 2], ops[:2] + [ops[3], ops[2]]
    elif link == [0, 1, 1, 3]:
        link, ops = [0, 1, 1, 2], [ops[0], ops[2], ops[1], ops[3]]
    return link, ops


def _sort_equal_parts(link: list[int], ops: list[int]) -> list[int]:
    ops = list(ops)
    ids = _EQUAL_PARTS.get(tuple(link))
    if ids is not None:
        for pos, op in zip(ids, sorted(ops[i] for i in ids)):
            ops[pos] = op
    elif tuple(link) == (0, 0, 1, 2):
        if ops[0] > ops[1] or (ops[0] == ops[1] and ops[2] > ops[3]):
            ops = [ops[1], ops[0], ops[3], ops[2]]
    return ops


def canonicalize(link: Sequence[int], ops: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The canonical ``(link, ops)`` of a raw architecture, as ``Arch.valid_hash`` computes it.

    ``link`` is any of the 24 raw links, ``ops`` are indices into :data:`OPS` (the package's list,
    also for proteins). The result's link is one of :data:`LINKS`.
    """
    link_l = [int(v) for v in link]
    ops_l = [int(v) for v in ops]
    if len(link_l) != N_LAYERS or any(not 0 <= v <= i for i, v in enumerate(link_l)):
        raise InvalidArchitecture(
            f"graph: link {link_l} must have {N_LAYERS} entries with entry i in 0..i (layer i+1 reads node 0..i)"
        )
    if len(ops_l) != N_LAYERS or any(not 0 <= v < len(OPS) for v in ops_l):
        raise InvalidArchitecture(f"graph: ops {ops_l} must be {N_LAYERS} indices into {list(OPS)}")
    link_l, ops_l = _regularize(link_l, ops_l)
    link_l, ops_l = _move_skip_ops(link_l, ops_l)
    ops_l = _sort_equal_parts(link_l, ops_l)
    if tuple(link_l) not in LINKS:  # pragma: no cover - the package's rules never leave one
        raise AssertionError(f"canonicalisation left a non-canonical link {link_l}")
    return tuple(link_l), tuple(ops_l)


def arch_hash(link: Sequence[int], ops: Sequence[int]) -> int:
    """The package's key (``Arch.valid_hash``) of a raw architecture (ops index :data:`OPS`)."""
    c_link, c_ops = canonicalize(link, ops)
    h = LINKS.index(c_link)
    for o in c_ops:
        h = h * HASH_BASE + o
    return h


# ------------------------------------------------------------ the space
@dataclass(eq=False)
class GraphSpace(Space):
    """A NAS-Bench-Graph space: canonicalising lookup by table, readable ``link=... ops=...``.

    Extra attributes: ``ops`` (the op names of this space), ``keys`` (``[n]`` int64, the package's
    hash of each architecture, ascending) and ``code_to_index`` (``[9 * k**4]``, the index or
    ``INVALID`` of every genotype, by its mixed-radix code).
    """

    ops: tuple[str, ...] = OPS
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    code_to_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def _radix(self) -> np.ndarray:
        card = np.asarray(self.cardinalities, dtype=np.int64)
        return np.concatenate([np.cumprod(card[::-1])[::-1][1:], [1]])

    def lookup(self, genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
        if g.shape[1] != len(self.cardinalities):
            raise InvalidArchitecture(
                f"{self.name}: a genotype is [link pattern, op0..op3] ({len(self.cardinalities)} positions), "
                f"got {g.shape[1]}"
            )
        card = np.asarray(self.cardinalities)
        ok = ((g >= 0) & (g < card)).all(axis=1)
        codes = np.where(ok, g @ self._radix, 0)
        return np.where(ok, self.code_to_index[codes], INVALID)

    def canonical_genotype(self, genotype: np.ndarray) -> np.ndarray | None:
        i = int(self.lookup(np.asarray(genotype)[None, :])[0])
        return None if i < 0 else self.genotypes[i]

    def global_ops(self, local: Sequence[int]) -> list[int]:
        """Op indices into :data:`OPS` of this space's local op indices."""
        return [OPS.index(self.ops[int(o)]) for o in local]

    def describe(self, idx: int) -> str:
        g = self.genotypes[int(idx)]
        link = LINKS[int(g[0])]
        return f"link={'-'.join(map(str, link))} ops={','.join(self.ops[int(o)] for o in g[1:])}"

    def parse(self, text: str) -> int:
        """Index of ``"link=0-0-1-2 ops=gcn,gat,skip,fc"``; any of the 24 raw links is accepted and
        canonicalised (so is a bare ``"0-0-1-2 gcn,gat,skip,fc"``)."""
        m = re.fullmatch(r"\s*(?:link=)?\s*([0-9][-, ]*[0-9][-, ]*[0-9][-, ]*[0-9])\s+(?:ops=)?\s*(.+?)\s*", text)
        if m is None:
            raise InvalidArchitecture(
                f"{self.name}: cannot parse {text!r}; expected 'link=l0-l1-l2-l3 ops=op0,op1,op2,op3' (bad format)"
            )
        link = [int(c) for c in re.findall(r"[0-9]", m.group(1))]
        names = [t for t in re.split(r"[,\s]+", m.group(2)) if t]
        if len(names) != N_LAYERS:
            raise InvalidArchitecture(f"{self.name}: {text!r} names {len(names)} ops, expected {N_LAYERS}")
        bad = [t for t in names if t not in self.ops]
        if bad:
            raise InvalidArchitecture(f"{self.name}: unknown op(s) {bad} in {text!r}; ops are {list(self.ops)}")
        if any(not 0 <= v <= i for i, v in enumerate(link)):
            raise InvalidArchitecture(
                f"{self.name}: link {link} in {text!r} is not a link: layer i+1 reads node 0..i (entry i in 0..i)"
            )
        if all(t == "skip" for t in names):
            raise InvalidArchitecture(f"{self.name}: {text!r} has only skip layers, which is not a GNN")
        h = arch_hash(link, [OPS.index(t) for t in names])
        pos = int(np.searchsorted(self.keys, h))
        if pos >= self.n or int(self.keys[pos]) != h:  # pragma: no cover - the enumeration is complete
            raise InvalidArchitecture(f"{self.name}: {text!r} canonicalises to hash {h}, not in the space")
        return pos


def _node_graph(genotypes: np.ndarray, n_ops: int) -> tuple[np.ndarray, np.ndarray]:
    """``(adjacency [n, 6, 6], features [n, 6, n_ops + 2])`` of canonical genotypes."""
    n = len(genotypes)
    links = np.asarray(LINKS, dtype=np.int64)[genotypes[:, 0]]  # [n, 4]
    adj = np.zeros((n, 6, 6), dtype=np.float32)
    rows = np.arange(n)
    read = np.zeros((n, N_LAYERS + 1), dtype=bool)  # read[:, v]: node v feeds some layer
    for layer in range(N_LAYERS):
        adj[rows, links[:, layer], layer + 1] = 1.0
        read[rows, links[:, layer]] = True
    for layer in range(1, N_LAYERS + 1):
        adj[rows, layer, 5] = np.where(read[:, layer], 0.0, 1.0)
    types = np.concatenate(
        [np.zeros((n, 1), np.int64), genotypes[:, 1:].astype(np.int64) + 1, np.full((n, 1), n_ops + 1)], axis=1
    )
    feats = np.zeros((n, 6, n_ops + 2), dtype=np.float32)
    feats[rows[:, None], np.arange(6)[None, :], types] = 1.0
    return adj, feats


def _build_arrays(ops: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Enumerate every genotype, canonicalise it, and derive the space's arrays."""
    k = len(ops)
    to_global = [OPS.index(o) for o in ops]
    cards = (len(LINKS),) + (k,) * N_LAYERS
    n_codes = int(np.prod(cards))
    grid = np.stack(np.unravel_index(np.arange(n_codes), cards), axis=1)  # [n_codes, 5], code order
    code_hash = np.empty(n_codes, dtype=np.int64)
    canon_of_hash: dict[int, tuple[int, ...]] = {}
    for c, row in enumerate(grid):
        glob = [to_global[int(o)] for o in row[1:]]
        if all(o == SKIP for o in glob):
            code_hash[c] = -1
            continue
        c_link, c_ops = canonicalize(LINKS[int(row[0])], glob)
        h = LINKS.index(c_link)
        for o in c_ops:
            h = h * HASH_BASE + o
        code_hash[c] = h
        if h not in canon_of_hash:
            canon_of_hash[h] = (LINKS.index(c_link), *(ops.index(OPS[o]) for o in c_ops))
    keys = np.array(sorted(canon_of_hash), dtype=np.int64)
    genotypes = np.array([canon_of_hash[int(h)] for h in keys], dtype=np.int8)
    code_to_index = np.where(code_hash >= 0, np.searchsorted(keys, np.maximum(code_hash, 0)), INVALID)
    # neighbours: one-position changes of every genotype, mapped to architectures, grouped by source
    radix = np.concatenate([np.cumprod(np.asarray(cards)[::-1])[::-1][1:], [1]])
    src_all, dst_all = [], []
    valid_codes = np.flatnonzero(code_to_index >= 0)
    for p, card in enumerate(cards):
        for shift in range(1, card):
            new = (grid[valid_codes, p] + shift) % card
            nb = code_to_index[valid_codes + (new - grid[valid_codes, p]) * radix[p]]
            src_all.append(code_to_index[valid_codes])
            dst_all.append(nb)
    src = np.concatenate(src_all)
    dst = np.concatenate(dst_all)
    keep = (dst >= 0) & (dst != src)
    n = len(keys)
    flat = np.sort(src[keep] * n + dst[keep])  # sorted by (src, dst)
    flat = flat[np.concatenate([[True], np.diff(flat) > 0])]  # (a sort-based unique: faster here)
    pairs = np.stack([flat // n, flat % n], axis=1)
    counts = np.bincount(pairs[:, 0], minlength=n)
    neighbors = np.full((n, int(counts.max())), INVALID, dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(len(pairs)) - starts[pairs[:, 0]]
    neighbors[pairs[:, 0], col] = pairs[:, 1]
    return {
        "genotypes": genotypes,
        "keys": keys,
        "code_to_index": code_to_index.astype(np.int64),
        "neighbors": neighbors,
    }


@functools.cache
def graph_space(proteins: bool = False) -> GraphSpace:
    """The NAS-Bench-Graph space (9 ops), or the ogbn-proteins one (5 ops) with ``proteins=True``.

    The enumeration takes about a second to build and is cached (keyed by this module's source).
    """
    ops = OPS_PROTEINS if proteins else OPS
    name = "graph-proteins" if proteins else "graph"
    arrays = cached_arrays(f"space-{name}", Path(__file__), lambda _src: _build_arrays(ops), version=1)
    genotypes = arrays["genotypes"]
    cards = (len(LINKS),) + (len(ops),) * N_LAYERS
    return GraphSpace(
        name=name,
        genotypes=genotypes,
        neighbors=arrays["neighbors"],
        graph=_node_graph(genotypes, len(ops)),
        ops=ops,
        keys=arrays["keys"],
        code_to_index=arrays["code_to_index"],
        **categorical_fields(genotypes, cards),
    )

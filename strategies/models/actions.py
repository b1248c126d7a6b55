"""Action designs: how a tree search builds one architecture of a space, action by action.

A tree search over *architecture-building actions* (AlphaX; Wang, Zhao, Jinnai, Tian, Fonseca:
"AlphaX: eXploring Neural Architectures with Deep Neural Networks and Monte Carlo Tree Search",
arXiv 1903.11059, 2019) needs four things from a space: a root state, the legal actions of a state,
the state an action leads to, and, at a terminal state, the architecture built. An
:class:`ActionDesign` supplies them; states are hashable (they key the search tree) and actions are
short strings (readable in logs and tests).

Two designs are provided, and :func:`design_for` picks one for a space:

* :class:`CellDesign`, for cell spaces (NAS-Bench-101), as the official AlphaX code
  (``arch_generator.py``) builds cells: the root is ``input -> output`` with no edge; actions are
  ``node:<op>`` (insert a vertex with op value ``<op>`` just before the output, and *remove every
  edge*, as the official code does), ``edge:(i, j)`` for an absent edge ``i -> j`` (``i < j``), and
  ``term`` (stop). ``node`` actions are legal below the vertex limit, ``edge`` actions below the
  edge limit. The official code offers the others too and answers them with ``None``: in the
  *tree*, UCT scores such a child 0, so it is never taken while another action exists, and
  leaving them out of :meth:`CellDesign.actions` is the same tree policy. In a *rollout* it is not
  the same: the official ``MCTS.simulation`` (``MCTS.py:285-290``) draws uniformly among all
  actions and restarts the walk from its start when it draws an illegal one
  (:meth:`CellDesign.official_terminal`), which favours walks that stay far from the limits;
  :meth:`CellDesign.random_terminal` draws among the legal actions only (40k walks from the root:
  39 distinct accepted cells with the restart rule against 130 without). A terminal cell maps to the space's genotype (the
  21 upper-triangle bits of the 7x7 matrix, the cell embedded with its output at vertex 6, then
  the 5 op values), or to ``None`` when its input does not reach its output (never a valid cell).
* :class:`PositionDesign`, for spaces of fixed-length genotypes (NAS-Bench-201, NAS-Bench-Macro,
  NAS-Bench-Graph, the synthetic benchmarks): the action fills the next genotype position with one
  of its ``cardinalities[p]`` values; the state is terminal when every position is filled.

A new space supplies its own design by exposing an ``action_design`` attribute: a design, or a
callable ``(space) -> design``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

Action = str
#: A cell state: (op values of the vertices between input and output, edge bitmask with bit
#: ``i * max_vertices + j`` for an edge ``i -> j`` in the cell's own numbering, terminated?).
CellState = tuple[tuple[int, ...], int, bool]


@runtime_checkable
class ActionDesign(Protocol):
    """How to build an architecture of a space step by step (see the module docstring)."""

    def root(self) -> Hashable:
        """The empty state every episode starts from."""
        ...

    def actions(self, state: Any) -> Sequence[Action]:
        """The legal actions of a non-terminal ``state`` (never empty)."""
        ...

    def apply(self, state: Any, action: Action) -> Hashable:
        """The state ``action`` leads to from ``state``."""
        ...

    def is_terminal(self, state: Any) -> bool:
        """Whether ``state`` is a finished architecture (no more actions)."""
        ...

    def genotype(self, state: Any) -> np.ndarray | None:
        """The space genotype of a terminal ``state``, or ``None`` when it can be no architecture."""
        ...


def uniforms(rng: np.random.Generator, first: int = 64, most: int = 4096) -> Iterator[float]:
    """An endless stream of ``rng``'s uniform draws in [0, 1), generated in blocks (``first``,
    doubling up to ``most``): a rollout reads a Python float per step instead of calling
    ``rng.random()`` (about a third of a rollout's time). Draws left in a block when the stream is
    dropped are never used, so the walks are the same in law, not draw for draw, as per-step
    ``rng.random()`` calls; ``iter(rng.random, None)`` gives those."""
    k = first
    while True:
        yield from rng.random(k).tolist()
        k = min(2 * k, most)


def random_terminal(design: ActionDesign, state: Any, u: Iterator[float], official: bool = False) -> Hashable:
    """A random rollout: uniformly random legal actions from ``state`` until a terminal state,
    each action chosen by the next draw of ``u`` (uniform in [0, 1), :func:`uniforms`).

    Uses the design's own ``random_terminal(state, u)`` when it has one (a faster equivalent,
    which must draw from the same distribution); else steps through ``actions``/``apply``. With
    ``official``, a design that has ``official_terminal`` (cells) rolls out as the official AlphaX
    code does instead; on designs whose actions are always legal the two are the same.
    """
    if official and hasattr(design, "official_terminal"):
        return design.official_terminal(state, u)
    own = getattr(design, "random_terminal", None)
    if own is not None:
        return own(state, u)
    while not design.is_terminal(state):
        acts = design.actions(state)
        state = design.apply(state, acts[int(next(u) * len(acts))])
    return state


# ==================================================================== fixed positions
@dataclass(frozen=True)
class PositionDesign:
    """Fill genotype positions in order; action ``str(v)`` sets the next position to ``v``."""

    cardinalities: tuple[int, ...]
    _labels: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.cardinalities or min(self.cardinalities) < 1:
            raise ValueError(f"a position design needs positive cardinalities, got {self.cardinalities}")
        labels = tuple(tuple(str(v) for v in range(int(c))) for c in self.cardinalities)
        object.__setattr__(self, "_labels", labels)

    def root(self) -> tuple[int, ...]:
        return ()

    def actions(self, state: tuple[int, ...]) -> tuple[str, ...]:
        if len(state) >= len(self.cardinalities):
            raise ValueError(f"state {state} is terminal: it has no actions")
        return self._labels[len(state)]

    def apply(self, state: tuple[int, ...], action: Action) -> tuple[int, ...]:
        v = int(action)
        p = len(state)
        if p >= len(self.cardinalities) or not 0 <= v < self.cardinalities[p]:
            raise ValueError(f"action {action!r} is not legal in state {state}")
        return (*state, v)

    def is_terminal(self, state: tuple[int, ...]) -> bool:
        return len(state) == len(self.cardinalities)

    def random_terminal(self, state: tuple[int, ...], u: Iterator[float]) -> tuple[int, ...]:
        """Uniform values for the remaining positions (what uniformly random actions give)."""
        rest = self.cardinalities[len(state):]
        return (*state, *(int(next(u) * c) for c in rest))

    def genotype(self, state: tuple[int, ...]) -> np.ndarray | None:
        if not self.is_terminal(state):
            raise ValueError(f"state {state} is not terminal: {len(self.cardinalities) - len(state)} positions left")
        return np.asarray(state, dtype=np.int64)


# ============================================================================ cells
def cell_layout(cardinalities: Sequence[int]) -> tuple[int, int] | None:
    """``(vertices G, ops)`` when ``cardinalities`` is a cell genotype (``G(G-1)/2`` binary edge
    bits, then ``G - 2`` op positions of equal cardinality), else ``None``."""
    card = tuple(int(c) for c in cardinalities)
    for g in range(2, 32):
        bits = g * (g - 1) // 2
        if bits + g - 2 != len(card):
            continue
        ops = card[bits:]
        if all(c == 2 for c in card[:bits]) and ops and len(set(ops)) == 1:
            return g, ops[0]
    return None


@dataclass(frozen=True)
class CellDesign:
    """AlphaX's cell-building actions (see the module docstring).

    ``genotype_vertices`` (G) and ``n_ops`` fix the genotype layout: ``G(G-1)/2`` upper-triangle
    edge bits (row-major), then the op values of vertices ``1 .. G-2``. ``max_vertices`` and
    ``max_edges`` bound the cells built (the space's limits, or tighter: the official code
    searches at most 6 vertices by default).
    """

    n_ops: int = 3
    max_vertices: int = 7
    max_edges: int = 9
    genotype_vertices: int = 7
    _edge_pos: dict[tuple[int, int], int] = field(init=False, repr=False, compare=False)
    _edge_label: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    _parse: dict[str, tuple[int, int, int]] = field(init=False, repr=False, compare=False)
    _pairs: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    _geno_map: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)
    _geno_pos_len: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        g = self.genotype_vertices
        if not 2 <= self.max_vertices <= g:
            raise ValueError(f"max_vertices must be in 2..{g} (the genotype's cell size), got {self.max_vertices}")
        if self.max_edges < 1 or self.n_ops < 1:
            raise ValueError(f"max_edges and n_ops must be at least 1, got {self.max_edges}, {self.n_ops}")
        pos = {(i, j): k for k, (i, j) in enumerate((i, j) for i in range(g) for j in range(i + 1, g))}
        labels = tuple(tuple(f"edge:({i}, {j})" for j in range(g)) for i in range(g))
        parse: dict[str, tuple[int, int, int]] = {"term": (2, 0, 0)}
        parse.update({f"node:{o}": (0, o, 0) for o in range(self.n_ops)})
        parse.update({labels[i][j]: (1, i, j) for i in range(g) for j in range(i + 1, g)})
        object.__setattr__(self, "_edge_pos", pos)
        object.__setattr__(self, "_edge_label", labels)
        object.__setattr__(self, "_parse", parse)
        mv = self.max_vertices
        # per cell size v: the edges (i, j), i < j < v, as bits 1 << (i * mv + j), row-major (the
        # actions' order, which is also ascending bit order); a walk keeps the absent ones as a list
        object.__setattr__(self, "_pairs", tuple(tuple(1 << (i * mv + j) for i in range(v) for j in range(i + 1, v))
                                                 for v in range(mv + 1)))
        # per cell size v: (edge bit, genotype position) of the embedding (output -> vertex g - 1)
        geno_map = []
        for v in range(mv + 1):
            where = list(range(v - 1)) + [g - 1]
            geno_map.append(tuple((1 << (i * mv + j), pos[(where[i], where[j])])
                                  for i in range(v) for j in range(i + 1, v)))
        object.__setattr__(self, "_geno_map", tuple(geno_map))
        object.__setattr__(self, "_geno_pos_len", (g * (g - 1) // 2, g * (g - 1) // 2 + g - 2))

    # ------------------------------------------------------------------ protocol
    def root(self) -> CellState:
        return ((), 0, False)

    def actions(self, state: CellState) -> list[str]:
        ops, edges, term = state
        if term:
            raise ValueError(f"state {state} is terminal: it has no actions")
        v = len(ops) + 2
        acts = [f"node:{o}" for o in range(self.n_ops)] if v < self.max_vertices else []
        if edges.bit_count() < self.max_edges:
            mv = self.max_vertices
            for i in range(v - 1):
                row = self._edge_label[i]
                for j in range(i + 1, v):
                    if not (edges >> (i * mv + j)) & 1:
                        acts.append(row[j])
        acts.append("term")
        return acts

    def apply(self, state: CellState, action: Action) -> CellState:
        ops, edges, term = state
        kind, a, b = self._parse.get(action, (-1, 0, 0))
        v = len(ops) + 2
        if term or kind < 0:
            raise ValueError(f"action {action!r} is not legal in state {state}")
        if kind == 0:
            if v >= self.max_vertices:
                raise ValueError(f"action {action!r}: the cell already has {v} vertices (max {self.max_vertices})")
            return ((*ops, a), 0, False)  # a new vertex before the output; every edge removed
        if kind == 1:
            bit = 1 << (a * self.max_vertices + b)
            if b >= v or edges & bit or edges.bit_count() >= self.max_edges:
                raise ValueError(f"action {action!r} is not legal in state {state} (absent edge, under {self.max_edges} edges)")
            return (ops, edges | bit, False)
        return (ops, edges, True)

    def is_terminal(self, state: CellState) -> bool:
        return state[2]

    def random_terminal(self, state: CellState, u: Iterator[float]) -> CellState:
        """Uniformly random legal actions until ``term``, without building the action strings
        (same order and distribution as :meth:`actions`: nodes, edges row-major, ``term``)."""
        state_ops, edges, term = state
        if term:
            return state
        ops = list(state_ops)
        n_ops, mv, me, pairs = self.n_ops, self.max_vertices, self.max_edges, self._pairs
        absent, ne = self._absent(len(ops) + 2, edges), edges.bit_count()
        while True:
            n_node = n_ops if len(ops) + 2 < mv else 0
            n_edge = len(absent) if ne < me else 0
            r = int(next(u) * (n_node + n_edge + 1))
            if r < n_node:
                ops.append(r)
                edges, ne, absent = 0, 0, list(pairs[len(ops) + 2])
            elif r < n_node + n_edge:
                edges |= absent.pop(r - n_node)
                ne += 1
            else:
                return (tuple(ops), edges, True)

    def official_terminal(self, state: CellState, u: Iterator[float]) -> CellState:
        """AlphaX's rollout (``MCTS.simulation``): uniformly random actions among *all* of them,
        node actions at the vertex limit and edge actions at the edge limit included (same order as
        :meth:`actions`: nodes, absent edges row-major, ``term``); an illegal draw restarts the walk
        from ``state``."""
        ops0, edges0, term = state
        if term:
            return state
        n_ops, mv, me, pairs = self.n_ops, self.max_vertices, self.max_edges, self._pairs
        absent0, ne0 = self._absent(len(ops0) + 2, edges0), edges0.bit_count()
        ops, edges, absent, ne = list(ops0), edges0, absent0.copy(), ne0
        while True:
            r = int(next(u) * (n_ops + len(absent) + 1))
            if r < n_ops:
                if len(ops) + 2 >= mv:  # a vertex past the limit: None, walk again from the start
                    ops, edges, absent, ne = list(ops0), edges0, absent0.copy(), ne0
                    continue
                ops.append(r)
                edges, ne, absent = 0, 0, list(pairs[len(ops) + 2])
            elif r < n_ops + len(absent):
                if ne >= me:  # an edge past the limit: None, walk again
                    ops, edges, absent, ne = list(ops0), edges0, absent0.copy(), ne0
                    continue
                edges |= absent.pop(r - n_ops)
                ne += 1
            else:
                return (tuple(ops), edges, True)

    def _absent(self, v: int, edges: int) -> list[int]:
        """The edges a cell of ``v`` vertices lacks, as bits in the actions' order (ascending)."""
        return [b for b in self._pairs[v] if not edges & b]

    def genotype(self, state: CellState) -> np.ndarray | None:
        ops, edges, term = state
        if not term:
            raise ValueError(f"state {state} is not terminal")
        v = len(ops) + 2
        mv = self.max_vertices
        row_mask = (1 << mv) - 1
        reach = 1  # vertices reachable from the input, as a bitmask
        for i in range(v - 1):
            if (reach >> i) & 1:
                reach |= (edges >> (i * mv)) & row_mask
        if not (reach >> (v - 1)) & 1:
            return None  # the input does not reach the output: no architecture
        out = np.zeros(self._geno_pos_len[1], dtype=np.int64)
        for bit, gp in self._geno_map[v]:
            if edges & bit:
                out[gp] = 1
        n_bits = self._geno_pos_len[0]
        out[n_bits : n_bits + len(ops)] = ops
        return out

    # ------------------------------------------------------------------- helpers
    def cell(self, state: CellState) -> tuple[np.ndarray, list[int]]:
        """The cell of a state: ``V x V`` 0/1 matrix and its vertices' op values (input and
        output as ``-1`` and ``-2``, the official labelling)."""
        ops, edges, _ = state
        v = len(ops) + 2
        m = np.zeros((v, v), dtype=np.int8)
        mv = self.max_vertices
        for i in range(v):
            for j in range(i + 1, v):
                m[i, j] = (edges >> (i * mv + j)) & 1
        return m, [-1, *ops, -2]

    def n_edges(self, state: CellState) -> int:
        return state[1].bit_count()


# ====================================================================== selection
def design_for(space: Any, max_vertices: int | None = None, max_edges: int | None = None) -> ActionDesign:
    """The action design of ``space``.

    In order: the space's own ``action_design`` (a design, or a callable taking the space); a
    :class:`CellDesign` for a cell space (NAS-Bench-101: ``space.name`` starting with ``"nb101"``
    or a ``cell_space`` attribute, and a cell genotype layout), with the vertex and edge limits
    given here, else the space's ``max_vertices`` / ``max_edges`` attributes, else NAS-Bench-101's
    7 and 9; otherwise a :class:`PositionDesign` over ``space.cardinalities``.
    """
    own = getattr(space, "action_design", None)
    if own is not None:
        return own(space) if callable(own) else own
    is_cell = str(getattr(space, "name", "")).startswith("nb101") or hasattr(space, "cell_space")
    layout = cell_layout(space.cardinalities)
    if is_cell:
        if layout is None:
            raise ValueError(
                f"space {space.name!r} looks like a cell space but its genotype is not a cell layout "
                f"(G(G-1)/2 edge bits then G-2 ops); give it an `action_design`"
            )
        g, n_ops = layout
        mv = max_vertices or getattr(space, "max_vertices", None) or min(g, 7)
        me = max_edges or getattr(space, "max_edges", None) or 9
        return CellDesign(n_ops=n_ops, max_vertices=int(mv), max_edges=int(me), genotype_vertices=g)
    return PositionDesign(tuple(int(c) for c in space.cardinalities))

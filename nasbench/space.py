"""The public side of a benchmark: a finite search space of architectures.

Every architecture of a benchmark is identified by an integer *index* into the space's
enumeration ``0 .. n-1``; that is what strategies ask for and what the oracle gathers by. The
space also describes each architecture as a fixed-length *genotype*: one categorical choice per
position (``cardinalities[p]`` values at position ``p``). Genotypes are what sequence models,
action-based tree searches and generic samplers (Optuna) work with; ``lookup`` maps any genotype
back to its index (canonicalising, e.g. NAS-Bench-101's pruning and isomorphism hash).

Index codes returned by :meth:`Space.lookup` and stored in :attr:`Space.neighbors`:

* ``>= 0``: the architecture's index;
* ``OUT_OF_TABLE`` (-1): a valid architecture that the space can form but the table does not hold
  (partial tables such as the NAS-Bench-101 30k subset);
* ``INVALID`` (-2): not an architecture of the space (e.g. a cell whose input cannot reach its
  output, or one with too many edges).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasbench.errors import UnknownName

OUT_OF_TABLE = -1
INVALID = -2


class InvalidArchitecture(ValueError):
    """An architecture that breaks a rule of its space; the message names the rule."""


@dataclass(eq=False)
class Space:
    """A finite, enumerated search space.

    Attributes:
        name: short name, e.g. ``"nb201"``.
        genotypes: ``[n, P]`` int array, the canonical genotype of every architecture.
        cardinalities: number of choices at each genotype position.
        neighbors: ``[n, K]`` int32, the architectures one mutation away (each edge flip / op
            change that gives a valid architecture), padded with ``INVALID``; ``OUT_OF_TABLE`` marks
            a valid neighbour outside the table. The mutation operator of evolution-style strategies.
        features: named ``[n, d]`` float32 encodings (``"onehot"`` always; others per space, e.g.
            ``"adjacency"``, ``"path"``). Use :meth:`encode`.
        tokens: ``[n, L]`` int token sequence (0 is padding) and ``vocab`` its size, for sequence
            models (NAO); ``token_types[p]`` lists the tokens allowed at position ``p``.
        graph: ``(adjacency [n, V, V] float32, node_features [n, V, F] float32)`` for graph
            predictors (GCN/GIN), or ``None``.
        proxies: zero-cost proxy scores by name (:class:`nasbench.proxy_scores.ProxyScores`):
            public, as a proxy needs no training; empty unless the benchmark has proxy tables.
    """

    name: str
    genotypes: np.ndarray
    cardinalities: tuple[int, ...]
    neighbors: np.ndarray
    features: dict[str, np.ndarray]
    tokens: np.ndarray
    vocab: int
    token_types: tuple[tuple[int, ...], ...]
    graph: tuple[np.ndarray, np.ndarray] | None = None
    proxies: Mapping[str, Any] = field(default_factory=dict)
    _lookup: dict[bytes, int] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- basics
    @property
    def n(self) -> int:
        """Number of architectures in the enumeration."""
        return int(self.genotypes.shape[0])

    def __len__(self) -> int:
        return self.n

    def encode(self, kind: str = "onehot", idx: np.ndarray | None = None) -> np.ndarray:
        """The ``kind`` encoding of architectures ``idx`` (all when ``None``), ``[m, d]`` float32."""
        if kind not in self.features:
            raise UnknownName(f"space {self.name!r} has no encoding {kind!r}; it has {sorted(self.features)}")
        x = self.features[kind]
        return x if idx is None else x[np.asarray(idx)]

    # -------------------------------------------------- genotype <-> index
    def canonical_genotype(self, genotype: np.ndarray) -> np.ndarray | None:
        """The canonical genotype of ``genotype``, or ``None`` when it is not a valid architecture.

        The default treats every genotype as canonical; spaces with symmetries (NAS-Bench-101
        pruning and isomorphism, NAS-Bench-Graph) override this.
        """
        return genotype

    def lookup(self, genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Indices of ``genotypes`` (``[m, P]``): ``>= 0``, ``OUT_OF_TABLE`` or ``INVALID``."""
        g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
        if g.shape[1] != len(self.cardinalities):
            raise InvalidArchitecture(
                f"{self.name}: a genotype has {len(self.cardinalities)} positions, got {g.shape[1]}"
            )
        if not self._lookup:
            self._lookup = {row.tobytes(): i for i, row in enumerate(self.genotypes.astype(np.int8))}
        out = np.empty(len(g), dtype=np.int64)
        card = np.asarray(self.cardinalities)
        for k, row in enumerate(g):
            if (row < 0).any() or (row >= card).any():
                out[k] = INVALID
                continue
            canon = self.canonical_genotype(row)
            if canon is None:
                out[k] = INVALID
                continue
            out[k] = self._lookup.get(np.asarray(canon, dtype=np.int8).tobytes(), OUT_OF_TABLE)
        return out

    # ------------------------------------------------------ human-readable
    def describe(self, idx: int) -> str:
        """A human-readable form of architecture ``idx`` (arch string, cell spec, key)."""
        return " ".join(str(int(v)) for v in self.genotypes[idx])

    def parse(self, text: str) -> int:
        """The index of an architecture given in the space's human-readable form."""
        try:
            g = [int(v) for v in text.split()]
        except ValueError as exc:
            raise InvalidArchitecture(f"{self.name}: cannot parse {text!r}: {exc}") from None
        i = int(self.lookup([g])[0])
        if i == INVALID:
            raise InvalidArchitecture(f"{self.name}: {text!r} is not a valid architecture")
        return i

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "positions": len(self.cardinalities),
            "encodings": sorted(self.features),
        }


def onehot_genotypes(genotypes: np.ndarray, cardinalities: Sequence[int]) -> np.ndarray:
    """One-hot encoding of categorical genotypes: ``[n, sum(cardinalities)]`` float32."""
    n = genotypes.shape[0]
    out = np.zeros((n, int(sum(cardinalities))), dtype=np.float32)
    offset = 0
    for p, c in enumerate(cardinalities):
        out[np.arange(n), offset + genotypes[:, p]] = 1.0
        offset += c
    return out


def product_neighbors(genotypes: np.ndarray, cardinalities: Sequence[int], lookup: np.ndarray) -> np.ndarray:
    """Neighbours for a full product space: change one position to another value.

    ``lookup`` maps the mixed-radix number of a genotype to its index (``INVALID`` where none).
    Returns ``[n, sum(c - 1)]`` int32.
    """
    card = np.asarray(cardinalities, dtype=np.int64)
    radix = np.concatenate([np.cumprod(card[::-1])[::-1][1:], [1]])
    codes = genotypes.astype(np.int64) @ radix
    cols = []
    for p, c in enumerate(card):
        for shift in range(1, int(c)):
            new_val = (genotypes[:, p] + shift) % c
            cols.append(lookup[codes + (new_val - genotypes[:, p]) * radix[p]])
    return np.stack(cols, axis=1).astype(np.int32)


def categorical_fields(genotypes: np.ndarray, cardinalities: Sequence[int]) -> dict[str, Any]:
    """The :class:`Space` fields that follow from categorical genotypes alone (``cardinalities``,
    one-hot ``features``, one token a position): ``Space(name=..., genotypes=..., neighbors=...,
    **categorical_fields(genotypes, cardinalities))``."""
    tokens, vocab, types = tokens_from_genotypes(genotypes, cardinalities)
    return {
        "cardinalities": tuple(int(c) for c in cardinalities),
        "features": {"onehot": onehot_genotypes(genotypes, cardinalities)},
        "tokens": tokens,
        "vocab": vocab,
        "token_types": types,
    }


def tokens_from_genotypes(genotypes: np.ndarray, cardinalities: Sequence[int]) -> tuple[np.ndarray, int, tuple[tuple[int, ...], ...]]:
    """One token per position: position ``p`` value ``v`` -> token ``1 + offset_p + v``.

    Returns ``(tokens [n, P], vocab, token_types)``; token 0 is reserved for padding.
    """
    offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)
    tokens = (genotypes.astype(np.int64) + offsets + 1).astype(np.int32)
    types = tuple(tuple(range(1 + int(o), 1 + int(o) + int(c))) for o, c in zip(offsets, cardinalities))
    return tokens, int(sum(cardinalities)) + 1, types

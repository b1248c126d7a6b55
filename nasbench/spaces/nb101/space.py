"""The NAS-Bench-101 space: :class:`NB101Space`, the cells of a table (all 423,624, or a subset)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasbench.space import INVALID, OUT_OF_TABLE, InvalidArchitecture, Space
from nasbench.spaces.nb101.batch import (
    LazyFeatures,
    canonical_genotypes,
    compact,
    encode_graph,
    encode_tokens,
    neighbor_table,
    prune_batch,
    wl_keys,
)
from nasbench.spaces.nb101.cells import (
    CARDINALITIES,
    GENOTYPE_LEN,
    N_NEIGHBORS,
    NAO_LENGTH,
    NAO_VOCAB,
    _cached_fingerprint,
    canonical_cell,
    cell_to_genotype,
    genotype_to_cell,
    module_hash,
    nao_token_types,
    prune,
)

# =========================================================================== the space
_DESCRIBE_RE = re.compile(r"^\s*([01|]+)\s+([A-Za-z0-9,\-]+)\s*$")


@dataclass(eq=False)
class NB101Space(Space):
    """A NAS-Bench-101 space: the cells of a table (all 423,624, or a subset).

    ``hash_bytes[i]`` is the official module hash of cell ``i`` (16 bytes); ``genotypes[i]`` its
    embedded pruned cell. :meth:`lookup` canonicalises any genotype (prune, validate, hash).
    """

    hash_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), dtype=np.uint8))

    def __post_init__(self) -> None:
        self._hash_index: dict[str, int] | None = None
        self._cache: dict[bytes, int] = {}

    # ----------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        genotypes: np.ndarray,
        hash_bytes: np.ndarray,
        neighbors: np.ndarray | None = None,
        name: str = "nb101",
    ) -> NB101Space:
        """A space from embedded pruned genotypes ``[n, 26]`` and their hashes ``[n, 16] uint8``.

        ``neighbors`` (from :func:`neighbor_table`) is computed when not given.
        """
        g = np.ascontiguousarray(genotypes, dtype=np.int8)
        if g.ndim != 2 or g.shape[1] != GENOTYPE_LEN:
            raise ValueError(f"genotypes must be [n, {GENOTYPE_LEN}], got {g.shape}")
        hb = np.ascontiguousarray(hash_bytes, dtype=np.uint8)
        if hb.shape != (g.shape[0], 16):
            raise ValueError(f"hash_bytes must be [{g.shape[0]}, 16] uint8, got {hb.shape}")
        if neighbors is None:
            neighbors = neighbor_table(g)
        adj, feats = encode_graph(g)
        return cls(
            name=name,
            genotypes=g,
            cardinalities=CARDINALITIES,
            neighbors=np.asarray(neighbors, dtype=np.int32),
            features=LazyFeatures(g),  # type: ignore[arg-type]
            tokens=encode_tokens(g),
            vocab=NAO_VOCAB,
            token_types=nao_token_types(),
            graph=(adj, feats),
            hash_bytes=hb,
        )

    @classmethod
    def from_cells(
        cls,
        cells: Sequence[tuple[Any, Sequence[str]]],
        name: str = "nb101",
        hashes: Sequence[str] | None = None,
    ) -> NB101Space:
        """A space of the given cells ``[(matrix, ops), ...]`` (validated, pruned, hashed).

        Raises :class:`InvalidArchitecture` for an invalid cell and ``ValueError`` when two cells
        are the same architecture.
        """
        genotypes = np.zeros((len(cells), GENOTYPE_LEN), dtype=np.int8)
        hb = np.zeros((len(cells), 16), dtype=np.uint8)
        seen: dict[str, int] = {}
        for i, (matrix, ops) in enumerate(cells):
            m, pops = canonical_cell(matrix, ops)
            h = hashes[i] if hashes is not None else module_hash(m, pops)
            if h in seen:
                raise ValueError(f"cells {seen[h]} and {i} are the same architecture (module hash {h})")
            seen[h] = i
            genotypes[i] = cell_to_genotype(m, pops)
            hb[i] = np.frombuffer(bytes.fromhex(h), dtype=np.uint8)
        return cls.from_arrays(genotypes, hb, name=name)

    # ---------------------------------------------------------------- hashes
    def hash_of(self, idx: int) -> str:
        """The official module hash (32 hex digits) of architecture ``idx``."""
        return self.hash_bytes[int(idx)].tobytes().hex()

    @property
    def hash_index(self) -> dict[str, int]:
        """``{module hash: index}`` over the space."""
        if self._hash_index is None:
            raw = self.hash_bytes.tobytes()
            self._hash_index = {raw[16 * i : 16 * i + 16].hex(): i for i in range(self.n)}
        return self._hash_index

    def cell(self, idx: int) -> tuple[np.ndarray, list[str]]:
        """The pruned cell (``int8`` matrix, labels) of architecture ``idx``."""
        m, ops = genotype_to_cell(self.genotypes[int(idx)])
        return prune(m, ops)

    def index_of_cell(self, matrix: Any, ops: Sequence[str]) -> int:
        """The index of a cell (any form: unpruned, relabelled), or ``OUT_OF_TABLE``.

        Raises :class:`InvalidArchitecture` (naming the broken rule) when it is not a cell of the
        NAS-Bench-101 space.
        """
        m, pops = canonical_cell(matrix, ops)
        return self.hash_index.get(module_hash(m, pops), OUT_OF_TABLE)

    # ---------------------------------------------------------------- lookup
    def canonical_genotype(self, genotype: np.ndarray) -> np.ndarray | None:
        """The table's genotype of the architecture, the embedded pruned cell if it is out of the
        table, or ``None`` when the genotype is not a valid cell."""
        i = int(self.lookup(np.asarray(genotype)[None, :])[0])
        if i == INVALID:
            return None
        if i >= 0:
            return self.genotypes[i].copy()
        g, _ = canonical_genotypes(np.asarray(genotype)[None, :])
        return g[0]

    def lookup(self, genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Indices of genotypes ``[m, 26]``: prune, validate, hash, then look the hash up."""
        g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
        if g.shape[1] != GENOTYPE_LEN:
            raise InvalidArchitecture(f"{self.name}: a genotype has {GENOTYPE_LEN} positions, got {g.shape[1]}")
        out = np.full(g.shape[0], INVALID, dtype=np.int64)
        card = np.asarray(CARDINALITIES)
        in_range = ((g >= 0) & (g < card)).all(axis=1)
        if not in_range.any():
            return out
        rows = np.flatnonzero(in_range)
        g8 = g[rows].astype(np.int8)
        if len(self._cache) > 1 << 20:  # bound the memo; cleared between batches, never inside one
            self._cache.clear()
        todo = [k for k, row in enumerate(g8) if row.tobytes() not in self._cache]
        if todo:
            batch = prune_batch(g8[todo])
            comp = compact(batch)
            index = self.hash_index
            for t, k in enumerate(todo):
                if not batch.valid[t]:
                    res = INVALID
                else:
                    nv = int(comp.n_vertices[t])
                    succ = tuple(
                        sum(1 << j for j in range(nv) if comp.adj[t, v, j]) for v in range(nv)
                    )
                    lab = tuple(int(x) for x in comp.labels[t, :nv])
                    official = (-1, *lab[1:-1], -2)
                    res = index.get(_cached_fingerprint(nv, succ, official), OUT_OF_TABLE)
                self._cache[g8[k].tobytes()] = res
        out[rows] = [self._cache[row.tobytes()] for row in g8]
        return out

    # --------------------------------------------------------- readable forms
    def describe(self, idx: int) -> str:
        """``"<matrix rows joined by |> <comma-separated labels>"`` of the pruned cell."""
        m, ops = self.cell(idx)
        rows = "|".join("".join(str(int(x)) for x in row) for row in m)
        return f"{rows} {','.join(ops)}"

    def parse(self, text: str) -> int:
        """Index of a cell written as :meth:`describe` writes it (``OUT_OF_TABLE`` if absent)."""
        mt = _DESCRIBE_RE.match(text)
        if not mt:
            raise InvalidArchitecture(
                f"{self.name}: cannot parse {text!r}; expected e.g. "
                "'011|001|000 input,conv3x3-bn-relu,output' (matrix rows, then labels)"
            )
        rows = mt.group(1).split("|")
        if any(len(r) != len(rows) for r in rows):
            raise InvalidArchitecture(f"{self.name}: matrix rows of {text!r} do not form a square matrix")
        m = np.array([[int(c) for c in r] for r in rows], dtype=np.int8)
        return self.index_of_cell(m, mt.group(2).split(","))

    def info(self) -> dict[str, Any]:
        return {**super().info(), "neighbors": N_NEIGHBORS, "tokens": NAO_LENGTH}


def wl_keys_of_genotypes(genotypes: np.ndarray) -> np.ndarray:
    """Convenience: :func:`wl_keys` of genotypes (rows of invalid cells are 0)."""
    return wl_keys(prune_batch(np.asarray(genotypes)))

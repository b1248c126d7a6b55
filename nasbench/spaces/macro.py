"""The NAS-Bench-Macro space (Su et al., CVPR 2021, "Prioritized Architecture Sampling with
Monto-Carlo Tree Search"): 8 searchable layers x 3 choices = 6,561 networks.

Choices per layer (the digit of the published key): ``0`` identity, ``1`` MobileNetV2 block with
kernel 3 and expansion 3 (``MB3_K3``), ``2`` MobileNetV2 block with kernel 5 and expansion 6
(``MB6_K5``). The genotype is the 8 digits of the key, first layer first; the index is the key
read as a base-3 number, so lookup is arithmetic and every genotype is a distinct architecture
(the benchmark trained every key, including those whose identity layers make them equivalent).

Encodings: ``"onehot"`` (``[n, 24]``) and one token per layer. A macro network is a chain, so no
graph form is given (``graph`` is ``None``): a sequence model or the one-hot suits it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from nasbench.space import (
    INVALID,
    InvalidArchitecture,
    Space,
    categorical_fields,
    product_neighbors,
)

CHOICES: tuple[str, ...] = ("identity", "MB3_K3", "MB6_K5")
N_LAYERS = 8
N_CHOICES = len(CHOICES)
N_ARCHS = N_CHOICES**N_LAYERS
CARDINALITIES: tuple[int, ...] = (N_CHOICES,) * N_LAYERS
RADIX = N_CHOICES ** np.arange(N_LAYERS - 1, -1, -1, dtype=np.int64)


def genotype_to_index(genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Indices of ``[m, 8]`` genotypes; ``INVALID`` for rows with a choice outside ``0..2``."""
    g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
    if g.shape[1] != N_LAYERS:
        raise InvalidArchitecture(f"macro: a genotype has {N_LAYERS} layers, got {g.shape[1]} positions")
    ok = ((g >= 0) & (g < N_CHOICES)).all(axis=1)
    return np.where(ok, g @ RADIX, INVALID)


def key_of(genotype: Sequence[int]) -> str:
    """The published key (8 digits) of a genotype."""
    g = [int(v) for v in genotype]
    if len(g) != N_LAYERS or any(not 0 <= v < N_CHOICES for v in g):
        raise InvalidArchitecture(f"macro: genotype {g} must be {N_LAYERS} choices in 0..{N_CHOICES - 1}")
    return "".join(str(v) for v in g)


def parse_key(text: str) -> np.ndarray:
    """The genotype of a key such as ``"22212220"``; the choice names (``identity``, ``MB3_K3``,
    ``MB6_K5``) separated by ``-``, ``,`` or spaces are accepted too."""
    s = text.strip()
    if any(sep in s for sep in "-, "):
        names = [t for t in s.replace(",", " ").replace("-", " ").split() if t]
        if len(names) != N_LAYERS:
            raise InvalidArchitecture(f"macro: {text!r} names {len(names)} layers, expected {N_LAYERS}")
        bad = [t for t in names if t not in CHOICES]
        if bad:
            raise InvalidArchitecture(f"macro: unknown layer choice(s) {bad} in {text!r}; choices are {list(CHOICES)}")
        return np.asarray([CHOICES.index(t) for t in names], dtype=np.int64)
    if len(s) != N_LAYERS:
        raise InvalidArchitecture(f"macro: key {text!r} has {len(s)} characters, expected {N_LAYERS} digits")
    bad = sorted({c for c in s if c not in "012"})
    if bad:
        raise InvalidArchitecture(
            f"macro: key {text!r} has character(s) {bad}; each layer is 0 (identity), 1 (MB3_K3) or 2 (MB6_K5)"
        )
    return np.asarray([int(c) for c in s], dtype=np.int64)


class MacroSpace(Space):
    """NAS-Bench-Macro: arithmetic lookup; ``describe`` gives the published key."""

    def lookup(self, genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        return genotype_to_index(genotypes)

    def describe(self, idx: int) -> str:
        return key_of(self.genotypes[int(idx)])

    def parse(self, text: str) -> int:
        return int(genotype_to_index(parse_key(text))[0])


@functools.cache
def macro_space() -> MacroSpace:
    """The NAS-Bench-Macro space (built once per process)."""
    idx = np.arange(N_ARCHS, dtype=np.int64)
    genotypes = ((idx[:, None] // RADIX) % N_CHOICES).astype(np.int8)
    return MacroSpace(
        name="macro",
        genotypes=genotypes,
        neighbors=product_neighbors(genotypes, CARDINALITIES, idx),
        graph=None,
        **categorical_fields(genotypes, CARDINALITIES),
    )

"""A small synthetic benchmark with a known answer, for tests and for strategy authors.

The space is a product of ``positions`` categorical choices (``choices`` each). An architecture's
true score is additive, ``sum_p w[p, g_p]`` with weights drawn from a seeded generator, so the
optimum is the argmax per position and a strategy that learns the structure should find it fast.
Each architecture has ``repeats`` noisy training repeats (``truth + N(0, noise_sd)``). With
``keep < 1`` only that fraction of the space is in the table: the rest is *out of table*, as on
the NAS-Bench-101 30k subset.
"""

from __future__ import annotations

import itertools

import numpy as np

from nasbench.benchmark import Benchmark, GroundTruth
from nasbench.space import INVALID, Space, categorical_fields, product_neighbors


def synthetic_space(genotypes: np.ndarray, cardinalities: tuple[int, ...], full_lookup: np.ndarray, name: str) -> Space:
    return Space(
        name=name,
        genotypes=genotypes.astype(np.int8),
        neighbors=product_neighbors(genotypes, cardinalities, full_lookup),
        **categorical_fields(genotypes, cardinalities),
    )


def synthetic_benchmark(
    positions: int = 4,
    choices: int = 4,
    repeats: int = 3,
    noise_sd: float = 0.01,
    keep: float = 1.0,
    seed: int = 0,
    name: str = "synthetic",
) -> Benchmark:
    rng = np.random.default_rng(seed)
    card = (choices,) * positions
    full = np.asarray(list(itertools.product(range(choices), repeat=positions)), dtype=np.int64)
    w = rng.normal(size=(positions, choices))
    truth_full = w[np.arange(positions), full].sum(axis=1)
    truth_full = 0.5 + 0.4 * (truth_full - truth_full.min()) / (truth_full.max() - truth_full.min())
    kept = np.ones(len(full), bool)
    if keep < 1.0:
        kept = rng.random(len(full)) < keep
        kept[np.argmax(truth_full)] = True  # the optimum stays in the table
    lookup = np.full(len(full), INVALID, dtype=np.int64)
    lookup[~kept] = -1  # OUT_OF_TABLE
    lookup[kept] = np.arange(kept.sum())
    g = full[kept]
    truth = truth_full[kept]
    values = truth[:, None] + noise_sd * rng.normal(size=(len(g), repeats))
    space = synthetic_space(g, card, lookup, name)
    return Benchmark(
        name=name,
        space=space,
        metric="synthetic score (additive weights + Gaussian noise)",
        values=values,
        cost=np.full(len(g), 1.0),
        truth=GroundTruth(truth, "additive score"),
        sources=("synthetic (nasbench.synthetic)",),
    )

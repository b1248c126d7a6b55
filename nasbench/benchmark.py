"""A benchmark: a public space plus a private oracle, and the ground truth kept for the harness.

The oracle answers only what is queried. For architecture ``i`` with ``R_i`` recorded training
repeats, the *sampled-repeat* noise model (the default, like NAS-Bench-101's API) answers repeat
``randint(fold_in(noise_key, i), R_i)``: a pure function of the trial's noise key and the index, so
the in-process ask/tell runner and the vectorised JAX runner see the same numbers. The *mean* noise
model answers the repeat mean. Re-querying an architecture returns the first answer and costs
nothing; the budget counts unique architectures evaluated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.space import OUT_OF_TABLE, Space

NOISE_MODELS = ("sample", "mean")


class Status(enum.IntEnum):
    """What the oracle did with one queried index."""

    NEW = 0  # evaluated now; charged one unit of budget and its cost
    CACHED = 1  # evaluated before in this trial; free, same answer as the first time
    OUT_OF_TABLE = 2  # a valid architecture the table does not hold; free, value NaN
    INVALID = 3  # not an architecture of the space; free, value NaN


@dataclass(frozen=True)
class QueryResult:
    values: np.ndarray  # [m] float64, NaN unless status is NEW or CACHED
    status: np.ndarray  # [m] int8, Status codes
    cost: np.ndarray  # [m] float64 seconds charged (0 unless NEW)


@dataclass(frozen=True)
class GroundTruth:
    """What the harness (never a strategy) knows: the true score of every architecture."""

    truth: np.ndarray  # [n] float64, NaN where the table has no value
    metric: str

    @property
    def optimum(self) -> float:
        return float(np.nanmax(self.truth))

    @property
    def n_valid(self) -> int:
        return int(np.isfinite(self.truth).sum())

    def target(self, top: float | None = None) -> tuple[float, int]:
        """Threshold and count ``K`` of architectures meeting a target.

        ``top=None`` is the optimum; ``top=0.001`` the top 0.1%: the threshold is the score of the
        ``ceil(top * N)``-th best architecture, and ``K`` counts every architecture scoring at least
        that (ties included).
        """
        t = self.truth[np.isfinite(self.truth)]
        if top is None:
            thr = float(t.max())
        else:
            if not 0 < top <= 1:
                raise ValueError(f"a quantile target is a fraction in (0, 1], got {top}")
            k = max(1, int(np.ceil(top * t.size - 1e-9)))
            thr = float(np.sort(t)[::-1][k - 1])
        return thr, int((t >= thr).sum())


@dataclass(eq=False)
class Benchmark:
    """A space and its table. ``values[i, r]`` is repeat ``r`` of the metric for architecture ``i``.

    Attributes other than ``name``, ``space``, ``metric``, ``noise`` and ``sources`` are private
    to the oracle and the harness; strategies receive only the space and oracle answers.
    """

    name: str
    space: Space
    metric: str
    values: np.ndarray  # [n, R] float64 (NaN-padded to the right)
    cost: np.ndarray  # [n] float64 seconds (simulated training time)
    truth: GroundTruth
    noise: str = "sample"
    sources: tuple[str, ...] = ()
    checksums: dict[str, str] = field(default_factory=dict)
    maximize: bool = True

    def __post_init__(self) -> None:
        if self.noise not in NOISE_MODELS:
            raise ValueError(f"noise model must be one of {NOISE_MODELS}, got {self.noise!r}")
        if self.values.ndim != 2 or self.values.shape[0] != self.space.n:
            raise ValueError(f"values must be [n={self.space.n}, repeats], got {self.values.shape}")
        self.n_repeats = np.isfinite(self.values).sum(axis=1).astype(np.int32)
        self.in_table = self.n_repeats > 0
        self._arrays: dict[str, jnp.ndarray] | None = None
        self._observe_jit = None

    # ------------------------------------------------------------ public
    @property
    def n_space(self) -> int:
        return self.space.n

    @property
    def n_table(self) -> int:
        return int(self.in_table.sum())

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_space": self.n_space,
            "n_table": self.n_table,
            "metric": self.metric,
            "optimum": round(self.truth.optimum, 6),
            "noise": self.noise,
            "repeats": int(self.values.shape[1]),
        }

    def with_noise(self, noise: str) -> Benchmark:
        """The same benchmark under another noise model (``"sample"`` or ``"mean"``)."""
        return Benchmark(
            self.name, self.space, self.metric, self.values, self.cost, self.truth, noise,
            self.sources, self.checksums, self.maximize,
        )

    def oracle(self, noise_key: jax.Array) -> Oracle:
        return Oracle(self, noise_key)

    # ------------------------------------------- pure (jittable) answers
    def arrays(self) -> dict[str, jnp.ndarray]:
        """Device arrays for :func:`observe` (gathers by index), built once per benchmark."""
        if self._arrays is None:
            self._arrays = self._build_arrays()
        return self._arrays

    def observe_jit(self):
        """:meth:`observe_fn`, jitted once per benchmark and shared by its oracles."""
        if self._observe_jit is None:
            self._observe_jit = jax.jit(self.observe_fn())
        return self._observe_jit

    def _build_arrays(self) -> dict[str, jnp.ndarray]:
        vals = np.where(np.isfinite(self.values), self.values, 0.0)
        mean = np.where(self.in_table, np.nansum(self.values, 1) / np.maximum(self.n_repeats, 1), np.nan)
        return {
            "values": jnp.asarray(vals, dtype=jnp.float32),
            "n_repeats": jnp.asarray(np.maximum(self.n_repeats, 1)),
            "mean": jnp.asarray(mean, dtype=jnp.float32),
            "truth": jnp.asarray(self.truth.truth, dtype=jnp.float32),
            "cost": jnp.asarray(self.cost, dtype=jnp.float32),
        }

    def observe_fn(self):
        """A pure function ``(arrays, noise_key, idx[m]) -> values[m]`` for this noise model."""
        sample = self.noise == "sample"

        def observe(arrays: dict[str, jnp.ndarray], noise_key: jax.Array, idx: jnp.ndarray) -> jnp.ndarray:
            safe = jnp.clip(idx, 0, arrays["mean"].shape[0] - 1)
            if not sample:
                return arrays["mean"][safe]
            keys = jax.vmap(lambda i: jax.random.fold_in(noise_key, i))(safe)
            rep = jax.vmap(lambda k, r: jax.random.randint(k, (), 0, r))(keys, arrays["n_repeats"][safe])
            return arrays["values"][safe, rep]

        return observe


class OracleLedger:
    """What every oracle keeps for one trial: the answers seen, the unique architectures evaluated
    in order, their observed values and costs, and which queries of a batch spend budget."""

    def __init__(self, benchmark: Any, noise_key: jax.Array):
        self._bench = benchmark
        self._key = noise_key
        self._seen: dict[int, float] = {}
        self.evaluated: list[int] = []  # unique indices in evaluation order
        self.observed: list[float] = []
        self.costs: list[float] = []

    @property
    def budget_used(self) -> int:
        return len(self.evaluated)

    @property
    def time_used(self) -> float:
        return float(sum(self.costs))

    def _answerable(self, i: int) -> bool:
        """Whether index ``i`` (inside the space) has an answer; tables override with ``in_table``."""
        return True

    def charges(self, idx: np.ndarray | list[int]) -> np.ndarray:
        """``[m]`` bool: which queries of a batch would each spend one unit of budget (a new,
        answerable architecture, counted once however often it appears in the batch)."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        out = np.zeros(idx.size, dtype=bool)
        first: set[int] = set()
        for k, i in enumerate(int(v) for v in idx):
            if 0 <= i < self._bench.n_space and self._answerable(i) and i not in self._seen and i not in first:
                first.add(i)
                out[k] = True
        return out


class Oracle(OracleLedger):
    """The per-trial oracle: answers queries, caches answers, counts budget and simulated time."""

    def __init__(self, benchmark: Benchmark, noise_key: jax.Array):
        super().__init__(benchmark, noise_key)
        self._arrays = benchmark.arrays()
        self._observe = benchmark.observe_jit()  # compiled once per benchmark, not per trial

    def _answerable(self, i: int) -> bool:
        return bool(self._bench.in_table[i])

    def query(self, idx: np.ndarray | list[int]) -> QueryResult:
        """Answer a batch of indices (see :class:`Status` for what each answer costs)."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        new = self.charges(idx)
        uniq = [int(i) for i in idx[new]]
        if uniq:
            obs = np.asarray(self._observe(self._arrays, self._key, jnp.asarray(uniq)), dtype=np.float64)
            for i, v in zip(uniq, obs):
                self._seen[i] = float(v)
                self.evaluated.append(i)
                self.observed.append(float(v))
                self.costs.append(float(self._bench.cost[i]))
        values = np.full(idx.size, np.nan)
        status = np.empty(idx.size, dtype=np.int8)
        cost = np.where(new, self._bench.cost[np.clip(idx, 0, self._bench.n_space - 1)], 0.0)
        for k, i in enumerate(int(v) for v in idx):
            if new[k]:
                status[k] = Status.NEW
                values[k] = self._seen[i]
            elif i in self._seen:
                status[k] = Status.CACHED
                values[k] = self._seen[i]
            elif i == OUT_OF_TABLE or (0 <= i < self._bench.n_space and not self._bench.in_table[i]):
                status[k] = Status.OUT_OF_TABLE
            else:
                status[k] = Status.INVALID
        return QueryResult(values=values, status=status, cost=cost)

"""nasarena's benchmarks: search spaces (public) and their tabular or live oracles (private).

The central contract: a :class:`~nasbench.space.Space` is public knowledge that a
strategy may use freely; a :class:`~nasbench.benchmark.Benchmark` pairs a space with an oracle that
answers only what a strategy queries, counts the budget, and keeps the ground truth for the harness.
"""

from nasbench.benchmark import Benchmark, GroundTruth, Oracle, QueryResult, Status
from nasbench.errors import UnknownName
from nasbench.registry import available_benchmarks, get_benchmark
from nasbench.space import InvalidArchitecture, Space

__all__ = [
    "Benchmark",
    "GroundTruth",
    "InvalidArchitecture",
    "Oracle",
    "QueryResult",
    "Space",
    "Status",
    "UnknownName",
    "available_benchmarks",
    "get_benchmark",
]

"""nasarena's benchmarks: search spaces (public) and their tabular or live oracles (private).

The central contract: a :class:`~nasbench.space.Space` is public knowledge that a
strategy may use freely; a :class:`~nasbench.benchmark.Benchmark` pairs a space with an oracle that
answers only what a strategy queries, counts the budget, and keeps the ground truth for the harness.

Importing it sets XLA's CPU kernels to one thread each (:data:`XLA_FLAGS`, added to ``$XLA_FLAGS``
unless that names the setting itself): a multi-threaded Eigen contraction splits its sums by
thread, so its last bits, and the searches that amplify them (GP-BO's Cholesky and argmax), would
depend on the machine's cores and on the executor. It takes effect when it comes before the first
JAX computation of the process, which is where every entry point (``nasarena``, the CLI, pool
workers) imports it; same seed, same result, in-process and in a worker alike.
"""

import os

#: the XLA setting every nasarena process computes with (pool workers inherit it)
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_FLAGS}".strip()

from nasbench.benchmark import Benchmark, GroundTruth, Oracle, QueryResult, Status  # noqa: E402
from nasbench.errors import UnknownName  # noqa: E402
from nasbench.registry import available_benchmarks, get_benchmark  # noqa: E402
from nasbench.space import InvalidArchitecture, Space  # noqa: E402

__all__ = [
    "Benchmark",
    "GroundTruth",
    "InvalidArchitecture",
    "Oracle",
    "QueryResult",
    "Space",
    "Status",
    "UnknownName",
    "XLA_FLAGS",
    "available_benchmarks",
    "get_benchmark",
]

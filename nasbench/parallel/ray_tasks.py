"""Map a function over items as Ray tasks, with retries (the optional ``ray`` extra).

The Ray runtime both parallel paths share: :func:`evaluate_batch_ray` (a live benchmark's oracle
trains a strategy's whole ``ask`` batch across a cluster, :mod:`nasbench.train.live`) and the
``ray`` executor of the suites (:func:`experiments.harness.executors.cluster.run_ray`, one task per trial)::

    from nasbench.parallel.ray_tasks import EvalFailure, evaluate_batch_ray

    def train_one(genotype):              # module level: pickled by reference, so per-process
        return train_and_evaluate(genotype)  # caches (compiled step, dataset) survive between tasks

    results = evaluate_batch_ray(train_one, [space.genotypes[i] for i in idx])
    values = [float("nan") if isinstance(r, EvalFailure) else r for r in results]

Results come back in the order of ``items``; an evaluation that still fails after ``max_retries``
retries comes back as an :class:`EvalFailure` (error text and attempts), and the oracle decides
what it means (e.g. a failed, NaN-valued query), or pass ``errors="raise"``.

Failure handling (:func:`drive`): a task that raises, or whose worker or node dies
(``ray.exceptions.RayError``: ``RayTaskError``, ``WorkerCrashedError``, ``NodeDiedError``,
``ObjectLostError``, ``OutOfMemoryError``, ...), is resubmitted up to ``max_retries`` times. On any
exception in the driver (Ctrl-C included) the results that already arrived are handed on and the
outstanding tasks are cancelled. A local runtime started here is watched by :mod:`nasbench.parallel.reaper`,
which kills Ray's agents if the driver is killed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nasbench.parallel import reaper

log = logging.getLogger(__name__)

INSTALL_COMMAND = "pip install -e '.[ray]'"
DEFAULT_MAX_RETRIES = 2


class RayUnavailable(ImportError):
    """Ray is not installed; the message says how to get it."""


def require_ray(what: str = "this"):
    """The ``ray`` module, or :class:`RayUnavailable` saying that ``what`` needs Ray and how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"{what} needs Ray, an optional extra: {INSTALL_COMMAND}") from exc
    return ray


@dataclasses.dataclass
class EvalFailure:
    """An evaluation that failed on every attempt."""

    index: int
    error: str
    attempts: int


class BatchEvaluationError(RuntimeError):
    """Raised by ``evaluate_batch_ray(errors="raise")``; ``results`` holds every outcome."""

    def __init__(self, failures: list[EvalFailure], results: list[Any]):
        self.failures, self.results = failures, results
        first = failures[0]
        super().__init__(
            f"{len(failures)} of {len(results)} evaluations failed after retries; "
            f"first (item {first.index}, {first.attempts} attempts): {first.error}"
        )


def connect(ray, address: str | None, local_cpus: int | None) -> tuple[bool, Any]:
    """Initialise Ray unless the caller already has.

    Returns (whether we started it and must stop it, the reaper watching a local runtime or
    None). A local runtime's agents would outlive a SIGKILLed driver; the reaper
    (:mod:`nasbench.parallel.reaper`) kills them then.
    """
    if ray.is_initialized():
        return False, None
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address or None, logging_level=logging.WARNING)
        return True, None
    watcher = reaper.watch()
    try:
        ray.init(num_cpus=local_cpus, include_dashboard=False, logging_level=logging.WARNING)
    except BaseException:
        reaper.stop(watcher)
        raise
    return True, watcher


def gpus_in_cluster(ray) -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def check_feasible(ray, num_cpus: float, num_gpus: float, what: str) -> None:
    """A request no node can ever satisfy would wait forever: refuse it up front."""
    total = ray.cluster_resources()
    for res, want in (("CPU", num_cpus), ("GPU", num_gpus)):
        if want > 0 and total.get(res, 0.0) < want:
            raise ValueError(
                f"{what} request {want:g} {res} each, but the Ray cluster has {total.get(res, 0.0):g} "
                f"{res} in all; lower the request (--cpus-per-trial / --gpus-per-trial) or add nodes"
            )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def drive(
    ray,
    jobs: Sequence[int],
    submit: Callable[[int], Any],
    on_result: Callable[[int, Any], None],
    on_failure: Callable[[int, list[str]], None],
    max_retries: int,
    describe: Callable[[int], str] = str,
) -> None:
    """Run ``submit(job)`` for every job until each succeeds or has failed ``max_retries + 1`` times.

    ``on_result`` / ``on_failure`` run in the driver as outcomes arrive. On any exception in the
    driver (Ctrl-C included) the results that already arrived are still handed to ``on_result``,
    the outstanding tasks are cancelled (their workers killed), and the exception propagates.
    """
    pending: dict[Any, int] = {}
    errors: dict[int, list[str]] = {job: [] for job in jobs}

    def collect(ref) -> None:
        job = pending.pop(ref)
        try:
            value = ray.get(ref)
        except ray.exceptions.RayError as exc:
            errors[job].append(_error_text(exc))
            attempts = len(errors[job])
            if attempts <= max_retries:
                log.warning(
                    "%s failed (attempt %d of %d), retrying: %s",
                    describe(job),
                    attempts,
                    max_retries + 1,
                    errors[job][-1].splitlines()[0],
                )
                pending[submit(job)] = job
            else:
                log.error("%s failed %d times, giving up: %s", describe(job), attempts, errors[job][-1].splitlines()[0])
                on_failure(job, errors[job])
            return
        on_result(job, value)

    try:
        for job in jobs:
            pending[submit(job)] = job
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            if not ready:
                continue
            more, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in dict.fromkeys([*ready, *more]):
                collect(ref)
    except BaseException:
        try:  # keep what has already finished, then stop the rest
            if pending:
                done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        on_result(job, ray.get(ref, timeout=5))
                    except Exception:  # noqa: BLE001 - a failed one is simply rerun next time
                        pass
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
            if pending:
                log.warning("cancelled %d outstanding Ray tasks", len(pending))
        raise


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def evaluate_batch_ray(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    num_cpus: float = 1,
    num_gpus: float | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    errors: str = "return",
) -> list[Any]:
    """``[fn(item) for item in items]``, each call a Ray task, results in the order of ``items``.

    ``num_gpus=None`` asks for one GPU per call where the cluster has GPUs, none elsewhere. A call
    that raises or whose worker dies is retried up to ``max_retries`` times; one that still fails
    comes back as an :class:`EvalFailure` (``errors="return"``) or, once every call has finished,
    raises :class:`BatchEvaluationError` carrying all outcomes (``errors="raise"``). Ray is
    initialised if it is not yet (``$RAY_ADDRESS`` names a cluster, else a local runtime), and left
    running for the next batch. Ctrl-C cancels the outstanding calls.
    """
    if errors not in ("return", "raise"):
        raise ValueError(f"errors must be 'return' or 'raise', got {errors!r}")
    ray = require_ray("evaluate_batch_ray")
    items = list(items)
    if not items:
        return []
    connect(ray, None, None)  # left running for the next batch; its reaper ends with this process
    gpus = num_gpus if num_gpus is not None else (1.0 if gpus_in_cluster(ray) > 0 else 0.0)
    check_feasible(ray, num_cpus, gpus, "evaluations")
    fn_ref = ray.put(fn)
    task = ray.remote(_call).options(num_cpus=num_cpus, num_gpus=gpus, max_retries=0)
    results: list[Any] = [None] * len(items)
    failures: list[EvalFailure] = []

    def on_failure(i: int, errs: list[str]) -> None:
        results[i] = EvalFailure(i, errs[-1], len(errs))
        failures.append(results[i])

    t0 = time.perf_counter()
    drive(
        ray,
        range(len(items)),
        lambda i: task.remote(fn_ref, items[i]),
        lambda i, v: results.__setitem__(i, v),
        on_failure,
        max_retries,
        lambda i: f"evaluation {i}",
    )
    log.info(
        "evaluated %d items as Ray tasks in %.1fs (%d failed)", len(items), time.perf_counter() - t0, len(failures)
    )
    if failures and errors == "raise":
        failures.sort(key=lambda f: f.index)
        raise BatchEvaluationError(failures, results)
    return results

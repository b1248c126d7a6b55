"""Run trials, and a live benchmark's evaluations, as Ray tasks (the optional ``ray`` extra).

Two entry points:

* :func:`run_ray` is the ``ray`` executor of :func:`experiments.execute.run_suite`: one Ray task
  per trial, each with its resource request (``num_cpus``, ``num_gpus``). The driver writes every
  record with the same ``write_record`` as the local executors, so a folder started with one
  executor resumes with any other. The benchmarks the driver loaded are put in Ray's object store
  once and shipped to the workers, so the worker machines need nasarena installed but not the
  tables.
* :func:`evaluate_batch_ray` maps a function over a list of items as Ray tasks (one GPU each
  where the cluster has GPUs) with the same retry logic. A live benchmark's oracle, whose
  answers come from training networks, uses it to train a strategy's whole ``ask`` batch in
  parallel across a cluster::

      from experiments.ray_executor import EvalFailure, evaluate_batch_ray

      def train_one(genotype):              # module level: pickled by reference, so per-process
          return train_and_evaluate(genotype)  # caches (compiled step, dataset) survive between tasks

      results = evaluate_batch_ray(train_one, [space.genotypes[i] for i in idx])
      values = [float("nan") if isinstance(r, EvalFailure) else r for r in results]

  Results come back in the order of ``items``; an evaluation that still fails after
  ``max_retries`` retries comes back as an :class:`EvalFailure` (error text and attempts), and
  the oracle decides what it means (e.g. a failed, NaN-valued query), or pass ``errors="raise"``.
  When such an oracle runs inside :func:`run_ray` trials, request no GPU for the trial itself
  (``--gpus-per-trial 0``): a trial holding a GPU while it waits for its evaluations' GPUs can
  starve them.

Failure handling (both entry points): a task that raises, or whose worker or node dies
(``ray.exceptions.RayError``: ``RayTaskError``, ``WorkerCrashedError``, ``NodeDiedError``,
``ObjectLostError``, ``OutOfMemoryError``, ...), is resubmitted up to ``max_retries`` times. A trial
that still fails is recorded in ``OUT/failed.json`` (error text of every attempt) and is not
written as finished, so a rerun tries it again; the other trials go on. Ctrl-C writes the records
that have already arrived, cancels the outstanding tasks (killing their workers) and re-raises;
rerunning the suite resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from experiments import reaper
from experiments.runner import TrialSpec, run_trial
from nasbench.benchmark import Benchmark
from nasbench.data import atomic_write_text
from nasbench.registry import get_benchmark

log = logging.getLogger(__name__)

INSTALL_HINT = "the ray executor needs Ray, an optional extra: pip install -e '.[ray]'"
FAILED_FILE = "failed.json"
DEFAULT_MAX_RETRIES = 2


class RayUnavailable(ImportError):
    """Ray is not installed; the message says how to get it."""


def require_ray():
    """The ``ray`` module, or :class:`RayUnavailable` with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(INSTALL_HINT) from exc
    return ray


def is_live(bench: Benchmark | None, name: str = "") -> bool:
    """Whether a benchmark's oracle trains networks (so its trials want a GPU).

    A live benchmark says so with a true ``live`` attribute; by convention its name starts with
    ``train-`` (``train-nb101``, ``train-nb201``).
    """
    if bench is not None and getattr(bench, "live", False):
        return True
    return (bench.name if bench is not None else name).startswith("train-")


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


# ------------------------------------------------------------------ runtime
def _connect(ray, address: str | None, local_cpus: int | None) -> tuple[bool, Any]:
    """Initialise Ray unless the caller already has.

    Returns (whether we started it and must stop it, the reaper watching a local runtime or
    None). A local runtime's agents would outlive a SIGKILLed driver; the reaper
    (``experiments.reaper``) kills them then.
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


def _gpus_in_cluster(ray) -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def _check_feasible(ray, num_cpus: float, num_gpus: float, what: str) -> None:
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


def _drive(
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


# ------------------------------------------------------------------ trials
_WORKER_BENCHES: dict[tuple[str, str | None], Benchmark] = {}
_WORKER_CACHE_SIZE = 8


def _worker_benchmark(spec: TrialSpec, shipped: list | None, data_dir: str | None) -> Benchmark:
    """The trial's benchmark in a worker: from the object store (cached per process) or by name."""
    if not shipped:
        return get_benchmark(spec.benchmark, data_dir, noise=spec.noise)
    ref = shipped[0]
    key = (ref.hex(), spec.noise)
    if key not in _WORKER_BENCHES:
        base_key = (ref.hex(), None)
        if base_key not in _WORKER_BENCHES:
            import ray

            _WORKER_BENCHES[base_key] = ray.get(ref)
        base = _WORKER_BENCHES[base_key]
        _WORKER_BENCHES[key] = base if spec.noise in (None, base.noise) else base.with_noise(spec.noise)
        while len(_WORKER_BENCHES) > _WORKER_CACHE_SIZE:  # a long-lived worker: drop the oldest
            _WORKER_BENCHES.pop(next(iter(_WORKER_BENCHES)))
    return _WORKER_BENCHES[key]


def _shippable(bench: Benchmark) -> Benchmark:
    """A copy without the per-process caches (device arrays, jitted functions) of the driver's."""
    return dataclasses.replace(bench) if dataclasses.is_dataclass(bench) else bench


def _trial_task(spec: TrialSpec, shipped: list | None, data_dir: str | None) -> dict[str, Any]:
    # ``shipped`` wraps the benchmark's ObjectRef in a list so that Ray hands the task the ref,
    # not a fresh copy per task: the worker caches the benchmark (and its jitted oracle).
    return run_trial(spec, _worker_benchmark(spec, shipped, data_dir))


def _trial_label(spec: TrialSpec) -> str:
    return f"trial {spec.name} on {spec.benchmark}, seed {spec.seed}"


def write_failures(out: Path, failures: list[tuple[TrialSpec, list[str]]]) -> None:
    """``OUT/failed.json``: the trials of the last Ray run that failed on every attempt."""
    path = Path(out) / FAILED_FILE
    if not failures:
        path.unlink(missing_ok=True)
        return
    rows = [
        {
            "benchmark": s.benchmark,
            "strategy": s.name,
            "strategy_spec": s.strategy,
            "seed": s.seed,
            "budget": s.budget,
            "attempts": len(errs),
            "error": errs[-1],
            "errors": errs,
        }
        for s, errs in failures
    ]
    atomic_write_text(path, json.dumps(rows, indent=2))


def run_ray(
    todo: list[TrialSpec],
    out: Path,
    bar: Any,
    data_dir: str | None = None,
    address: str | None = None,
    write: Callable[[Path, TrialSpec, dict[str, Any]], None] | None = None,
    benches: dict[str, Benchmark] | None = None,
    num_cpus: float = 1,
    num_gpus: float | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    local_cpus: int | None = None,
) -> dict[str, Any]:
    """Run ``todo`` as Ray tasks, writing each record in the driver as it arrives.

    ``address``: a running cluster (``HEAD:6379``, ``ray://HEAD:10001`` or ``auto``); without it a
    local runtime with ``local_cpus`` CPUs is started (and stopped at the end). If Ray is already
    initialised, that runtime is used as it is. ``benches``: the benchmarks the driver loaded, shipped
    to the workers through the object store; a benchmark not in it is loaded by name on the worker
    (``data_dir`` / ``$NASARENA_DATA`` there). ``num_gpus=None``: one GPU per trial of a live
    benchmark when the cluster has GPUs, none otherwise. Returns ``{"done": n, "failed": [...]}``.
    """
    ray = require_ray()
    if write is None:
        from experiments.execute import write_record

        write = write_record
    save = write
    out = Path(out)
    if not todo:
        write_failures(out, [])
        return {"done": 0, "failed": []}
    started, watcher = _connect(ray, address, local_cpus)
    failures: list[tuple[TrialSpec, list[str]]] = []
    done = 0
    try:
        has_gpus = _gpus_in_cluster(ray) > 0
        refs = {
            name: [ray.put(_shippable(b))]
            for name, b in (benches or {}).items()
            if any(s.benchmark == name for s in todo)
        }

        def gpus_for(spec: TrialSpec) -> float:
            if num_gpus is not None:
                return num_gpus
            return 1.0 if has_gpus and is_live((benches or {}).get(spec.benchmark), spec.benchmark) else 0.0

        for g in sorted({gpus_for(s) for s in todo}):
            _check_feasible(ray, num_cpus, g, "trials")
        task = ray.remote(_trial_task)

        def submit(i: int):
            spec = todo[i]
            return task.options(num_cpus=num_cpus, num_gpus=gpus_for(spec), max_retries=0).remote(
                spec, refs.get(spec.benchmark), data_dir
            )

        def on_result(i: int, rec: dict[str, Any]) -> None:
            nonlocal done
            spec = todo[i]
            save(out, spec, rec)
            done += 1
            bar.update(1, f"{spec.name} on {spec.benchmark}")

        def on_failure(i: int, errs: list[str]) -> None:
            spec = todo[i]
            failures.append((spec, errs))
            write_failures(out, failures)
            bar.update(1, f"FAILED {spec.name} seed {spec.seed}")

        try:
            _drive(ray, range(len(todo)), submit, on_result, on_failure, max_retries, lambda i: _trial_label(todo[i]))
        finally:
            write_failures(out, failures)
    finally:
        if started:
            ray.shutdown()
            reaper.stop(watcher)
    if failures:
        log.error(
            "%d trials failed after %d attempts each; see %s (a rerun retries them)",
            len(failures),
            max_retries + 1,
            out / FAILED_FILE,
        )
    return {
        "done": done,
        "failed": [{"benchmark": s.benchmark, "strategy": s.name, "seed": s.seed, "error": e[-1]} for s, e in failures],
    }


# ------------------------------------------------------------------ live evaluations
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
    ray = require_ray()
    items = list(items)
    if not items:
        return []
    _connect(ray, None, None)  # left running for the next batch; its reaper ends with this process
    gpus = num_gpus if num_gpus is not None else (1.0 if _gpus_in_cluster(ray) > 0 else 0.0)
    _check_feasible(ray, num_cpus, gpus, "evaluations")
    fn_ref = ray.put(fn)
    task = ray.remote(_call).options(num_cpus=num_cpus, num_gpus=gpus, max_retries=0)
    results: list[Any] = [None] * len(items)
    failures: list[EvalFailure] = []

    def on_failure(i: int, errs: list[str]) -> None:
        results[i] = EvalFailure(i, errs[-1], len(errs))
        failures.append(results[i])

    t0 = time.perf_counter()
    _drive(
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

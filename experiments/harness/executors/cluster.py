"""The ``ray`` executor of :func:`experiments.harness.execute.run_suite`: trials as Ray tasks (the optional ``ray`` extra).

:func:`run_ray` runs one Ray task per trial, each with its resource request (``num_cpus``,
``num_gpus``). The driver writes every record with the same ``write_record`` as the local
executors, so a folder started with one executor resumes with any other. The benchmarks the driver
loaded are put in Ray's object store once and shipped to the workers, so the worker machines need
nasarena installed but not the tables. The Ray runtime under it (connecting, retries,
cancellation, the reaper) is :mod:`nasbench.parallel.ray_tasks`, which a live benchmark's oracle also uses
to train a strategy's ``ask`` batch across a cluster (:func:`nasbench.parallel.ray_tasks.evaluate_batch_ray`).
When such an oracle runs inside :func:`run_ray` trials, request no GPU for the trial itself
(``--gpus-per-trial 0``): a trial holding a GPU while it waits for its evaluations' GPUs can starve
them.

Failure handling: a task that raises, or whose worker or node dies (``ray.exceptions.RayError``:
``RayTaskError``, ``WorkerCrashedError``, ``NodeDiedError``, ``ObjectLostError``,
``OutOfMemoryError``, ...), is resubmitted up to ``max_retries`` times. A trial that still fails is
recorded in ``OUT/failed.json`` (error text of every attempt) and is not written as finished, so a
rerun tries it again; the other trials go on. Ctrl-C writes the records that have already arrived,
cancels the outstanding tasks (killing their workers) and re-raises; rerunning the suite resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.harness.records import write_record
from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec
from nasbench.benchmark import Benchmark
from nasbench.data import atomic_write_text
from nasbench.parallel import reaper
from nasbench.parallel.ray_tasks import (
    DEFAULT_MAX_RETRIES,
    check_feasible,
    connect,
    drive,
    gpus_in_cluster,
    require_ray,
)
from nasbench.registry import get_benchmark

log = logging.getLogger(__name__)

FAILED_FILE = "failed.json"


def is_live(bench: Benchmark | None, name: str = "") -> bool:
    """Whether a benchmark's oracle trains networks (so its trials want a GPU).

    A live benchmark says so with a true ``live`` attribute; by convention its name starts with
    ``train-`` (``train-nb101``, ``train-nb201``).
    """
    if bench is not None and getattr(bench, "live", False):
        return True
    return (bench.name if bench is not None else name).startswith("train-")


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
    ray = require_ray("the ray executor")
    save = write or write_record
    out = Path(out)
    if not todo:
        write_failures(out, [])
        return {"done": 0, "failed": []}
    started, watcher = connect(ray, address, local_cpus)
    failures: list[tuple[TrialSpec, list[str]]] = []
    done = 0
    try:
        has_gpus = gpus_in_cluster(ray) > 0
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
            check_feasible(ray, num_cpus, g, "trials")
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
            bar.update(1, f"{spec.name} on {spec.benchmark}", (spec.benchmark, spec.name), float(rec["wall_time"]))

        def on_failure(i: int, errs: list[str]) -> None:
            spec = todo[i]
            failures.append((spec, errs))
            write_failures(out, failures)
            bar.update(1, f"FAILED {spec.name} seed {spec.seed}", (spec.benchmark, spec.name))

        try:
            drive(ray, range(len(todo)), submit, on_result, on_failure, max_retries, lambda i: _trial_label(todo[i]))
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

"""Execute a suite: resolve benchmarks, skip finished trials, run the rest, write records atomically.

Layout of an output folder ``OUT``::

    OUT/meta.json                                  versions, git revision, suite, seeds, checksums
    OUT/benchmarks/<benchmark>.json                N, optimum and targets (ground truth summary)
    OUT/data/<benchmark>/<strategy>/seed-SSSS.json one finished trial (written when it finishes)
    OUT/skipped.json                               benchmarks whose data was not found, and how to get it

Executors (:mod:`experiments.harness.executors`): ``inprocess`` (pure-JAX strategies vectorised over
seeds, others one by one) and ``process`` (a local process pool), both in
:mod:`~experiments.harness.executors.local`, and ``ray`` (:mod:`~experiments.harness.executors.cluster`,
when Ray is installed). Records are written by the driver, so resuming works across executors.

Compiled programs are kept in JAX's persistent compilation cache (``$JAX_COMPILATION_CACHE_DIR``,
default ``$NASARENA_CACHE/jax``), so the model-based strategies compile once per machine rather
than once per process and run: a pool worker or a resumed run loads them from disk (BO's first
trial on NB-201 drops from about 29 s to 10 s).

Trajectories are the same with every executor. XLA's CPU results depend on how it threads its
kernels, so a model-based strategy (the GP of BO above all, whose Cholesky amplifies the last bits)
would take another path under another thread setting: importing :mod:`nasbench` sets one,
:data:`nasbench.XLA_FLAGS` (one thread per Eigen kernel), which pool workers inherit. (Checked on
2026-12-08: under XLA's default threading, GP-BO's nb201-cifar10 seed 1 left the pool's path; with
the setting, in-process and pool records are equal. Pinning each worker to one CPU changed
trajectories too, and was 1.7x slower.)
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import platform
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import jax

from experiments.analysis.metrics import TARGETS
from experiments.harness.executors.cluster import run_ray
from experiments.harness.executors.local import run_inprocess, run_pool
from experiments.harness.progress import Progress
from experiments.harness.records import (
    differences,
    dumps,
    fingerprint,
    read_record,
    trial_path,
    write_manifest,
    write_record,
)
from experiments.harness.spec import TrialSpec
from experiments.harness.suite import Suite
from nasbench.benchmark import Benchmark
from nasbench.data import DataNotFound, atomic_write_text, cache_dir
from nasbench.errors import UnknownName
from nasbench.registry import entry, get_benchmark

log = logging.getLogger(__name__)


EXECUTORS = ("inprocess", "process", "ray")


def is_done(out: Path, spec: TrialSpec, expected: dict[str, Any] | None = None) -> bool:
    """A valid finished record exists for exactly this trial: its fingerprint matches ``expected``
    (default: the fields the spec alone determines; the run also checks data and noise)."""
    rec = read_record(trial_path(out, spec))
    if rec is None:
        return False
    if expected is None:
        expected = {k: v for k, v in fingerprint(spec, {}, None).items() if k not in ("data", "noise")}
    return not differences(expected, rec)


def benchmark_summary(bench: Benchmark) -> dict[str, Any]:
    targets = {}
    for name, top in TARGETS.items():
        t = bench.truth.target(top)
        if t is None:  # a live benchmark (nasbench.train.live) has no table, so no known target
            continue
        thr, k = t
        targets[name] = {"threshold": thr, "K": k}
    return {
        "name": bench.name,
        "n": bench.truth.n_valid,
        "n_space": bench.n_space,
        "n_table": bench.n_table,
        "metric": bench.metric,
        "truth_metric": bench.truth.metric,
        "optimum": bench.truth.optimum,
        "maximize": bench.maximize,
        "noise": bench.noise,
        "targets": targets,
        # a file by its name (its checksum is below), never the path it had on the machine that ran
        "sources": [f"file: {Path(src[6:]).name}" if src.startswith("file: ") else src for src in bench.sources],
        "checksums": bench.checksums,
    }


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def _git_revision() -> str:
    """HEAD, with ``+modified (N files)`` when the code that ran differs from it: tracked or
    untracked files outside ``results/`` (a run's own outputs do not make its code dirty)."""
    head = (_git("rev-parse", "HEAD") or "").strip()
    if not head:
        return "unknown"
    status = _git("status", "--porcelain", "--", ":(top)", ":(top,exclude)results")
    changed = [line for line in (status or "").splitlines() if line.strip()]
    return f"{head}+modified ({len(changed)} files)" if changed else head


def environment() -> dict[str, Any]:
    versions = {}
    for pkg in ("nasarena", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "scipy", "matplotlib", "seaborn", "optuna", "ray"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "git_revision": _git_revision(),
    }


def enable_compilation_cache() -> Path:
    """Turn on JAX's persistent compilation cache for this process and the processes it starts.

    Call before the first compilation. ``$JAX_COMPILATION_CACHE_DIR`` wins; otherwise the cache
    lives in ``$NASARENA_CACHE/jax``. Every compiled program is kept (no minimum compile time).
    """
    path = Path(os.environ.get("JAX_COMPILATION_CACHE_DIR") or cache_dir() / "jax")
    path.mkdir(parents=True, exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(path)  # inherited by pool and Ray workers
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
    return path


def resolve_benchmarks(names: Iterable[str], data_dir: str | None) -> tuple[dict[str, Benchmark], dict[str, str]]:
    """Load what can be loaded; for the rest, the reason and how to get the data."""
    found, skipped = {}, {}
    for name in names:
        try:
            found[name] = get_benchmark(name, data_dir)
        except DataNotFound as exc:
            skipped[name] = f"{exc}"
        except UnknownName as exc:
            raise SystemExit(f"suite names an unknown benchmark: {exc}") from None
    for name in skipped:
        log.warning("skipping benchmark %s: data not found. %s", name, entry(name).how_to_get)
    return found, skipped


def run_suite(
    suite: Suite,
    out: str | os.PathLike[str],
    executor: str = "inprocess",
    workers: int | None = None,
    data_dir: str | None = None,
    progress: bool = True,
    ray_address: str | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    ray_options: dict[str, Any] | None = None,
    keep_stale: bool = False,
    on_plan: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every unfinished or stale trial of ``suite`` into ``out``; returns counts.

    A record whose fingerprint differs from the trial the suite asks for is stale: it is rerun and
    replaced (``keep_stale`` refuses instead, :class:`RunError`). One run at a time holds ``out``.

    ``ray_options``: keyword arguments of :func:`experiments.harness.executors.cluster.run_ray` (``num_cpus``,
    ``num_gpus``, ``max_retries``); ``workers`` is the CPU count of a local Ray runtime.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"the output folder {out} is a file; give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the output folder {out}: {exc.strerror}; give --out a writable folder") from None
    if not os.access(out, os.W_OK):
        raise RunError(f"the output folder {out} is not writable; give --out a writable folder")
    with folder_lock(out):
        return _run_suite_locked(suite, out, executor, workers, data_dir, progress, ray_address, on_skip,
                                 ray_options, keep_stale, on_plan)


def _meta_changed(path: Path, meta: dict[str, Any]) -> bool:
    """Whether ``meta.json`` is missing or describes another suite or other data (the machine it
    was written on does not count)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return True
    return any(old.get(k) != json.loads(dumps(meta[k])) for k in ("suite", "data_checksums", "executor"))


class RunError(RuntimeError):
    """A run cannot start: the message says why and what to do (the CLI prints it, exit 2)."""


@contextmanager
def folder_lock(out: Path):
    """Hold ``OUT/.lock`` (an advisory ``flock``, released when the process ends, even killed) for
    one run; a second run on the same folder stops with the holder's pid."""
    path = out / ".lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise RunError(f"{out} is in use by another nasarena run (pid {holder}); wait for it to finish, "
                       "or give --out another folder") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def _recorded_summaries(out: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``OUT/benchmarks/<name>.json`` of the benchmarks in ``names`` that have one: the data checksums
    and noise model of the last run that had their data."""
    found = {}
    for name in names:
        path = out / "benchmarks" / f"{name}.json"
        try:
            found[name] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return found


def _stale_reason(label: str, field: str, expected: dict[str, Any], rec: dict[str, Any]) -> str:
    """One phrase for a stale field: ``alphax strategy_version 2 -> 3``, ``nao config (steps)``."""
    fp = rec.get("fingerprint")
    got: dict[str, Any] = fp if isinstance(fp, dict) else {}
    if field == "config" and isinstance(got.get("config"), dict):
        keys = sorted(k for k in set(expected["config"]) | set(got["config"])
                      if expected["config"].get(k) != got["config"].get(k))
        return f"{label} config ({', '.join(keys)})"
    if field in expected and not isinstance(expected[field], dict) and field in got:
        return f"{label} {field} {got[field]} -> {expected[field]}"
    return f"{label} {field}"


def plan_trials(out: Path, specs: list[TrialSpec], expected: Callable[[TrialSpec], dict[str, Any] | None]
                ) -> dict[str, Any]:
    """What a run must do: ``todo`` (missing, damaged or stale trials), ``stale`` (count),
    ``reasons`` (a count per differing fingerprint field), ``details`` (a count per phrase of
    :func:`_stale_reason`, e.g. ``alphax strategy_version 2 -> 3``), ``damaged`` (paths) and ``valid``
    (specs whose record matches). ``expected(spec)`` is the trial's fingerprint; ``None`` when it
    cannot be known here (the benchmark's data is absent and no earlier run recorded its checksums),
    so every such record counts as stale."""
    todo: list[TrialSpec] = []
    valid: list[TrialSpec] = []
    reasons: Counter[str] = Counter()
    details: Counter[str] = Counter()
    n_stale = 0
    damaged: list[str] = []
    for s in specs:
        path = trial_path(out, s)
        existed = path.is_file()
        rec = read_record(path)  # a damaged record is moved aside: None
        if rec is None:
            todo.append(s)
            if existed:
                damaged.append(str(path))
            continue
        exp = expected(s)
        diff = differences(exp, rec) if exp is not None else ["data checksums (unknown here)"]
        if diff:
            todo.append(s)
            n_stale += 1
            reasons.update(diff)
            details.update(_stale_reason(s.name, d, exp, rec) if exp is not None else f"{s.name} {d}" for d in diff)
        else:
            valid.append(s)
    return {"todo": todo, "valid": valid, "stale": n_stale, "reasons": dict(sorted(reasons.items())),
            "details": dict(sorted(details.items())), "damaged": damaged}


def _run_suite_locked(suite, out, executor, workers, data_dir, progress, ray_address, on_skip, ray_options,
                      keep_stale, on_plan) -> dict[str, Any]:
    enable_compilation_cache()
    benches, absent = resolve_benchmarks(suite.benchmarks, data_dir)
    for name, bench in benches.items():
        budget = suite.budget_for(name)
        if budget > bench.n_table:
            raise RunError(f"budget {budget} for {name} exceeds its {bench.n_table} architectures; "
                           f"set [budgets] {name} = {bench.n_table} or less")
    checksums, noises = {}, {}
    for name, bench in benches.items():
        b = bench if suite.noise is None else bench.with_noise(suite.noise)
        noises[name] = b.noise
        atomic_write_text(out / "benchmarks" / f"{name}.json", dumps(benchmark_summary(b), indent=2))
        checksums.update(bench.checksums)
    # a benchmark whose data is absent here: its records stay the evidence, checked against the
    # checksums and noise model its last run with the data recorded (not verified against the data)
    recorded = _recorded_summaries(out, absent)
    for summary in recorded.values():
        checksums.update(summary.get("checksums", {}))

    def expected(s: TrialSpec) -> dict[str, Any] | None:
        if s.benchmark in benches:
            return fingerprint(s, benches[s.benchmark].checksums, noises[s.benchmark], benches[s.benchmark].space.proxies)
        if s.benchmark in recorded:
            return fingerprint(s, recorded[s.benchmark].get("checksums", {}), recorded[s.benchmark].get("noise"))
        return None

    specs = suite.trials()
    plan = plan_trials(out, specs, expected)
    todo = [s for s in plan["todo"] if s.benchmark in benches]
    blocked = [s for s in plan["todo"] if s.benchmark not in benches]  # to run, but the data is absent
    plan["unverified"] = {b: sum(s.benchmark == b for s in plan["valid"]) for b in sorted(absent)}
    plan["blocked"] = dict(sorted(Counter(s.benchmark for s in blocked).items()))
    skipped = {n: why for n, why in absent.items() if n in plan["blocked"]}
    for name in skipped:
        if on_skip:
            on_skip(name, entry(name).how_to_get)
    if on_plan:
        on_plan(plan)
    if plan["stale"] and keep_stale:
        raise RunError(f"{out} holds {plan['stale']} trial records made with other settings ("
                       + ", ".join(f"{k}: {v}" for k, v in plan["reasons"].items())
                       + "); rerun without --keep-stale to replace them, or give --out another folder")
    atomic_write_text(out / "skipped.json", dumps(
        {n: {"reason": why, "how_to_get": entry(n).how_to_get} for n, why in skipped.items()}, indent=2))
    meta = {"suite": suite.as_dict(), "environment": environment(), "data_checksums": dict(sorted(checksums.items())),
            "executor": executor}
    if todo or _meta_changed(out / "meta.json", meta):  # a no-op rerun leaves the folder's files as they are
        atomic_write_text(out / "meta.json", dumps(meta, indent=2))
    log.info("%d trials, %d already finished, %d to run (%d stale), %d blocked (data absent)", len(specs),
             len(plan["valid"]), len(todo), plan["stale"], len(blocked))
    summary = {"trials": len(specs), "ran": len(todo), "stale": plan["stale"], "stale_reasons": plan["reasons"],
               "damaged": plan["damaged"], "skipped_benchmarks": sorted(skipped), "blocked": plan["blocked"],
               "unverified": {b: n for b, n in plan["unverified"].items() if n}}
    bar = Progress(todo, progress, workers=(workers or os.cpu_count() or 1) if executor != "inprocess" else 1)
    failed: list[Any] = []
    if executor == "inprocess":
        run_inprocess(todo, benches, out, bar)
    elif executor == "process":
        run_pool(todo, out, bar, workers or os.cpu_count() or 1, data_dir)
    else:
        failed = run_ray(todo, out, bar, data_dir=data_dir, address=ray_address, write=write_record,
                         benches=benches, local_cpus=workers, **(ray_options or {}))["failed"]
    # today's fingerprint of each finished trial (its record matched it; a record written before a
    # field existed lacks it, and a missing field equals today's None)
    write_manifest(out, [(s.name, exp) for s in specs
                         if (rec := read_record(trial_path(out, s))) is not None and (exp := expected(s)) is not None
                         and not differences(exp, rec)])
    return {**summary, "failed": failed}

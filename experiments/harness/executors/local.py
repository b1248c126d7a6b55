"""The local executors of :func:`experiments.harness.execute.run_suite`: ``inprocess`` and ``process``.

* :func:`run_inprocess`: the trials one after another in this process; the trials of one row that
  a pure-JAX strategy runs go :data:`VECTOR_CHUNK` seeds at a time through one compiled, vmapped
  program (:func:`experiments.harness.runner.run_vectorized`);
* :func:`run_pool`: a pool of spawned worker processes, one trial per task (:func:`pool_worker`),
  each computing with the driver's XLA setting (:data:`nasbench.XLA_FLAGS`, inherited through
  ``$XLA_FLAGS``, so a worker's records equal the in-process ones) and ended by :func:`watch_parent`
  when the driver is gone.

The driver writes every record as it arrives (:func:`experiments.harness.records.write_record`),
so an interrupted run resumes from its finished trials with any executor.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from experiments.harness.progress import Progress
from experiments.harness.records import write_record
from experiments.harness.runner import run_trial, run_vectorized
from experiments.harness.spec import TrialSpec, make_strategy
from nasbench.benchmark import Benchmark
from nasbench.registry import get_benchmark
from strategies.base import JaxStrategy

VECTOR_CHUNK = 50  # seeds per vmapped call (resume granularity)


def watch_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the driver is gone (even after SIGKILL, which
    gives the driver no chance to stop its pool), so no worker outlives its run."""
    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="nasarena-parent-watch").start()


def pool_worker(spec: TrialSpec, data_dir: str | None) -> dict[str, Any]:
    """One trial in a pool worker. A pure-JAX strategy runs as one compiled scan over the whole
    trial (the same trajectory as the ask/tell loop, without its per-step dispatch: at a 7,812-query
    cap that loop spent most of a regularised-evolution trial in Python; a trial that stops at a target
    ends with the scan segment of its first hit, with the record the loop gives)."""
    bench = get_benchmark(spec.benchmark, data_dir, noise=spec.noise)
    if not spec.timed and getattr(bench, "vectorizable", True) \
            and isinstance(make_strategy(spec, bench), JaxStrategy):
        return run_vectorized([spec], bench)[0]
    return run_trial(spec, bench)


def run_inprocess(todo: list[TrialSpec], benches: dict[str, Benchmark], out: Path, bar: Progress) -> None:
    groups: dict[tuple, list[TrialSpec]] = defaultdict(list)
    for s in todo:
        groups[(s.benchmark, s.name, s.strategy, s.budget, json.dumps(s.config, sort_keys=True), s.noise,
                s.stop, s.timed)].append(s)
    for (bname, label, *_), specs in groups.items():
        bench = benches[bname]
        if specs[0].noise is not None:
            bench = bench.with_noise(specs[0].noise)
        if not specs[0].timed and getattr(bench, "vectorizable", True) \
                and isinstance(make_strategy(specs[0], bench), JaxStrategy):
            for i in range(0, len(specs), VECTOR_CHUNK):
                chunk = specs[i : i + VECTOR_CHUNK]
                recs = run_vectorized(chunk, bench)
                for spec, rec in zip(chunk, recs):
                    write_record(out, spec, rec)
                bar.update(len(chunk), f"{label} on {bname}", (bname, label), float(recs[0]["wall_time"]) / len(chunk))
        else:
            for spec in specs:
                rec = run_trial(spec, bench)
                write_record(out, spec, rec)
                bar.update(1, f"{label} on {bname}", (bname, label), float(rec["wall_time"]))


def run_pool(todo: list[TrialSpec], out: Path, bar: Progress, workers: int, data_dir: str | None) -> None:
    if not todo:
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=watch_parent, initargs=(os.getpid(),))
    pending = {pool.submit(pool_worker, s, data_dir): s for s in todo}
    with pool:
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = pending.pop(fut)
                    rec = fut.result()
                    write_record(out, spec, rec)
                    bar.update(1, f"{spec.name} on {spec.benchmark}", (spec.benchmark, spec.name),
                               float(rec["wall_time"]))
        except BaseException:  # Ctrl-C: stop the workers now (their trials are lost, the finished kept)
            procs = list((getattr(pool, "_processes", None) or {}).values())  # the executor keeps no public handle
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            raise

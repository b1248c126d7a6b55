"""The Ray executor on a real local Ray runtime (2 CPUs), with small synthetic benchmarks (and a live
benchmark on a tiny fake CIFAR-10 for `parallel=ray`).

Skipped with the reason when Ray is not installed (``pip install -e '.[ray]'``), except the test of
that message itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys

import jax
import numpy as np
import pytest
from test_train_live import TINY, make_fake_cifar

import experiments.harness.execute as execute
from experiments.harness.execute import is_done, run_suite, trial_path
from experiments.harness.executors.cluster import FAILED_FILE, is_live, run_ray
from experiments.harness.spec import trial_keys
from experiments.harness.suite import load_suite
from nasbench.benchmark import Benchmark, Status
from nasbench.parallel import ray_tasks
from nasbench.parallel.ray_tasks import (
    BatchEvaluationError,
    EvalFailure,
    RayUnavailable,
    evaluate_batch_ray,
    require_ray,
)
from nasbench.synthetic import synthetic_benchmark
from nasbench.train import live, trainer

pytestmark = pytest.mark.ray

SUITE = 'benchmarks=["synthetic"]\nstrategies=["random-search", "regularized-evolution"]\nseeds=3\nbudget=20\n'
SAME = ("arch", "observed", "truth", "cost", "seed", "budget", "strategy", "config", "noise")


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    # workers cannot import this test module by name: ship its functions and classes by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The suite run by the in-process executor: the records every other executor must match."""
    import nasbench.registry as reg

    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("ref")
    try:
        _register(mp, _toy())
        suite = load_suite(_suite_file(tmp))
        run_suite(suite, tmp / "out", progress=False)
        yield {(s.name, s.seed): json.loads(trial_path(tmp / "out", s).read_text()) for s in suite.trials()}
    finally:
        mp.undo()
        reg._cache.clear()


def _toy() -> Benchmark:
    return synthetic_benchmark(positions=4, choices=4, repeats=3, seed=0)


def _register(monkeypatch, bench: Benchmark) -> None:
    import nasbench.registry as reg

    monkeypatch.setitem(reg._REGISTRY, "synthetic", reg.Entry("synthetic", lambda d: bench, "toy", "built in"))
    reg._cache.clear()


def _suite_file(tmp_path) -> str:
    p = tmp_path / "s.toml"
    p.write_text(SUITE)
    return str(p)


def _assert_matches(out, reference) -> None:
    recs = {}
    for p in (out / "data" / "synthetic").glob("*/seed-*.json"):
        rec = json.loads(p.read_text())
        recs[(rec["strategy"], rec["seed"])] = rec
    assert recs.keys() == reference.keys()
    for key, ref in reference.items():
        assert {k: recs[key][k] for k in SAME} == {k: ref[k] for k in SAME}, key


def _clone(bench: Benchmark, cls, **extra) -> Benchmark:
    return cls(**{f.name: getattr(bench, f.name) for f in dataclasses.fields(Benchmark)}, **extra)


@dataclasses.dataclass(eq=False)
class CrashOnce(Benchmark):
    """The first trial anywhere to ask for an oracle kills its worker process (os._exit)."""

    marker: str = ""

    def oracle(self, noise_key):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return super().oracle(noise_key)
        os._exit(1)


@dataclasses.dataclass(eq=False)
class FailSeed(Benchmark):
    """Every trial of seed ``bad`` raises."""

    bad: int = 1

    def oracle(self, noise_key):
        if np.array_equal(jax.random.key_data(noise_key), jax.random.key_data(trial_keys(self.bad)[1])):
            raise RuntimeError(f"boom on seed {self.bad}")
        return super().oracle(noise_key)


# ------------------------------------------------------------------ trials
def test_ray_matches_inprocess(ray_runtime, reference, tmp_path, monkeypatch):
    _register(monkeypatch, _toy())
    suite = load_suite(_suite_file(tmp_path))
    res = run_suite(suite, tmp_path / "out", executor="ray", progress=False)
    assert res["ran"] == 6 and res["failed"] == []
    _assert_matches(tmp_path / "out", reference)
    assert not (tmp_path / "out" / FAILED_FILE).exists()
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["executor"] == "ray"


def test_killed_worker_is_retried_and_suite_completes(ray_runtime, reference, tmp_path, monkeypatch, caplog):
    marker = tmp_path / "crashed"
    _register(monkeypatch, _clone(_toy(), CrashOnce, marker=str(marker)))
    suite = load_suite(_suite_file(tmp_path))
    with caplog.at_level(logging.WARNING, logger="experiments.harness.executors.cluster"):
        res = run_suite(suite, tmp_path / "out", executor="ray", progress=False)
    assert marker.exists(), "no worker was killed"
    assert res["failed"] == [] and all(is_done(tmp_path / "out", s) for s in suite.trials())
    assert any("attempt 1 of 3" in r.getMessage() for r in caplog.records)
    _assert_matches(tmp_path / "out", reference)


def test_failing_trial_is_recorded_then_rerun_completes(ray_runtime, reference, tmp_path, monkeypatch):
    _register(monkeypatch, _clone(_toy(), FailSeed, bad=1))
    suite = load_suite(_suite_file(tmp_path))
    out = tmp_path / "out"
    res = run_suite(suite, out, executor="ray", progress=False, ray_options={"max_retries": 1})
    assert {(f["strategy"], f["seed"]) for f in res["failed"]} == {("random-search", 1), ("regularized-evolution", 1)}
    failed = json.loads((out / FAILED_FILE).read_text())
    assert len(failed) == 2 and all(f["attempts"] == 2 and "boom on seed 1" in f["error"] for f in failed)
    assert [s.seed for s in suite.trials() if not is_done(out, s)] == [1, 1]
    # the cause is fixed: the rerun runs only the two failed trials and clears failed.json
    _register(monkeypatch, _toy())
    res = run_suite(suite, out, executor="ray", progress=False)
    assert res["ran"] == 2 and res["failed"] == []
    assert not (out / FAILED_FILE).exists()
    _assert_matches(out, reference)


def test_impossible_resource_request_fails_fast(ray_runtime, tmp_path, monkeypatch):
    _register(monkeypatch, _toy())
    suite = load_suite(_suite_file(tmp_path))
    with pytest.raises(ValueError, match="1 GPU each, but the Ray cluster has 0"):
        run_suite(suite, tmp_path / "out", executor="ray", progress=False, ray_options={"num_gpus": 1})


def test_interrupted_suite_resumes(ray_runtime, reference, tmp_path, monkeypatch):
    """Ctrl-C (here: during the third write) keeps finished records; the rerun runs only the rest."""
    _register(monkeypatch, _toy())
    suite = load_suite(_suite_file(tmp_path))
    out = tmp_path / "out"
    writes = []
    real_write = execute.write_record

    def interrupting_write(o, spec, rec):
        writes.append(spec)
        if len(writes) == 3:
            raise KeyboardInterrupt
        real_write(o, spec, rec)

    monkeypatch.setattr(execute, "write_record", interrupting_write)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, out, executor="ray", progress=False)
    monkeypatch.setattr(execute, "write_record", real_write)
    finished = [s for s in suite.trials() if is_done(out, s)]
    assert 2 <= len(finished) < 6
    res = run_suite(suite, out, executor="ray", progress=False)
    assert res["ran"] == 6 - len(finished) and res["failed"] == []
    _assert_matches(out, reference)


# ------------------------------------------------------------------ live evaluations
def _square(marker_dir: str, x: int) -> int:
    if x == 3:  # the first attempt of item 3 kills its worker
        try:
            os.close(os.open(os.path.join(marker_dir, "crashed"), os.O_CREAT | os.O_EXCL))
            os._exit(1)
        except FileExistsError:
            pass
    if x == 4:
        raise ValueError("item 4 never evaluates")
    return x * x


def test_evaluate_batch_retries_and_reports_failures(ray_runtime, tmp_path):
    fn = functools.partial(_square, str(tmp_path))
    res = evaluate_batch_ray(fn, range(6), max_retries=1)
    assert (tmp_path / "crashed").exists()
    assert res[:4] == [0, 1, 4, 9] and res[5] == 25
    assert isinstance(res[4], EvalFailure) and res[4].attempts == 2 and "item 4 never evaluates" in res[4].error
    with pytest.raises(BatchEvaluationError, match="1 of 3 evaluations failed") as exc:
        evaluate_batch_ray(fn, [4, 5, 2], max_retries=0, errors="raise")
    assert exc.value.results[1:] == [25, 4] and exc.value.failures[0].index == 0
    assert evaluate_batch_ray(fn, []) == []


def test_live_benchmark_trains_a_query_as_ray_tasks(ray_runtime, tmp_path, monkeypatch):
    """parallel=ray: a query's new architectures train on the workers, into the shared disk cache,
    with the values, order and costs of local training; a later query trains nothing."""
    cifar = make_fake_cifar(tmp_path / "cifar")
    tiny = {**TINY, "compile_mode": "per_arch"}  # for 2 tiny cells, faster than one masked compile per worker
    monkeypatch.delenv(live.ENV_PRESET, raising=False)
    monkeypatch.delenv(live.ENV_OVERRIDES, raising=False)
    query = [40, 1234, 40]
    local = live.live_benchmark("train-nb201", cifar, preset="proxy", cache_folder=str(tmp_path / "local"), **tiny)
    ref = local.oracle(jax.random.key(0)).query(query)

    shared = tmp_path / "shared"
    monkeypatch.setenv(live.ENV_OVERRIDES, f"parallel=ray,cache_folder={shared}")
    bench = live.live_benchmark("train-nb201", cifar, preset="proxy", **tiny)
    assert bench.config.parallel == "ray"

    def no_training(*a, **k):
        pytest.fail("trained in the driver")

    monkeypatch.setattr(trainer, "train_and_evaluate", no_training)  # the workers train, not this process
    res = bench.oracle(jax.random.key(0)).query(query)
    assert res.status.tolist() == [Status.NEW, Status.NEW, Status.CACHED] == ref.status.tolist()
    np.testing.assert_array_equal(res.values, ref.values)
    recs = [bench._results[i][0]["record"] for i in (40, 1234)]
    for i, rec in zip((40, 1234), recs):  # the same training runs (seed, data, steps) as in this process
        assert not rec["cached"] and rec["final_loss"] == local._results[i][0]["record"]["final_loss"]
    assert len(list(shared.glob("*.json"))) == 2
    assert res.cost.tolist() == [recs[0]["wall_time"], recs[1]["wall_time"], 0.0] and (res.cost[:2] > 0).all()

    # a fresh benchmark (another trial): every answer from the cache, no Ray batch, nothing trained
    monkeypatch.setattr(ray_tasks, "evaluate_batch_ray", lambda *a, **k: pytest.fail("submitted a Ray batch"))
    again = live.live_benchmark("train-nb201", cifar, preset="proxy", **tiny)
    r2 = again.oracle(jax.random.key(1)).query([1234, 40])
    assert r2.status.tolist() == [Status.NEW, Status.NEW]
    assert r2.values.tolist() == res.values[[1, 0]].tolist() and r2.cost.tolist() == res.cost[[1, 0]].tolist()


def _ray_live(tmp_path, monkeypatch):
    """A parallel=ray train-nb201 on a fake CIFAR-10 under ``tmp_path``, caching in ``tmp_path / "train"``."""
    monkeypatch.delenv(live.ENV_OVERRIDES, raising=False)
    cifar = make_fake_cifar(tmp_path / "cifar")
    return live.live_benchmark(
        "train-nb201", cifar, preset="proxy", parallel="ray", cache_folder=str(tmp_path / "train"), **TINY
    )


def test_live_training_failure_after_retries_is_an_error(ray_runtime, tmp_path, monkeypatch):
    bench = _ray_live(tmp_path, monkeypatch)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cifar-10-python.tar.gz").write_bytes(b"not a tarball")
    bench.data_dir = str(bad)  # what the workers read: every attempt fails
    with pytest.raises(
        live.LiveTrainingError,
        match=r"(?s)1 of 1 training runs failed on Ray.*architecture 3 .*3 attempts: .*ReadError",
    ):
        bench.oracle(jax.random.key(0)).query([3])
    assert not list((tmp_path / "train").glob("*.json"))


# ------------------------------------------------------------------ without Ray
def test_missing_ray_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayUnavailable, match=r"pip install -e '\.\[ray\]'"):
        require_ray()
    with pytest.raises(ImportError, match=r"pip install -e '\.\[ray\]'"):
        run_ray([], tmp_path, None)


def test_live_parallel_ray_without_ray_says_how_to_install(monkeypatch, tmp_path):
    bench = _ray_live(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayUnavailable, match=r"parallel=ray .*pip install -e '\.\[ray\]'"):
        bench.oracle(jax.random.key(0)).query([3])
    with pytest.raises(ValueError, match="parallel must be one of local, ray"):
        live.live_config("nb201", preset="proxy", parallel="dask")


def test_live_benchmarks_are_recognised(toy):
    assert not is_live(toy)
    assert is_live(None, "train-nb201")
    live = _clone(toy, Benchmark)
    live.live = True  # type: ignore[attr-defined]
    assert is_live(live)


def test_local_runtime_does_not_outlive_a_killed_driver(tmp_path):
    """SIGKILL of a driver that started a local Ray runtime: every Ray process goes with it (Ray's
    DashboardAgent and RuntimeEnvAgent alone would be reparented to init and live on)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    from test_records import _descendants_of_killed_driver, _wait_dead

    pids = _descendants_of_killed_driver(tmp_path, """
        import logging, ray
        from nasbench.parallel.ray_tasks import connect
        started, watcher = connect(ray, None, 1)
        assert started and watcher is not None
        ray.get(ray.remote(lambda: 1).remote())
        deadline = time.time() + 60  # the raylet starts its agents after ray.init returns
        while time.time() < deadline and not any(
            open(f"/proc/{p}/cmdline").read().startswith("ray::RuntimeEnvAgent")
            for p in reaper.descendants(os.getpid(), reaper.processes())
        ):
            time.sleep(0.2)
    """)
    assert len(pids) >= 4, "expected the GCS, the raylet and its agents"
    alive = _wait_dead(pids, 30)
    assert not alive, f"Ray processes {alive} outlived the driver"

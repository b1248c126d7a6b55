"""The live benchmarks (train-nb201, train-nb101): the oracle trains, caches on disk, never retrains
a cached architecture, and runs through the harness without a ground-truth table. Data: a tiny
fake CIFAR-10 release built here; networks: a few parameters, one or two steps."""

from __future__ import annotations

import io
import json
import math
import pickle
import tarfile

import jax
import numpy as np
import pytest

from nasbench import registry
from nasbench.benchmark import Status
from nasbench.train import live, trainer

TINY = dict(
    channels=2,
    stacks=1,
    cells_per_stack=1,
    batch_size=8,
    steps=2,
    eval_batch_size=16,
    n_train=40,
    n_valid=16,
    compile_mode="masked",  # one compile serves every cell of these tests
)
TINY_ENV = (
    "channels=2,stacks=1,cells_per_stack=1,batch_size=8,steps=2,eval_batch_size=16,n_train=40,n_valid=16,"
    "compile_mode=masked"
)


def _add(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_fake_cifar(folder):
    """``folder`` (created) holding a CIFAR-10 python release of 5 x 12 training and 12 test images."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
            labels = rng.integers(0, 10, 12)
            data = rng.integers(0, 256, (12, 3072), dtype=np.uint8)
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps({b"data": data, b"labels": labels.tolist()}))
    return folder


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory):
    return make_fake_cifar(tmp_path_factory.mktemp("cifar"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASARENA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(live.ENV_OVERRIDES, raising=False)
    monkeypatch.delenv(live.ENV_PRESET, raising=False)
    return tmp_path


def test_oracle_trains_caches_and_never_retrains(fake_cifar, cache, monkeypatch):
    folder = cache / "train"
    bench = live.live_benchmark("train-nb201", fake_cifar, preset="proxy", cache_folder=str(folder), **TINY)
    assert bench.live and not bench.vectorizable and bench.n_table == bench.n_space == 15625
    info = bench.info()
    assert info["live"] and math.isnan(info["optimum"]) and info["preset"] == "proxy"
    assert bench.config.train.space == "nb201" and bench.config.train.steps == 2
    oracle = bench.oracle(jax.random.key(0))
    res = oracle.query([5, 5, 7, -1, 99999])
    assert res.status.tolist() == [Status.NEW, Status.CACHED, Status.NEW, Status.OUT_OF_TABLE, Status.INVALID]
    v5, v7 = res.values[0], res.values[2]
    assert res.values[1] == v5 and np.isnan(res.values[3:]).all()
    for v in (v5, v7):  # percent over 12 validation images (the fake release's batch 5)
        assert 0.0 <= v <= 100.0 and (v * 12 / 100) == pytest.approx(round(v * 12 / 100))
    assert res.cost[0] > 0 and res.cost[2] > 0 and res.cost[1] == 0 and oracle.budget_used == 2
    assert oracle.time_used == pytest.approx(res.cost[0] + res.cost[2])
    assert len(list(folder.glob("*.json"))) == 2
    # the harness's view: truth = the trained values so far, no target, no optimum
    assert bench.truth.truth[5] == v5 and bench.truth.truth[7] == v7 and np.isnan(bench.truth.truth[6])
    assert bench.truth.target(0.01) is None and not bench.truth.known and math.isnan(bench.truth.optimum)
    assert bench.cost[5] == res.cost[0]
    with pytest.raises(TypeError, match="live"):
        bench.arrays()
    # picklable (Ray ships benchmarks to its workers), trained results included
    copy = pickle.loads(pickle.dumps(bench))
    assert copy.oracle(jax.random.key(2)).query([5]).values[0] == v5
    # a fresh benchmark (another trial, a resumed run, another process): answered from disk,
    # with the recorded value and cost, and nothing trained
    monkeypatch.setattr(trainer, "train_and_evaluate", lambda *a, **k: pytest.fail("retrained a cached cell"))
    monkeypatch.setattr(trainer, "train_many", lambda *a, **k: pytest.fail("retrained a cached cell"))
    again = live.live_benchmark("train-nb201", fake_cifar, preset="proxy", cache_folder=str(folder), **TINY)
    r2 = again.oracle(jax.random.key(1)).query([7, 5])
    assert r2.status.tolist() == [Status.NEW, Status.NEW]
    assert r2.values.tolist() == [v7, v5] and r2.cost.tolist() == [res.cost[2], res.cost[0]]


def test_mean_noise_and_vmapped_batches(fake_cifar, cache):
    folder = str(cache / "train")
    kw = dict(preset="proxy", cache_folder=folder, **TINY)
    one = live.live_benchmark("train-nb201", fake_cifar, **kw)
    v0 = one.oracle(jax.random.key(0)).query([3]).values[0]
    # two repeats, the mean noise model: seed 0 comes from the cache, seed 1 is trained
    two = live.live_benchmark("train-nb201", fake_cifar, noise="mean", repeats=2, **kw)
    r = two.oracle(jax.random.key(0)).query([3])
    runs = two._results[3]
    assert sorted(runs) == [0, 1] and runs[0]["value"] == v0
    assert r.values[0] == pytest.approx((runs[0]["value"] + runs[1]["value"]) / 2)
    assert r.cost[0] == pytest.approx(runs[0]["cost"] + runs[1]["cost"])
    # the sample noise model with repeats: the seed is a pure function of the noise key and index
    s = live.live_benchmark("train-nb201", fake_cifar, repeats=3, **kw)
    assert s.seeds_for(11, jax.random.key(4)) == s.seeds_for(11, jax.random.key(4))
    assert {s.seeds_for(i, jax.random.key(4))[0] for i in range(40)} == {0, 1, 2}
    # vmap=2: a query of two new cells trains them at once (train_many), cached one by one
    vm = live.live_benchmark("train-nb201", fake_cifar, vmap=2, **kw)
    rv = vm.oracle(jax.random.key(0)).query([21, 22])
    recs = [vm._results[i][0]["record"] for i in (21, 22)]
    assert all(rec["vmap"] == 2 for rec in recs) and np.isfinite(rv.values).all()
    # ... and trains them as if alone (same seed and data, another cache): the same losses to float
    # tolerance, the same accuracy up to one of the 12 validation images flipping
    solo = live.live_benchmark("train-nb201", fake_cifar, **{**kw, "cache_folder": str(cache / "solo")})
    rs = solo.oracle(jax.random.key(0)).query([21, 22])
    for i, rec in zip((21, 22), recs):
        alone = solo._results[i][0]["record"]
        assert "vmap" not in alone and alone["final_loss"] == pytest.approx(rec["final_loss"], rel=1e-4)
    assert np.abs(rs.values - rv.values).max() <= 100 / 12 + 1e-9


def test_configuration_from_the_environment(fake_cifar, cache, monkeypatch):
    monkeypatch.setenv(live.ENV_PRESET, "proxy")
    monkeypatch.setenv(live.ENV_OVERRIDES, "epochs=2, channels=4, compile_mode=per_arch, n_train=all, repeats=2")
    cfg = live.live_config("nb201")
    assert cfg.preset == "proxy" and cfg.train.epochs == 2.0 and cfg.train.channels == 4
    assert cfg.train.compile_mode == "per_arch" and cfg.n_train is None and cfg.repeats == 2
    assert cfg.train.learning_rate == 0.1 and cfg.train.nesterov is True  # NB-201's optimiser kept
    monkeypatch.setenv(live.ENV_OVERRIDES, "bogus=1")
    with pytest.raises(ValueError, match="bogus"):
        live.live_config("nb201")
    monkeypatch.setenv(live.ENV_OVERRIDES, "")
    monkeypatch.setenv(live.ENV_PRESET, "full")
    full = live.live_config("nb101")
    assert full.train == trainer.nb101_config() and full.n_train is None
    assert live.live_config("nb201").train == trainer.nb201_config()
    monkeypatch.setenv(live.ENV_PRESET, "medium")
    with pytest.raises(ValueError, match="proxy"):
        live.live_config("nb201")


def test_live_benchmark_runs_in_the_harness(fake_cifar, cache, monkeypatch):
    from experiments.harness.execute import benchmark_summary, run_suite
    from experiments.harness.suite import Suite

    monkeypatch.setenv(live.ENV_PRESET, "proxy")
    monkeypatch.setenv(live.ENV_OVERRIDES, TINY_ENV + f",cache_folder={cache / 'train'}")
    assert {"train-nb201", "train-nb101"} <= set(registry.available_benchmarks())
    registry._cache.clear()
    try:
        bench = registry.get_benchmark("train-nb201", fake_cifar)
        summary = benchmark_summary(bench)
        assert summary["targets"] == {} and math.isnan(summary["optimum"]) and summary["n_table"] == 15625
        strategies = ["random-search", "regularized-evolution"]  # pure-JAX strategies: not vectorised here
        suite = Suite(name="live", benchmarks=["train-nb201"], strategies=strategies, seeds=[0, 1], budget=2)
        out = cache / "out"
        res = run_suite(suite, out, data_dir=str(fake_cifar), progress=False)
        assert res["ran"] == 4
        recs = [json.loads(p.read_text()) for p in sorted((out / "data" / "train-nb201").rglob("seed-*.json"))]
        assert len(recs) == 4
        for rec in recs:
            assert len(rec["arch"]) == 2 and rec["truth"] == rec["observed"]
            assert all(c > 0 for c in rec["cost"])
        written = json.loads((out / "benchmarks" / "train-nb201.json").read_text())
        assert written["targets"] == {}
        # the report has no regret and no targets for it, and says nothing false
        from experiments.studies.report import write_report

        write_report(out, n_boot=50)
        figures = {p.stem for p in (out / "figures" / "train-nb201").glob("*.png")}
        assert "best-so-far" in figures and "regret" not in figures and "ecdf" not in figures
        # resuming: nothing left to run
        assert run_suite(suite, out, data_dir=str(fake_cifar), progress=False)["ran"] == 0
    finally:
        registry._cache.clear()


def test_live_nb101_trains_a_subset_cell(fake_cifar, cache, monkeypatch):
    from conftest import data_dir, require_data

    require_data("nasbench101-subset/nb101_subset_30k.csv.gz")
    monkeypatch.setenv("NASARENA_DATA", str(data_dir()))  # the folder conftest found it in
    bench = live.live_benchmark(
        "train-nb101",
        fake_cifar,
        preset="proxy",
        cache_folder=str(cache / "train"),
        **{**TINY, "steps": 1, "compile_mode": "per_arch"},
    )
    assert bench.n_space == 30001 and bench.config.train.space == "nb101"
    res = bench.oracle(jax.random.key(0)).query([0])
    assert res.status[0] == Status.NEW and 0.0 <= res.values[0] <= 1.0  # a fraction, as nb101's tables
    rec = bench._results[0][0]["record"]
    assert res.values[0] == rec["val_acc"]  # a fraction of the 12 validation images (batch 5):
    assert rec["val_acc"] * 12 == pytest.approx(round(rec["val_acc"] * 12))
    assert rec["module_hash"] == bench.space.hash_of(0)

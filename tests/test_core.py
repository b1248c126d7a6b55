"""The benchmark contract, the data search path, the runner and the suites, on synthetic data."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from experiments.harness.execute import is_done, run_suite, trial_path
from experiments.harness.runner import run_trial, run_vectorized
from experiments.harness.spec import TrialSpec, trial_keys
from experiments.harness.suite import SuiteError, load_suite
from nasbench import data
from nasbench.benchmark import Status
from nasbench.space import INVALID, OUT_OF_TABLE


# ------------------------------------------------------------------ ground truth
def test_targets_count_ties_and_quantiles(toy):
    thr, k = toy.truth.target(None)
    assert thr == pytest.approx(0.9) and k == 1
    t = np.sort(toy.truth.truth)[::-1]
    thr, k = toy.truth.target(0.01)  # ceil(0.01 * 256) = 3rd best
    assert thr == t[2] and k == 3
    with pytest.raises(ValueError, match="fraction"):
        toy.truth.target(5)


# ------------------------------------------------------------------ oracle
def test_oracle_charges_unique_in_table_only(toy):
    o = toy.oracle(jax.random.key(0))
    res = o.query([3, 3, 5, OUT_OF_TABLE, INVALID, 3])
    assert list(res.status) == [Status.NEW, Status.CACHED, Status.NEW, Status.OUT_OF_TABLE, Status.INVALID, Status.CACHED]
    assert o.budget_used == 2 and o.evaluated == [3, 5]
    assert res.values[0] == res.values[1] == res.values[5]
    assert np.isnan(res.values[3]) and np.isnan(res.values[4])
    assert res.cost.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    again = o.query([5])
    assert again.status[0] == Status.CACHED and again.values[0] == res.values[2] and o.budget_used == 2


def test_sampled_repeat_is_one_of_the_repeats_and_mean_is_the_mean(toy):
    o = toy.oracle(jax.random.key(1))
    idx = np.arange(50)
    v = o.query(idx).values
    assert all(np.isclose(v[i], toy.values[i]).any() for i in idx)
    m = toy.with_noise("mean").oracle(jax.random.key(1)).query(idx).values
    np.testing.assert_allclose(m, toy.values[idx].mean(1), rtol=1e-6)


def test_sampled_repeats_are_uniform(toy):
    """Over many noise keys, each of the 3 repeats is answered about 1/3 of the time."""
    f = jax.jit(toy.observe_fn())
    arrs = toy.arrays()
    keys = jax.random.split(jax.random.key(0), 3000)
    vals = np.asarray(jax.vmap(lambda k: f(arrs, k, np.array([7])))(keys))[:, 0]
    counts = np.array([(np.isclose(vals, toy.values[7, r], rtol=1e-6)).sum() for r in range(3)])
    assert counts.sum() == 3000
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.04)  # ~5 sigma


# ------------------------------------------------------------------ data path
def test_find_data_order_and_message(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "x").mkdir(parents=True)
    (b / "x").mkdir(parents=True)
    (b / "x" / "f.csv").write_text("b")
    monkeypatch.setenv("NASARENA_DATA", str(b))
    assert data.find_data(["x/f.csv"], "n/a") == b / "x" / "f.csv"
    (a / "x" / "f.csv").write_text("a")
    assert data.find_data(["x/f.csv"], "n/a", data_dir=a) == a / "x" / "f.csv"  # explicit wins
    with pytest.raises(data.DataNotFound) as exc:
        data.find_data(["nope.csv"], "download it from Z", data_dir=a)
    msg = str(exc.value)
    assert str(a / "nope.csv") in msg and str(b / "nope.csv") in msg and "download it from Z" in msg


def test_cached_arrays_builds_once_and_checks_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("NASARENA_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src.txt"
    src.write_text("1 2 3")
    calls = []

    def build(p):
        calls.append(p)
        return {"x": np.array([int(v) for v in p.read_text().split()])}

    a = data.cached_arrays("t", src, build)
    b = data.cached_arrays("t", src, build)
    assert len(calls) == 1 and b["x"].tolist() == [1, 2, 3] == a["x"].tolist()
    with pytest.raises(data.CorruptData, match="sha256"):
        data.cached_arrays("t2", src, build, expected_sha256="0" * 64)


# ------------------------------------------------------------------ runner
@pytest.mark.parametrize("name", ["random-search", "regularized-evolution"])
def test_vectorized_run_equals_ask_tell(name, toy_partial):
    specs = [TrialSpec(toy_partial.name, name, s, 30) for s in (0, 1, 2)]
    vec = run_vectorized(specs, toy_partial)
    for spec, v in zip(specs, vec):
        r = run_trial(spec, toy_partial)  # the same record, diagnostics included, but for wall time
        assert {k: x for k, x in r.items() if k != "wall_time"} == {k: x for k, x in v.items() if k != "wall_time"}


@pytest.mark.parametrize("name", ["random-search", "regularized-evolution"])
def test_vectorized_trials_that_stop_end_the_scan_early_with_the_same_records(name, toy, monkeypatch):
    import experiments.harness.runner as runner

    monkeypatch.setattr(runner, "VECTOR_STEPS", 7)  # several segments, the last one shorter
    full = [TrialSpec(toy.name, name, s, 200) for s in range(4)]
    stop = [TrialSpec(toy.name, name, s, 200, stop="top-1%") for s in range(4)]
    calls = []
    original = runner._build_vectorized

    def counted(*a):
        start, advance = original(*a)
        return start, lambda carry, n: (calls.append(n), advance(carry, n))[1]

    monkeypatch.setattr(runner, "_build_vectorized", counted)
    monkeypatch.setattr(runner, "_VECTOR_CACHE", {})
    whole = run_vectorized(full, toy)
    assert sum(calls) == 200 and calls[-1] == 200 % 7  # no stop: every segment, to the budget
    calls.clear()
    early = run_vectorized(stop, toy)
    thr = toy.truth.target(0.01)[0]
    first = [int(np.argmax(np.asarray(w["truth"]) >= thr)) + 1 for w in whole]
    assert all(e["stopped"] for e in early) and [len(e["arch"]) for e in early] == first
    assert sum(calls) == 7 * -(-max(first) // 7) < 200  # ended with the segment of the last first hit
    for e, w, spec in zip(early, whole, stop):
        assert e["arch"] == w["arch"][: len(e["arch"])] and e["observed"] == w["observed"][: len(e["arch"])]
        r = run_trial(spec, toy)
        assert {k: v for k, v in e.items() if k != "wall_time"} == {k: v for k, v in r.items() if k != "wall_time"}


def test_trial_keys_depend_on_seed_only():
    a, b = trial_keys(3), trial_keys(3)
    assert (jax.random.key_data(a[0]) == jax.random.key_data(b[0])).all()
    assert not (jax.random.key_data(a[0]) == jax.random.key_data(a[1])).all()


def test_random_search_never_repeats_and_covers_space(toy):
    rec = run_trial(TrialSpec(toy.name, "random-search", 0, toy.n_space), toy)
    assert sorted(rec["arch"]) == list(range(toy.n_space))


def test_budget_larger_than_table_is_an_error(toy):
    with pytest.raises(ValueError, match="exceeds"):
        run_trial(TrialSpec(toy.name, "random-search", 0, toy.n_space + 1), toy)


# ------------------------------------------------------------------ suites and resume
def _suite_file(tmp_path, body: str):
    p = tmp_path / "s.toml"
    p.write_text(body)
    return str(p)


def test_only_restricts_a_label_to_some_benchmarks(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('benchmarks = ["nb201-cifar10", "macro-cifar10"]\nstrategies = ["random-search", "ax6"]\n'
                 'seeds = 2\nbudget = 5\n[labels]\nax6 = "alphax:six-vertices"\n[only]\nax6 = ["macro-cifar10"]\n')
    suite = load_suite(str(p))
    pairs = sorted({(t.benchmark, t.name) for t in suite.trials()})
    assert pairs == [("macro-cifar10", "ax6"), ("macro-cifar10", "random-search"), ("nb201-cifar10", "random-search")]
    assert len(suite.trials()) == 6 and suite.as_dict()["only"] == {"ax6": ["macro-cifar10"]}


def test_a_cap_may_hold_for_some_benchmarks_only(tmp_path):
    body = ('benchmarks = ["nb201-cifar10", "macro-cifar10"]\nstrategies = ["random-search", "lanas"]\n'
            'seeds = 1\nbudget = 500\n[budgets]\nmacro-cifar10 = 300\n'
            '[caps]\nrandom-search = 400\nlanas = { macro-cifar10 = 100 }\n')
    suite = load_suite(_suite_file(tmp_path, body))
    budgets = {(t.benchmark, t.name): t.budget for t in suite.trials()}
    assert budgets == {("nb201-cifar10", "random-search"): 400, ("nb201-cifar10", "lanas"): 500,
                       ("macro-cifar10", "random-search"): 300, ("macro-cifar10", "lanas"): 100}
    with pytest.raises(SuiteError, match="did you mean 'macro-cifar10'"):
        load_suite(_suite_file(tmp_path, body.replace("{ macro-cifar10", "{ macro-cifar1")))
    with pytest.raises(SuiteError, match=r"\[caps\] lanas.macro-cifar10 must be a positive integer"):
        load_suite(_suite_file(tmp_path, body.replace("= 100 }", "= 0 }")))


def test_label_seeds_give_a_label_more_seeds_on_some_benchmarks(tmp_path):
    body = ('benchmarks = ["nb201-cifar10", "macro-cifar10"]\nstrategies = ["random-search", "lanas"]\n'
            'seeds = [3, 7]\nbudget = 50\n[label_seeds]\nrandom-search = 4\nlanas = { macro-cifar10 = 3 }\n')
    suite = load_suite(_suite_file(tmp_path, body))
    seeds: dict = {}
    for t in suite.trials():
        seeds.setdefault((t.benchmark, t.name), []).append(t.seed)
    assert seeds == {("nb201-cifar10", "random-search"): [0, 1, 2, 3], ("nb201-cifar10", "lanas"): [3, 7],
                     ("macro-cifar10", "random-search"): [0, 1, 2, 3], ("macro-cifar10", "lanas"): [0, 1, 2]}
    assert suite.as_dict()["label_seeds"] == {"random-search": 4, "lanas": {"macro-cifar10": 3}}
    with pytest.raises(SuiteError, match="did you mean 'lanas'"):
        load_suite(_suite_file(tmp_path, body.replace("lanas = {", "lanaz = {")))


def test_suite_errors_are_clear(tmp_path):
    with pytest.raises(SuiteError, match="missing required key 'budget'"):
        load_suite(_suite_file(tmp_path, 'benchmarks=["a"]\nstrategies=["b"]\nseeds=2\n'))
    with pytest.raises(SuiteError, match="unknown key"):
        load_suite(_suite_file(tmp_path, 'benchmarks=["a"]\nstrategies=["b"]\nseeds=2\nbudget=3\nbudgt=4\n'))
    with pytest.raises(SuiteError, match="no suite"):
        load_suite("no-such-suite")


def test_suite_resumes_and_writes_complete_records(tmp_path, toy, monkeypatch):
    import nasbench.registry as reg

    monkeypatch.setitem(reg._REGISTRY, "synthetic", reg.Entry("synthetic", lambda d: toy, "toy", "built in"))
    reg._cache.clear()
    suite = load_suite(_suite_file(
        tmp_path, 'benchmarks=["synthetic"]\nstrategies=["random-search", "regularized-evolution"]\nseeds=3\nbudget=20\n'))
    out = tmp_path / "out"
    res = run_suite(suite, out, progress=False)
    assert (res["trials"], res["ran"], res["stale"], res["skipped_benchmarks"]) == (6, 6, 0, [])
    specs = suite.trials()
    assert all(is_done(out, s) for s in specs)
    first = json.loads(trial_path(out, specs[0]).read_text())
    # simulate an interrupted run: one record lost, one truncated mid-write
    os.remove(trial_path(out, specs[1]))
    trial_path(out, specs[2]).write_text('{"arch": [1, 2')
    res = run_suite(suite, out, progress=False)
    assert res["ran"] == 2 and res["damaged"] == [str(trial_path(out, specs[2]))]
    assert trial_path(out, specs[2]).with_name("seed-0002.json.damaged").read_text() == '{"arch": [1, 2'  # kept aside
    assert json.loads(trial_path(out, specs[0]).read_text()) == first  # untouched
    bench_json = json.loads((out / "benchmarks" / "synthetic.json").read_text())
    assert bench_json["targets"]["optimum"]["K"] == 1 and bench_json["n"] == 256
    meta = json.loads((out / "meta.json").read_text())
    assert meta["suite"]["seeds"] == [0, 1, 2] and "jax" in meta["environment"]["versions"]


def test_process_pool_matches_inprocess(tmp_path, toy, monkeypatch):
    """Records from the process pool equal the in-process ones (seeds fix everything)."""
    pytest.importorskip("multiprocessing")
    import nasbench.registry as reg

    # the spawned workers load benchmarks by name: use a real registered one if present
    try:
        reg.get_benchmark("nb201-cifar10")
    except data.DataNotFound as exc:
        pytest.skip(f"nb201-cifar10 unavailable: {exc}")
    suite = load_suite(_suite_file(
        tmp_path, 'benchmarks=["nb201-cifar10"]\nstrategies=["random-search"]\nseeds=2\nbudget=15\n'))
    run_suite(suite, tmp_path / "a", progress=False)
    run_suite(suite, tmp_path / "b", executor="process", workers=2, progress=False)
    for s in suite.trials():
        ra = json.loads(trial_path(tmp_path / "a", s).read_text())
        rb = json.loads(trial_path(tmp_path / "b", s).read_text())
        assert ra["arch"] == rb["arch"] and ra["observed"] == rb["observed"]

"""Time budgets with asynchronous simulated workers: the event simulation and its accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.analysis.metrics import art
from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec
from experiments.harness.timed import time_budget_of, time_to_target
from nasbench.benchmark import Benchmark
from nasbench.synthetic import synthetic_benchmark


@pytest.fixture(scope="module")
def costly() -> Benchmark:
    """256 architectures with training costs 1..10 (integers, so event times are exact)."""
    b = synthetic_benchmark(positions=4, choices=4, repeats=1, seed=0, name="synthetic")
    cost = 1.0 + (np.arange(b.space.n) * 7919 % 10)
    return Benchmark(b.name, b.space, b.metric, b.values, cost, b.truth)


def test_one_worker_is_the_sequential_loop_in_time_units(costly):
    seq = run_trial(TrialSpec("synthetic", "random-search", 0, 40), costly)
    T = float(np.cumsum(seq["cost"])[29]) - 0.5  # 29 evaluations fit; the 30th runs past the budget
    rec = run_trial(TrialSpec("synthetic", "random-search", 0, 256, time_budget=T, workers_sim=1), costly)
    assert rec["arch"] == seq["arch"][:29]
    assert np.allclose(rec["finish"], np.cumsum(seq["cost"])[:29])
    assert np.allclose(rec["start"][1:], rec["finish"][:-1]) and set(rec["worker"]) == {0}
    assert [c["arch"] for c in rec["cut"]] == [seq["arch"][29]]  # started before T, finishes after: cut
    assert rec["cut"][0]["start"] == rec["finish"][-1]


def test_parallel_workers_overlap_and_never_evaluate_twice(costly):
    spec = TrialSpec("synthetic", "regularized-evolution", 1, 256, time_budget=60.0, workers_sim=8)
    rec = run_trial(spec, costly)
    start, finish, arch = np.array(rec["start"]), np.array(rec["finish"]), rec["arch"]
    assert len(set(arch)) == len(arch) and finish.max() <= 60.0 and np.all(np.diff(finish) >= 0)
    assert np.allclose(finish - start, costly.cost[arch])
    # at every start at most 8 evaluations run at once, and every worker is busy at time 0
    for t in start:
        assert ((start <= t) & (finish > t)).sum() + sum(c["start"] <= t for c in rec["cut"]) <= 8
    at_zero = [w for w, s in zip(rec["worker"], start) if s == 0] + [c["worker"] for c in rec["cut"] if c["start"] == 0]
    assert sorted(at_zero) == list(range(8))  # all eight start at once
    assert all(c["arch"] not in arch for c in rec["cut"])  # cut ones never reach the metrics
    assert len(arch) > 60 / 10 * 8 * 0.5  # eight workers do several times what one could
    again = run_trial(spec, costly)
    assert {k: v for k, v in again.items() if k != "wall_time"} == {k: v for k, v in rec.items() if k != "wall_time"}


@pytest.mark.parametrize("strategy", ["optuna-tpe", "bayesian-optimization", "lanas", "predictor-subsets:test"])
def test_model_based_strategies_run_asynchronously(costly, strategy):
    pytest.importorskip("optuna")
    rec = run_trial(TrialSpec("synthetic", strategy, 2, 256, time_budget=40.0, workers_sim=4), costly)
    assert len(rec["arch"]) == len(set(rec["arch"])) > 8
    assert rec["diagnostics"]["sim_random_fallbacks"] <= 2


def test_bo_treats_pending_architectures_with_a_constant_liar(costly):
    import jax

    from experiments.harness.spec import make_strategy
    from nasbench.benchmark import Status

    bo = make_strategy(TrialSpec("synthetic", "bayesian-optimization", 0, 50), costly)
    st = bo.init(jax.random.key(0))
    idx = np.arange(12)
    st = bo.tell(st, idx, costly.truth.truth[idx], np.full(12, Status.NEW))
    st = bo.set_pending(st, np.array([20, 21]))
    assert 20 not in bo._unseen(st) and 21 not in bo._unseen(st)
    st, pick = bo.ask(st, 10)
    assert not set(pick.tolist()) & {20, 21}
    st = bo.tell(st, np.array([20]), np.array([0.5]), np.array([Status.NEW]))
    assert st.pending == (21,)


def test_time_metrics_by_hand():
    assert time_to_target(np.array([3.0, 5.0, 9.0]), np.array([0.1, 0.9, 0.95]), 0.9) == 5.0
    assert time_to_target(np.array([3.0]), np.array([0.1]), 0.9) == float("inf")
    # successes at 10 and 30 s, one failure charged the 100 s budget: (10 + 30 + 100) / 2
    assert art(np.array([10.0, 30.0, np.inf]), 100.0) == 70.0  # time-aRT is COCO aRT in seconds
    b = synthetic_benchmark(positions=2, choices=2, name="t")
    assert time_budget_of(b, None, 150) == pytest.approx(150 * float(np.mean(b.cost)))
    assert time_budget_of(b, 20000.0, None) == 20000.0


def test_a_timed_suite_runs_resumes_and_reports_speedups(tmp_path, costly, register):
    import json
    import shutil

    from experiments.harness.execute import run_suite
    from experiments.harness.suite import load_suite
    from experiments.studies import reports
    from experiments.studies import time_protocol as timed

    register(costly)
    p = tmp_path / "t.toml"
    p.write_text('benchmarks = ["synthetic"]\nstrategies = ["random-search", "regularized-evolution"]\nseeds = 4\n'
                 'budget = 256\ntime_budget_mean_costs = 100\nworkers_sim = [1, 4]\n'
                 '[caps]\nregularized-evolution = 30\n')
    suite = load_suite(str(p))
    assert sorted({s.name for s in suite.trials()}) == ["random-search-w1", "random-search-w4",
                                                         "regularized-evolution-w1", "regularized-evolution-w4"]
    out = tmp_path / "out"
    assert run_suite(suite, out, progress=False)["ran"] == 16
    assert run_suite(suite, out, progress=False)["ran"] == 0  # timed records are complete, not short
    timed.write_report(out, figures=True)
    assert json.loads((out / "tables" / "time-art.json").read_text())  # strict JSON (inf as null)
    trials = timed.load_trials(out)
    rows = timed.analyse(trials).rows
    rs1 = next(r for r in rows if r["label"] == "random-search-w1" and r["target"] == "top-1%")
    rs4 = next(r for r in rows if r["label"] == "random-search-w4" and r["target"] == "top-1%")
    assert rs1["successes"] > 0 and rs4["successes"] > 0
    assert rs1["vs_rs"] is None and rs1["speedup"] is None  # random search is the baseline; 1 worker the fewest
    assert rs4["speedup"]["ratio"] == pytest.approx(rs1["time_art"] / rs4["time_art"])
    assert rs4["speedup"]["linear"] == 4
    assert rs4["evaluations"] > 2 * rs1["evaluations"]  # four workers evaluate more in the same time
    assert (out / "figures" / "time-to-target-synthetic.png").is_file()
    # the start cap: evolution's 30 starts end every trial before the time budget (~100 evaluations)
    for r in rows:
        if r["strategy"] == "regularized-evolution":
            assert (r["cap"], r["capped"], r["evaluations"]) == (30, 4, pytest.approx(30 - r["cut"]))
            assert r["vs_rs"]["verdict"] in timed.VERDICTS
        else:
            assert r["cap"] == 256 and r["capped"] == (4 if r["workers"] == 4 and r["evaluations"] >= 250 else 0)
    assert "| 4/4 (cap 30) |" in (out / "README.md").read_text()
    # the per-trial table holds every number: without the records the report is the same, byte for byte
    before = {f: (out / f).read_bytes() for f in ("README.md", "tables/time-art.json", "tables/time-trials.csv")}
    assert timed.read_trials_csv(out / "tables" / "time-trials.csv") == trials
    shutil.rmtree(out / "data")
    (out / "meta.json").unlink()
    reports.write_report(out)
    assert {f: (out / f).read_bytes() for f in before} == before


def test_time_to_target_is_censored_at_the_time_budget():
    """A hit within the budget is an event at its time; a trial without one (capped early or not)
    is censored at the budget h, and a hit recorded after h is not an event."""
    from experiments.studies import time_protocol as timed

    def trial(seed, t):
        return timed.TimedTrial("b", "x-w1", seed, 1, 100.0, (t, t, t), 10, 0, 10, 0.0, 1, "h")

    c = timed.censored([trial(0, 30.0), trial(1, math.inf), trial(2, 150.0)], 1)
    assert c.times.tolist() == [30.0, 100.0, 100.0] and c.events.tolist() == [True, False, False]
    assert trial(0, 1.0).capped  # 10 evaluations of a cap of 10


def test_time_verdicts():
    from experiments.analysis import survival

    assert survival.direction(0.01, 0.9, few=False) == "faster"
    assert survival.direction(0.01, 0.9, few=True) == "faster, size not estimable"
    assert survival.direction(0.9, 0.01, few=False) == "slower"
    assert survival.direction(0.9, 0.04, few=True) == "slower, size not estimable"
    assert survival.direction(0.06, 0.5, few=False) == "no difference shown"


@pytest.mark.parametrize("strategy", ["lanas", "predictor-subsets:test", "nao:test", "alphax:test"])
def test_lanas_and_bananas_never_propose_what_is_still_training(costly, strategy):
    """With set_pending, every ask of LaNAS (its distributed server drops dispatched architectures),
    of the predictor loop (a running architecture is held data), of NAO and of AlphaX avoids the
    running ones: no proposal is wasted (asks per start stay near one) and no start falls back to
    random."""
    import jax

    from experiments.harness.spec import make_strategy
    from nasbench.benchmark import Status

    rec = run_trial(TrialSpec("synthetic", strategy, 3, 256, time_budget=60.0, workers_sim=8), costly)
    starts = len(rec["arch"]) + len(rec["cut"])
    assert rec["diagnostics"]["sim_random_fallbacks"] == 0
    assert rec["n_asks"] <= 1.1 * starts + 2  # about one ask per start (batches ask fewer); without: ~3x
    s = make_strategy(TrialSpec("synthetic", strategy, 0, 256), costly)
    st = s.init(jax.random.key(0))
    first = np.arange(12)
    st = s.tell(st, first, costly.truth.truth[first], np.full(12, Status.NEW))
    running = np.arange(12, 256, 2)  # half the space is training elsewhere
    for _ in range(5):
        st = s.set_pending(st, running)
        st, pick = s.ask(st, 10)
        assert not set(np.asarray(pick).tolist()) & set(running.tolist())
        st = s.tell(st, pick, costly.truth.truth[pick], np.full(len(pick), Status.NEW))


@pytest.mark.parametrize("strategy", ["alphax:test", "nao:test"])
def test_alphax_and_nao_leave_running_architectures_to_their_workers(costly, strategy):
    """AlphaX runs new episodes (virtual visits) instead of re-asking an answer another worker
    owes; NAO leaves running architectures out of its rounds: 4 workers keep busy without random
    fallbacks, and nothing is evaluated twice."""
    rec = run_trial(TrialSpec("synthetic", strategy, 1, 256, time_budget=40.0, workers_sim=4), costly)
    assert len(rec["arch"]) == len(set(rec["arch"])) > 12
    assert rec["diagnostics"]["sim_random_fallbacks"] == 0

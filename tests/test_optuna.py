"""The Optuna adapter: budget counts unique architectures, failures and repeats are free."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec, make_strategy
from nasbench.synthetic import synthetic_benchmark

optuna = pytest.importorskip("optuna")


def _replay(strat, bench, seed: int, budget: int):
    """Run a trial's ask/tell loop by hand; returns the strategy's state (its study) and the oracle."""
    from experiments.harness.spec import trial_keys

    state = strat.init(trial_keys(seed)[0])
    oracle = bench.oracle(trial_keys(seed)[1])
    while oracle.budget_used < budget:
        state, idx = strat.ask(state, budget - oracle.budget_used)
        r = oracle.query(idx)
        state = strat.tell(state, idx, r.values, r.status)
    return state, oracle


def test_invalid_and_out_of_table_are_failed_trials_that_cost_nothing():
    bench = synthetic_benchmark(positions=3, choices=3, repeats=1, keep=0.5, seed=2, name="p")
    spec = TrialSpec("p", "optuna-random", 0, bench.n_table)
    strat = make_strategy(spec, bench)
    rec = run_trial(spec, bench)
    assert sorted(rec["arch"]) == list(range(bench.n_table))  # the whole table, each once
    state, oracle = _replay(strat, bench, 0, 5)  # the same trial, to inspect the study Optuna saw
    trials = state.study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert "FAIL" in states  # 27 genotypes, ~half out of table: some suggestions failed
    assert len({tuple(t.params.values()) for t in complete}) == 5 == oracle.budget_used


def test_repeats_return_the_cached_value_and_the_cap_prevents_endless_loops():
    bench = synthetic_benchmark(positions=2, choices=2, repeats=1, seed=3, name="tiny")
    # 4 architectures: TPE converges and repeats itself; the cap must still finish the budget
    spec = TrialSpec("tiny", "optuna-tpe", 1, 4, config={"n_startup_trials": 1, "max_repeats": 3})
    rec = run_trial(spec, bench)
    assert sorted(rec["arch"]) == [0, 1, 2, 3]
    state, oracle = _replay(make_strategy(spec, bench), bench, 1, 4)
    values = {int(i): v for i, v in zip(oracle.evaluated, oracle.observed)}
    for t in state.study.get_trials(deepcopy=False):
        if t.state.name == "COMPLETE":
            idx = int(bench.space.lookup(np.array([[t.params["x0"], t.params["x1"]]]))[0])
            assert t.value == values[idx]  # repeated suggestions were told the cached value


def test_seed_maps_to_sampler_seed():
    bench = synthetic_benchmark(positions=3, choices=3, seed=4, name="s")
    a = run_trial(TrialSpec("s", "optuna-tpe", 11, 12), bench)["arch"]
    b = run_trial(TrialSpec("s", "optuna-tpe", 11, 12), bench)["arch"]
    c = run_trial(TrialSpec("s", "optuna-tpe", 12, 12), bench)["arch"]
    assert a == b and a != c


def test_a_miss_is_projected_to_the_nearest_unevaluated_architecture_in_the_table():
    bench = synthetic_benchmark(positions=4, choices=3, repeats=1, keep=0.3, seed=5, name="sparse")
    spec = TrialSpec("sparse", "optuna-tpe", 2, 15, config={"n_startup_trials": 3})
    state, oracle = _replay(make_strategy(spec, bench), bench, 2, 15)
    genotypes = bench.space.genotypes
    trials = state.study.get_trials(deepcopy=False)
    seen: set[int] = set()
    n_fail = 0
    for t, nxt in zip(trials, trials[1:] + [None]):
        g = np.array([t.params[f"x{p}"] for p in range(4)])
        if t.state.name == "FAIL":
            n_fail += 1
            assert nxt is not None and nxt.state.name == "COMPLETE"
            h = np.array([nxt.params[f"x{p}"] for p in range(4)])
            unseen = [i for i in range(bench.n_table) if i not in seen]
            best = min(int((genotypes[i] != g).sum()) for i in unseen)
            assert int((h != g).sum()) == best  # the projection is a nearest unevaluated one
        elif t.state.name == "COMPLETE":
            seen.add(int(bench.space.lookup(g[None])[0]))
    assert n_fail > 0  # 70% of the 81 genotypes are missing from the table: TPE must have missed
    assert len(seen) == 15 == oracle.budget_used
    rec = run_trial(spec, bench)
    assert rec["diagnostics"]["projected_misses"] == n_fail  # every miss is counted in the record


def test_default_sampler_is_optunas_own_default():
    """`optuna-tpe` must be exactly `TPESampler(seed=s)`: every argument at Optuna's default."""
    import inspect

    from experiments.harness.spec import trial_keys
    from strategies.optuna_samplers import sampler_settings

    bench = synthetic_benchmark(positions=3, choices=3, seed=4, name="s")
    strat = make_strategy(TrialSpec("s", "optuna-tpe", 0, 5), bench)
    state = strat.init(trial_keys(0)[0])
    ours = state.study.sampler
    ref = optuna.samplers.TPESampler(seed=123)
    ref_study = optuna.create_study(direction="maximize", sampler=ref)
    for name in inspect.signature(optuna.samplers.TPESampler.__init__).parameters:
        if name in ("self", "seed") or not hasattr(ref, f"_{name}"):
            continue
        assert getattr(ours, f"_{name}") == getattr(ref, f"_{name}"), name
    assert ours._parzen_estimator_parameters == ref._parzen_estimator_parameters
    assert sampler_settings(ours, state.study) == sampler_settings(ref, ref_study)
    assert sampler_settings(ours, state.study)["multivariate"] is True  # Optuna >= 4, one objective


def test_univariate_preset_and_recorded_settings():
    bench = synthetic_benchmark(positions=3, choices=3, seed=4, name="s")
    rec = run_trial(TrialSpec("s", "optuna-tpe:univariate", 0, 12), bench)
    assert rec["settings"]["multivariate"] is False
    assert rec["settings"]["optuna"] == optuna.__version__
    assert rec["settings"]["n_startup_trials"] == 10 and rec["settings"]["constant_liar"] is True
    assert rec["strategy_version"] == 2
    d = rec["diagnostics"]
    assert d["optuna_trials"] == 12 + d["projected_misses"] + d["repeat_suggestions"]  # every ask is a trial

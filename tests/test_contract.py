"""The contract every registered strategy must pass (a new strategy is checked here automatically).

Each test runs the strategy through the ask/tell runner on small synthetic benchmarks whose
answers are known, and checks the protocol, not the strategy's quality.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec, make_strategy, trial_keys
from nasbench.benchmark import Benchmark
from nasbench.space import INVALID
from nasbench.synthetic import synthetic_benchmark
from strategies.base import JaxStrategy
from strategies.registry import available_strategies, strategy_class

STRATEGIES = available_strategies()
BUDGET = 24


def _spec(name: str, bench: Benchmark, seed: int = 0, budget: int = BUDGET) -> TrialSpec:
    cls = strategy_class(name)
    preset = "test" if "test" in cls.presets else ""
    return TrialSpec(bench.name, f"{name}:{preset}" if preset else name, seed, budget)


@pytest.fixture(scope="module")
def bench():
    return synthetic_benchmark(positions=4, choices=4, repeats=3, seed=0)


@pytest.fixture(scope="module")
def partial():
    return synthetic_benchmark(positions=4, choices=4, repeats=1, keep=0.4, seed=1, name="synthetic-partial")


@pytest.mark.parametrize("name", STRATEGIES)
def test_registered_with_metadata(name):
    cls = strategy_class(name)
    assert cls.name == name and cls.paper and cls.summary


@pytest.mark.parametrize("name", STRATEGIES)
def test_spends_exactly_the_budget_on_unique_architectures(name, bench):
    rec = run_trial(_spec(name, bench), bench)
    assert len(rec["arch"]) == BUDGET
    assert len(set(rec["arch"])) == BUDGET
    assert all(0 <= a < bench.n_space for a in rec["arch"])
    # what was recorded is what the oracle answered for those architectures
    np.testing.assert_allclose(rec["truth"], bench.truth.truth[rec["arch"]])


@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_for_a_seed(name, bench):
    a = run_trial(_spec(name, bench, seed=3), bench)
    b = run_trial(_spec(name, bench, seed=3), bench)
    c = run_trial(_spec(name, bench, seed=4), bench)
    assert a["arch"] == b["arch"] and a["observed"] == b["observed"]
    assert a["arch"] != c["arch"]


@pytest.mark.parametrize("name", STRATEGIES)
def test_never_asks_for_an_invalid_architecture(name, partial, monkeypatch):
    asked: list[np.ndarray] = []
    cls = strategy_class(name)
    orig = cls.ask

    def spy_ask(self, state, budget_left):
        state, idx = orig(self, state, budget_left)
        asked.append(np.asarray(idx).reshape(-1))
        return state, idx

    monkeypatch.setattr(cls, "ask", spy_ask)
    rec = run_trial(_spec(name, partial), partial)
    allidx = np.concatenate(asked)
    assert (allidx != INVALID).all() and (allidx < partial.n_space).all() and (allidx >= -1).all()
    assert len(set(rec["arch"])) == BUDGET  # handles out-of-table answers and still spends the budget


@pytest.mark.parametrize("name", STRATEGIES)
def test_never_sees_more_than_it_queried(name, bench):
    """Change the table everywhere the strategy did not look: its trajectory must not change."""
    rec = run_trial(_spec(name, bench, seed=5), bench)
    seen = np.zeros(bench.n_space, bool)
    seen[rec["arch"]] = True
    rng = np.random.default_rng(0)
    values = bench.values.copy()
    values[~seen] = rng.permutation(values[~seen].ravel()).reshape(values[~seen].shape) + 0.01
    truth = bench.truth.truth.copy()
    truth[~seen] += 0.01
    from nasbench.benchmark import GroundTruth

    other = Benchmark(bench.name, bench.space, bench.metric, values, bench.cost, GroundTruth(truth, "t"), bench.noise)
    rec2 = run_trial(_spec(name, other, seed=5), other)
    assert rec2["arch"] == rec["arch"]


@pytest.mark.parametrize("name", STRATEGIES)
def test_survives_a_budget_of_one(name, bench):
    rec = run_trial(_spec(name, bench, budget=1), bench)
    assert len(rec["arch"]) == 1 and 0 <= rec["arch"][0] < bench.space.n
    assert rec["truth"] == [float(bench.truth.truth[rec["arch"][0]])]


@pytest.mark.parametrize("name", STRATEGIES)
def test_state_lives_outside_the_strategy_object(name, bench):
    """Two trials interleaved on one strategy object give the same results as run separately."""
    spec = _spec(name, bench, seed=7, budget=6)
    alone = run_trial(spec, bench)["arch"]
    strat = make_strategy(spec, bench)
    k1, _ = trial_keys(7)
    k2, _ = trial_keys(8)
    init = (lambda k: strat.init(k, budget=6)) if isinstance(strat, JaxStrategy) else strat.init
    s1, s2 = init(k1), init(k2)
    oracle = bench.oracle(trial_keys(7)[1])
    oracle2 = bench.oracle(trial_keys(8)[1])
    while oracle.budget_used < 6:
        s1, idx = strat.ask(s1, 6 - oracle.budget_used)
        idx = np.asarray(idx).reshape(-1)
        ch = oracle.charges(idx)
        if ch.sum() > 6 - oracle.budget_used:
            idx = idx[: int(np.searchsorted(np.cumsum(ch), 6 - oracle.budget_used)) + 1]
        r = oracle.query(idx)
        s1 = strat.tell(s1, idx, r.values, r.status)
        if oracle2.budget_used < 6:  # interleave a second trial on the same object
            s2, j = strat.ask(s2, 6 - oracle2.budget_used)
            j = np.asarray(j).reshape(-1)[:1]
            r2 = oracle2.query(j)
            s2 = strat.tell(s2, j, r2.values, r2.status)
    assert oracle.evaluated == alone


@pytest.fixture(scope="module")
def costly(bench):
    """``bench`` with training costs 1..5, so asynchronous workers finish out of order."""
    cost = 1.0 + (np.arange(bench.space.n) % 5)
    return Benchmark(bench.name, bench.space, bench.metric, bench.values, cost, bench.truth)


@pytest.mark.parametrize("name", STRATEGIES)
def test_runs_with_asynchronous_workers(name, costly):
    """Four simulated workers: the strategy is told what is pending and asked while others train.
    Nothing is evaluated twice, the same seed gives the same simulation, and the strategy keeps
    its workers busy with its own proposals (at most a quarter of the starts fall back to random
    because it kept proposing running architectures)."""
    spec = _spec(name, costly, seed=3, budget=24)
    timed = TrialSpec(spec.benchmark, spec.strategy, 3, 24, time_budget=12.0, workers_sim=4)
    rec = run_trial(timed, costly)
    starts = len(rec["arch"]) + len(rec["cut"])
    assert len(rec["arch"]) == len(set(rec["arch"])) and starts <= 24
    assert all(0 <= i < costly.space.n for i in rec["arch"])
    assert rec["diagnostics"]["sim_random_fallbacks"] <= starts / 4
    again = run_trial(timed, costly)
    assert (again["arch"], again["finish"], again["worker"]) == (rec["arch"], rec["finish"], rec["worker"])


def _interleaved(name: str, bench: Benchmark, seeds: tuple[int, int]) -> list[tuple[list[int], list[float]]]:
    """Two trials of ONE strategy object, their asks and tells alternating (A, B, A, B, ...)."""
    specs = [_spec(name, bench, seed=s) for s in seeds]
    strategy = make_strategy(specs[0], bench)
    attrs = {k: id(v) for k, v in vars(strategy).items()}
    trials = []
    for s in specs:
        k_strategy, k_noise = trial_keys(s.seed)
        state = strategy.init(k_strategy, budget=s.budget) if isinstance(strategy, JaxStrategy) else strategy.init(k_strategy)
        trials.append([state, bench.oracle(k_noise)])
    while any(o.budget_used < BUDGET for _, o in trials):
        for t in trials:
            state, oracle = t
            if oracle.budget_used >= BUDGET:
                continue
            left = BUDGET - oracle.budget_used
            state, idx = strategy.ask(state, left)
            idx = np.asarray(idx, dtype=np.int64).reshape(-1)
            charges = oracle.charges(idx)
            if charges.sum() > left:
                idx = idx[: int(np.searchsorted(np.cumsum(charges), left, side="left")) + 1]
            res = oracle.query(idx)
            t[0] = strategy.tell(state, idx, res.values, res.status)
    assert {k: id(v) for k, v in vars(strategy).items()} == attrs, "the strategy object's attributes changed in a trial"
    return [(list(map(int, o.evaluated)), list(map(float, o.observed))) for _, o in trials]


@pytest.mark.parametrize("name", STRATEGIES)
def test_interleaved_trials_of_one_object_are_the_trials_run_alone(name, bench):
    """Nothing per-trial lives on the strategy object (issue 42): two trials run interleaved on one
    object give the records each gives alone, and the object's attributes are the same objects after."""
    together = _interleaved(name, bench, (0, 1))
    for seed, (arch, observed) in zip((0, 1), together):
        alone = run_trial(_spec(name, bench, seed=seed), bench)
        assert arch == alone["arch"] and observed == alone["observed"], f"{name}: seed {seed} differs when interleaved"

"""predictor-subsets: candidate sets have the right sizes and members, and the search learns."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec
from nasbench.benchmark import Status
from nasbench.space import INVALID, OUT_OF_TABLE
from nasbench.synthetic import synthetic_benchmark
from strategies.base import ConfigError
from strategies.models.predictors import fit_predictor, predict_predictor
from strategies.predictor_subsets import (
    PredictorSubsets,
    PredictorSubsetsConfig,
    bananas_candidates,
    mutate_genotypes,
    mutation_candidates,
    random_candidates,
    ridge_scores,
    subset_size,
)

TINY = {"members": 2, "hidden": (8, 8), "epochs": 5}  # the contract preset's predictor: shared compiles


@pytest.fixture(scope="module")
def bench():
    """4**5 = 1024 architectures, additive truth (the optimum is the per-position argmax)."""
    return synthetic_benchmark(positions=5, choices=4, repeats=1, noise_sd=0.0, seed=2)


def _state_after(strategy: PredictorSubsets, bench, evaluated: np.ndarray):
    state = strategy.init(jax.random.key(0))
    vals = bench.truth.truth[evaluated]
    return strategy.tell(state, evaluated, vals, np.full(len(evaluated), Status.NEW))


def test_subset_size_counts_and_fractions():
    assert subset_size(100, 15625) == 100
    assert subset_size(0.05, 15625) == 781
    assert subset_size(1.0, 30001) == 30001
    assert subset_size(1e-9, 10) == 1


def test_config_is_checked():
    with pytest.raises(ConfigError, match="candidates"):
        PredictorSubsetsConfig(candidates="everything")
    with pytest.raises(ConfigError, match="fraction"):
        PredictorSubsetsConfig(subset=1.5)
    with pytest.raises(ConfigError, match="count"):
        PredictorSubsetsConfig(subset=0)
    assert PredictorSubsetsConfig(hidden=[4, 4]).hidden == (4, 4)  # TOML lists become tuples
    spec = PredictorSubsetsConfig(predictor="gnn").predictor_spec()
    assert spec.hidden == (64, 64, 64) and spec.lr == 1e-3
    spec = PredictorSubsetsConfig().predictor_spec()  # BANANAS' meta neural network
    assert spec.hidden == (20,) * 10 and spec.lr == 0.01 and spec.epochs == 200 and spec.loss == "mae"


def test_random_candidates_are_distinct_and_unseen():
    rng = np.random.default_rng(0)
    seen = np.zeros(50, bool)
    seen[::3] = True
    c = random_candidates(rng, seen, 20)
    assert c.size == 20 and np.unique(c).size == 20 and not seen[c].any()
    assert np.array_equal(np.sort(random_candidates(rng, seen, 1000)), np.flatnonzero(~seen))


def test_mutation_candidates_grow_a_ball_around_the_best():
    # a ring of 10: i's neighbours are i-1 and i+1, plus padding and an out-of-table code
    n = 10
    nb = np.stack([(np.arange(n) - 1) % n, (np.arange(n) + 1) % n,
                   np.full(n, INVALID), np.full(n, OUT_OF_TABLE)], axis=1)
    seen = np.zeros(n, bool)
    seen[[0, 5]] = True
    rng = np.random.default_rng(0)
    assert set(mutation_candidates(rng, nb, seen, np.array([0, 5]), 2)) == {1, 9}  # the best parent first
    assert set(mutation_candidates(rng, nb, seen, np.array([0, 5]), 4)) == {1, 9, 4, 6}
    # two hops: neighbours of what was collected
    # two hops: neighbours of the collected set, in the order it was collected (1, 9 before 4, 6)
    assert set(mutation_candidates(rng, nb, seen, np.array([0, 5]), 6)) == {1, 9, 4, 6, 2, 8}
    assert set(mutation_candidates(rng, nb, seen, np.array([0]), 4, fill=False)) == {1, 9, 2, 8}
    everything = mutation_candidates(rng, nb, seen, np.array([0]), 100, fill=False)
    assert np.array_equal(np.sort(everything), np.flatnonzero(~seen))
    # an isolated parent: filled at random to the requested size, still unseen and distinct
    iso = np.full((n, 2), OUT_OF_TABLE)
    filled = mutation_candidates(rng, iso, seen, np.array([0]), 5)
    assert filled.size == 5 and np.unique(filled).size == 5 and not seen[filled].any()


def test_ridge_recovers_a_linear_function():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 7.0
    xt = rng.normal(size=(10, 5))
    np.testing.assert_allclose(ridge_scores(x, y, xt, 1e-9), xt @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 7.0,
                               rtol=1e-6)


@pytest.mark.parametrize("kind", ["full", "random", "mutation", "evolution", "bananas-evolution", "prefilter"])
def test_candidate_sets_have_the_right_size_and_are_unevaluated(kind, bench):
    strat = PredictorSubsets(bench.space, {**TINY, "candidates": kind, "subset": 0.1})
    evaluated = np.random.default_rng(1).choice(bench.space.n, 24, replace=False)
    state = _state_after(strat, bench, evaluated)
    params = fit_predictor(jax.random.key(0), strat.spec, strat.inputs, state.arch, state.values)
    cand, preds = strat.candidates(np.random.default_rng(0), state, params)
    m = subset_size(0.1, bench.space.n)  # 102
    pool = m // (strat.config.generations + 1)
    expected = {"full": bench.space.n - 24, "evolution": pool, "bananas-evolution": pool}.get(kind, m)
    assert cand.size == expected
    assert np.unique(cand).size == cand.size
    assert not np.isin(cand, evaluated).any() and (cand >= 0).all() and (cand < bench.space.n).all()
    assert preds.shape == (2, cand.size)
    if kind == "mutation":  # 102 candidates: the whole 1-hop ball of the best (15 neighbours) is in
        best = evaluated[np.argmax(bench.truth.truth[evaluated])]
        nb = bench.space.neighbors[best]
        assert set(nb[(nb >= 0) & ~np.isin(nb, evaluated)]) <= set(cand)
    if kind == "prefilter":  # the first stage keeps the top tenth of a random pool of 1020 by a linear fit
        assert np.mean(bench.truth.truth[cand]) > np.quantile(bench.truth.truth, 0.7)


def test_evolution_pool_improves_on_its_start(bench):
    """The evolved pool's predicted scores beat the pool it started from (selection works)."""
    strat = PredictorSubsets(bench.space, {**TINY, "candidates": "evolution", "subset": 200, "generations": 3})
    evaluated = np.random.default_rng(2).choice(bench.space.n, 24, replace=False)
    state = _state_after(strat, bench, evaluated)
    params = fit_predictor(jax.random.key(0), strat.spec, strat.inputs, state.arch, state.values)
    start = mutation_candidates(np.random.default_rng(0), strat.neighbors, state.seen, strat._ranked(state), 50)
    pool, preds = strat.candidates(np.random.default_rng(0), state, params)
    assert pool.size == 50
    start_mean = np.asarray(predict_predictor(strat.spec, params, strat.inputs, start)).mean(0)
    assert preds.mean(0).mean() >= start_mean.mean()
    np.testing.assert_allclose(preds, np.asarray(predict_predictor(strat.spec, params, strat.inputs, pool)),
                               rtol=1e-5, atol=1e-6)


def test_tell_skips_out_of_table_answers(bench):
    strat = PredictorSubsets(bench.space, TINY)
    state = strat.init(jax.random.key(0))
    state = strat.tell(state, np.array([3, 4, 3, 7]), np.array([0.5, np.nan, 0.5, 0.9]),
                       np.array([Status.NEW, Status.OUT_OF_TABLE, Status.CACHED, Status.NEW]))
    assert state.arch.tolist() == [3, 7] and state.values.tolist() == [0.5, 0.9]
    assert state.seen[[3, 4, 7]].all() and state.seen.sum() == 3
    state = strat.tell(state, np.array([3]), np.array([0.5]), np.array([Status.CACHED]))
    assert state.arch.tolist() == [3, 7]  # a cached repeat is not a new sample


def test_first_asks_are_the_random_initial_design(bench):
    strat = PredictorSubsets(bench.space, {**TINY, "initial": 7, "batch": 5})
    state, idx = strat.ask(strat.init(jax.random.key(0)), budget_left=100)
    assert idx.size == 7 and np.unique(idx).size == 7
    state, idx = strat.ask(strat.init(jax.random.key(0)), budget_left=3)
    assert idx.size == 3  # never more than the budget left


def test_full_space_search_beats_random_search_on_an_additive_space(bench):
    """The optimum of 1,024 is found within 60 samples in every seed; random search needs 512.5
    in expectation and finds it within 60 with probability 60/1024."""
    opt = int(np.argmax(bench.truth.truth))
    for seed in range(3):
        rec = run_trial(TrialSpec(bench.name, "predictor-subsets", seed, 60,
                                  config={**TINY, "epochs": 60, "candidates": "full", "acquisition": "mean"}),
                        bench)
        assert opt in rec["arch"], f"seed {seed}: optimum not found in 60 samples"


def _fake_results(root, hits_by_label: dict[str, tuple[dict, list[int]]], n: int = 99, budget: int = 20,
                  offered: dict[str, list[int]] | None = None):
    """A results folder as the runner writes it: one benchmark of ``n`` architectures whose
    optimum (score 1.0, K = 1) each trial hits at the given step (0 = never); ``offered`` gives a
    label's per-seed ``offered_optimum`` diagnostics."""
    import json

    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "toy.json").write_text(json.dumps({
        "name": "toy", "n": n, "optimum": 1.0,
        "targets": {"optimum": {"threshold": 1.0, "K": 1}, "top-0.1%": {"threshold": 1.0, "K": 1}},
    }))
    for label, (config, hits) in hits_by_label.items():
        folder = root / "data" / "toy" / label
        folder.mkdir(parents=True)
        for seed, h in enumerate(hits):
            truth = [0.5] * budget
            if h:
                truth[h - 1] = 1.0
            diag = {"rounds": 2.0, "candidates_scored": 2.0 * config.get("subset", n)}
            if offered and label in offered:
                diag["offered_optimum"] = float(offered[label][seed])
            folder.joinpath(f"seed-{seed:04d}.json").write_text(json.dumps({
                "benchmark": "toy", "strategy": label, "strategy_spec": "predictor-subsets", "config": config,
                "seed": seed, "budget": budget, "arch": list(range(budget)), "observed": truth, "truth": truth,
                "cost": [1.0] * budget, "wall_time": 2.0 + seed, "diagnostics": diag,
                "fingerprint": {"strategy_version": 1, "config": config},
            }))


def test_subsets_report_rows_files_and_regeneration_from_its_trials_table(tmp_path):
    import shutil

    from experiments.studies import reports, subsets

    _fake_results(tmp_path, {
        "full": ({"candidates": "full"}, [5, 15]),  # aRT at h = 20: (5 + 15) / 2 = 10
        "random-10pct": ({"candidates": "random", "subset": 0.1}, [0, 10]),  # (20 + 10) / 1 = 30
        "mutation-20": ({"candidates": "mutation", "subset": 20}, [0, 0]),  # no success: aRT infinite
    }, offered={"random-10pct": [0, 1]})
    subsets.write_report(tmp_path)
    trials = subsets.load_trials(tmp_path)
    a = subsets.analyse(trials, subsets.benchmark_summaries(tmp_path, ["toy"]))
    rows = {(r["label"], r["target"]): r for r in a.rows}
    full, rnd, mut = rows["full", "optimum"], rows["random-10pct", "optimum"], rows["mutation-20", "optimum"]
    assert (full["kind"], full["m_fraction"], full["art"], full["horizon"]) == ("full", 1.0, 10.0, 20)
    assert (rnd["kind"], rnd["m_count"], rnd["art"]) == ("random", 10, 30.0)
    assert rnd["vs_full"]["ratio"] == pytest.approx(10 / 30)  # aRT(full) / aRT(random)
    assert rnd["mkn"] == pytest.approx(10 / 99) and rnd["m_scored"] == pytest.approx(0.1)  # 0.2 scored over 2 rounds
    assert (rnd["offered"], rnd["found_offered"]) == (1, 1) and full["offered"] is None  # full: no diagnostics
    assert (mut["kind"], mut["m_fraction"], mut["art"], mut["successes"]) == ("mutation", pytest.approx(20 / 99), math.inf, 0)
    assert mut["vs_full"]["ratio"] == 0.0 and mut["ni_low"] is None  # no success: not estimable
    assert full["sec_per_trial"] == 2.5 and full["acquisition"] == "thompson" and full["cpu_s"] == 5.0
    names = {p.name for p in (tmp_path / "tables").iterdir()} | {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"subsets.pdf", "subsets.png", "subsets.csv", "subsets-verdicts.md", "subsets-trials.csv"} <= names
    text = (tmp_path / "README.md").read_text()
    assert "## Verdicts" in text and "| 2 | toy | optimum | thompson | **" in text
    assert "6 trials, 0.0 CPU hours" in text
    # the per-trial table holds every number: without the records the page is the same, byte for byte
    files = ("README.md", "tables/subsets.csv", "tables/subsets-verdicts.md", "tables/subsets-trials.csv")
    before = {f: (tmp_path / f).read_bytes() for f in files}
    assert subsets.read_trials_csv(tmp_path / "tables" / "subsets-trials.csv") == trials
    shutil.rmtree(tmp_path / "data")
    reports.write_report(tmp_path)
    assert {f: (tmp_path / f).read_bytes() for f in files} == before


def test_subsets_comparisons_are_logrank_on_censored_samples_with_holm(tmp_path):
    """Samples to the optimum per seed, censored at the budget (20): the p-values are scipy's
    one-sided log-rank tests on CensoredData, Holm-adjusted over every test of the page."""
    from scipy import stats as sps

    from experiments.analysis import survival
    from experiments.studies import subsets

    full = [2, 3, 4, 5, 6, 7, 8, 9]
    slow = [12, 14, 0, 0, 19, 0, 17, 0]  # later on every seed
    close = [3, 2, 5, 4, 7, 6, 9, 8]  # no difference
    _fake_results(tmp_path, {
        "full": ({"candidates": "full"}, full),
        "random-1": ({"candidates": "random", "subset": 1}, slow),
        "random-50": ({"candidates": "random", "subset": 50}, close),
    })
    trials = subsets.load_trials(tmp_path)
    a = subsets.analyse(trials, subsets.benchmark_summaries(tmp_path, ["toy"]))
    rows = {r["label"]: r for r in a.rows if r["target"] == "optimum"}

    def data(hits):
        return sps.CensoredData(uncensored=[h for h in hits if h], right=[20] * hits.count(0))

    p = {name: (sps.logrank(data(x), data(full), alternative="greater").pvalue,
                sps.logrank(data(x), data(full), alternative="less").pvalue) for name, x in (("random-1", slow), ("random-50", close))}
    assert rows["random-1"]["vs_full"]["p_later"] == pytest.approx(p["random-1"][1], rel=1e-5)
    assert rows["random-50"]["vs_full"]["p_sooner"] == pytest.approx(p["random-50"][0], rel=1e-5)
    assert rows["random-1"]["vs_full"]["p_later"] < 0.01 and rows["full"]["vs_full"] is None
    # the family: both one-sided tests of both comparisons, on both targets of the toy benchmark
    assert a.family == 8
    raw = [r["vs_full"][k] for t in ("optimum", "top-0.1%") for r in a.rows
           if r["target"] == t and r["vs_full"] for k in ("p_sooner", "p_later")]
    assert sorted(survival.holm(raw)) == pytest.approx(sorted(
        r["vs_full"][k + "_holm"] for r in a.rows if r["vs_full"] for k in ("p_sooner", "p_later")), rel=1e-5)


def _row(kind, frac, hits, later=1.0, sooner=1.0, ni=None, vs_random_sooner=None, offered=None,
         bench="b", target="optimum", acq="thompson"):
    cmp = None if kind == "full" else {"ratio": 1.0, "p_later_holm": later, "p_sooner_holm": sooner}
    vr = None if vs_random_sooner is None else {"ratio": 2.0, "p_sooner_holm": vs_random_sooner, "p_later_holm": 1.0}
    return {"benchmark": bench, "target": target, "acquisition": acq, "kind": kind, "label": f"{kind}-{frac}",
            "m_fraction": frac, "successes": hits, "trials": 30, "offered": offered, "vs_full": cmp,
            "vs_random": vr, "ni_low": ni}


def test_subset_verdicts_follow_their_rules():
    from experiments.studies.subsets import verdicts

    def v(rows):
        return {(x["claim"], x["benchmark"]): x["verdict"] for x in verdicts(rows)}

    # b1: random loses only where 4 of 30 trials were offered a target; a smart subset there is
    # non-inferior and faster than random: claim 2 holds trivially, claim 3 holds
    b1 = [_row("full", 1.0, 28, bench="b1"),
          _row("random", 0.01, 10, later=0.001, offered=4, bench="b1"),
          _row("random", 0.1, 27, later=0.6, offered=30, bench="b1"),
          _row("bananas", 0.01, 27, ni=0.9, vs_random_sooner=0.002, bench="b1")]
    # b2: a loss where most trials were offered one; the smart subset there is faster than random
    # but not shown non-inferior (bound 0.5 < 0.8): claim 3 not shown
    b2 = [_row("full", 1.0, 28, bench="b2"),
          _row("random", 0.1, 12, later=0.01, offered=25, bench="b2"),
          _row("prefilter", 0.1, 14, ni=0.5, vs_random_sooner=0.01, bench="b2")]
    # b3: random subsets beat the full space (reversed); nothing to regain
    b3 = [_row("full", 1.0, 10, bench="b3"), _row("random", 0.01, 25, sooner=0.003, bench="b3")]
    # b4: too few hits anywhere
    b4 = [_row("full", 1.0, 2, bench="b4"), _row("random", 0.01, 1, later=0.9, bench="b4")]
    # b5: p = 0.06 after adjustment is no loss; b6: a loss where no smart subset ran
    b5 = [_row("full", 1.0, 20, bench="b5"), _row("random", 0.01, 18, later=0.06, bench="b5")]
    b6 = [_row("full", 1.0, 20, bench="b6"), _row("random", 0.01, 3, later=0.001, bench="b6"),
          _row("bananas", 0.1, 20, ni=1.0, vs_random_sooner=0.001, bench="b6")]
    got = v(b1 + b2 + b3 + b4 + b5 + b6)
    assert got == {
        (2, "b1"): "holds trivially", (3, "b1"): "holds",
        (2, "b2"): "holds", (3, "b2"): "not shown",
        (2, "b3"): "reversed", (3, "b3"): "nothing to regain",
        (2, "b4"): "not estimable", (3, "b4"): "nothing to regain",
        (2, "b5"): "not shown", (3, "b5"): "nothing to regain",
        (2, "b6"): "holds", (3, "b6"): "not run",
    }
    reasons = {(x["claim"], x["benchmark"]): x["reason"] for x in verdicts(b2)}
    assert "non-inferiority not shown (bound 0.5)" in reasons[3, "b2"]


def test_bananas_mutation_changes_each_group_once_on_average():
    """BANANAS' Cell.mutate at rate 1: edge bits flip w.p. 1/21, ops change w.p. 1/5 to another op."""
    rng = np.random.default_rng(0)
    parent = np.zeros(26, np.int64)
    card = np.array([2] * 21 + [3] * 5)
    kids = mutate_genotypes(rng, parent, card, [np.arange(21), np.arange(21, 26)], 200_000)
    changed = kids != parent
    sd = np.sqrt(1 / 21 * (20 / 21) / 200_000)
    assert np.all(np.abs(changed[:, :21].mean(0) - 1 / 21) < 5 * sd)
    assert np.all(np.abs(changed[:, 21:].mean(0) - 1 / 5) < 5 * np.sqrt(0.16 / 200_000))
    ops = kids[:, 21:][changed[:, 21:]]
    assert set(np.unique(ops)) == {1, 2} and abs((ops == 1).mean() - 0.5) < 0.01  # another op, uniformly


def test_bananas_candidates_mutate_the_best_first_and_stay_in_the_table():
    full = synthetic_benchmark(positions=5, choices=4, repeats=1, seed=2)
    seen = np.zeros(full.space.n, bool)
    seen[[0, 5, 9]] = True
    groups = [np.arange(5)]
    cand, counts = bananas_candidates(np.random.default_rng(1), full.space, seen, np.array([0, 5]), 20, 100, 100, groups)
    assert cand.size == len(set(cand.tolist())) >= 20 and not seen[cand].any()
    assert counts["candidates_projected"] == 0 and counts["mutation_redraws"] == 0  # a full table
    assert counts["candidates_mutated"] == cand.size
    # 100 mutations of the best parent already give >= 20: the second parent is never used
    only_best, _ = bananas_candidates(np.random.default_rng(1), full.space, seen, np.array([0]), 20, 100, 100, groups)
    assert np.array_equal(cand, only_best)
    g0 = full.space.genotypes[0]
    dist = (full.space.genotypes[cand] != g0).sum(1)
    assert dist.min() >= 1 and np.mean(dist) < 2.5  # about one change per mutation (zero-change ones are dropped)

    sparse = synthetic_benchmark(positions=5, choices=4, repeats=1, keep=0.05, seed=2, name="sparse")
    seen = np.zeros(sparse.space.n, bool)
    cand, counts = bananas_candidates(np.random.default_rng(1), sparse.space, seen, np.array([0]), 100, 100, 2, groups)
    assert counts["candidates_projected"] > 0 and counts["mutation_redraws"] > 0
    assert counts["candidates_mutated"] + counts["candidates_projected"] == cand.size == len(set(cand.tolist()))
    assert ((cand >= 0) & (cand < sparse.space.n)).all()


def test_bananas_preset_runs_and_reports_where_its_candidates_came_from(bench):
    rec = run_trial(TrialSpec(bench.name, "predictor-subsets:bananas", 0, 30,
                              config={"members": 2, "hidden": (8, 8), "epochs": 5}), bench)
    d = rec["diagnostics"]
    assert d["rounds"] == 2 and d["candidates_projected"] == 0 and d["candidates_random_fill"] == 0
    assert d["candidates_mutated"] >= 200  # >= 100 per round
    assert rec["strategy_version"] == 2


def test_picks_topped_up_at_random_are_counted_as_random_picks(bench):
    """A round whose candidate set (3 random unseen architectures) is smaller than its batch (10)
    takes the other 7 uniformly at random: random search, counted in ``random_picks``."""
    rec = run_trial(TrialSpec(bench.name, "predictor-subsets", 0, 40,
                              config={**TINY, "candidates": "random", "subset": 3}), bench)
    d = rec["diagnostics"]
    assert len(rec["arch"]) == 40 and d["rounds"] == 3  # 10 initial, then 3 rounds of 10
    assert d["candidates_scored"] == 9 and d["random_picks"] == 21 == d["candidates_random_fill"]
    full = run_trial(TrialSpec(bench.name, "predictor-subsets", 0, 40, config=TINY), bench)["diagnostics"]
    assert full["random_picks"] == 0  # the whole space is the candidate set: nothing topped up


def test_bananas_evolution_keeps_to_a_sparse_table_and_selects_on_the_predictor():
    """The evolved pool on a 30% table: every member is an unseen table cell, the pool's predicted
    scores are at least those of the BANANAS set it started from, and its predictions are the
    ensemble's own (``M // 4`` members at generations = 3)."""
    sparse = synthetic_benchmark(positions=5, choices=4, repeats=1, keep=0.3, seed=2, name="sparse")
    strat = PredictorSubsets(sparse.space, {**TINY, "candidates": "bananas-evolution", "subset": 80})
    evaluated = np.random.default_rng(3).choice(sparse.space.n, 20, replace=False)
    state = _state_after(strat, sparse, evaluated)
    params = fit_predictor(jax.random.key(0), strat.spec, strat.inputs, state.arch, state.values)
    start, _ = bananas_candidates(np.random.default_rng(0), sparse.space, state.seen, strat._ranked(state)[:5],
                                  20, 100, 100, strat.groups)
    pool, preds, counts = strat.counted_candidates(np.random.default_rng(0), state, params)
    assert pool.size == 20 == np.unique(pool).size and not state.seen[pool].any()
    assert ((pool >= 0) & (pool < sparse.space.n)).all()
    assert counts["mutation_redraws"] > 0  # the table lacks most mutations: they were redrawn
    start_mean = np.asarray(predict_predictor(strat.spec, params, strat.inputs, start)).mean(0)
    assert preds.mean(0).mean() >= start_mean.mean()
    np.testing.assert_allclose(preds, np.asarray(predict_predictor(strat.spec, params, strat.inputs, pool)),
                               rtol=1e-5, atol=1e-6)


def test_offer_diagnostics_count_the_rounds_whose_candidates_held_a_target(bench):
    """The runner's per-target counts from the candidate sets, checked against the sets
    themselves: random subsets of 1% of 1,024 (10 per round) rarely hold the optimum, the full
    space holds it in every round until it is evaluated."""
    from experiments.harness.records import offer_diagnostics

    opt = int(np.argmax(bench.truth.truth))
    top1 = bench.truth.target(0.01)[0]
    offers = [np.array([opt, 1]), np.array([2, 3]), np.flatnonzero(bench.truth.truth >= top1)[:1]]
    d = offer_diagnostics(offers, bench)
    assert (d["offered_rounds_optimum"], d["offered_optimum"]) == (1.0, 1.0)
    assert d["offered_rounds_top-1%"] == 2.0
    assert offer_diagnostics([np.array([2, 3])], bench)["offered_optimum"] == 0.0

    cfg = {**TINY, "candidates": "random", "subset": 10, "acquisition": "mean"}
    rec = run_trial(TrialSpec(bench.name, "predictor-subsets", 0, 40, config=cfg), bench)
    strat = PredictorSubsets(bench.space, cfg)
    d = rec["diagnostics"]
    assert d["rounds"] == 3 and d["candidates_scored"] == 30  # 10 initial, then 3 rounds of 10
    assert d["offered_rounds_optimum"] <= 3 and d["offered_optimum"] == float(d["offered_rounds_optimum"] > 0)
    assert strat.offers(strat.init(jax.random.key(0))) == []
    full = run_trial(TrialSpec(bench.name, "predictor-subsets", 0, 40, config={**cfg, "candidates": "full"}), bench)
    hit_round = (full["arch"].index(opt) - 10) // 10 + 1 if opt in full["arch"] else 3
    assert full["diagnostics"]["offered_rounds_optimum"] == min(hit_round, 3)

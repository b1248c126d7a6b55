"""Zero-cost-aided search (Abdelfattah et al., ICLR 2021, section 5): the warm-up and the move
proposal of regularised evolution, random search and BANANAS, the proxy prefilter, what they cost,
and the public proxy scores they read (:mod:`nasbench.proxy_scores`, :mod:`strategies.models.proxy`)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.harness.records import fingerprint, resolved_config
from experiments.harness.runner import run_trial, run_vectorized
from experiments.harness.spec import TrialSpec, make_strategy
from nasbench.data import CorruptData, DataNotFound
from nasbench.proxy_scores import CommittedProxies, ProxyScores, scores_checksum, sources
from nasbench.registry import get_benchmark
from nasbench.synthetic import synthetic_benchmark
from strategies.base import ConfigError
from strategies.models import proxy

SECONDS = 0.25  # the synthetic proxy's seconds per cell


def bench_with_proxy(seed: int = 0):
    """A 256-cell synthetic benchmark whose proxy is a noisy, tie-free copy of the truth."""
    bench = synthetic_benchmark(positions=4, choices=4, repeats=1, seed=seed)
    rng = np.random.default_rng(seed)
    values = bench.truth.truth + rng.normal(0, 0.05, bench.space.n)
    bench.space.proxies = {"synflow": ProxyScores("synflow", values, SECONDS, "cpu", "test")}
    return bench


def run(bench, strategy, seed=0, budget=40, **config):
    return run_trial(TrialSpec(bench.name, strategy, seed, budget, config=config), bench)


# ---------------------------------------------------------------- the pieces, on hand-made cases
def test_ranked_is_best_first_with_ties_in_draw_order():
    scores = jnp.asarray([0.0, 5.0, 5.0, 1.0])
    assert proxy.ranked(jnp.asarray([0, 2, 3, 1, 2]), scores).tolist() == [2, 1, 2, 3, 0]


def test_first_distinct_keeps_order_and_pads():
    order = jnp.asarray([4, 1, 4, 2, 1, 0])
    assert proxy.first_distinct(order, 6, 3).tolist() == [4, 1, 2]
    assert proxy.first_distinct(order, 6, 5).tolist() == [4, 1, 2, 0, -1]


def test_move_takes_the_best_scored_valid_neighbour_or_a_uniform_one():
    scores = jnp.asarray([0.0, 9.0, 3.0, 7.0, 1.0])
    row = jnp.asarray([2, -1, 3, 4, -2, -2])  # -1: outside the table (no score), -2: padding
    keys = jax.random.split(jax.random.key(0), 4000)
    best = jax.vmap(lambda k: proxy.move(k, row, jnp.asarray(4), scores, 1.0))(keys)
    assert set(best.tolist()) == {3}  # 7.0 is the best scored; -1 is never the argmax
    anyone = np.asarray(jax.vmap(lambda k: proxy.move(k, row, jnp.asarray(4), scores, 0.0))(keys))
    assert set(anyone.tolist()) == {2, -1, 3, 4}  # uniform over the 4 valid entries, never the padding
    share = np.mean(anyone == 3)
    assert abs(share - 0.25) < 4 * np.sqrt(0.25 * 0.75 / keys.shape[0])
    mixed = np.asarray(jax.vmap(lambda k: proxy.move(k, row, jnp.asarray(4), scores, 0.75))(keys))
    p = 0.75 + 0.25 / 4  # the notebook's rule: the random branch may pick the best again
    assert abs(np.mean(mixed == 3) - p) < 4 * np.sqrt(p * (1 - p) / keys.shape[0])


def test_mark_scored_ignores_codes_outside_the_space():
    s = proxy.mark_scored(jnp.zeros(5, bool), jnp.asarray([1, -1, 3, -2, 1]))
    assert s.tolist() == [False, True, False, True, False]


def test_proxy_values_are_ranks_of_the_raw_scores():
    bench = synthetic_benchmark(positions=2, choices=3, repeats=1)
    raw = np.asarray([1e49, 0.0, 3e40, 3e40, 5.0, 1e10, -np.inf, 2.0, 1.0])  # beyond float32, ties, -inf
    bench.space.proxies = {"synflow": ProxyScores("synflow", raw, 0.1, "cpu", "t")}
    ranks, seconds = proxy.proxy_values(bench.space, "synflow")
    assert ranks.tolist() == [9, 2, 7.5, 7.5, 5, 6, 1, 4, 3] and seconds == 0.1


def test_a_benchmark_without_a_complete_table_is_refused_in_one_line():
    bench = synthetic_benchmark(positions=2, choices=3, repeats=1)
    with pytest.raises(ConfigError, match="zero-cost proxy 'synflow': synthetic has no proxy tables"):
        make_strategy(TrialSpec(bench.name, "regularized-evolution:zc-move", 0, 5), bench)
    values = np.arange(9.0)
    values[4] = np.nan
    bench.space.proxies = {"synflow": ProxyScores("synflow", values, 0.1, "cpu", "t")}
    with pytest.raises(ConfigError, match="miss 1 of the 9 cells"):
        make_strategy(TrialSpec(bench.name, "random-search:zc-warmup", 0, 5), bench)


def test_the_unsuffixed_configs_keep_their_fingerprints():
    assert resolved_config("random-search", {})[0] == {}
    assert resolved_config("regularized-evolution", {})[0] == {"population": 50, "tournament": 10, "max_tries": 1000}
    assert "warmup_pool" not in resolved_config("predictor-subsets:bananas", {})[0]
    assert resolved_config("regularized-evolution:zc-warmup", {})[0]["warmup_pool"] == 3000
    assert resolved_config("regularized-evolution:zc-move", {})[0]["move_prob"] == 0.75


# --------------------------------------------------------------- the strategies' known answers
def test_random_search_warmup_trains_the_pool_best_first_then_the_rest():
    bench = bench_with_proxy()
    n = bench.space.n
    # a pool of 20n draws holds every cell (P(one missing) < n e^-20): the ranking of the whole space
    rec = run(bench, "random-search", budget=n, warmup_pool=20 * n)
    order = np.argsort(-bench.space.proxies["synflow"].values, kind="stable")
    assert rec["arch"] == order.tolist()
    assert rec["diagnostics"] == {"proxy_evaluations": n, "proxy_seconds": pytest.approx(n * SECONDS)}
    # a small pool: its distinct cells best first, then every other cell once
    rec = run(bench, "random-search", budget=n, warmup_pool=30)
    k = int(rec["diagnostics"]["proxy_evaluations"])
    head = np.asarray(rec["arch"][:k])
    assert 20 <= k <= 30 and sorted(rec["arch"]) == list(range(n))
    assert np.all(np.diff(bench.space.proxies["synflow"].values[head]) < 0)


def test_evolution_warmup_starts_from_the_pool_best_and_keeps_the_random_stream_otherwise():
    bench = bench_with_proxy()
    n, pop = bench.space.n, 10
    rec = run(bench, "regularized-evolution", budget=30, population=pop, warmup_pool=20 * n)
    top = np.argsort(-bench.space.proxies["synflow"].values, kind="stable")[:pop]
    assert rec["arch"][:pop] == top.tolist()
    plain = run(bench, "regularized-evolution", budget=30, population=pop)
    assert plain["diagnostics"] == {}  # no proxy, no proxy counters: the records of before


def test_evolution_move_with_certainty_always_takes_a_proxy_best_neighbour():
    bench = bench_with_proxy()
    scores = bench.space.proxies["synflow"].values
    pop = 8
    rec = run(bench, "regularized-evolution", budget=60, population=pop, move_prob=1.0)
    nb = np.asarray(bench.space.neighbors)
    best_child = {a: int(nb[a][np.argmax(np.where(nb[a] >= 0, scores[np.maximum(nb[a], 0)], -np.inf))])
                  for a in range(bench.space.n)}
    # the child of each step is the proxy-best neighbour of an architecture evaluated before it,
    # unless the step found only evaluated children for max_tries draws: a counted random pick
    moved = [any(best_child[a] == rec["arch"][t] for a in rec["arch"][:t]) for t in range(pop, len(rec["arch"]))]
    picks = rec["diagnostics"]["random_picks"]
    assert moved[0] and sum(moved) >= len(moved) - picks
    # greedy moves climb to a local optimum of the proxy within a few steps; from then on every
    # proxy-best child is evaluated already and the steps end in counted random picks
    assert 0 < picks < len(moved)
    # every neighbour of every parent was scored: at least the children's parents' neighbourhoods
    assert rec["diagnostics"]["proxy_evaluations"] >= nb.shape[1]
    assert rec["diagnostics"]["proxy_seconds"] == pytest.approx(rec["diagnostics"]["proxy_evaluations"] * SECONDS)


def test_vectorised_and_ask_tell_runners_agree_on_the_zero_cost_presets():
    bench = bench_with_proxy()
    for strategy in ("regularized-evolution:zc-warmup", "regularized-evolution:zc-move", "random-search:zc-warmup"):
        specs = [TrialSpec(bench.name, strategy, s, 40, config={"population": 10} if "evolution" in strategy else {})
                 for s in range(3)]
        vec = run_vectorized(specs, bench)
        for spec, v in zip(specs, vec):
            one = run_trial(spec, bench)
            assert one["arch"] == v["arch"], strategy
            assert one["diagnostics"] == pytest.approx(v["diagnostics"]), strategy


def test_bananas_warmup_starts_from_the_pool_best():
    bench = bench_with_proxy()
    n = bench.space.n
    rec = run(bench, "predictor-subsets:test", budget=8, initial=4, warmup_pool=20 * n)
    top = np.argsort(-bench.space.proxies["synflow"].values, kind="stable")[:4]
    assert rec["arch"][:4] == top.tolist()
    assert rec["diagnostics"]["proxy_evaluations"] == n


def test_proxy_prefilter_offers_the_proxy_best_unevaluated_cells():
    bench = bench_with_proxy()
    n = bench.space.n
    # prefilter_factor * M >= n: the pool is every unevaluated cell, so the offer is their top M
    rec = run(bench, "predictor-subsets:test", budget=12, initial=4, batch=4, candidates="zc-prefilter",
              subset=16, prefilter_factor=n)
    strategy = make_strategy(TrialSpec(bench.name, "predictor-subsets:test", 0, 12,
                                       config={"initial": 4, "batch": 4, "candidates": "zc-prefilter",
                                               "subset": 16, "prefilter_factor": n}), bench)
    assert strategy.proxy_seconds == SECONDS
    scores = bench.space.proxies["synflow"].values
    evaluated = rec["arch"]
    for r, t in enumerate((4, 8)):
        unevaluated = np.setdiff1d(np.arange(n), evaluated[:t])
        top = unevaluated[np.argsort(-scores[unevaluated], kind="stable")[:16]]
        assert set(evaluated[t:t + 4]) <= set(top.tolist()), r  # picked among the proxy's top 16
    assert rec["diagnostics"]["proxy_evaluations"] == n - 4  # every cell unevaluated at the first round


def test_the_timed_protocol_charges_proxy_scoring_before_the_training_it_proposed():
    bench = bench_with_proxy()
    n = bench.space.n
    spec = TrialSpec(bench.name, "random-search:zc-warmup", 0, 5, config={"warmup_pool": 20 * n},
                     time_budget=1e9, workers_sim=1)
    rec = run_trial(spec, bench)
    cost = np.asarray(bench.cost)
    # the whole pool is scored at init, charged to the first training: it starts at n * SECONDS
    assert rec["start"][0] == pytest.approx(n * SECONDS)
    assert rec["finish"][0] == pytest.approx(n * SECONDS + cost[rec["arch"][0]])
    assert rec["start"][1] == pytest.approx(rec["finish"][0])  # nothing more to charge after
    plain = run_trial(TrialSpec(bench.name, "random-search", 0, 5, time_budget=1e9, workers_sim=1), bench)
    assert plain["start"][0] == 0.0
    # three workers: no training starts before the pool is scored, and they take the ranking in order
    for strategy in ("random-search:zc-warmup", "regularized-evolution:zc-warmup"):
        config = {"warmup_pool": 20 * n} | ({"population": 10} if "evolution" in strategy else {})
        rec = run_trial(TrialSpec(bench.name, strategy, 0, 6, config=config, time_budget=1e9, workers_sim=3), bench)
        assert min(rec["start"]) == pytest.approx(n * SECONDS), strategy
        order = np.argsort(-bench.space.proxies["synflow"].values, kind="stable")
        assert sorted(rec["arch"][:3]) == sorted(order[:3].tolist()), strategy


# ------------------------------------------------------------------ the committed tables
def _table(folder, name, rows, proxies, seconds, space):
    lines = ["index,arch," + ",".join(proxies)]
    for i, vals in rows:
        lines.append(f"{i},{space.describe(i)}," + ",".join(str(v) for v in vals))
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    (folder / f"{name}.json").write_text(json.dumps({"seconds_per_cell": seconds, "device": "cpu",
                                                     "groups": {g: [g] for g in seconds}}))


def test_committed_proxies_take_each_proxy_from_the_table_with_most_cells(tmp_path):
    space = synthetic_benchmark(positions=2, choices=3, repeats=1).space
    _table(tmp_path, "bench", [(0, (1.0, 2.0)), (4, (3.0, 4.0))], ("snip", "synflow"), {"snip": 0.5, "synflow": 0.5}, space)
    _table(tmp_path, "bench-synflow", [(i, (10.0 + i,)) for i in range(9)], ("synflow",), {"synflow": 0.07}, space)
    _table(tmp_path, "other", [(1, (7.0,))], ("snip",), {"snip": 1.0}, space)
    got = CommittedProxies("bench", space, tmp_path)
    assert sorted(got) == ["snip", "synflow"]
    assert got["synflow"].values.tolist() == [10.0 + i for i in range(9)] and got["synflow"].seconds_per_cell == 0.07
    assert got["snip"].coverage == 2 and got["snip"].values[4] == 3.0 and np.isnan(got["snip"].values[1])
    with pytest.raises(KeyError, match="no 'jacov' proxy scores for bench"):
        got["jacov"]


def test_scores_checksum_follows_the_scores_a_search_reads(tmp_path):
    space = synthetic_benchmark(positions=2, choices=3, repeats=1).space
    _table(tmp_path, "bench", [(0, (1.0, 2.0))], ("snip", "synflow"), {"snip": 0.5, "synflow": 0.5}, space)
    _table(tmp_path, "bench-synflow", [(i, (10.0 + i,)) for i in range(9)], ("synflow",), {"synflow": 0.07}, space)
    assert sources("bench", tmp_path) == {"snip": tmp_path / "bench.csv", "synflow": tmp_path / "bench-synflow.csv"}
    synflow, snip = scores_checksum("bench", "synflow", tmp_path), scores_checksum("bench", "snip", tmp_path)
    # the sample table grows: its snip scores change, the synflow a search reads does not
    _table(tmp_path, "bench", [(0, (1.0, 2.0)), (5, (3.0, 4.0))], ("snip", "synflow"), {"snip": 0.5, "synflow": 0.5}, space)
    assert scores_checksum("bench", "synflow", tmp_path) == synflow
    assert scores_checksum("bench", "snip", tmp_path) != snip
    # one score or the charged seconds per cell change: the checksum changes
    _table(tmp_path, "bench-synflow", [(i, (10.0 + i + 0.25 * (i == 8),)) for i in range(9)], ("synflow",), {"synflow": 0.07}, space)
    changed = scores_checksum("bench", "synflow", tmp_path)
    _table(tmp_path, "bench-synflow", [(i, (10.0 + i,)) for i in range(9)], ("synflow",), {"synflow": 0.08}, space)
    assert len({synflow, changed, scores_checksum("bench", "synflow", tmp_path)}) == 3
    assert scores_checksum("bench", "jacov", tmp_path) == "absent"


def test_a_proxy_search_names_its_scores_in_the_fingerprint():
    """The zc presets' fingerprints carry the synflow table's checksum; the unsuffixed ones do not
    (their fingerprints, and so the committed records, are unchanged)."""
    want = {"synflow": scores_checksum("nb201-cifar10", "synflow")}
    for strategy in ("regularized-evolution:zc-warmup", "regularized-evolution:zc-move", "random-search:zc-warmup",
                     "predictor-subsets:zc-warmup", "predictor-subsets:zc-prefilter-5pct"):
        assert fingerprint(TrialSpec("nb201-cifar10", strategy, 0, 10), {}, None)["proxy_scores"] == want, strategy
    for strategy in ("regularized-evolution", "random-search", "predictor-subsets:bananas"):
        assert "proxy_scores" not in fingerprint(TrialSpec("nb201-cifar10", strategy, 0, 10), {}, None), strategy


def test_a_record_names_the_scores_its_search_read(tmp_path):
    """A record's fingerprint carries the checksum of the scores the benchmark held when it ran
    (here in memory), and the committed NB-201 space's scores checksum as the tables on disk do."""
    bench = bench_with_proxy()
    rec = run_trial(TrialSpec(bench.name, "random-search:zc-warmup", 0, 5, config={"warmup_pool": 30}), bench)
    assert rec["fingerprint"]["proxy_scores"] == {"synflow": bench.space.proxies["synflow"].checksum}
    changed = ProxyScores("synflow", bench.space.proxies["synflow"].values + 1.0, SECONDS, "cpu", "x")
    assert changed.checksum != bench.space.proxies["synflow"].checksum
    try:
        nb201 = get_benchmark("nb201-cifar10")
    except DataNotFound as exc:
        pytest.skip(f"nb201-cifar10 unavailable: {exc}")
    assert nb201.space.proxies["synflow"].checksum == scores_checksum("nb201-cifar10", "synflow")


def test_committed_proxies_refuse_a_table_of_another_enumeration(tmp_path):
    space = synthetic_benchmark(positions=2, choices=3, repeats=1).space
    (tmp_path / "bench.csv").write_text(f"index,arch,synflow\n0,{space.describe(1)},1.0\n")
    (tmp_path / "bench.json").write_text("{}")
    with pytest.raises(CorruptData, match="cell 0"):
        list(CommittedProxies("bench", space, tmp_path))


# ------------------------------------------------------------------ the study and its report
from experiments.analysis import survival  # noqa: E402
from experiments.studies import claims  # noqa: E402
from experiments.studies import zero_cost_search as zcs  # noqa: E402


def _study_root(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    targets = {"optimum": {"threshold": 9.0, "K": 1}, "top-0.1%": {"threshold": 8.0, "K": 2},
               "top-1%": {"threshold": 7.0, "K": 5}}
    (tmp_path / "benchmarks" / "b.json").write_text(json.dumps({"n": 99, "targets": targets}))
    return tmp_path


def _trial(label, seed, hits, cap=50, proxy=0, train=100.0):
    return zcs.ZCTrial("b", label, seed, cap, hits, proxy, proxy * 0.5, train, 0, 1.0, 1, "h")


def test_trials_are_read_from_records_with_each_targets_first_hit(tmp_path):
    root = _study_root(tmp_path)
    rec = {"benchmark": "b", "strategy": "s-zc-warmup", "seed": 3, "budget": 50, "stop": "optimum",
           "truth": [1.0, 7.5, 6.0, 8.2, 9.0],
           "cost": [10.0, 20.0, 30.0, 40.0, 50.0], "wall_time": 0.5, "diagnostics": {"proxy_evaluations": 7.0,
           "proxy_seconds": 3.5, "random_picks": 1.0}, "fingerprint": {"strategy_version": 2, "config": {"a": 1}}}
    path = root / "data" / "b" / "s-zc-warmup" / "seed-0003.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    (t,) = zcs.trials_of(root)
    assert t.hits == (5, 4, 2) and t.proxy_evaluations == 7 and t.train_seconds == 150.0 and t.random_picks == 1
    assert zcs.read_trials_csv(_write(root, [t])) == [t]  # the table round-trips
    path.write_text(json.dumps(rec | {"stop": None}))
    with pytest.raises(ValueError, match="not run with stop"):  # a run to the budget is another protocol
        zcs.trials_of(root)


def _write(root, trials):
    (root / "tables").mkdir(exist_ok=True)
    path = root / "tables" / zcs.TRIALS_CSV
    path.write_text(zcs.trials_csv(trials))
    return path


def test_with_against_without_is_the_hand_computed_ratio_of_arts(tmp_path):
    root = _study_root(tmp_path)
    # optimum: without the proxy 3 of 6 succeed at 10, 20, 30 (the rest censored at the cap 50):
    # aRT = (10 + 20 + 30 + 3 * 50) / 3 = 70; with it all 6 at 2 .. 7: aRT = 27 / 6 = 4.5
    without = [_trial("s", k, (10 * (k + 1), 5, 5) if k < 3 else (0, 5, 5)) for k in range(6)]
    with_ = [_trial("s-zc-move", k, (k + 2, 1, 1), proxy=40) for k in range(6)]
    a = zcs.analyse(root, without + with_)
    row = next(r for r in a.rows if r["label"] == "s" and r["target"] == "optimum")
    assert row["art"] == 70.0 and row["successes"] == 3
    (pair,) = [p for p in a.pairs if p["target"] == "optimum"]
    assert pair["ratio"] == pytest.approx(70.0 / 4.5) and pair["base"] == "s" and pair["horizon"] == 50
    # 6 early successes against 3 late ones: significant after Holm over the 6 tests, but 3 successes
    # are fewer than MIN_SUCCESSES, so the ratio's size is not estimable
    assert pair["verdict"] == "faster, size not estimable" and survival.MIN_SUCCESSES > 3
    tie = next(p for p in a.pairs if p["target"] == "top-1%")
    assert tie["ratio"] == pytest.approx(5.0) and tie["verdict"] in survival.DIRECTIONS
    assert a.family == 2 * len(a.pairs) and a.transfer == []
    zc_row = next(r for r in a.rows if r["label"] == "s-zc-move" and r["target"] == "optimum")
    assert zc_row["proxy_evaluations"] == 40 and zc_row["proxy_share"] == pytest.approx(20 / 120)
    assert zcs.base_of("s-zc-move") == "s" and zcs.base_of("bananas") is None


def test_the_headline_transfer_gets_a_claims_verdict_against_4x(tmp_path):
    root = _study_root(tmp_path)
    rs = [_trial("random-search-zc-warmup", k, (0, 1, 1), proxy=10) for k in range(8)]
    best = [_trial("bananas", k, (20, 8, 4)) for k in range(8)]
    a = zcs.analyse(root, rs + best)
    cells = {c["target"]: c for c in a.transfer}
    assert set(cells) == {"optimum", "top-0.1%", "top-1%"}
    assert all(c["published"] == 4.0 and c["verdict"] in claims.VERDICTS for c in cells.values())
    assert cells["optimum"]["verdict"] == "reversed"  # never within the cap against 20 samples every time
    assert cells["top-0.1%"]["ratio"] == pytest.approx(8.0)


def test_the_report_regenerates_from_its_trials_table_alone(tmp_path):
    root = _study_root(tmp_path)
    trials = [_trial("s", k, (10 + k, 5, 2)) for k in range(6)] + [_trial("s-zc-warmup", k, (3 + k, 2, 1), 30) for k in range(6)]
    _write(root, trials)
    zcs.write_report(root, figures=False)
    before = {f: (root / f).read_bytes() for f in ("README.md", "tables/zc-search.json", f"tables/{zcs.TRIALS_CSV}")}
    zcs.write_report(root, figures=False)
    assert {f: (root / f).read_bytes() for f in before} == before
    (root / "tables" / zcs.TRIALS_CSV).write_text("benchmark,label\n")
    with pytest.raises(ValueError, match="not a zero-cost search trials table"):
        zcs.load_trials(root)


COMMITTED = zcs.Path(__file__).resolve().parents[1] / "results" / "zero-cost-search"


@pytest.mark.skipif(not (COMMITTED / "tables" / zcs.TRIALS_CSV).is_file(), reason="no committed zero-cost search")
def test_the_committed_report_is_what_its_table_gives(tmp_path):
    """results/zero-cost-search/README.md and its json regenerate to the byte from its committed table."""
    import shutil

    for sub in ("benchmarks", "tables"):
        shutil.copytree(COMMITTED / sub, tmp_path / sub)
    shutil.copy(COMMITTED / "meta.json", tmp_path / "meta.json")
    zcs.write_report(tmp_path, figures=False)
    got = (tmp_path / "README.md").read_text()
    want = (COMMITTED / "README.md").read_text()
    assert got == want[: len(got)] and want[len(got):].lstrip().startswith("![")  # the figure links follow
    for table in ("zc-search.json", "glance.md"):
        assert (tmp_path / "tables" / table).read_bytes() == (COMMITTED / "tables" / table).read_bytes(), table

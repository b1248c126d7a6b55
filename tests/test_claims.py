"""Search until the target is found: the stop rule, the claims statistics and their verdicts."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from experiments import claims
from experiments.execute import run_suite
from experiments.runner import TrialSpec, run_trial
from experiments.suite import load_suite
from nasbench.synthetic import synthetic_benchmark


@pytest.fixture()
def toy():
    return synthetic_benchmark(positions=4, choices=4, repeats=1, noise_sd=0.0, seed=0, name="synthetic")


def test_a_trial_stops_at_the_first_evaluation_of_the_optimum(toy):
    free = run_trial(TrialSpec("synthetic", "random-search", 3, 256), toy)
    first = int(np.argmax(np.asarray(free["truth"]) >= toy.truth.optimum)) + 1
    rec = run_trial(TrialSpec("synthetic", "random-search", 3, 256, stop="optimum"), toy)
    assert rec["stopped"] and len(rec["arch"]) == first and rec["arch"] == free["arch"][:first]
    assert rec["truth"][-1] == toy.truth.optimum and max(rec["truth"][:-1], default=0) < toy.truth.optimum
    short = run_trial(TrialSpec("synthetic", "random-search", 3, first - 1, stop="optimum"), toy)
    assert not short["stopped"] and len(short["arch"]) == first - 1  # censored at the cap
    gen = run_trial(TrialSpec("synthetic", "lanas", 1, 256, stop="top-1%"), toy)  # the general ask/tell loop
    thr = toy.truth.target(0.01)[0]
    assert gen["stopped"] and gen["truth"][-1] >= thr and all(t < thr for t in gen["truth"][:-1])


def test_stopped_records_are_complete_on_resume(tmp_path, toy, register):
    register(toy)
    p = tmp_path / "s.toml"
    p.write_text('benchmarks = ["synthetic"]\nstrategies = ["random-search", "lanas"]\nseeds = 6\n'
                 'budget = 200\nstop = "optimum"\n[caps]\nlanas = 100\n')
    suite = load_suite(str(p))
    assert {s.budget for s in suite.trials() if s.name == "lanas"} == {100}
    out = tmp_path / "out"
    assert run_suite(suite, out, progress=False)["ran"] == 12
    assert run_suite(suite, out, progress=False)["ran"] == 0  # a stopped record is finished, not short
    claims.write_report(out, figures=True)
    a = json.loads((out / "tables" / "claims.json").read_text())
    rows = {r["strategy"]: r for r in a["rows"]}
    assert rows["random-search"]["rs_exact"] == (256 + 1) / 2 and rows["lanas"]["cap"] == 100
    # 100 is below N/2 = 128 (random search's 200 is not): the report says which rows were capped
    assert "Capped below N/2, what this machine affords (" in (out / "README.md").read_text()
    assert "bounded by its cap): lanas at 100 (synthetic)." in (out / "README.md").read_text()
    assert (out / "figures" / "ecdf-synthetic.png").is_file()


def test_art_ratio_and_verdicts_by_hand():
    # 4 trials: 10, 20 (successes), 50 and 50 (censored at 50): aRT = 130 / 2 = 65
    assert claims.art(np.array([10, 20, 50, 50.0]), np.array([1, 1, 0, 0], bool)) == 65.0
    assert claims.art(np.array([5.0]), np.array([False])) == math.inf
    base = {0: (100, True), 1: (300, True), 2: (200, True)}
    strat = {0: (10, True), 1: (30, True), 2: (20, True), 9: (1, True)}  # seed 9 is not common
    ratio, lo, hi, common, sb, ss = claims.paired_ratio(base, strat, np.random.default_rng(0), 200)
    assert ratio == pytest.approx(10.0) and common == 3 and lo == pytest.approx(10.0) and hi == pytest.approx(10.0)
    assert claims.verdict(12.0, 30.0, 22.0, [30, 30]) == "holds"
    assert claims.verdict(2.0, 8.0, 22.0, [30, 30]) == "weaker"
    assert claims.verdict(0.7, 8.0, 22.0, [30, 30]) == "does not hold"
    assert claims.verdict(12.0, 30.0, 22.0, [30, 4]) == "inconclusive"
    # random search's exact chance to have found the one optimum within x of N samples is x / N
    assert claims.rs_ecdf(100, np.array([1, 50, 100, 200])).tolist() == [0.01, 0.5, 1.0, 1.0]
    # two optima tied (NAS-Bench-Macro's top): within x of 4, 1 - C(4 - x, 2) / C(4, 2)
    assert claims.rs_ecdf(4, np.array([0, 1, 2, 3]), k=2).tolist() == [0.0, 0.5, 5 / 6, 1.0]


def test_the_glance_table_puts_each_claim_on_one_row_across_benchmarks():
    def v(bench, strat, base, pub, ratio, verdict, few=False):
        return {"paper": "LaNAS (Wang et al.)", "benchmark": bench, "strategy": strat, "baseline": base,
                "published": pub, "ratio": ratio, "low": ratio / 2, "high": math.inf, "verdict": verdict, "few": few}

    rows = claims.glance([v("b", "lanas", "random-search", 22.0, 5.0, "weaker"),
                          v("a", "lanas", "random-search", 22.0, 30.0, "holds"),
                          v("b", "lanas", "nao", 6.8, 1500.0, "holds"),
                          v("a", "lanas", "alphax", 12.4, math.nan, "inconclusive", few=True)])
    assert rows == ["| claim | published | a | b |", "|---|---|---|---|",
                    "| LaNAS: lanas vs random-search | 22.0x | 30x [15, ∞] **holds** | 5x [2.5, ∞] **weaker** |",
                    "| LaNAS: lanas vs nao | 6.8x | – | 1,500x [750, ∞] **holds** |",
                    "| LaNAS: lanas vs alphax | 12.4x | –* **inconclusive** | – |"]


def test_too_few_successes_for_a_ratio_can_still_show_a_slower_strategy_by_an_exact_test():
    """With fewer than MIN_SUCCESSES hits the ratio is not estimated, but an exact one-sided test at
    the smaller cap can still find that the strategy hits less often than its baseline."""
    # against random search: 10 trials capped at 50 of N = 100, no hit; each hits with 1/2: p = 2**-10
    none = {s: (50, False) for s in range(10)}
    t = claims.fewer_hits(none, 50, n_space=100)
    assert (t["hits"], t["of"], t["base_rate"], t["base_hits"]) == (0, 10, 0.5, None)
    assert t["p"] == pytest.approx(2.0 ** -10)
    # two tied optima (K = 2): random search hits within 50 of 100 with 1 - C(50, 2) / C(100, 2)
    t2 = claims.fewer_hits(none, 50, n_space=100, k_opt=2)
    assert t2["base_rate"] == pytest.approx(1 - 1225 / 4950) and t2["p"] == pytest.approx((1225 / 4950) ** 10, rel=1e-5)
    row = claims.strategy_row("b", "s", {0: (5, True)}, 99, 50, np.random.default_rng(0), 10, k=2)
    assert row["rs_exact"] == 100 / 3 and row["ratio_rs"] == pytest.approx(20 / 3)
    # one hit: P(X <= 1) = 11 / 1024 (p-values are kept to 6 significant digits)
    assert claims.fewer_hits({**none, 0: (7, True)}, 50, n_space=100)["p"] == pytest.approx(11 / 1024, rel=1e-5)
    # against a measured baseline (Fisher, one-sided): 0 of 5 against 5 of 5 within the cap:
    # p = 1 / C(10, 5); the baseline's hit at 80 is beyond the common cap 50 and does not count,
    # nor does seed 9, which the strategy did not run
    strat = {s: (50, False) for s in range(5)}
    base = {s: (10 + s, True) for s in range(5)} | {9: (3, True)}
    t = claims.fewer_hits(strat, 50, base)
    assert (t["hits"], t["of"], t["base_hits"]) == (0, 5, 5) and t["p"] == pytest.approx(1 / 252)
    assert t["p_more"] == 1.0
    # the other way round, the baseline's 5 of 5 against 0 of 5: more often with p = 1 / 252
    assert claims.fewer_hits({s: base[s] for s in range(5)}, 50, strat)["p_more"] == pytest.approx(1 / 252)
    # against random search, 3 hits of 10 at rate 1/2: P(X >= 3) = 1 - 56 / 1024
    three = {**none, 0: (7, True), 1: (8, True), 2: (9, True)}
    assert claims.fewer_hits(three, 50, n_space=100)["p_more"] == pytest.approx(1 - 56 / 1024, rel=1e-5)
    t = claims.fewer_hits(strat, 50, {**base, 4: (80, True)})
    # 4 hits among 10 trials, none among the strategy's 5: C(6, 5) / C(10, 5) = 6 / 252
    assert t["base_hits"] == 4 and t["p"] == pytest.approx(6 / 252)
    # the verdict: inconclusive unless the test rejects at ALPHA
    assert claims.verdict(0.0, 0.02, 2.85, [30, 1], p_fewer=0.001) == "does not hold"
    assert claims.verdict(0.0, 0.02, 2.85, [30, 1], p_fewer=0.2) == "inconclusive"
    assert claims.verdict(12.0, 30.0, 22.0, [30, 30], p_fewer=0.001) == "holds"  # enough hits: the interval decides


def test_the_report_gives_the_exact_test_behind_a_verdict_with_too_few_successes(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.json").write_text('{"n": 99}')
    trials = ([claims.Trial("b", "alphax", k, 20, False, 20, 1.0) for k in range(10)]
              + [claims.Trial("b", "regularized-evolution", k, 5 + k, True, 49, 1.0) for k in range(10)])
    a = claims.analyse(tmp_path, n_boot=100, trials=trials)
    v = {x["baseline"]: x for x in a["verdicts"] if x["strategy"] == "alphax"}
    # 0 of 10 against 10 of 10 within the common cap 20: p = 1 / C(20, 10)
    assert v["regularized-evolution"]["verdict"] == "does not hold"
    assert v["regularized-evolution"]["hits_test"]["p"] == pytest.approx(1 / 184756)
    # against random search's exact 20 / 99 per trial: p = (79 / 99) ** 10 = 0.10, not enough
    assert v["random-search"]["verdict"] == "inconclusive"
    assert v["random-search"]["hits_test"]["p"] == pytest.approx((79 / 99) ** 10, rel=1e-5)  # kept to 6 digits
    text = claims.markdown(a)
    # the glance table opens the report; a verdict with too few successes is starred there
    assert text.index("## The claims at a glance") < text.index("## Samples to the optimum")
    assert "]* **does not hold** |" in text.split("## Samples to the optimum")[0]
    assert ("**does not hold** (hits within 20: 0/10 against 10/10; exact one-sided p = 5.4e-06 that it hits "
            "less often, 1 more often)") in text
    assert ("**inconclusive** (hits within 20: 0/10 against random search's 20.2%; exact one-sided p = 0.1 that "
            "it hits less often, 1 more often)") in text
    # every strategy against each measured baseline, paired: AlphaX never hits (aRT inf)
    assert "| b | alphax | 0 [0, 0]* | – |" in text and "| b | regularized-evolution | – | ∞ [∞, ∞]* |" in text
    # the forest plot draws the open-ended intervals (ratio 0, interval [0, ...]) without failing
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "trials.csv").write_text(claims.trials_csv(trials))
    claims.write_report(tmp_path)
    assert (tmp_path / "figures" / "claims-forest.png").stat().st_size > 0
    assert "figures/claims-forest.png" in (tmp_path / "README.md").read_text()


def _two_strategies_to_the_optimum(tmp_path, toy, register, seeds: int, extra: str = ""):
    """A folder of random search and evolution searched to the optimum, with its claims report."""
    register(toy)
    p = tmp_path / "s.toml"
    p.write_text(f'benchmarks = ["synthetic"]\nstrategies = ["random-search", "regularized-evolution"]\nseeds = {seeds}\n'
                 'budget = 200\nstop = "optimum"\n' + extra)
    out = tmp_path / "out"
    run_suite(load_suite(str(p)), out, progress=False)
    claims.write_report(out, figures=False)
    return out


def test_report_rebuilt_from_the_trials_table_alone_is_the_same(tmp_path, toy, register):
    """A committed results/reproduction/ keeps tables/trials.csv, not its records: rebuilding
    the report from that file gives the same bytes as from the records."""
    import shutil

    out = _two_strategies_to_the_optimum(tmp_path, toy, register, seeds=6)
    before = {f: (out / f).read_bytes() for f in ("README.md", "tables/claims.json", "tables/trials.csv")}
    rows = (out / "tables" / "trials.csv").read_text().splitlines()
    assert rows[0] == claims.CSV_HEADER and len(rows) == 13
    shutil.rmtree(out / "data")
    claims.write_report(out, figures=False)
    assert {f: (out / f).read_bytes() for f in before} == before
    t = claims.read_trials_csv(out / "tables" / "trials.csv")
    assert {x.strategy for x in t} == {"random-search", "regularized-evolution"} and all(x.cap == 200 for x in t)
    (out / "tables" / "trials.csv").write_text("benchmark,strategy\n")
    with pytest.raises(ValueError, match="not a claims trials table"):
        claims.load_trials(out)


def test_intervals_reaching_a_resample_without_success_are_infinite():
    assert claims.quantile(np.array([1.0, 2.0, 3.0]), 0.5) == 2.0
    assert claims.quantile(np.array([1.0, 3.0]), 0.25) == 1.5  # numpy's linear rule where all are finite
    assert claims.quantile(np.array([1.0, math.inf]), 0.975) == math.inf  # numpy: NaN (inf - inf)
    rng = np.random.default_rng(0)
    # a baseline that never succeeds (aRT inf) against a strategy that always does
    base = {s: (100, False) for s in range(10)}
    strat = {s: (10 + s, True) for s in range(10)}
    ratio, lo, hi, *_ = claims.paired_ratio(base, strat, rng, 200)
    assert ratio == math.inf and lo == math.inf and hi == math.inf  # not float max, not NaN
    row = claims.strategy_row("b", "s", {0: (5, True), 1: (50, False), 2: (50, False)}, 99, 50, rng, 500)
    assert row["art_high"] == math.inf and row["ratio_rs_low"] == 0.0 and row["art"] == 105.0
    assert claims._fmt(row["art_high"]) == "∞"


def test_a_rows_interval_does_not_depend_on_the_other_rows(tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "b.json").write_text('{"n": 99}')
    one = [claims.Trial("b", "s", k, 5 + 3 * k, k % 3 > 0, 50, 1.0) for k in range(12)]
    other = [claims.Trial("a", "t", k, 7 + k, True, 50, 1.0) for k in range(12)]
    (bench / "a.json").write_text('{"n": 99}')
    alone = claims.analyse(tmp_path, n_boot=300, trials=one)["rows"]
    beside = [r for r in claims.analyse(tmp_path, n_boot=300, trials=other + one)["rows"] if r["benchmark"] == "b"]
    assert alone == beside


def test_the_report_names_what_the_suite_asks_for_and_the_folder_lacks(tmp_path, toy, register):
    out = _two_strategies_to_the_optimum(tmp_path, toy, register, seeds=3)
    # and says what each benchmark is: its size, the cells tied at the optimum, the metrics
    info = json.loads((out / "benchmarks" / "synthetic.json").read_text())
    assert (f"| synthetic | 256 | {info['targets']['optimum']['K']} | {info['metric']} | {info['truth_metric']} |"
            in (out / "README.md").read_text())
    assert "Not (fully) run" not in (out / "README.md").read_text()
    next((out / "data" / "synthetic" / "regularized-evolution").glob("seed-*.json")).unlink()
    claims.write_report(out, figures=False)
    assert "regularized-evolution on synthetic (2 of 3 trials)" in (out / "README.md").read_text()


def test_a_label_with_more_seeds_is_counted_against_its_own_seeds(tmp_path, toy, register):
    out = _two_strategies_to_the_optimum(tmp_path, toy, register, seeds=2, extra="[label_seeds]\nrandom-search = 5\n")
    assert len(list((out / "data" / "synthetic" / "random-search").glob("seed-*.json"))) == 5
    assert "Not (fully) run" not in (out / "README.md").read_text()
    a = json.loads((out / "tables" / "claims.json").read_text())
    assert {r["strategy"]: r["trials"] for r in a["rows"]} == {"random-search": 5, "regularized-evolution": 2}
    (out / "data" / "synthetic" / "random-search" / "seed-0004.json").unlink()
    claims.write_report(out, figures=False)
    assert "random-search on synthetic (4 of 5 trials)" in (out / "README.md").read_text()


def test_random_picks_are_reported_as_a_share_of_the_rows_samples(tmp_path):
    """AlphaX's fallbacks and NAO's random fill (diagnostics ``random_picks``) are random search:
    the report says how much of a row they are, and the trials table keeps them."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.json").write_text('{"n": 99}')
    recs = [{"benchmark": "b", "strategy": "s", "seed": k, "arch": list(range(n)), "stopped": True, "budget": 50,
             "wall_time": 1.0, "diagnostics": {"random_picks": float(p)}} for k, (n, p) in enumerate([(40, 10), (60, 0)])]
    trials = claims.trials_of(recs)
    assert [t.random_picks for t in trials] == [10, 0]
    (tmp_path / "t.csv").write_text(claims.trials_csv(trials))
    assert claims.read_trials_csv(tmp_path / "t.csv") == trials
    a = claims.analyse(tmp_path, n_boot=50, trials=trials)
    assert a["rows"][0]["random_share"] == 0.1  # 10 of 100 samples
    assert "| 10.0% |" in claims.markdown(a)


def test_a_row_of_mixed_caps_or_a_repeated_seed_is_refused_with_one_line(tmp_path):
    """A merged trials table must not mix settings: trials censored at 400 beside ones run to 2,313
    have no single aRT, and a seed counted twice weighs double. The CLI prints the message, exit 2."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.json").write_text('{"n": 99}')
    ok = [claims.Trial("b", "s", k, 10 + k, True, 49, 1.0) for k in range(3)]
    assert len(claims.analyse(tmp_path, n_boot=10, trials=ok)["rows"]) == 1
    mixed = ok + [claims.Trial("b", "s", 3, 20, False, 20, 1.0)]
    with pytest.raises(ValueError, match=r"s on b: trials of different caps \(1 at 20, 3 at 49\)"):
        claims.analyse(tmp_path, n_boot=10, trials=mixed)
    with pytest.raises(ValueError, match=r"s on b: seeds \[1\] appear more than once"):
        claims.analyse(tmp_path, n_boot=10, trials=ok + [claims.Trial("b", "s", 1, 30, True, 49, 1.0)])
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "trials.csv").write_text(claims.trials_csv(mixed))
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "report", str(tmp_path)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: s on b: trials of different caps")


def test_committed_records_agree_with_the_committed_trials_table():
    """results/reproduction's report is rebuilt from tables/trials.csv; the full records committed
    beside it (records/*.tar.gz) give exactly its lines for their trials."""
    root = Path(__file__).resolve().parent.parent / "results" / "reproduction"
    table = {(t.benchmark, t.strategy, t.seed): t for t in claims.read_trials_csv(root / "tables" / "trials.csv")}
    tarballs = sorted((root / "records").glob("*.tar.gz"))
    assert tarballs, f"no records under {root / 'records'}"
    n = 0
    for tarball in tarballs:
        with tarfile.open(tarball) as tar:
            recs = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
        for t in claims.trials_of(recs):
            assert table[(t.benchmark, t.strategy, t.seed)] == t, tarball.name
            n += 1
    assert n >= 90  # AlphaX on nb101-30k-v6 and nb101-30k, NAO on nb201-cifar10: 30 seeds each

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

from experiments.analysis import metrics, survival
from experiments.harness.execute import run_suite
from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec
from experiments.harness.suite import load_suite
from experiments.studies import claims, claims_report
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
    claims_report.write_report(out, figures=True)
    a = json.loads((out / "tables" / "claims.json").read_text())
    rows = {r["strategy"]: r for r in a["rows"]}
    assert rows["random-search"]["rs_exact"] == (256 + 1) / 2 and rows["lanas"]["cap"] == 100
    # 100 is below N/2 = 128 (random search's 200 is not): the report says which rows were capped
    assert "Capped below N/2, what this machine affords (" in (out / "README.md").read_text()
    assert "bounded by its cap): lanas at 100 (synthetic)." in (out / "README.md").read_text()
    assert (out / "figures" / "ecdf-synthetic.png").is_file()


def test_verdicts_by_hand():
    """The six verdicts from the Holm-adjusted one-sided p-values, the interval and the published ratio."""
    v = claims.verdict
    assert v(0.001, 1.0, 12.0, 30.0, 22.0, few=False) == "consistent with published"
    assert v(0.001, 1.0, 2.0, 8.0, 22.0, few=False) == "smaller than published"
    assert v(0.001, 1.0, 25.0, 40.0, 22.0, few=False) == "larger than published"
    assert v(0.001, 1.0, 2.0, 8.0, 22.0, few=True) == "direction shown, size not estimable"
    assert v(0.2, 0.3, 0.7, 8.0, 22.0, few=False) == "not shown"
    assert v(0.06, 1.0, 1.5, 8.0, 22.0, few=False) == "not shown"  # at the level, not below it
    assert v(1.0, 0.001, 0.1, 0.5, 22.0, few=False) == "reversed"
    assert v(1.0, 0.001, 0.0, math.inf, 22.0, few=True) == "reversed"  # the direction needs no ratio
    assert set(claims.VERDICTS) == {v(*x) for x in [(0.001, 1, 12, 30, 22, False), (0.001, 1, 2, 8, 22, False),
                                                       (0.001, 1, 25, 40, 22, False), (0.001, 1, 2, 8, 22, True),
                                                       (0.2, 0.3, 1, 2, 22, False), (1, 0.001, 0.1, 0.5, 22, False)]}
    # random search's exact chance to have found the one optimum within x of N samples is x / N
    assert claims.rs_ecdf(100, np.array([1, 50, 100, 200])).tolist() == [0.01, 0.5, 1.0, 1.0]
    # two optima tied (NAS-Bench-Macro's top): within x of 4, 1 - C(4 - x, 2) / C(4, 2)
    assert claims.rs_ecdf(4, np.array([0, 1, 2, 3]), k=2).tolist() == [0.0, 0.5, 5 / 6, 1.0]


def test_the_glance_table_puts_each_claim_on_one_row_across_benchmarks():
    def v(bench, strat, base, pub, ratio, verdict, few=False):
        return {"claim": f"LaNAS: {strat} vs {base}", "benchmark": bench, "published": pub, "ratio": ratio,
                "low": ratio / 2, "high": math.inf, "verdict": verdict, "few": few}

    rows = claims_report.glance([v("b", "lanas", "random-search", 22.0, 5.0, "smaller than published"),
                          v("a", "lanas", "random-search", 22.0, 30.0, "consistent with published"),
                          v("b", "lanas", "nao", 6.8, 1500.0, "larger than published"),
                          v("a", "lanas", "alphax", 12.4, math.nan, "not shown", few=True)])
    assert rows == ["| claim | published | a | b |", "|---|---|---|---|",
                    "| LaNAS: lanas vs random-search | 22.0x | 30x [15, ∞] **consistent with published** "
                    "| 5x [2.5, ∞] **smaller than published** |",
                    "| LaNAS: lanas vs nao | 6.8x | – | 1,500x [750, ∞] **larger than published** |",
                    "| LaNAS: lanas vs alphax | 12.4x | –* **not shown** | – |"]


def test_claims_are_compared_at_the_common_horizon(tmp_path):
    """AlphaX capped at 20 never hits; evolution hits at 5..14 of 49. At the common horizon 20 the
    claim "AlphaX needs 2.85x fewer samples than evolution" is reversed (log-rank, Holm over the
    family); against random search (N = 99, exact) within 20 it is not shown either way."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.json").write_text('{"n": 99}')
    trials = ([claims.Trial("b", "alphax", k, 20, False, 20, 1.0) for k in range(10)]
              + [claims.Trial("b", "regularized-evolution", k, 5 + k, True, 49, 1.0) for k in range(10)])
    a = claims.analyse(tmp_path, trials=trials)
    v = {x["baseline"]: x for x in a.verdicts if x["strategy"] == "alphax"}
    evo, rs = v["regularized-evolution"], v["random-search"]
    assert a.family == 2 * len(a.verdicts) == 4
    assert evo["horizon"] == 20 and (evo["successes_strategy"], evo["successes_baseline"]) == (0, 10)
    assert evo["art_baseline"] == 9.5 and evo["art_strategy"] == math.inf  # (5 + ... + 14) / 10
    assert (evo["ratio"], evo["low"], evo["high"]) == (0.0, 0.0, math.inf)
    assert evo["verdict"] == "reversed" and evo["p_holm"] < 0.05 and evo["p_paper"] > 0.99
    assert rs["horizon"] == 20 and rs["successes_baseline"] is None and rs["verdict"] == "not shown"
    assert rs["art_baseline"] == pytest.approx(metrics.art_random_budget(99, 1, 20))
    text = claims_report.markdown(a)
    assert text.index("## The claims at a glance") < text.index("## Samples to the optimum")
    assert "]* **reversed** |" in text.split("## Samples to the optimum")[0]
    csv = claims.claims_csv(a.verdicts).splitlines()
    assert csv[0] == ",".join(claims.CLAIMS_CSV) and len(csv) == 1 + len(a.verdicts)
    row = dict(zip(claims.CLAIMS_CSV, next(r for r in csv[1:] if "regularized-evolution" in r).split(",")))
    assert (row["horizon"], row["successes_strategy"], row["successes_baseline"], row["ratio"], row["hi"],
            row["verdict"]) == ("20", "0", "10", "0", "inf", "reversed")
    # the forest plot draws the open-ended intervals without failing
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "trials.csv").write_text(claims.trials_csv(trials))
    claims_report.write_report(tmp_path)
    assert (tmp_path / "figures" / "claims-forest.png").stat().st_size > 0
    assert "figures/claims-forest.png" in (tmp_path / "README.md").read_text()
    assert (tmp_path / "tables" / "claims.csv").read_text() == claims.claims_csv(a.verdicts)


def _two_strategies_to_the_optimum(tmp_path, toy, register, seeds: int, extra: str = ""):
    """A folder of random search and evolution searched to the optimum, with its claims report."""
    register(toy)
    p = tmp_path / "s.toml"
    p.write_text(f'benchmarks = ["synthetic"]\nstrategies = ["random-search", "regularized-evolution"]\nseeds = {seeds}\n'
                 'budget = 200\nstop = "optimum"\n' + extra)
    out = tmp_path / "out"
    run_suite(load_suite(str(p)), out, progress=False)
    claims_report.write_report(out, figures=False)
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
    claims_report.write_report(out, figures=False)
    assert {f: (out / f).read_bytes() for f in before} == before
    t = claims.read_trials_csv(out / "tables" / "trials.csv")
    assert {x.strategy for x in t} == {"random-search", "regularized-evolution"} and all(x.cap == 200 for x in t)
    (out / "tables" / "trials.csv").write_text("benchmark,strategy\n")
    with pytest.raises(ValueError, match="not a claims trials table"):
        claims.load_trials(out)


def test_intervals_reaching_a_resample_without_success_are_infinite():
    row = claims.strategy_row("b", "s", {0: (5, True), 1: (50, False), 2: (50, False)}, 99, 50)
    assert row["art"] == 105.0 and row["art_high"] == math.inf and row["ratio_rs_low"] == 0.0
    assert claims_report._fmt(row["art_high"]) == "∞"


def test_a_rows_interval_does_not_depend_on_the_other_rows(tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "b.json").write_text('{"n": 99}')
    one = [claims.Trial("b", "s", k, 5 + 3 * k, k % 3 > 0, 50, 1.0) for k in range(12)]
    other = [claims.Trial("a", "t", k, 7 + k, True, 50, 1.0) for k in range(12)]
    (bench / "a.json").write_text('{"n": 99}')
    alone = claims.analyse(tmp_path, trials=one).rows
    beside = [r for r in claims.analyse(tmp_path, trials=other + one).rows if r["benchmark"] == "b"]
    assert alone == beside


def test_the_report_names_what_the_suite_asks_for_and_the_folder_lacks(tmp_path, toy, register):
    out = _two_strategies_to_the_optimum(tmp_path, toy, register, seeds=3)
    # and says what each benchmark is: its size, the cells tied at the optimum, the metrics
    info = json.loads((out / "benchmarks" / "synthetic.json").read_text())
    assert (f"| synthetic | 256 | {info['targets']['optimum']['K']} | {info['metric']} | {info['truth_metric']} |"
            in (out / "README.md").read_text())
    assert "Not (fully) run" not in (out / "README.md").read_text()
    next((out / "data" / "synthetic" / "regularized-evolution").glob("seed-*.json")).unlink()
    claims_report.write_report(out, figures=False)
    assert "regularized-evolution on synthetic (2 of 3 trials)" in (out / "README.md").read_text()


def test_a_label_with_more_seeds_is_counted_against_its_own_seeds(tmp_path, toy, register):
    out = _two_strategies_to_the_optimum(tmp_path, toy, register, seeds=2, extra="[label_seeds]\nrandom-search = 5\n")
    assert len(list((out / "data" / "synthetic" / "random-search").glob("seed-*.json"))) == 5
    assert "Not (fully) run" not in (out / "README.md").read_text()
    a = json.loads((out / "tables" / "claims.json").read_text())
    assert {r["strategy"]: r["trials"] for r in a["rows"]} == {"random-search": 5, "regularized-evolution": 2}
    (out / "data" / "synthetic" / "random-search" / "seed-0004.json").unlink()
    claims_report.write_report(out, figures=False)
    assert "random-search on synthetic (4 of 5 trials)" in (out / "README.md").read_text()


def test_random_picks_are_reported_as_a_share_of_the_rows_samples(tmp_path):
    """AlphaX's fallbacks and NAO's random fill (diagnostics ``random_picks``) are random search:
    the report says how much of a row they are, and the trials table keeps them."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.json").write_text('{"n": 99}')
    recs = [{"benchmark": "b", "strategy": "s", "seed": k, "arch": list(range(n)), "stopped": True, "budget": 50,
             "wall_time": 1.0, "diagnostics": {"random_picks": float(p)},
             "fingerprint": {"strategy_version": 2, "config": {"x": 1}}} for k, (n, p) in enumerate([(40, 10), (60, 0)])]
    trials = claims.trials_of(recs)
    assert [t.random_picks for t in trials] == [10, 0]
    (tmp_path / "t.csv").write_text(claims.trials_csv(trials))
    assert claims.read_trials_csv(tmp_path / "t.csv") == trials
    a = claims.analyse(tmp_path, trials=trials)
    assert a.rows[0]["random_share"] == 0.1  # 10 of 100 samples
    assert "| 10.0% |" in claims_report.markdown(a)


def test_a_row_of_mixed_caps_or_a_repeated_seed_is_refused_with_one_line(tmp_path):
    """A merged trials table must not mix settings: trials censored at 400 beside ones run to 2,313
    have no single aRT, and a seed counted twice weighs double. The CLI prints the message, exit 2."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.json").write_text('{"n": 99}')
    ok = [claims.Trial("b", "s", k, 10 + k, True, 49, 1.0) for k in range(3)]
    assert len(claims.analyse(tmp_path, trials=ok).rows) == 1
    mixed = ok + [claims.Trial("b", "s", 3, 20, False, 20, 1.0)]
    with pytest.raises(ValueError, match=r"s on b: trials of different caps \(1 at 20, 3 at 49\)"):
        claims.analyse(tmp_path, trials=mixed)
    with pytest.raises(ValueError, match=r"s on b: seeds \[1\] appear more than once"):
        claims.analyse(tmp_path, trials=ok + [claims.Trial("b", "s", 1, 30, True, 49, 1.0)])
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


def _committed_verdicts(seed: int) -> list[tuple[str, str, str]]:
    root = Path(__file__).resolve().parent.parent / "results" / "reproduction"
    trials = claims.read_trials_csv(root / "tables" / "trials.csv")
    return [(v["claim"], v["benchmark"], v["verdict"]) for v in claims.claim_cells(root, trials, seed)]


def test_no_committed_verdict_depends_on_the_bootstrap_seed():
    """A verdict that changes with the resampling would be the method's bug, not a footnote."""
    assert _committed_verdicts(0) == _committed_verdicts(1)


def test_random_search_measured_is_consistent_with_its_exact_law():
    """Random search's own measured row, against its exact law at its own cap, on every benchmark:
    the ratio's interval contains 1 and neither one-sided test rejects at 5%."""
    root = Path(__file__).resolve().parent.parent / "results" / "reproduction"
    trials = claims.read_trials_csv(root / "tables" / "trials.csv")
    by = claims.samples(trials)
    benches = sorted(b for b, s in by if s == "random-search")
    assert len(benches) == 6
    for b in benches:
        info = json.loads((root / "benchmarks" / f"{b}.json").read_text())
        n, k = info["n"], info["targets"]["optimum"]["K"]
        c = survival.Censored.of(by[(b, "random-search")])
        cap = next(t.cap for t in trials if (t.benchmark, t.strategy) == (b, "random-search"))
        ratio, lo, hi = survival.ratio_to_random(c, n, k, cap, survival.rng_for(0, b))
        p_sooner, p_later, _, _ = survival.logrank_random(c, n, k, cap, survival.rng_for(0, "logrank", b))
        assert lo < 1 < hi and min(p_sooner, p_later) > 0.05, (b, ratio, lo, hi, p_sooner, p_later)

"""The report of a small synthetic results folder whose every number is known by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from experiments.analysis import metrics, stats
from experiments.analysis import trials as analysis
from experiments.analysis.metrics import GAIN_DEFINITION
from experiments.analysis.tables import fmt
from experiments.studies import report

SEEDS = (0, 1, 2)
# benchmark -> (N, budget, {strategy: [arch per seed]}); truth of arch i is i / N
DESIGN = {
    "toy": (1000, 10, {
        "random-search": [list(range(100, 110))] * 3,  # never reaches a target (best 0.109)
        "oracle": [list(range(999, 989, -1))] * 3,  # the optimum first
        "designed": [[5, 999, 0, 1, 2, 3, 4, 6, 7, 8],  # top-1% and optimum at step 2
                     [5, 6, 995, 999, 0, 1, 2, 3, 4, 7],  # top-1% at 3, optimum at 4
                     list(range(10, 20))],  # never
    }),
    "toy2": (100, 5, {
        "random-search": [list(range(50, 55))] * 3,
        "oracle": [[99, 98, 97, 96, 95]] * 3,
        "designed": [[0, 1, 2, 3, 99]] * 3,
    }),
}
SOURCES = ["Synthetic table for tests (CC0-1.0)", {"name": "toy paper", "url": "https://example.org", "license": "MIT"}]


def _targets(truth: np.ndarray) -> dict:
    out = {}
    for name, top in (("optimum", 1), ("top-0.1%", max(1, int(np.ceil(0.001 * truth.size)))),
                      ("top-1%", max(1, int(np.ceil(0.01 * truth.size))))):
        thr = float(np.sort(truth)[::-1][top - 1])
        out[name] = {"threshold": thr, "K": int((truth >= thr).sum())}
    return out


def make_results(root: Path, benchmarks: tuple[str, ...] = tuple(DESIGN)) -> Path:
    for bench in benchmarks:
        n, budget, strategies = DESIGN[bench]
        truth = np.arange(n) / n
        (root / "benchmarks").mkdir(parents=True, exist_ok=True)
        (root / "benchmarks" / f"{bench}.json").write_text(json.dumps({
            "name": bench, "n": n, "metric": "accuracy", "optimum": float(truth.max()), "maximize": True,
            "targets": _targets(truth), "sources": SOURCES}))
        for strat, archs in strategies.items():
            folder = root / "data" / bench / strat
            folder.mkdir(parents=True, exist_ok=True)
            for seed, arch in zip(SEEDS, archs):
                assert len(arch) == budget
                rec = {"benchmark": bench, "strategy": strat, "seed": seed, "budget": budget, "arch": arch,
                       "observed": [float(truth[a]) + 0.001 for a in arch], "truth": [float(truth[a]) for a in arch],
                       "cost": [2.0] * budget, "wall_time": 0.5, "n_asks": budget, "noise": "sample"}
                (folder / f"seed-{seed:04d}.json").write_text(json.dumps(rec))
    (root / "meta.json").write_text(json.dumps({"environment": {"git_revision": "deadbeef"},
                                                "suite": {"name": "test", "seeds": list(SEEDS)}}))
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def rows(results) -> dict[tuple[str, str, str], dict]:
    return {(r["benchmark"], r["strategy"], r["target"]): r for r in analysis.summary(results)}


@pytest.fixture(scope="module")
def written(results) -> Path:
    """README and tables; figures (about a second each) are checked on a smaller folder below."""
    return report.write_report(results, extra_sections=["## Reproduction\n\nextra section text"], figures=False)


def test_load_results_is_tidy(results):
    trials, benchmarks = analysis.load_results(results)
    assert list(trials.columns) == ["benchmark", "strategy", "seed", "step", "arch", "observed", "truth", "cost"]
    assert len(trials) == 3 * 3 * 10 + 3 * 3 * 5
    one = trials[(trials.benchmark == "toy") & (trials.strategy == "designed") & (trials.seed == 1)]
    assert one["step"].tolist() == list(range(1, 11))
    assert one["arch"].tolist() == DESIGN["toy"][2]["designed"][1]
    np.testing.assert_allclose(one["truth"], np.array(DESIGN["toy"][2]["designed"][1]) / 1000)
    assert set(benchmarks) == {"toy", "toy2"} and benchmarks["toy"]["targets"]["top-1%"]["K"] == 10


def test_summary_keys_and_hand_computed_values(rows):
    assert len(rows) == 2 * 3 * 3
    for r in rows.values():
        assert list(r)[:9] == list(analysis.SUMMARY_KEYS)
        json.dumps(r, allow_nan=False)  # JSON-safe: no inf or nan
    art_opt, art_top1 = 1001 / 2, 1001 / 11  # exact random search, N = 1000, K = 1 and 10
    d = rows["toy", "designed", "optimum"]
    assert (d["n_trials"], d["successes"], d["art"], d["K"], d["N"]) == (3, 2, 8.0, 1, 1000)  # (2 + 4 + 10) / 2
    assert d["gain"] == pytest.approx(art_opt / 8.0)
    assert 0.0 <= d["gain_low"] <= d["gain"] <= d["gain_high"] <= art_opt / 2
    d1 = rows["toy", "designed", "top-1%"]
    assert (d1["successes"], d1["art"], d1["K"]) == (2, 7.5, 10)  # (2 + 3 + 10) / 2
    assert d1["gain"] == pytest.approx(art_top1 / 7.5)
    for target, art_rs in (("optimum", art_opt), ("top-0.1%", art_opt), ("top-1%", art_top1)):
        o = rows["toy", "oracle", target]
        assert (o["art"], o["successes"]) == (1.0, 3)
        assert o["gain"] == o["gain_low"] == o["gain_high"] == pytest.approx(art_rs)
        assert o["art_rs"] == pytest.approx(art_rs)
        assert o["art_rs_budget"] == pytest.approx(metrics.art_random_budget(1000, o["K"], 10))
    rs = rows["toy", "random-search", "optimum"]
    assert (rs["successes"], rs["art"], rs["gain"], rs["gain_low"], rs["gain_high"]) == (0, None, 0.0, 0.0, 0.0)
    d2 = rows["toy2", "designed", "optimum"]
    assert (d2["art"], d2["gain"]) == (5.0, pytest.approx(101 / 2 / 5))


FIGURES = ("best-so-far", "regret", "ecdf", "samples-to-target", "average-rank", "cd-diagram")


def _check_figures(root: Path, benchmarks) -> None:
    text = (root / "README.md").read_text()
    for bench in benchmarks:
        for fig in FIGURES:
            for ext in ("pdf", "png"):
                assert (root / "figures" / bench / f"{fig}.{ext}").stat().st_size > 1000
            assert f"](figures/{bench}/{fig}.png)" in text


def test_write_report_figures(tmp_path):
    root = make_results(tmp_path, benchmarks=("toy2",))
    report.write_report(root, n_boot=200)
    _check_figures(root, ["toy2"])
    assert not (root / "figures" / "cd-diagram.png").exists()  # one benchmark: no diagram across benchmarks


def test_write_report_all_figures(tmp_path):
    root = make_results(tmp_path)
    report.write_report(root)
    _check_figures(root, DESIGN)
    assert (root / "figures" / "cd-diagram.pdf").stat().st_size > 1000
    assert "](figures/cd-diagram.png)" in (root / "README.md").read_text()


def test_write_report_tables(written, results):
    assert written == results / "README.md"
    for table in ("gain-toy", "gain-toy2", "summary", "ranks", "wilcoxon", "friedman"):
        for ext in ("md", "tex", "csv"):
            assert (results / "tables" / f"{table}.{ext}").stat().st_size > 100
    tex = (results / "tables" / "gain-toy.tex").read_text()
    assert r"top-0.1\%" in tex and r"\caption{" in tex and r"\infty" in tex


def test_readme_has_definition_sources_and_the_summary_numbers(written, rows):
    text = written.read_text()
    assert GAIN_DEFINITION in text
    assert "Synthetic table for tests (CC0-1.0)" in text and "license: MIT" in text
    assert "deadbeef" in text  # meta.json copied
    assert "## Reproduction\n\nextra section text" in text
    assert text.index("## Reproduction") < text.index("## Data sources")
    toy = text[text.index("## toy\n"):text.index("## toy2\n")]
    assert "| designed | optimum | 3 | 2 | 8.00 | 500 |" in toy  # aRT 8, aRT RS 500.5
    for (bench, strat, target), r in rows.items():
        section = toy if bench == "toy" else text[text.index("## toy2\n"):]
        line = next(ln for ln in section.splitlines() if ln.startswith(f"| {strat} | {target} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2:4] == [str(r["n_trials"]), str(r["successes"])]
        assert cells[4] == fmt(r["art"] if r["art"] is not None else np.inf)
        assert cells[7] == fmt(r["gain"])
        assert cells[8] == f"[{fmt(r['gain_low'])}, {fmt(r['gain_high'])}]"


def test_gain_csv_matches_summary(written, rows, results):
    for bench in DESIGN:
        with (results / "tables" / f"gain-{bench}.csv").open() as fh:
            for line in csv.DictReader(fh):
                r = rows[line["benchmark"], line["strategy"], line["target"]]
                for key in ("n_trials", "successes"):
                    assert int(line[key]) == r[key]
                for key in ("art", "gain", "gain_low", "gain_high"):
                    want = np.inf if r[key] is None else r[key]
                    assert float(line[key]) == want


def _finals(bench: str) -> np.ndarray:
    n, budget, strategies = DESIGN[bench]
    return np.array([[max(a) / n for a in strategies[s]] for s in strategies])  # [strategy, seed]


def test_ranks_and_tests_tables(written, results):
    with (results / "tables" / "ranks.csv").open() as fh:
        ranks = {(r["benchmark"], r["strategy"]): r for r in csv.DictReader(fh)}
    # at budget 10 on toy, per seed: (oracle, designed, random-search) = (1.5, 1.5, 3), (1.5, 1.5, 3), (1, 3, 2)
    assert float(ranks["toy", "oracle"]["rank@10"]) == pytest.approx(4 / 3)
    assert float(ranks["toy", "designed"]["rank@10"]) == pytest.approx(2.0)
    assert float(ranks["toy", "random-search"]["rank@10"]) == pytest.approx(8 / 3)
    assert float(ranks["toy2", "designed"]["rank@1"]) == 3.0 and float(ranks["toy2", "designed"]["rank@5"]) == 1.5
    with (results / "tables" / "friedman.csv").open() as fh:
        fried = {r["blocks"]: r for r in csv.DictReader(fh)}
    want = sps.friedmanchisquare(*_finals("toy"))
    assert float(fried["seeds of toy"]["pvalue"]) == pytest.approx(want.pvalue)
    assert float(fried["seeds of toy"]["cd"]) == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 3)))
    assert float(fried["benchmarks"]["cd"]) == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 2)))
    with (results / "tables" / "wilcoxon.csv").open() as fh:
        wil = {(r["benchmark"], r["strategy"]): r for r in csv.DictReader(fh)}
    finals = _finals("toy")  # rows: random-search, oracle, designed
    assert float(wil["toy", "designed"]["pvalue"]) == pytest.approx(stats.wilcoxon(finals[2], finals[0]).pvalue)
    assert float(wil["toy", "designed"]["median_difference"]) == pytest.approx(0.999 - 0.109)
    assert ("toy", "random-search") not in wil


def test_errors_say_what_to_do(tmp_path, results):
    with pytest.raises(FileNotFoundError, match="nasarena run"):
        analysis.summary(tmp_path)
    broken = make_results(tmp_path / "broken")
    (broken / "benchmarks" / "toy2.json").unlink()
    with pytest.raises(FileNotFoundError, match="toy2.json is missing"):
        analysis.load_results(broken)


def test_a_shorter_trial_counts_its_own_samples(tmp_path):
    root = make_results(tmp_path, benchmarks=("toy",))
    path = root / "data" / "toy" / "designed" / "seed-0002.json"  # the failing trial: 10 -> 7 samples
    rec = json.loads(path.read_text())
    for key in ("arch", "observed", "truth", "cost"):
        rec[key] = rec[key][:7]
    path.write_text(json.dumps(rec))
    rows = {(r["strategy"], r["target"]): r for r in analysis.summary(root)}
    assert rows["designed", "optimum"]["art"] == (2 + 4 + 7) / 2
    report.write_report(root, figures=False)
    with (root / "tables" / "ranks.csv").open() as fh:
        ranks = list(csv.DictReader(fh))
    assert "rank@7" in ranks[0] and "rank@10" not in ranks[0]  # paired statistics at the common budget


def test_curve_steps():
    np.testing.assert_array_equal(report.curve_steps(5), [1, 2, 3, 4, 5])
    s = report.curve_steps(1000)
    assert s[0] == 1 and s[-1] == 1000 and len(s) <= 300 and np.all(np.diff(s) > 0)


def test_gain_by_budget_cuts_each_trial(results, monkeypatch):
    monkeypatch.setattr(report, "GAIN_BUDGETS", (2, 50))  # 50 exceeds the toy budgets: not shown
    a = analysis.analyse(results, n_boot=10)
    table = report.budget_gain_table(a)
    row = next(r for r in table.rows if r["benchmark"] == "toy" and r["strategy"] == "designed")
    art_rs = 1001 / 11  # N = 1000, K = 10 architectures in the top 1%
    # top-1% hits at steps 2, 3 and never: cut at 2 -> (2 + 2 + 2) / 1; full budget 10 -> (2 + 3 + 10) / 2
    assert row["gain_top-1%@2"] == pytest.approx(art_rs / 6)
    assert row["gain_top-1%@10"] == pytest.approx(art_rs / 7.5)
    assert "gain_top-1%@50" not in row
    rs = next(r for r in table.rows if r["benchmark"] == "toy2" and r["strategy"] == "random-search")
    assert rs["gain_top-1%@5"] == 0.0  # best 0.54 < the top-1% threshold 0.99

"""The reproduction section: published claims next to numbers computed from a small synthetic results
folder whose every number is known by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from experiments.analysis import trials as analysis
from experiments.analysis.tables import fmt
from experiments.studies import report, reproduction

N, BUDGET, SEEDS = 1000, 10, (0, 1, 2)
BENCH = "nb101-30k"  # the closest benchmark of the NAS-Bench-101 claims; truth of arch i is i / N
OPT = 999
NEVER = list(range(100, 110))
DESIGN = {
    "random-search": [NEVER] * 3,
    "lanas": [[OPT, *range(9)], [0, 1, 2, OPT, *range(3, 9)], list(range(10, 20))],  # hits at 1, 4; aRT 7.5
    "regularized-evolution": [[0, 1, 2, 3, OPT, *range(4, 9)], [*range(9), OPT], list(range(20, 30))],  # aRT 12.5
    "bayesian-optimization": [list(range(30, 40))] * 3,  # never reaches a target
    "ts-full": [[OPT, *range(9)]] * 3,  # labels of the subsets suite: aRT 1
    "ts-random-1pct": [list(range(40, 50))] * 3,
}
LURE = 100  # observed 1.0 although its truth is 0.1: the incumbent of random search


def _targets(truth: np.ndarray) -> dict:
    out = {}
    for name, top in (("optimum", 1), ("top-0.1%", 1), ("top-1%", 10)):
        thr = float(np.sort(truth)[::-1][top - 1])
        out[name] = {"threshold": thr, "K": int((truth >= thr).sum())}
    return out


def make_results(root: Path) -> Path:
    truth = np.arange(N) / N
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / f"{BENCH}.json").write_text(
        json.dumps(
            {
                "name": BENCH,
                "n": N,
                "metric": "accuracy",
                "optimum": float(truth.max()),
                "maximize": True,
                "targets": _targets(truth),
                "sources": ["synthetic (CC0-1.0)"],
            }
        )
    )
    for strat, archs in DESIGN.items():
        folder = root / "data" / BENCH / strat
        folder.mkdir(parents=True)
        for seed, arch in zip(SEEDS, archs):
            assert len(arch) == BUDGET
            observed = [1.0 if a == LURE else float(truth[a]) for a in arch]
            rec = {
                "benchmark": BENCH,
                "strategy": strat,
                "seed": seed,
                "budget": BUDGET,
                "arch": arch,
                "observed": observed,
                "truth": [float(truth[a]) for a in arch],
                "cost": [1.0] * BUDGET,
            }
            (folder / f"seed-{seed:04d}.json").write_text(json.dumps(rec))
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def gains(results) -> list[dict]:
    return analysis.summary(results, n_boot=200)


@pytest.fixture(scope="module")
def finals(results) -> list[dict]:
    trials, benchmarks = analysis.load_results(results)
    return reproduction.final_regret_rows(trials, benchmarks)


@pytest.fixture(scope="module")
def rows(gains, finals) -> dict[str, dict]:
    return {r["claim"]: r for r in reproduction.reproduction_rows(gains, finals)}


def _gain_row(gains, strat, target="optimum") -> dict:
    return next(g for g in gains if (g["benchmark"], g["strategy"], g["target"]) == (BENCH, strat, target))


def test_gain_claim_shows_the_computed_gain_exactly(rows, gains):
    g = _gain_row(gains, "lanas")
    assert g["art"] == 7.5 and g["gain"] == pytest.approx(1001 / 2 / 7.5)
    r = rows["LaNAS: sample-efficiency gain over random search"]
    assert (r["benchmark"], r["strategy"], r["published"]) == (BENCH, "lanas", "22x (ICLR 2020 submission abstract)")
    assert r["value"] == g["gain"]
    assert r["measured"] == f"{fmt(g['gain'])} [{fmt(g['gain_low'])}, {fmt(g['gain_high'])}]"
    assert "N = 1,000" in r["why"] and "2/3 trials reached it" in r["why"] and "500" in r["why"]


def test_ratio_art_and_regret_claims(rows, gains):
    lanas, re = _gain_row(gains, "lanas"), _gain_row(gains, "regularized-evolution")
    assert re["art"] == 12.5
    r = rows["LaNAS needs 14.6x fewer samples than regularised evolution to find the optimum"]
    assert r["value"] == re["art"] / lanas["art"] == pytest.approx(5 / 3)
    assert r["measured"] == f"{fmt(5 / 3)} (aRT {fmt(12.5)} vs {fmt(7.5)})"
    art = rows["LaNAS: mean samples to reach the global optimum (41 released runs)"]
    assert art["value"] == 7.5 and art["measured"].startswith("aRT 7.50 [")
    assert art["measured"].endswith("(2/3 trials reached optimum within 10 samples)")
    # random search's incumbent is the lure (observed 1.0, truth 0.1): regret 0.899 in pp
    rs = rows["Random search: test error of the best architecture after 150 queries"]
    assert rs["value"] == pytest.approx(100 * (0.999 - 0.1))
    assert rs["measured"] == f"{fmt(rs['value'])} pp (mean of 3 trials at 10 queries)"
    la = rows["BANANAS (ours: predictor-subsets:bananas): test error of the best architecture after 150 queries"]
    assert la["measured"] == reproduction.NOT_RUN


def test_not_run_and_no_success(rows):
    for claim in (
        "NAO/SemiNAS reaches a top-0.01% architecture after about 300 evaluations",
        "AlphaX: sample-efficiency gain over random search (mean samples to the optimum, 114 runs)",
        "AlphaX needs fewer samples than regularised evolution to find the optimum",
    ):
        r = rows[claim]
        assert (r["measured"], r["value"], r["benchmark"], r["why"]) == (reproduction.NOT_RUN, None, None, "")
    assert (
        rows["LaNAS needs 12.4x fewer samples than MCTS (AlphaX) to find the optimum"]["measured"]
        == f"alphax {reproduction.NOT_RUN} on {BENCH}"
    )
    bo = rows["LaNAS needs 16.5x fewer samples than Bayesian optimisation to find the optimum"]
    assert bo["value"] is None
    assert (
        bo["measured"] == "no trial of bayesian-optimization reached optimum (0/3 trials reached optimum within "
        f"10 samples); aRT of lanas {fmt(7.5)}"
    )
    # BANANAS' claim falls back to the subsets suite's "full" label when "predictor-subsets" is absent
    bananas = rows["BANANAS is over 100x more sample-efficient than random search (target not stated)"]
    assert (bananas["strategy"], bananas["value"]) == ("ts-full", pytest.approx(1001 / 2))
    rs_alpha = rows["Regularised evolution: gain over random search, as measured in the AlphaX paper"]
    assert rs_alpha["value"] == pytest.approx(1001 / 2 / 12.5)


def test_every_claim_gives_one_row(gains, finals):
    out = reproduction.reproduction_rows(gains, finals)
    assert len(out) == len(reproduction.CLAIMS)
    assert all(r["published"] for r in out)
    assert all(r["measured"] == reproduction.NOT_RUN for r in reproduction.reproduction_rows([], []))
    bad = reproduction.Claim("p", "c", "b", "1x", "ratio-of-medians", ("lanas",))
    with pytest.raises(ValueError, match="unknown quantity"):
        reproduction.reproduction_rows(gains, finals, claims=[bad])


def test_write_report_adds_the_section_and_table(results, gains):
    readme = report.write_report(results, n_boot=200, figures=False).read_text()
    section = readme[readme.index("## Reproduction of published results") : readme.index("## Data sources")]
    g = _gain_row(gains, "lanas")
    assert f"| {BENCH} (lanas) | {fmt(g['gain'])} [{fmt(g['gain_low'])}, {fmt(g['gain_high'])}] |" in section
    assert not [line for line in section.splitlines() if line.startswith("|") and reproduction.NOT_RUN in line]
    assert "nasarena's own" in section  # the gain definition in the caption
    with (results / "tables" / "reproduction.csv").open() as fh:
        by_claim = {r["claim"]: r for r in csv.DictReader(fh)}
    assert any(r["measured"] == reproduction.NOT_RUN for r in by_claim.values())  # ... the table keeps every claim
    assert float(by_claim["LaNAS: sample-efficiency gain over random search"]["value"]) == g["gain"]
    assert (results / "tables" / "reproduction.tex").read_text().count(r"\caption{") == 1


def test_subset_claim_lists_the_labels_present(rows, gains):
    r = rows[next(c.claim for c in reproduction.CLAIMS if c.quantity == "gains")]
    full, rand = _gain_row(gains, "ts-full", "top-0.1%"), _gain_row(gains, "ts-random-1pct", "top-0.1%")
    assert full["gain"] == pytest.approx(1001 / 2) and rand["gain"] == 0.0
    assert r["strategy"] == "ts-full, ts-random-1pct" and r["benchmark"] == BENCH
    assert r["measured"] == (
        f"ts-full {fmt(full['gain'])} [{fmt(full['gain_low'])}, {fmt(full['gain_high'])}] (3/3); ts-random-1pct 0 [0, 0] (0/3)"
    )

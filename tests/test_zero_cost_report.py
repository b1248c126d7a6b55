"""The zero-cost correlation report (experiments.studies.zero_cost) against hand-computed cases and
scipy's own rank correlations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments.studies import zero_cost as zc
from nasbench.zerocost import PROXIES


def test_top_overlap_by_hand():
    truth = np.arange(100.0)  # the best 1% is cell 99, the best 10% cells 90..99
    score = truth.copy()
    score[99] = -1.0  # the best cell ranked last
    assert zc.top_overlap(score, truth, 0.01) == 0.0
    assert zc.top_overlap(score, truth, 0.10) == 0.9  # 90..98 still in its top 10, 89 took 99's place
    assert zc.top_overlap(truth, truth, 0.10) == 1.0


def test_correlations_equal_scipy_and_rank_non_finite_last():
    rng = np.random.default_rng(0)
    n = 40
    truth = rng.normal(size=200)
    idx = rng.choice(200, n, replace=False)
    table = pd.DataFrame({"index": idx, **{p: truth[idx] + rng.normal(size=n) for p in PROXIES}})
    table.loc[0, "jacov"] = np.nan  # a cell whose output ignores its input: ranks last
    corr = zc.correlations(table, truth, n_resamples=200).set_index("proxy")
    x = table["synflow"].to_numpy()
    assert corr.loc["synflow", "spearman"] == stats.spearmanr(x, truth[idx]).statistic
    assert corr.loc["synflow", "kendall"] == stats.kendalltau(x, truth[idx]).statistic
    lowest = table["jacov"].fillna(-np.inf).to_numpy()
    assert corr.loc["jacov", "spearman"] == stats.spearmanr(lowest, truth[idx]).statistic
    for p in PROXIES:
        assert corr.loc[p, "spearman_lo"] <= corr.loc[p, "spearman"] <= corr.loc[p, "spearman_hi"]


def test_outside_names_the_published_figures_our_interval_excludes():
    corr = pd.DataFrame([
        {"proxy": "synflow", "spearman": 0.5, "spearman_lo": 0.4, "spearman_hi": 0.6},  # 0.737 and 0.73 outside
        {"proxy": "nwot", "spearman": 0.76, "spearman_lo": 0.70, "spearman_hi": 0.80},  # 0.77 inside
        {"proxy": "fisher", "spearman": -0.3, "spearman_lo": -0.45, "spearman_hi": -0.2},  # |rho| in [0.2, 0.45]: 0.36 inside
    ])
    assert zc.outside(corr) == [("synflow", "abdelfattah2021_test", 0.737), ("synflow", "suite_zero_valid", 0.73)]


def test_the_committed_reports_are_what_the_committed_tables_give():
    """Every results/zero-cost/*.csv's report regenerates to the byte from the table and its json
    (the NB-201 benchmark installs from PyPI, so this runs on a fresh clone)."""
    root = Path(__file__).resolve().parent.parent / "results" / "zero-cost"
    tables = sorted(root.glob("*.csv"))
    assert {p.name for p in tables} >= {"nb201-cifar10.csv", "nb201-cifar10-synflow.csv", "nb201-cifar100-synflow.csv",
                                        "nb201-imagenet16-synflow.csv"}
    for path in tables:
        table = pd.read_csv(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["cells_done"] == len(table) and table["index"].is_unique
        assert zc.report_text(path) == zc.report_path(path).read_text(), path

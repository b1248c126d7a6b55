"""Statistics: bootstrap intervals on simulated random search, tests against known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from experiments.analysis import metrics, stats


def _random_search_hits(n: int, k: int, trials: int, seed: int) -> np.ndarray:
    """First-hit step of random search without replacement: items 0..k-1 are the targets."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((trials, n)), axis=1)  # a uniform random permutation per trial
    return np.argmax(order < k, axis=1) + 1.0


def test_random_search_measured_art_matches_exact_formula():
    n, k = 50, 3
    hits = _random_search_hits(n, k, trials=4000, seed=0)
    art_rs = metrics.art_random_exact(n, k)  # 12.75
    est = stats.bootstrap_gain(hits, n, art_rs, seed=1)
    assert est.successes == est.n_trials == 4000
    assert est.art_low <= art_rs <= est.art_high
    assert est.gain_low <= 1.0 <= est.gain_high  # the gain of random search over itself is 1
    assert est.art_high - est.art_low < 1.0  # and the interval is informative


def test_random_search_at_a_small_budget_measures_the_budget_art():
    n, k, budget = 50, 3, 10
    hits = _random_search_hits(n, k, trials=4000, seed=0)
    hits[hits > budget] = np.inf
    est = stats.bootstrap_gain(hits, budget, metrics.art_random_exact(n, k), seed=1)
    assert est.art_low <= metrics.art_random_budget(n, k, budget) <= est.art_high  # 15.29
    assert not est.art_low <= metrics.art_random_exact(n, k) <= est.art_high  # 12.75: restarts lose samples
    assert est.gain_high < 1.0


def test_bootstrap_gain_hand_cases():
    est = stats.bootstrap_gain([2, 4, np.inf], 10, art_rs=100.0)
    assert (est.n_trials, est.successes, est.art, est.gain) == (3, 2, 8.0, 12.5)
    # a resample can be all failures (gain 0) and at best all hits at 2 (gain 50)
    assert 0.0 <= est.gain_low <= est.gain <= est.gain_high <= 50.0
    none = stats.bootstrap_gain([np.inf, np.inf], 10, art_rs=100.0)
    assert (none.art, none.gain, none.gain_low, none.gain_high, none.art_low) == (np.inf, 0.0, 0.0, 0.0, np.inf)
    same = stats.bootstrap_gain([1, 1, 1], 10, art_rs=7.0)
    assert (same.gain, same.gain_low, same.gain_high, same.art_low, same.art_high) == (7.0, 7.0, 7.0, 1.0, 1.0)


def test_bootstrap_is_seeded():
    x = np.arange(20.0)
    a = stats.bootstrap_ci(x, np.mean, n_boot=500, seed=3)
    assert a == stats.bootstrap_ci(x, np.mean, n_boot=500, seed=3)
    assert a[0] == 9.5 and a[1] < 9.5 < a[2]
    assert stats.bootstrap_ci(np.full(5, 2.0), np.mean, n_boot=100) == (2.0, 2.0, 2.0)


def test_median_band():
    curves = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    med, lo, hi = stats.median_band(curves, n_boot=400, seed=0)
    np.testing.assert_array_equal(med, [3.0, 4.0])
    assert np.all(lo >= [1, 2]) and np.all(hi <= [5, 6]) and np.all(lo <= med) and np.all(med <= hi)
    med, lo, hi = stats.median_band(np.ones((4, 3)), n_boot=50)
    np.testing.assert_array_equal(np.stack([med, lo, hi]), np.ones((3, 3)))
    med, _, _ = stats.median_band([[1.0, np.nan], [3.0, 5.0]], n_boot=10)  # padding ignored
    np.testing.assert_array_equal(med, [2.0, 5.0])


def test_wilcoxon_known_case():
    # Hollander & Wolfe (1973) depression scale data (R's wilcox.test example): V = 40, exact p = 20/512
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    res = stats.wilcoxon(x, y)
    assert res.pvalue == pytest.approx(0.0390625, abs=1e-12)
    assert res.pvalue == pytest.approx(sps.wilcoxon(x, y).pvalue, abs=1e-15)
    assert res.statistic == 5.0 and res.n == 9  # min(W+, W-) = min(40, 5)
    assert stats.wilcoxon([1, 2, 3], [1, 2, 3]).pvalue == 1.0


def test_friedman_hand_computed():
    # 4 blocks, 3 groups ranked the same way in every block: rank sums 4, 8, 12
    # chi2 = 12 / (N k (k+1)) * sum R_j^2 - 3 N (k+1) = 0.25 * 224 - 48 = 8; p = exp(-8/2) for 2 df
    scores = np.tile([1.0, 2.0, 3.0], (4, 1))
    res = stats.friedman(scores)
    assert res.statistic == pytest.approx(8.0)
    assert res.pvalue == pytest.approx(np.exp(-4.0))
    with pytest.raises(ValueError, match="groups >= 3"):
        stats.friedman(np.ones((4, 2)))


def test_nemenyi_critical_difference():
    # Demšar (2006): 4 classifiers on 14 data sets, CD = 2.569 * sqrt(4*5 / (6*14)) = 1.25
    assert stats.nemenyi_cd(4, 14) == pytest.approx(2.569 * np.sqrt(20 / 84))
    assert round(stats.nemenyi_cd(4, 14), 2) == 1.25
    assert stats.nemenyi_cd(4, 30) == pytest.approx(2.569 / 3)
    for k, q in stats.Q_ALPHA_005.items():
        assert q == pytest.approx(sps.studentized_range.ppf(0.95, k, np.inf) / np.sqrt(2), abs=1e-3)  # Demšar truncates
    assert stats.q_alpha(25) == pytest.approx(sps.studentized_range.ppf(0.95, 25, np.inf) / np.sqrt(2))


def test_nonsignificant_groups():
    assert stats.nonsignificant_groups([1.0, 1.5, 3.0, 3.2], 0.6) == [(0, 1), (2, 3)]
    assert stats.nonsignificant_groups([3.0, 1.0, 2.0], 1.5) == [(0, 1), (1, 2)]
    assert stats.nonsignificant_groups([1.0, 2.0, 3.0], 0.5) == []
    assert stats.nonsignificant_groups([1.0, 2.0, 3.0], 5.0) == [(0, 2)]


def test_holm():
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_array_equal(stats.holm([0.5, np.nan]), [0.5, np.nan])

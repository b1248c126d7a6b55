"""Censored samples to a target compared at a common horizon (experiments.analysis.survival)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from experiments.analysis import metrics, survival
from experiments.analysis.survival import Censored


def cens(pairs: list[tuple[int, bool]], seeds: list[int] | None = None) -> Censored:
    return Censored.of(dict(zip(seeds if seeds is not None else range(len(pairs)), pairs)))


def test_censoring_at_a_horizon_and_the_art_there_by_hand():
    c = cens([(10, True), (20, True), (50, False), (50, False), (40, True)])
    assert survival.art(c) == (10 + 20 + 50 + 50 + 40) / 3
    at = c.at(30)  # the hit at 40 becomes a trial censored at 30; the censored ones are charged 30
    assert at.times.tolist() == [10, 20, 30, 30, 30] and at.events.tolist() == [True, True, False, False, False]
    assert survival.art(at) == 120 / 2
    assert survival.art(c.at(5)) == math.inf


def test_random_search_law_against_enumeration():
    """Every order of N = 6 cells with K = 2 optima: the first-hit law, its cumulative hazard, and
    aRT at a horizon, E[min(T, h)] / P(T <= h), against counting."""
    n, k = 6, 2
    firsts = [1 + min(order.index(0), order.index(1)) for order in itertools.permutations(range(n))]
    firsts = np.array(firsts)
    for h in (1, 2, 3, 5):
        want = np.minimum(firsts, h).mean() / (firsts <= h).mean()
        assert metrics.art_random_budget(n, k, h) == pytest.approx(want)
    cdf = survival._random_cdf(n, k)
    assert cdf.tolist() == pytest.approx([(firsts <= t).mean() for t in range(n + 1)])
    # hazard at sample x: K / (N - x + 1) = P(T = x | T >= x)
    cum = survival.random_hazard(n, k, 5)
    for x in range(1, 6):
        assert cum[x] - cum[x - 1] == pytest.approx((firsts == x).sum() / (firsts >= x).sum())


def test_random_first_hits_follow_the_exact_law():
    rng = np.random.default_rng(0)
    t = survival.random_first_hits(10, 2, (100_000,), rng)
    pmf = [(math.comb(10 - x + 1, 2) - math.comb(10 - x, 2)) / math.comb(10, 2) for x in range(1, 10)]
    got = np.bincount(t, minlength=11)[1:10] / t.size
    assert t.min() >= 1 and t.max() <= 9
    assert np.abs(got - pmf).max() < 0.006  # 4 standard errors of the largest cell


def test_ratio_point_and_a_sample_that_does_not_vary():
    a = cens([(10, True)] * 4)
    b = cens([(100, True)] * 4)
    assert survival.ratio_paired(a, b, 200, np.random.default_rng(0)) == (10.0, 10.0, 10.0)
    # at the common horizon 50 the baseline never succeeds: an unbounded ratio, its interval [0, inf]
    assert survival.ratio_paired(a, b, 50, np.random.default_rng(0)) == (math.inf, 0.0, math.inf)
    # against random search (N = 99, K = 2) at a horizon where its aRT is exact: (N + 1) / 3 / 10
    r = survival.ratio_to_random(a, 99, 2, 98, np.random.default_rng(0))
    assert r[0] == pytest.approx(metrics.art_random_budget(99, 2, 98) / 10) and r[1] == r[2] == r[0]
    assert survival.ratio_to_random(cens([(50, False)] * 3), 99, 1, 50, np.random.default_rng(0)) == (0.0, 0.0, math.inf)


def test_bca_interval_is_scipys_for_a_well_behaved_sample():
    """The interval is scipy's BCa of the log ratio, mapped back, with the same resamples."""
    rng = np.random.default_rng(1)
    times = rng.integers(5, 60, size=25)
    events = rng.random(25) < 0.8
    a = Censored(np.where(events, times, 60), events, np.arange(25))
    lo, hi = survival.art_interval(a, np.random.default_rng(7))

    def stat(t, e, axis=-1):
        return np.log(t.sum(axis=axis)) - np.log(e.sum(axis=axis))

    ref = sps.bootstrap((a.times.astype(float), a.events.astype(float)), stat, paired=True, vectorized=True,
                        n_resamples=survival.N_RESAMPLES, method="BCa", random_state=np.random.default_rng(7))
    assert (lo, hi) == pytest.approx((math.exp(ref.confidence_interval.low), math.exp(ref.confidence_interval.high)))
    assert lo < survival.art(a) < hi


def test_logrank_direction_and_scipys_value():
    fast = cens([(x, True) for x in (3, 5, 8, 9, 12, 15)])
    slow = cens([(x, True) for x in (20, 25, 30)] + [(40, False)] * 3)
    p_sooner, p_later = survival.logrank(fast, slow, 40)
    ref = sps.logrank(fast.censored_data(), slow.censored_data(), alternative="greater").pvalue
    assert p_sooner == pytest.approx(ref) and p_sooner < 0.01 and p_later > 0.99
    # at the horizon 10 the slow side's hits are censored: still the fast one is sooner
    assert survival.logrank(fast, slow, 10)[0] < 0.05
    assert survival.logrank(slow, fast, 40) == pytest.approx((p_later, p_sooner))


def test_one_sample_logrank_is_calibrated_under_random_search():
    """Samples of random search itself: the one-sided p-values are uniform (their 10% quantile near
    0.1), and a strategy that always finds the target at once is far from random search."""
    n, k, h = 60, 1, 30
    rng = np.random.default_rng(3)
    ps = []
    for _ in range(200):
        t = survival.random_first_hits(n, k, (20,), rng)
        ps.append(survival.logrank_random(Censored(np.minimum(t, h), t <= h, np.arange(20)), n, k, h, rng)[0])
    share = np.mean(np.array(ps) <= 0.1)
    assert 0.1 - 3 * 0.0212 < share < 0.1 + 3 * 0.0212  # binomial(200, 0.1): 3 standard errors
    quick = cens([(1, True)] * 10)
    p_sooner, p_later, o, e = survival.logrank_random(quick, n, k, h, np.random.default_rng(0))
    assert o == 10 and e == pytest.approx(10 * 1 / 60)
    assert p_sooner == pytest.approx(1 / (1 + survival.N_NULL)) and p_later == 1.0


def test_holm_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06
    assert survival.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert survival.holm([0.5, 0.9]) == [1.0, 1.0]  # 0.5 x 2, then max(1.0, 0.9 x 1)

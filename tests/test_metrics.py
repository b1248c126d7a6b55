"""Metrics against hand-computed answers and exact enumerations."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from experiments.analysis import metrics

NAN, INF = np.nan, np.inf


def test_best_so_far_running_max_keeps_padding():
    truth = [[1.0, 3.0, 2.0, 5.0], [4.0, 1.0, NAN, NAN]]
    np.testing.assert_array_equal(metrics.best_so_far(truth), [[1, 3, 3, 5], [4, 4, NAN, NAN]])
    np.testing.assert_array_equal(metrics.best_so_far([2.0, 1.0]), [[2.0, 2.0]])


def test_regrets():
    truth = [[1.0, 3.0, 2.0, 5.0]]
    np.testing.assert_array_equal(metrics.simple_regret(truth, 5.0), [[4, 2, 2, 0]])
    np.testing.assert_array_equal(metrics.normalized_regret(truth, 5.0, 1.0), [[1, 0.5, 0.5, 0]])
    with pytest.raises(ValueError, match="reference score below the optimum"):
        metrics.normalized_regret(truth, 5.0, 5.0)


def test_incumbent_truth_follows_the_best_observed():
    observed = [[0.5, 0.9, 0.7, 0.9, 1.0]]
    truth = [[0.4, 0.6, 0.95, 0.99, 0.3]]
    # best observed so far: step 1 -> arch 0, steps 2-4 -> arch 1 (the later tie does not replace it), step 5 -> arch 4
    np.testing.assert_array_equal(metrics.incumbent_truth(observed, truth), [[0.4, 0.6, 0.6, 0.6, 0.3]])


def test_samples_to_target_is_first_one_based_hit():
    truth = [[1.0, 3.0, 2.0, 5.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, NAN, NAN]]
    np.testing.assert_array_equal(metrics.samples_to_target(truth, 3.0), [2, INF, 1])
    np.testing.assert_array_equal(metrics.samples_to_target(truth, 5.0), [4, INF, INF])


def test_art_hand_computed():
    # three trials: hits at 2 and 4, one failure after its whole budget of 10 -> (2 + 4 + 10) / 2
    assert metrics.art([2, 4, INF], 10) == 8.0
    assert metrics.art([2, 4, INF], [10, 10, 7]) == 6.5
    assert metrics.art([1, 1, 1], 5) == 1.0
    assert metrics.art([INF, INF], 10) == INF
    with pytest.raises(ValueError, match="exceeds"):
        metrics.art([12], 10)


def test_art_at_budget_cuts_trials_after_b_samples():
    # hits at 2 and 4 and a failure, 10 samples each: cut at 3 -> hits [2, -, -], each charged 3 -> 8 / 1
    assert metrics.art_at_budget([2, 4, INF], 10, 3) == 8.0
    assert metrics.art_at_budget([2, 4, INF], 10, 4) == (2 + 4 + 4) / 2
    assert metrics.art_at_budget([2, 4, INF], [10, 10, 3], 10) == metrics.art([2, 4, INF], [10, 10, 3])
    assert metrics.art_at_budget([5, 6], 10, 4) == INF
    with pytest.raises(ValueError, match="budget"):
        metrics.art_at_budget([1], 10, 0)


def _enumerated_art(n: int, k: int, budget: int) -> Fraction:
    """COCO aRT of random search by enumerating every placement of the k targets (all equally
    likely under a uniform random order): first hit T = 1 + the smallest target position."""
    used, successes = Fraction(0), 0
    for pos in itertools.combinations(range(n), k):
        t = min(pos) + 1
        used += min(t, budget)
        successes += t <= budget
    return used / successes


@pytest.mark.parametrize("n,k", [(6, 1), (6, 2), (9, 4), (10, 10)])
def test_random_search_exact_art_by_enumeration(n, k):
    assert metrics.art_random_exact(n, k) == pytest.approx(float(Fraction(n + 1, k + 1)), rel=1e-15)
    assert float(_enumerated_art(n, k, n)) == pytest.approx(metrics.art_random_exact(n, k), rel=1e-12)


@pytest.mark.parametrize("n,k,budget", [(6, 1, 1), (6, 2, 3), (9, 4, 2), (12, 3, 5), (12, 3, 10), (12, 3, 40)])
def test_random_search_budget_art_by_enumeration(n, k, budget):
    assert metrics.art_random_budget(n, k, budget) == pytest.approx(float(_enumerated_art(n, k, budget)), rel=1e-12)


def test_budget_art_reaches_exact_when_every_trial_succeeds():
    assert metrics.art_random_budget(50, 3, 48) == pytest.approx(12.75)
    assert metrics.art_random_budget(50, 3, 47) > 12.75
    # K = 1 with a budget far below N: about N, twice (N+1)/2
    assert metrics.art_random_budget(15625, 1, 150) == pytest.approx(15625 - 149 / 2, rel=1e-9)
    with pytest.raises(ValueError, match="K <= N"):
        metrics.art_random_exact(5, 0)


def test_gain():
    assert metrics.gain(8.0, 12.75) == 12.75 / 8.0
    assert metrics.gain(INF, 12.75) == 0.0


def test_ecdf():
    hits = [2, 4, INF, 4]
    np.testing.assert_array_equal(metrics.ecdf(hits, [1, 2, 3, 4, 100]), [0, 0.25, 0.25, 0.75, 0.75])


def test_average_rank_hand_case_with_ties():
    # 3 strategies x 2 seeds x 2 steps of best-so-far
    a = [[1, 3], [2, 2]]
    b = [[1, 2], [3, 3]]
    c = [[0, 3], [2, 4]]
    # seed 0: step 1 ranks (1.5, 1.5, 3), step 2 (1.5, 3, 1.5); seed 1: step 1 (2.5, 1, 2.5), step 2 (3, 2, 1)
    np.testing.assert_allclose(metrics.average_rank([a, b, c]), [[2.0, 2.25], [1.25, 2.5], [2.75, 1.25]])
    np.testing.assert_array_equal(metrics.ranks([[3.0, 1.0, 3.0, 2.0]]), [[1.5, 4, 1.5, 3]])
    with pytest.raises(ValueError, match="NaN"):
        metrics.ranks([1.0, NAN])

"""Statistics over trials: bootstrap intervals, paired tests, the Friedman test and the Nemenyi
critical difference. Randomness only through an explicit seed (a numpy ``Generator``).

- Bootstrap intervals are percentile intervals: resample trials (seeds) with replacement,
  recompute the statistic, take the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
- Wilcoxon signed-rank: paired over seeds (scipy), two-sided.
- Friedman: blocks (seeds, or benchmarks) x groups (strategies), scipy's chi-square form.
- Nemenyi critical difference (Demšar 2006): ``CD = q_alpha * sqrt(k (k + 1) / (6 N))`` for ``k``
  groups ranked over ``N`` blocks; two groups whose average ranks differ by less than CD are not
  significantly different.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from experiments.analysis import metrics, survival

# q_alpha for alpha = 0.05: the studentised range quantile (infinite df) divided by sqrt(2).
# k = 2..10 as printed in Demšar (2006), Table 5a; k = 11..20 from scipy.stats.studentized_range.
Q_ALPHA_005 = {
    2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164,
    11: 3.219, 12: 3.268, 13: 3.313, 14: 3.354, 15: 3.391, 16: 3.426, 17: 3.458, 18: 3.489,
    19: 3.517, 20: 3.544,
}


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _percentiles(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lo, hi


def bootstrap_ci(
    data: ArrayLike, statistic, n_boot: int = 2000, level: float = 0.95, seed: int | np.random.Generator = 0
) -> tuple[float, float, float]:
    """``(estimate, low, high)``: ``statistic(data)`` and its percentile bootstrap interval,
    resampling ``data`` along axis 0 with replacement. ``statistic`` maps an array to a float."""
    x = np.asarray(data)
    if x.shape[0] == 0:
        raise ValueError("bootstrap of no data")
    rng = _rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    boots = np.array([statistic(x[i]) for i in idx], dtype=np.float64)
    lo, hi = _percentiles(boots, level)
    return float(statistic(x)), float(lo), float(hi)


@dataclass(frozen=True)
class GainEstimate:
    """aRT and gain of one method for one target, with BCa bootstrap 95% intervals."""

    n_trials: int
    successes: int
    art: float  # inf when no trial succeeded
    art_low: float
    art_high: float
    gain: float  # 0 when no trial succeeded
    gain_low: float
    gain_high: float


def bootstrap_gain(
    hits: ArrayLike, lengths: ArrayLike, art_rs: float, seed: int | np.random.Generator = 0,
) -> GainEstimate:
    """aRT and gain ``art_rs / aRT`` with BCa 95% intervals: the trials as censored data (a hit is
    an event at its step, a failure censored at its length) and the project's one BCa helper
    (:func:`experiments.analysis.survival.art_interval`: trials resampled with replacement,
    ``N_RESAMPLES`` of them). The gain's interval is the image of the aRT's (``art_rs / aRT`` is
    decreasing); an aRT end reaching resamples without a success is infinite, a gain end 0."""
    h = np.asarray(hits, dtype=np.float64).reshape(-1)
    n = np.broadcast_to(np.asarray(lengths, dtype=np.float64), h.shape)
    if h.size == 0:
        raise ValueError("no trials to estimate aRT from")
    a = metrics.art(h, n)
    ok = np.isfinite(h)
    if not ok.any():
        a_lo = a_hi = float("inf")
    else:
        c = survival.Censored(np.where(ok, h, n).astype(np.int64), ok, np.arange(h.size, dtype=np.int64))
        a_lo, a_hi = survival.art_interval(c, _rng(seed))
    return GainEstimate(
        n_trials=int(h.size), successes=int(ok.sum()), art=a, art_low=float(a_lo), art_high=float(a_hi),
        gain=metrics.gain(a, art_rs), gain_low=art_rs / a_hi if a_hi < np.inf else 0.0,
        gain_high=art_rs / a_lo if a_lo > 0 else float("inf"),
    )


def median_band(
    curves: ArrayLike, n_boot: int = 1000, level: float = 0.95, seed: int | np.random.Generator = 0,
    chunk: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(median, low, high)``, each ``[B]``: the median over seeds of ``curves [S, B]`` and a
    percentile bootstrap band (seeds resampled with replacement; NaN padding ignored)."""
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] == 0:
        raise ValueError(f"curves must be [seeds, budget] with at least one seed, got {c.shape}")
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    med_fn = np.nanmedian if np.isnan(c).any() else np.median
    rng = _rng(seed)
    meds = []
    with warnings.catch_warnings():  # a resample of only padding has no median: NaN, as it should
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in range(0, n_boot, chunk):
            idx = rng.integers(0, c.shape[0], size=(min(chunk, n_boot - start), c.shape[0]))
            meds.append(med_fn(c[idx], axis=1))
        lo, hi = np.nanquantile(np.concatenate(meds, axis=0), [(1 - level) / 2, (1 + level) / 2], axis=0)
        return med_fn(c, axis=0), lo, hi


@dataclass(frozen=True)
class TestResult:
    statistic: float
    pvalue: float
    n: int


def wilcoxon(x: ArrayLike, y: ArrayLike) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of paired samples ``x[i]`` vs ``y[i]`` (e.g. the same
    seed under two strategies). All-zero differences give ``p = 1`` (no evidence of a difference)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("Wilcoxon test of no pairs")
    if np.all(a == b):
        return TestResult(0.0, 1.0, int(a.size))
    res = sps.wilcoxon(a, b, alternative="two-sided")
    return TestResult(float(res.statistic), float(res.pvalue), int(a.size))


def friedman(scores: ArrayLike) -> TestResult:
    """Friedman test on ``scores [N blocks, k groups]`` (needs ``k >= 3`` and ``N >= 2``).
    Blocks where every group scores the same carry no information but are kept (scipy's form)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 3 or s.shape[0] < 2:
        raise ValueError(f"Friedman needs [blocks >= 2, groups >= 3] scores, got shape {s.shape}")
    if np.all(s == s[:, :1]):
        return TestResult(0.0, 1.0, int(s.shape[0]))
    res = sps.friedmanchisquare(*s.T)
    return TestResult(float(res.statistic), float(res.pvalue), int(s.shape[0]))


def q_alpha(k: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical value for ``k`` groups: the table for alpha 0.05 (k <= 20), else the
    studentised range quantile with infinite degrees of freedom over sqrt(2)."""
    if k < 2:
        raise ValueError(f"a critical difference needs at least 2 groups, got {k}")
    if alpha == 0.05 and k in Q_ALPHA_005:
        return Q_ALPHA_005[k]
    return float(sps.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Critical difference of average ranks: ``q_alpha * sqrt(k (k + 1) / (6 n))``."""
    if n < 1:
        raise ValueError(f"a critical difference needs at least one block, got {n}")
    return q_alpha(k, alpha) * float(np.sqrt(k * (k + 1) / (6.0 * n)))


def nonsignificant_groups(avg_ranks: ArrayLike, cd: float) -> list[tuple[int, int]]:
    """Maximal runs of groups (positions in ascending order of average rank, inclusive ``(i, j)``)
    whose average ranks span less than or equal to ``cd``: the bars of a critical-difference diagram."""
    r = np.sort(np.asarray(avg_ranks, dtype=np.float64))
    runs: list[tuple[int, int]] = []
    for i in range(r.size):
        j = int(np.searchsorted(r, r[i] + cd, side="right")) - 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return runs


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN entries are left out and stay NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out

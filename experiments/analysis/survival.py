"""Samples to a target as censored time-to-event data, compared at a common horizon.

A trial that searches until a target (the optimum) is an event time ``T`` (the samples it needed)
or, if it stopped at its cap without the target, censored at the cap. Comparing strategy A with a
baseline B (published claim: "A needs ``r`` times fewer samples than B"):

* **Common horizon** ``h = min(cap_A, cap_B)``: every trial of both is censored at ``h`` (a hit after
  ``h`` becomes a censored trial), so both sides are the same algorithm "search ``h`` samples". Against
  random search, ``h`` is A's cap and random search is its exact law (the hypergeometric first-hit
  time of ``K`` tied optima among ``N`` cells).
* **Ratio** ``aRT_B(h) / aRT_A(h)``, with COCO's aRT at the horizon, ``sum_i min(T_i, h) / #{T_i <= h}``
  (:func:`experiments.analysis.metrics.art_at_budget`); random search's is exact,
  ``E[min(T, h)] / P(T <= h)`` (:func:`experiments.analysis.metrics.art_random_budget`). > 1: A needs fewer.
* **Interval**: ``scipy.stats.bootstrap(method="BCa")``, 95%, :data:`N_RESAMPLES` resamples
  (:data:`N_RESAMPLES_FINE` where an end lies within 3% of the published ratio it is compared with), paired
  by seed where both sides ran the same seeds, independent otherwise; against random search A alone
  is resampled (the baseline is exact). A resample in which one side never succeeds has an
  unbounded ratio (0 or infinity); an interval end that reaches such resamples is reported as 0 or
  infinity, never as a finite number interpolated towards them; where a side never succeeds within
  ``h`` at all, the interval is ``[0, infinity]``. Where BCa's acceleration is undefined (every
  leave-one-out estimate equal), the percentile interval of the same resamples is used.
* **Tests**, one-sided, both directions: between two measured strategies, ``scipy.stats.logrank`` on
  ``scipy.stats.CensoredData`` at ``h``. Against random search, the one-sample log-rank statistic
  ``U = O - E`` (observed hits within ``h`` minus the hits the exact hazard ``K / (N - x + 1)`` at
  sample ``x`` predicts over each trial's time at risk, Breslow 1975; Finkelstein, Muzikansky and
  Schoenfeld 2003), whose null distribution is *simulated* from random search's exact law
  (:data:`N_NULL` draws of the whole sample, seeded): with a few expected hits the normal
  approximation is far from exact (3 hits where 0.3 are expected: normal p = 5e-7, exact 4e-3).
* **Holm** over a stated family of one-sided tests (:func:`holm`).

Everything here is a pure function of arrays; the claims report (:mod:`experiments.studies.claims`) applies
it to every claim cell, and ``tests/test_survival.py`` checks it against scipy's references and
hand-computed cases.
"""

from __future__ import annotations

import functools
import math
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

from experiments.analysis import metrics

N_RESAMPLES = 9_999  # bootstrap resamples of every interval
N_RESAMPLES_FINE = 199_999  # ... and of one whose end lies within NEAR of the published ratio it is compared with
NEAR = 0.03  # relative distance (|log ratio|) of an interval end to a published ratio that calls for the fine interval
N_NULL = 19_999  # simulated random-search samples behind a one-sample log-rank p-value
CONFIDENCE = 0.95
ALPHA = 0.05  # family-wise level at which the studies read their Holm-adjusted one-sided tests
MIN_SUCCESSES = 5  # fewer successes than this within the horizon on a side: a ratio's size is not estimable


@dataclass(frozen=True)
class Censored:
    """Trials of one strategy on one benchmark: ``times[i]`` samples used (the hit or the cap; or, in
    the time protocol, simulated seconds), ``events[i]`` whether the target was reached then;
    ``seeds[i]`` pairs trials across strategies."""

    times: np.ndarray  # int64 samples, or float64 seconds
    events: np.ndarray  # bool
    seeds: np.ndarray  # int64

    @staticmethod
    def of(trials: dict[int, tuple[int, bool]]) -> Censored:
        """From ``{seed: (samples, reached)}``."""
        seeds = np.array(sorted(trials), np.int64)
        return Censored(np.array([trials[s][0] for s in seeds], np.int64),
                        np.array([trials[s][1] for s in seeds], bool), seeds)

    def at(self, h: float) -> Censored:
        """The same trials censored at ``h`` samples."""
        return Censored(np.minimum(self.times, h), self.events & (self.times <= h), self.seeds)

    def only(self, seeds: np.ndarray) -> Censored:
        keep = np.isin(self.seeds, seeds)
        return Censored(self.times[keep], self.events[keep], self.seeds[keep])

    def censored_data(self) -> sps.CensoredData:
        return sps.CensoredData(uncensored=self.times[self.events].astype(float),
                                right=self.times[~self.events].astype(float))


def art(c: Censored) -> float:
    """COCO's aRT of ``c`` (``inf`` without a success)."""
    return metrics.art(np.where(c.events, c.times, np.inf).astype(float), c.times.astype(float))


def _ratio_from_sums(sum_b, hits_b, sum_a, hits_a):
    """``aRT_B / aRT_A = (sum_B / hits_B) / (sum_A / hits_A)`` as a log, vectorised over resamples:
    ``+inf`` where B never succeeds, ``-inf`` where A never does (``nan`` where neither does)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(sum_b) - np.log(hits_b) - np.log(sum_a) + np.log(hits_a)


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and ``names`` (a cell's interval does not depend on which other
    cells a report holds)."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


def _bca(data: tuple[np.ndarray, ...], statistic, paired: bool, rng: np.random.Generator,
         near: float | None = None, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """BCa interval of ``exp(statistic)`` where ``statistic`` is a log ratio that may be +-inf in a
    resample. Infinite values are replaced by +-1e3 for scipy (which needs finite numbers); an end
    that lands beyond the finite resamples is reported as 0 or infinity. Where ``near`` (a published
    ratio a verdict compares with the ends) lies within :data:`NEAR` of an end, the interval is
    recomputed with :data:`N_RESAMPLES_FINE` resamples, so that the comparison does not hang on the
    resampling's Monte Carlo error."""
    low, high = _bca_once(data, statistic, paired, rng, N_RESAMPLES, confidence)
    if near is not None and any(0 < e < math.inf and abs(math.log(near / e)) < NEAR for e in (low, high)):
        low, high = _bca_once(data, statistic, paired, rng, N_RESAMPLES_FINE, confidence)
    return low, high


def _bca_once(data: tuple[np.ndarray, ...], statistic, paired: bool, rng: np.random.Generator,
              n_resamples: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    def stat(*args, axis=-1):
        v = statistic(*args, axis=axis)
        return np.clip(np.nan_to_num(v, nan=0.0, posinf=1e3, neginf=-1e3), -1e3, 1e3)

    with warnings.catch_warnings():  # a degenerate jackknife is handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        res = sps.bootstrap(data, stat, paired=paired, vectorized=True, n_resamples=n_resamples, batch=20_000,
                            confidence_level=confidence, method="BCa", random_state=rng)
    dist = res.bootstrap_distribution
    finite = dist[np.abs(dist) < 1e3]
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if math.isnan(lo) or math.isnan(hi):  # BCa undefined (every leave-one-out estimate equal): percentile
        lo, hi = (float(np.quantile(dist, q)) for q in ((1 - confidence) / 2, (1 + confidence) / 2))

    def back(v: float) -> float:
        if not finite.size:
            return 0.0 if v < 0 else math.inf
        return 0.0 if v < finite.min() else math.inf if v > finite.max() else math.exp(v)

    return back(lo), back(hi)


def _shift(*cs: Censored) -> float:
    """A power of two above any total of times a resample can have (trials x the longest time), so
    that one float64 sum of :func:`_encode`'d trials holds both totals: exactly for samples (integers
    below 2^53), to about 1e-16 of the total for seconds."""
    top = max(float(c.times.size) * float(np.max(c.times, initial=0)) for c in cs)
    return float(2.0 ** math.ceil(math.log2(top + 1.0)))


def _encode(c: Censored, shift: float) -> np.ndarray:
    """One number per trial, ``event * shift + time``, so that a resample keeps each trial's time and
    event together (scipy resamples each sample it is given on its own unless paired) and one sum
    gives both totals."""
    return c.events * shift + c.times.astype(np.float64)


def _sums(v: np.ndarray, shift: float, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(total time, successes) of encoded trials, along ``axis``."""
    total = v.sum(axis=axis)
    hits = np.floor(total / shift)
    return total - hits * shift, hits


def art_interval(c: Censored, rng: np.random.Generator) -> tuple[float, float]:
    """BCa 95% interval of ``c``'s aRT (at its own cap); an end reaching resamples without a success
    is infinite."""
    shift = _shift(c)
    if np.unique(_encode(c, shift)).size == 1:
        return (art(c),) * 2

    def stat(v, axis=-1):
        t, e = _sums(v, shift, axis)
        return _ratio_from_sums(t, e, 1.0, 1.0)

    return _bca((_encode(c, shift),), stat, paired=False, rng=rng)


def ratio_to_random(a: Censored, n: int, k: int, h: int, rng: np.random.Generator,
                    near: float | None = None) -> tuple[float, float, float]:
    """``aRT_RS(h) / aRT_A(h)`` with random search exact, and its BCa interval (A resampled)."""
    a = a.at(h)
    rs = metrics.art_random_budget(n, k, h)
    point = rs / art(a) if a.events.any() else 0.0
    if not a.events.any():  # never within h: the ratio is 0, its interval unbounded
        return point, 0.0, math.inf
    shift = _shift(a)
    if np.unique(_encode(a, shift)).size == 1:
        return point, point, point  # every resample is the same sample

    def stat(v, axis=-1):
        t, e = _sums(v, shift, axis)
        return _ratio_from_sums(rs, 1.0, t, e)

    lo, hi = _bca((_encode(a, shift),), stat, paired=False, rng=rng, near=near)
    return point, lo, hi


def ratio_paired(a: Censored, b: Censored, h: float, rng: np.random.Generator,
                 near: float | None = None, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``aRT_B(h) / aRT_A(h)`` and its BCa interval (two-sided, ``confidence``): paired by seed when
    both ran the same seeds (pass only the common seeds for a paired comparison), else each side
    resampled on its own."""
    a, b = a.at(h), b.at(h)
    ea, eb = int(a.events.sum()), int(b.events.sum())
    point = (art(b) / art(a) if ea and eb else math.inf if ea else 0.0 if eb else math.nan)
    paired = a.seeds.size == b.seeds.size and bool((a.seeds == b.seeds).all())
    shift = _shift(a, b)

    def stat(va, vb, axis=-1):
        ta, ea_ = _sums(va, shift, axis)
        tb, eb_ = _sums(vb, shift, axis)
        return _ratio_from_sums(tb, eb_, ta, ea_)

    if not (ea and eb):  # a side without a success within h: the ratio is 0, infinite or undefined, unbounded
        return point, 0.0, math.inf
    va, vb = _encode(a, shift), _encode(b, shift)
    if np.unique(va).size == 1 and np.unique(vb).size == 1:
        return point, point, point  # every resample is the same sample
    lo, hi = _bca((va, vb), stat, paired=paired, rng=rng, near=near, confidence=confidence)
    return point, lo, hi


def logrank(a: Censored, b: Censored, h: float) -> tuple[float, float]:
    """One-sided log-rank p-values at ``h``: ``(A finds the target sooner than B, later)``.

    ``scipy.stats.logrank(x, y, alternative="greater")`` has the alternative that x's failure rate (here:
    the rate of finding the target) is greater than y's at some times, i.e. that x finds it sooner."""
    a, b = a.at(h), b.at(h)
    if not (a.events.any() or b.events.any()):
        return 1.0, 1.0
    x, y = a.censored_data(), b.censored_data()
    return (float(sps.logrank(x, y, alternative="greater").pvalue),
            float(sps.logrank(x, y, alternative="less").pvalue))


def random_hazard(n: int, k: int, h: int) -> np.ndarray:
    """``[h + 1]`` cumulative hazard of random search's first hit: ``Lambda(t) = sum_{x<=t} K / (N - x + 1)``
    (``Lambda(0) = 0``), the chance that sample ``x`` hits given that the ``x - 1`` before it missed."""
    x = np.arange(1, h + 1, dtype=np.float64)
    return np.concatenate([[0.0], np.cumsum(k / (n - x + 1))])


def _one_sample_u(times: np.ndarray, events: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """``U = O - E`` of the one-sample log-rank test, over the last axis."""
    return events.sum(axis=-1) - cum[times].sum(axis=-1)


@functools.cache
def _random_cdf(n: int, k: int) -> np.ndarray:
    """``[n + 1]`` P(T <= t), t = 0..n, of random search's first hit of ``k`` optima among ``n``:
    ``1 - C(n - t, k) / C(n, k)``, through log-gamma."""
    t = np.arange(n + 1, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        log_surv = gammaln(n - t + 1) - gammaln(np.maximum(n - t - k + 1, 1)) - (gammaln(n + 1) - gammaln(n - k + 1))
    return np.where(n - t >= k, 1.0 - np.exp(log_surv), 1.0)


def random_first_hits(n: int, k: int, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random search's first-hit times (1-based) for ``k`` optima among ``n``: the smallest of ``k``
    distinct uniform positions, drawn by inverting ``P(T <= t) = 1 - C(n - t, k) / C(n, k)``."""
    return np.searchsorted(_random_cdf(n, k), rng.random(size), side="right").astype(np.int64)


def logrank_random(a: Censored, n: int, k: int, h: int, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """One-sample log-rank test of A against random search's exact law at ``h``: ``(p that A finds the
    target sooner, p later, O, E)``. The p-values are Monte Carlo ones, ``(1 + #{U* >= U}) / (1 + B)``,
    over :data:`N_NULL` samples of ``len(A)`` random-search trials censored at ``h``."""
    a = a.at(h)
    cum = random_hazard(n, k, h)
    u = float(_one_sample_u(a.times, a.events, cum))
    o, e = float(a.events.sum()), float(cum[a.times].sum())
    sims = np.empty(N_NULL)
    for start in range(0, N_NULL, 10_000):  # in blocks: bounded memory for 100 trials
        m = min(10_000, N_NULL - start)
        t = random_first_hits(n, k, (m, a.times.size), rng)
        sims[start:start + m] = _one_sample_u(np.minimum(t, h), t <= h, cum)
    tol = 1e-9 * max(1.0, abs(u))
    return (float((1 + (sims >= u - tol).sum()) / (1 + N_NULL)), float((1 + (sims <= u + tol).sum()) / (1 + N_NULL)),
            o, e)


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): the family-wise error stays below the level
    at which an adjusted p-value is read, whatever the dependence between the tests."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return [float(v) for v in adj]


#: the verdicts on the direction of one comparison of A with B, after Holm
DIRECTIONS = ("slower", "slower, size not estimable", "no difference shown", "faster, size not estimable", "faster")


def direction(p_faster: float, p_slower: float, few: bool) -> str:
    """The verdict on one comparison from its Holm-adjusted one-sided p-values (:data:`DIRECTIONS`): a
    direction is shown below :data:`ALPHA`; its size is not estimable when ``few`` (a side has fewer
    than :data:`MIN_SUCCESSES` successes within the horizon)."""
    if p_slower < ALPHA:
        return "slower, size not estimable" if few else "slower"
    if p_faster < ALPHA:
        return "faster, size not estimable" if few else "faster"
    return "no difference shown"


def round_p(p: float) -> float:
    """A p-value to 6 significant digits: a report's bytes do not hang on a library's last ulp."""
    return float(f"{float(p):.6g}")


def compare(a: Censored, b: Censored, h: float, rng: np.random.Generator, near: float | None = None) -> dict[str, float | bool]:
    """A against B at the horizon ``h`` on the seeds both ran: ``ratio`` = ``aRT_B(h) / aRT_A(h)`` with its
    paired BCa interval (``low``, ``high``; :func:`ratio_paired`), the one-sided log-rank p-values, unadjusted
    (``p_sooner``: A finds the target sooner; ``p_later``; :func:`logrank`, to 6 digits) and ``few``: a side
    has fewer than :data:`MIN_SUCCESSES` successes within ``h``."""
    common = np.intersect1d(a.seeds, b.seeds)
    a, b = a.only(common), b.only(common)
    ratio, lo, hi = ratio_paired(a, b, h, rng, near)
    sooner, later = logrank(a, b, h)
    few = min(int(a.at(h).events.sum()), int(b.at(h).events.sum())) < MIN_SUCCESSES
    return {"ratio": ratio, "low": lo, "high": hi, "p_sooner": round_p(sooner), "p_later": round_p(later), "few": few}

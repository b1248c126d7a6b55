"""Metrics over search trajectories: pure numpy functions, no I/O.

A *trajectory* is the sequence of ground-truth scores of the architectures one trial evaluated,
in evaluation order; ``S`` trials of budget ``B`` stack into a ``[S, B]`` float array (a shorter
trial is padded on the right with NaN). Scores are maximised.

Definitions (the project's, see docs/statistics.md):

- best-so-far ``f*_t = max_{i<=t} f_i``; simple regret ``optimum - f*_t``; normalised regret
  ``(optimum - f*_t) / (optimum - reference)`` for a reference score (e.g. the worst or the median
  architecture) so that 1 means "no better than the reference" and 0 "found the optimum".
- samples-to-target: the first 1-based step ``t`` with ``f*_t >= threshold``; ``inf`` if the trial
  never reached it.
- aRT (average running time, as COCO defines it): the samples used by all trials (the hit step for a
  success, every sample the trial evaluated for a failure) divided by the number of successes;
  ``inf`` if no trial succeeded.
- random search's aRT is exact: drawing without replacement from ``N`` architectures of which ``K``
  meet the target, the first hit comes after ``(N + 1) / (K + 1)`` samples in expectation.
- sample-efficiency gain = aRT(random search, exact) / aRT(method).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

GAIN_DEFINITION = (
    "gain = aRT(random search) / aRT(method), where aRT (COCO) = total samples over all trials / "
    "successful trials, and random search's aRT is exact: (N+1)/(K+1) for N architectures of "
    "which K meet the target. This definition is nasarena's own; the Mauch et al. (2020) formula "
    "was not available to us."
)


def _as_2d(truth: ArrayLike) -> np.ndarray:
    x = np.asarray(truth, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"trajectories must be [S, B] (or one [B] trajectory), got shape {x.shape}")
    return x


def best_so_far(truth: ArrayLike) -> np.ndarray:
    """``[S, B]`` running maximum along the budget axis; NaN (padding) entries stay NaN."""
    x = _as_2d(truth)
    out = np.fmax.accumulate(x, axis=1)
    out[np.isnan(x)] = np.nan
    return out


def simple_regret(truth: ArrayLike, optimum: float) -> np.ndarray:
    """``[S, B]`` simple regret ``optimum - best_so_far`` (0 once the optimum was evaluated)."""
    return float(optimum) - best_so_far(truth)


def normalized_regret(truth: ArrayLike, optimum: float, reference: float) -> np.ndarray:
    """``[S, B]`` regret divided by ``optimum - reference`` (``reference`` < ``optimum``)."""
    span = float(optimum) - float(reference)
    if not span > 0:
        raise ValueError(
            f"normalised regret needs a reference score below the optimum, got optimum={optimum} "
            f"and reference={reference}; pass e.g. the worst or median score of the table"
        )
    return simple_regret(truth, optimum) / span


def incumbent_truth(observed: ArrayLike, truth: ArrayLike) -> np.ndarray:
    """``[S, B]`` true score of the architecture with the best *observed* score so far.

    This is what a user of the strategy would deploy (the strategy only sees noisy answers);
    ties in the observed score keep the earlier architecture.
    """
    obs, tru = _as_2d(observed), _as_2d(truth)
    if obs.shape != tru.shape:
        raise ValueError(f"observed {obs.shape} and truth {tru.shape} must have the same shape")
    filled = np.where(np.isnan(obs), -np.inf, obs)
    steps = np.arange(obs.shape[1])
    # index of the running argmax: the step at which the running max was last strictly improved
    improved = np.concatenate([np.ones((obs.shape[0], 1), bool), filled[:, 1:] > np.maximum.accumulate(filled, 1)[:, :-1]], 1)
    arg = np.maximum.accumulate(np.where(improved, steps, 0), axis=1)
    out = np.take_along_axis(tru, arg, axis=1)
    out[np.isnan(obs)] = np.nan
    return out


#: the targets every report uses: ``None`` is the optimum (K = 1), else the top fraction
TARGETS: dict[str, float | None] = {"optimum": None, "top-0.1%": 0.001, "top-1%": 0.01}


def samples_to_target(truth: ArrayLike, threshold: float) -> np.ndarray:
    """``[S]`` first 1-based step whose score reaches ``threshold`` (``inf`` if none did)."""
    x = _as_2d(truth)
    hit = x >= threshold  # NaN compares False
    first = np.argmax(hit, axis=1).astype(np.float64) + 1.0
    first[~hit.any(axis=1)] = np.inf
    return first


def trial_lengths(truth: ArrayLike) -> np.ndarray:
    """``[S]`` number of samples each trial evaluated (non-NaN entries)."""
    return np.isfinite(_as_2d(truth)).sum(axis=1).astype(np.float64)


def art(hits: ArrayLike, lengths: ArrayLike) -> float:
    """COCO's average running time from ``[S]`` samples-to-target (``inf`` = failure).

    ``lengths`` (scalar or ``[S]``) is what each trial evaluated in all; a failed trial contributes
    all of it, a successful one its hit step. ``inf`` when no trial succeeded.
    """
    h = np.asarray(hits, dtype=np.float64).reshape(-1)
    n = np.broadcast_to(np.asarray(lengths, dtype=np.float64), h.shape)
    ok = np.isfinite(h)
    if np.any(ok & (h > n)):
        raise ValueError("a hit step exceeds that trial's length; pass the samples each trial evaluated")
    successes = int(ok.sum())
    if successes == 0:
        return float("inf")
    return float(np.where(ok, h, n).sum() / successes)


def art_at_budget(hits: ArrayLike, lengths: ArrayLike, budget: int) -> float:
    """:func:`art` of the same trials cut after their first ``budget`` samples (a hit later than
    ``budget`` becomes a failure, and a failure is charged ``min(length, budget)``)."""
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    h = np.asarray(hits, dtype=np.float64).reshape(-1)
    n = np.minimum(np.broadcast_to(np.asarray(lengths, dtype=np.float64), h.shape), budget)
    return art(np.where(h <= budget, h, np.inf), n)


def art_random_exact(n: int, k: int) -> float:
    """Expected samples of random search without replacement to first hit one of ``k`` targets
    among ``n`` architectures: ``(n + 1) / (k + 1)``."""
    if not (n >= 1 and 1 <= k <= n):
        raise ValueError(f"need 1 <= K <= N, got N={n}, K={k}")
    return (n + 1) / (k + 1)


def art_random_budget(n: int, k: int, budget: int) -> float:
    """Exact COCO aRT of random search without replacement whose trials stop after ``budget``
    samples: ``E[min(T, B)] / P(T <= B)`` for the hypergeometric first-hit time ``T``.

    Equals :func:`art_random_exact` once ``budget >= n - k + 1`` (every trial succeeds); above it for
    smaller budgets, because a failed trial's samples are lost (up to about ``n / k`` for
    ``budget << n``). It is the value random search's *measured* aRT estimates at that budget.
    """
    if not (n >= 1 and 1 <= k <= n):
        raise ValueError(f"need 1 <= K <= N, got N={n}, K={k}")
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    b = min(int(budget), n - k + 1)
    t = np.arange(b, dtype=np.float64)
    # P(T > t) = prod_{i<t} (n-k-i)/(n-i): the first t draws all miss
    factors = (n - k - t) / (n - t)
    survive = np.concatenate([[1.0], np.cumprod(factors)])  # P(T > t), t = 0..b
    expected = survive[:b].sum()
    if budget >= n - k + 1:
        return float(expected)
    return float(expected / (1.0 - survive[b]))


def gain(art_method: float, art_rs: float) -> float:
    """Sample-efficiency gain ``art_rs / art_method`` (0 when the method never succeeded)."""
    if np.isinf(art_method):
        return 0.0
    return float(art_rs / art_method)


def ecdf(hits: ArrayLike, grid: ArrayLike) -> np.ndarray:
    """Fraction of trials whose samples-to-target is ``<= x`` for each ``x`` in ``grid``
    (failed trials never count)."""
    h = np.sort(np.asarray(hits, dtype=np.float64).reshape(-1))
    if h.size == 0:
        raise ValueError("ECDF of no trials")
    return np.searchsorted(h, np.asarray(grid, dtype=np.float64), side="right") / h.size


def ranks(scores: ArrayLike) -> np.ndarray:
    """Rank groups within each block: ``scores [..., M]`` (higher is better) -> ranks 1..M,
    rank 1 the best, ties get their average rank."""
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("cannot rank NaN scores; trim trajectories to a common length first")
    return rankdata(-s, axis=-1, method="average")


def average_rank(curves: ArrayLike) -> np.ndarray:
    """Average rank over the budget: ``curves [M, S, B]`` best-so-far of ``M`` strategies on the
    same ``S`` seeds -> ``[M, B]`` rank of each strategy at each step, averaged over seeds."""
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 3:
        raise ValueError(f"curves must be [strategies, seeds, budget], got shape {c.shape}")
    r = ranks(np.moveaxis(c, 0, -1))  # [S, B, M]
    return np.moveaxis(r.mean(axis=0), -1, 0)

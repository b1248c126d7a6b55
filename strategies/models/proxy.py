"""Zero-cost proxies inside a search: the warm-up pool, the move proposal, and what they cost.

Abdelfattah, Mehrotra, Dudziak, Lane: "Zero-Cost Proxies for Lightweight NAS", ICLR 2021,
section 5. Their search tool is not public (README.md:83 of mohsaied/zero-cost-nas); the
repository's notebook ``notebooks/nas_examples.ipynb`` (commit ca61347; line numbers are lines of
the raw .ipynb) runs both uses on NAS-Bench-201 with synflow, and we follow it:

* *warm-up*: draw a pool of ``pool`` architectures uniformly **with** replacement
  (``random_spec`` is ``random.choice``, :96-97, called ``pool`` times, :155-158), score them with the
  proxy and rank them, best first (:159-162, :232). Scoring costs no budget; every architecture the
  search then trains does.
* *move proposal* (``mutate_spec_zero_cost``, :108-120): score every single-edit neighbour of the
  parent and take the best; with probability ``1 - p`` (``random.random() > 0.75``) take instead
  a uniformly random one of the same neighbours, which may again be the best.

The proxy's scores are the benchmark's public ``proxies`` of the :class:`~nasbench.space.Space`
(:mod:`nasbench.proxy_scores`); a search steered by a proxy refuses a benchmark whose table misses
a cell it could reach. Cost: a strategy counts the distinct architectures it has scored (a cell
scored twice is scored once, as a search that keeps its scores would) and reports them as the
diagnostics ``proxy_evaluations`` and ``proxy_seconds`` (times the table's measured seconds per
cell, on the device the table names), and as :meth:`~strategies.base.Strategy.overhead_seconds`,
which the simulated-time protocol charges.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import rankdata

from nasbench.errors import UnknownName
from nasbench.proxy_scores import require_full
from strategies.base import ConfigError

#: the notebook's constants: pool size and move probability (nas_examples.ipynb :270-278)
POOL = 3000
MOVE_PROB = 0.75


def proxy_values(space, name: str) -> tuple[np.ndarray, float]:
    """``(ranks [n] float32, seconds per cell)`` of proxy ``name`` on ``space``: the scores' ranks
    (1 = worst, ties share their mean rank), which order the cells as the raw scores do and fit
    float32 (raw synflow reaches 1e49); one clear line (:class:`~strategies.base.ConfigError`) when
    the benchmark has no complete table of it."""
    if not space.proxies:
        raise ConfigError(f"zero-cost proxy {name!r}: {space.name} has no proxy tables (NB-201's benchmarks have them)")
    try:
        scores = space.proxies[name]
        values = require_full(scores)
    except (KeyError, UnknownName) as exc:
        why = exc.args[0] if exc.args else str(exc)
        raise ConfigError(f"zero-cost proxy {name!r} on {space.name}: {why}") from None
    return rankdata(values).astype(np.float32), float(scores.seconds_per_cell)


def draw_pool(key: jax.Array, n: int, pool: int) -> jax.Array:
    """``pool`` architectures drawn uniformly with replacement (the notebook's pool), ``[pool]`` int32."""
    return jax.random.randint(key, (pool,), 0, n, dtype=jnp.int32)


def ranked(pool: jax.Array, scores: jax.Array) -> jax.Array:
    """``pool`` ordered by proxy score, best first, ties in draw order (a stable sort)."""
    return pool[jnp.argsort(-scores[pool], stable=True)]


def first_distinct(order: jax.Array, n: int, k: int) -> jax.Array:
    """The first ``k`` distinct entries of ``order`` (``[k]``; ``-1`` pads when it has fewer)."""
    seen_before = jnp.zeros(n, bool)

    def step(seen, i):
        fresh = ~seen[i]
        return seen.at[i].set(True), jnp.where(fresh, i, -1)

    _, firsts = jax.lax.scan(step, seen_before, order)
    keep = jnp.argsort(firsts < 0, stable=True)[:k]  # the fresh ones, in order, then padding
    return firsts[keep]


def move(key: jax.Array, neighbours: jax.Array, n_valid: jax.Array, scores: jax.Array, p: float) -> jax.Array:
    """The notebook's proposal among ``neighbours[:n_valid]`` (valid neighbours first): the
    best-scored with probability ``p``, else a uniformly random one (possibly the best again)."""
    valid = (jnp.arange(neighbours.shape[0]) < n_valid) & (neighbours >= 0)  # a cell outside the table has no score
    safe = jnp.maximum(neighbours, 0)
    best = jnp.argmax(jnp.where(valid, scores[safe], -jnp.inf))
    k_u, k_j = jax.random.split(key)
    j = jnp.where(jax.random.uniform(k_u) < p, best, jax.random.randint(k_j, (), 0, jnp.maximum(n_valid, 1)))
    return neighbours[j]


def mark_scored(scored: jax.Array, idx: jax.Array) -> jax.Array:
    """``scored`` with the (in-space) architectures ``idx`` marked."""
    ok = idx >= 0
    return scored.at[jnp.where(ok, idx, scored.shape[0])].set(True, mode="drop")

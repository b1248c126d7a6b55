"""Random search: uniform sampling over the space without replacement.

Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012; the baseline of
every NAS benchmark paper (Ying et al., "NAS-Bench-101", ICML 2019; Li & Talwalkar, "Random
Search and Reproducibility for NAS", UAI 2019). Its expected samples to hit one of K target
architectures among N are exactly (N + 1) / (K + 1), which the harness uses as the reference.

Preset ``zc-warmup`` is Abdelfattah et al.'s random search with zero-cost warm-up ("Zero-Cost
Proxies for Lightweight NAS", ICLR 2021, section 5; notebook ``nas_examples.ipynb:232-235`` of
mohsaied/zero-cost-nas, :mod:`strategies.models.proxy`): a pool of 3,000 architectures drawn with
replacement is ranked by synflow and trained best first, then the search goes on uniformly at
random among the rest. A repeat in the pool is trained once (the notebook trains it again, a
wasted sample; here a repeat would cost nothing). Pool scoring costs no budget; it is counted in
the record's diagnostics (``proxy_evaluations``, ``proxy_seconds``) and charged in the
simulated-time protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from strategies.base import JaxStrategy, later_setting
from strategies.models import proxy
from strategies.registry import register


@dataclass(frozen=True)
class RSConfig:
    proxy: str = later_setting("synflow")  # the zero-cost proxy of the warm-up
    warmup_pool: int = later_setting(0)  # > 0: first the proxy's ranking of a pool this size

    def proxies_used(self) -> tuple[str, ...]:
        return (self.proxy,) if self.warmup_pool > 0 else ()


class RSState(NamedTuple):
    order: jax.Array  # [budget] int32: the trial's architectures, drawn at init without replacement
    t: jax.Array  # int32: architectures evaluated so far
    scored: jax.Array  # int32: architectures the proxy scored (the warm-up pool's distinct ones)
    asked: jax.Array  # int32: asks so far (the warm-up walks its ranking by asks, so that parallel workers
    #                   each take the next cell; without a warm-up the order is walked by evaluations, as before)


@register
class RandomSearch(JaxStrategy):
    name = "random-search"
    paper = "Bergstra & Bengio, JMLR 2012; Li & Talwalkar, UAI 2019"
    summary = "Uniform sampling of the space without replacement."
    Config = RSConfig
    presets = {"zc-warmup": {"warmup_pool": proxy.POOL}}

    def space_arrays(self):
        arrays = {"n": jnp.asarray(self.space.n)}
        if self.config.warmup_pool > 0:
            scores, self.proxy_seconds = proxy.proxy_values(self.space, self.config.proxy)
            arrays["scores"] = jnp.asarray(scores)
        return arrays

    def init_fn(self, arrays, key, budget):
        n = self.space.n
        if budget > n:
            raise ValueError(f"budget {budget} exceeds the {n} architectures of {self.space.name}")
        pool_size = self.config.warmup_pool
        if pool_size < 0:
            raise ValueError(f"warmup_pool must be >= 0, got {pool_size}")
        if pool_size == 0:
            order = jax.random.choice(key, n, (budget,), replace=False)
            zero = jnp.asarray(0, jnp.int32)
            return RSState(order.astype(jnp.int32), zero, zero, zero)
        k_pool, k_rest = jax.random.split(key)
        pool = proxy.ranked(proxy.draw_pool(k_pool, n, pool_size), arrays["scores"])
        # the pool's cells at their first place in its ranking, then every other cell in random order
        first = jnp.full(n, pool_size, jnp.int32).at[pool].min(jnp.arange(pool_size, dtype=jnp.int32))
        perm = jax.random.permutation(k_rest, n)
        place = jnp.where(first < pool_size, first, pool_size + jnp.argsort(perm))
        order = jnp.argsort(place)[:budget]
        zero = jnp.asarray(0, jnp.int32)
        return RSState(order.astype(jnp.int32), zero, (first < pool_size).sum().astype(jnp.int32), zero)

    def diagnostics_fn(self, state: RSState):
        if self.config.warmup_pool == 0:
            return {}
        return {"proxy_evaluations": state.scored, "proxy_seconds": state.scored * self.proxy_seconds}

    def overhead_seconds(self, state: RSState) -> float:
        return float(state.scored) * self.proxy_seconds if self.config.warmup_pool > 0 else 0.0

    def ask_fn(self, arrays, state: RSState):
        step = state.asked if self.config.warmup_pool > 0 else state.t
        idx = state.order[jnp.minimum(step, state.order.shape[0] - 1)]
        return state._replace(asked=state.asked + 1), idx

    def tell_fn(self, arrays, state: RSState, idx, value) -> RSState:
        return state._replace(t=state.t + 1)

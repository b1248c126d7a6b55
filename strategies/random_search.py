"""Random search: uniform sampling over the space without replacement.

Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012; the baseline of
every NAS benchmark paper (Ying et al., "NAS-Bench-101", ICML 2019; Li & Talwalkar, "Random
Search and Reproducibility for NAS", UAI 2019). Its expected samples to hit one of K target
architectures among N are exactly (N + 1) / (K + 1), which the harness uses as the reference.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from strategies.base import JaxStrategy
from strategies.registry import register


class RSState(NamedTuple):
    order: jax.Array  # [budget] int32: the trial's architectures, drawn at init without replacement
    t: jax.Array  # int32: architectures evaluated so far


@register
class RandomSearch(JaxStrategy):
    name = "random-search"
    paper = "Bergstra & Bengio, JMLR 2012; Li & Talwalkar, UAI 2019"
    summary = "Uniform sampling of the space without replacement."

    def space_arrays(self):
        return {"n": jnp.asarray(self.space.n)}

    def init_fn(self, arrays, key, budget):
        n = self.space.n
        if budget > n:
            raise ValueError(f"budget {budget} exceeds the {n} architectures of {self.space.name}")
        order = jax.random.choice(key, n, (budget,), replace=False)
        return RSState(order.astype(jnp.int32), jnp.asarray(0, jnp.int32))

    def ask_fn(self, arrays, state: RSState):
        idx = state.order[jnp.minimum(state.t, state.order.shape[0] - 1)]
        return state, idx

    def tell_fn(self, arrays, state: RSState, idx, value) -> RSState:
        return state._replace(t=state.t + 1)

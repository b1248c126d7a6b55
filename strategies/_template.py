"""TEMPLATE: copy to ``strategies/my_strategy.py``, rename, and fill in. (Files starting with ``_``
are not registered, so this one is never run.)

Cite the paper here: Author, Author: "Title", Venue Year. State every departure from the
official code and why. Defaults follow the paper / official code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np

from nasbench.benchmark import Status
from strategies.base import Strategy
from strategies.registry import register


@dataclass(frozen=True)
class MyConfig:
    n_init: int = 10  # random architectures before the strategy's own proposals
    batch: int = 1  # architectures per ask


@dataclass(frozen=True)
class MyState:
    key: jax.Array
    evaluated: tuple[int, ...] = ()
    values: tuple[float, ...] = ()


@register  # uncomment-free: registering happens on import of a module not starting with "_"
class MyStrategy(Strategy):
    name = "my-strategy"
    paper = "Author et al., Title, Venue Year"
    summary = "One line saying what it does."
    Config = MyConfig
    presets = {"test": {"n_init": 2}}

    def init(self, key: jax.Array) -> MyState:
        return MyState(key=key)

    def ask(self, state: MyState, budget_left: int) -> tuple[MyState, np.ndarray]:
        key, sub = jax.random.split(state.key)
        seen = np.zeros(self.space.n, bool)
        seen[list(state.evaluated)] = True
        unseen = np.flatnonzero(~seen)
        k = min(self.config.batch, budget_left, unseen.size)
        pick = np.asarray(jax.random.choice(sub, unseen.size, (k,), replace=False))
        return replace(state, key=key), unseen[pick]

    def tell(self, state: MyState, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> MyState:
        ok = (status == Status.NEW) | (status == Status.CACHED)
        new = [(int(i), float(v)) for i, v, o in zip(idx, values, ok) if o and int(i) not in state.evaluated]
        return replace(
            state,
            evaluated=state.evaluated + tuple(i for i, _ in new),
            values=state.values + tuple(v for _, v in new),
        )

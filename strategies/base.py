"""The strategy protocol: ``init`` from a config and a PRNG key, ``ask`` a batch, ``tell`` results.

A strategy sees only the public :class:`~nasbench.space.Space` (its enumeration, genotypes,
encodings and mutation neighbours) and the answers to what it asked. It never sees the table.

Two kinds of strategy share the protocol:

* :class:`Strategy` — general. ``ask(state, budget_left)`` returns a batch of indices (numpy or
  JAX int array). It may repeat an index (answered from the cache, free) or name one the table
  does not hold (answered ``OUT_OF_TABLE``, free); the runner spends the budget on the first
  ``budget_left`` new architectures of the batch and tells the strategy only what was answered.
  State is any Python object the strategy owns (a dataclass, a pytree), never hidden in ``self``:
  ``self`` holds the space, the config and what ``__init__`` derives from them once (arrays, jitted
  functions), and no trial changes it, so the same instance can run many trials, even interleaved
  (``tests/test_contract.py`` checks both).
* :class:`JaxStrategy` — pure JAX. ``init``/``ask``/``tell`` are jittable pure functions of a
  pytree state; ``ask`` returns exactly one *new* in-table index per call (the strategy tracks
  what it has seen). The harness can then ``vmap`` a whole trial over seeds and ``jit`` it
  (:func:`experiments.harness.runner.run_vectorized`); the ask/tell runner gives bit-identical trajectories.

A new strategy is one module in ``strategies/`` with a subclass decorated by :func:`register`;
see ``strategies/template.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import numpy as np

from nasbench.space import Space


@dataclasses.dataclass(frozen=True)
class EmptyConfig:
    """A strategy with no settings."""


def later_setting(default: Any) -> Any:
    """A config field added after records were made, whose ``default`` does what the strategy did
    before it existed: at that default it is left out of the trial's fingerprint
    (:func:`fingerprint_config`), so adding it leaves every earlier record current."""
    return dataclasses.field(default=default, metadata={"later": True})


def fingerprint_config(config: Any) -> dict[str, Any]:
    """``config`` as a dict for the trial's fingerprint: every field, except a
    :func:`later_setting` at its default."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if not (f.metadata.get("later") and getattr(config, f.name) == f.default)}


def proxies_used(config: Any) -> tuple[str, ...]:
    """The zero-cost proxies a strategy run with ``config`` reads: the config's own
    ``proxies_used()``, none for a config without one. Their scores are data, so a trial's
    fingerprint names them (:func:`nasbench.proxy_scores.scores_checksum`)."""
    method = getattr(config, "proxies_used", None)
    return tuple(method()) if method is not None else ()


class ConfigError(ValueError):
    """A strategy config names an unknown setting or gives a bad value."""


def make_config(cls: type, values: dict[str, Any] | Any | None) -> Any:
    """Build a config dataclass of type ``cls`` from a dict (unknown keys are an error)."""
    if values is None:
        return cls()
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"config must be a table of settings for {cls.__name__}, got {values!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(
            f"{cls.__name__} has no setting(s) {unknown}; valid settings: {sorted(fields)}"
        )
    return cls(**values)


class Strategy:
    """Base class of every search strategy (see the module docstring for the protocol)."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    #: named config presets, e.g. ``{"oneshot": {...}}``; selected as ``"lanas:oneshot"``.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: optional packages the strategy needs, with the extra that installs them, e.g.
    #: ``{"optuna": "optuna"}`` -> ``pip install -e '.[optuna]'``
    requires: ClassVar[dict[str, str]] = {}
    #: bumped by the module whenever a change alters what the strategy does; a trial record made
    #: by another version is stale (rerun on resume, refused by the report's aggregation)
    version: ClassVar[int] = 1

    @classmethod
    def missing(cls) -> str | None:
        """``None`` when the strategy can run here, else what to install."""
        import importlib.util

        for module, extra in cls.requires.items():
            if importlib.util.find_spec(module) is None:
                return f"{cls.name} needs the package {module!r}: pip install -e '.[{extra}]'"
        return None

    def __init__(self, space: Space, config: Any = None):
        if (why := self.missing()) is not None:
            raise ModuleNotFoundError(why)
        self.space = space
        self.config = make_config(self.Config, config)

    def init(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def ask(self, state: Any, budget_left: int) -> tuple[Any, np.ndarray]:
        raise NotImplementedError

    def tell(self, state: Any, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> Any:
        raise NotImplementedError

    def set_pending(self, state: Any, pending: np.ndarray) -> Any:
        """Tell the strategy which architectures are asked but not yet answered (asynchronous
        workers, :mod:`experiments.harness.timed`), before the next ``ask``; they are never evaluated twice.
        Default: ignored (a pending proposal is simply asked again)."""
        return state

    def diagnostics(self, state: Any) -> dict[str, float]:
        """Counters of a finished trial for its record (a flat dict of numbers, e.g. how often a
        fallback fired); the report shows their means per benchmark. By convention
        ``random_picks`` counts the queries taken uniformly at random because the strategy's own
        mechanism proposed nothing new (a fallback, a random fill): the claims report shows their
        share of each row's samples. Default: none."""
        return {}

    def overhead_seconds(self, state: Any) -> float:
        """Compute seconds the strategy has spent so far on work that is no evaluation but is not
        free either (scoring cells with a zero-cost proxy), as measured per unit of that work. The
        simulated-time protocol (:mod:`experiments.harness.timed`) charges each increase to the
        worker whose ``ask`` caused it, before that worker's training starts. Default: 0."""
        return 0.0

    def settings(self, state: Any) -> dict[str, Any]:
        """Effective settings that the config does not show (e.g. a library's resolved defaults and
        its version), for the trial record. Default: none."""
        return {}

    def offers(self, state: Any) -> list[np.ndarray] | None:
        """The candidate sets the strategy's model chose from, one array of architecture indices
        per round, for analyses of what it *could* have picked (the runner counts, per target, the
        rounds whose candidates held a target: ``experiments.harness.records.offer_diagnostics``; the
        strategy never sees the truth). Default: ``None`` (not a candidate-set strategy)."""
        return None


class JaxStrategy(Strategy):
    """A pure-JAX strategy: one new in-table index per ``ask``; vmappable over seeds.

    Subclasses implement :meth:`init_fn`, :meth:`ask_fn` and :meth:`tell_fn` as pure functions
    of JAX arrays (closing over ``self`` only for static settings and space arrays, built once by
    :meth:`space_arrays`) and may use ``budget`` (static) to size their state.
    """

    def space_arrays(self) -> dict[str, jax.Array]:
        """Device arrays of the space the pure functions need (default: none)."""
        return {}

    def init_fn(self, arrays: dict[str, jax.Array], key: jax.Array, budget: int) -> Any:
        raise NotImplementedError

    def ask_fn(self, arrays: dict[str, jax.Array], state: Any) -> tuple[Any, jax.Array]:
        raise NotImplementedError

    def tell_fn(self, arrays: dict[str, jax.Array], state: Any, idx: jax.Array, value: jax.Array) -> Any:
        raise NotImplementedError

    def diagnostics_fn(self, state: Any) -> dict[str, jax.Array]:
        """The record's diagnostics as JAX scalars of a state (default: none). Pure, so the vectorised
        runner reads them after every step and cuts them where a trial stops."""
        return {}

    def diagnostics(self, state: Any) -> dict[str, float]:
        return {k: float(v) for k, v in self.diagnostics_fn(state).items()}

    def __init__(self, space: Space, config: Any = None):
        super().__init__(space, config)
        # built once here, never changed by a trial: the space's arrays and the jitted ask/tell
        self._arrays = self.space_arrays()
        self._jit = (jax.jit(self.ask_fn), jax.jit(self.tell_fn))

    # The general protocol, in terms of the pure functions (used by the ask/tell runner).
    def init(self, key: jax.Array, budget: int | None = None) -> Any:
        if budget is None:
            raise ValueError(f"{self.name}: a JaxStrategy needs the budget at init (static state size)")
        return self.init_fn(self._arrays, key, budget)

    def ask(self, state: Any, budget_left: int) -> tuple[Any, np.ndarray]:
        state, idx = self._jit[0](self._arrays, state)
        return state, np.asarray(idx).reshape(1)

    def tell(self, state: Any, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> Any:
        assert idx.shape == (1,), f"{self.name}: a JaxStrategy is told one result at a time"
        return self._jit[1](self._arrays, state, jax.numpy.asarray(idx[0]), jax.numpy.asarray(values[0], dtype=jax.numpy.float32))

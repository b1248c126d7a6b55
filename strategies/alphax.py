"""AlphaX: Monte Carlo tree search over architecture-building actions, with a Meta-DNN.

Wang, Zhao, Jinnai, Tian, Fonseca: "AlphaX: eXploring Neural Architectures with Deep Neural
Networks and Monte Carlo Tree Search", arXiv 1903.11059 (2019); AAAI 2020 as "Neural Architecture
Search using Deep Neural Networks and Monte Carlo Tree Search". Follows the official NAS-Bench-101
code (linnanwang/AlphaX-NASBench101: ``MCTS.py``, ``MCTS_metaDNN.py``, ``arch_generator.py``,
``net_predictor.py``).

Algorithm (one *episode* per loop, as ``MCTS.search``):

* The tree's nodes are states of an action design (:mod:`strategies.models.actions`: partial cells on
  NAS-Bench-101, partly filled genotypes elsewhere), keyed by state; each stores the mean value
  ``xbar``, the visit count ``n`` and the parent that created it.
* Selection from the root: pick the child maximising
  ``UCT = xbar + 2 * Cp * sqrt(2 * ln n(s) / n(child))`` (``Cp = 2``, the code's default), an
  unseen child scoring ``+inf``, ties broken at random.
* Expansion of the first unseen child met, one per episode. Its value: for a terminal state, the
  oracle's answer for its architecture (0 when the table does not hold it); otherwise one random
  *rollout* (uniformly random actions to a terminal state; on cells an illegal one restarts the
  walk, as the official ``simulation``) whose architecture is evaluated,
  retried (up to ``rollout_tries`` = 1000 times, without charging budget) while the architecture
  is not in the table, and valued ``0.1`` when every try fails. The new node gets ``n = 1``,
  ``xbar = value``; when the value is positive its ancestors (along parent links) get ``n += 1``
  and the running mean of the value.
* Re-selecting a terminal node already in the tree counts one more visit and backs its ``xbar``
  up again (no new evaluation).
* Meta-DNN (``meta_dnn``, the ``MCTS_metaDNN.py`` variant): a rollout's value is
  ``(real accuracy + mean of 10 predicted rollouts) / 2``, where each predicted rollout is one more
  random rollout from the new node valued by the Meta-DNN, or by its real accuracy when it was
  evaluated before (the real value alone when a predicted rollout fails). The Meta-DNN is the
  paper's MLP (56 -> 512 -> 2048 -> 2048 -> 512 -> 1, ReLU, sigmoid output, MSE, Adam 2e-4,
  batch 128, 20 epochs; :mod:`strategies.models.predictors`), on the space's ``"metadnn"`` encoding
  (AlphaX's 56 floats on NAS-Bench-101) or its one-hot encoding, retrained (warm-started) on every
  evaluated architecture each time ``refit_every`` (100) more have been evaluated (at the
  next ``ask``, so that a trial's last answer triggers no fit that nothing would use).

``ask`` runs episodes until ``batch`` (default 1) of them wait on an architecture not yet
evaluated, and returns those architectures; episodes whose value is already known (a rollout that
ends on an evaluated architecture, a revisited terminal) complete inside ``ask`` without charging
budget. With ``batch > 1`` the waiting episodes are *virtual visits*: their node enters the tree
with value 0 and ``n = 1`` (ancestors ``n += 1``) until ``tell`` replaces the 0 by the answer, so
the episodes of one batch spread over the tree (the usual virtual-loss parallel MCTS). With
``batch = 1`` the search is exactly sequential.

Asynchronous workers (:mod:`experiments.harness.timed`): an episode whose architecture trains on another
worker stays a virtual visit until its answer comes, and ``ask`` runs new episodes instead of
asking for it again (``set_pending``), so ``k`` workers keep ``k`` episodes in the tree at once,
as with ``batch = k``: the virtual-loss parallel MCTS the AlphaX paper runs on its distributed
workers (the released NAS-Bench-101 code is sequential).

Departures from the official code, and why:

* Table membership is ``space.lookup`` (pruning and the official module hash, so isomorphic cells
  are one architecture); the official code tests the exact JSON of the unpruned cell against its
  preprocessed dataset. An architecture the space indexes but the oracle answers out-of-table is
  treated like one not in the dataset (the rollout is retried).
* In the tree, actions that break a limit are not offered (the official code offers them and
  scores their ``None`` result 0 in UCT, so they are never taken while another action exists:
  the same tree policy). Rollouts on cells follow the official rule by default (``rollout =
  "official"``: uniform over all actions, an illegal one restarts the walk, ``MCTS.py:285-290``);
  the preset ``legal-rollouts`` draws among the legal actions only, which is *not* the same search
  (a different law over rolled-out cells: 39 against 130 distinct accepted cells from 40k root
  walks on NB-101).
* The vertex limit defaults to the space's (7 on NAS-Bench-101, the full space); the official code
  searches at most 6 vertices. Preset ``six-vertices`` restores that. ``Cp = 2`` is the official
  code's; the paper's text was not available to us, and any lower Cp is a non-official variant.
* The Meta-DNN values rollouts only after its first fit; before it, values are the real rollouts
  alone (the official code averages in the output of the untrained network, a near-constant that
  only halves the value scale). Flax's default initialisation replaces Keras' ``RandomUniform``,
  and Adam's moments restart at each refit (Keras keeps them across ``fit`` calls); the weights are
  warm-started as in the official code. Refits happen at multiples of ``refit_every`` *new*
  evaluations, as the official trigger counts them (``len(training_trace) % 100``,
  ``MCTS_metaDNN.py:492-497``; ``training_trace`` holds unique networks, ``net_training.py:203-204``).
* The budget counts unique architectures; a rollout that ends on an evaluated architecture and a
  revisited terminal are free. The official code counts every ``train_net`` call, repeats included
  (``net_training.py:203-211``), and the paper's sample counts are that counter. Each record's
  diagnostics hold both (``unique_evaluations``, ``evaluation_calls``), with ``rollouts`` (real ones,
  the Meta-DNN's predicted rollouts excluded) and ``tree_evaluations`` (terminal nodes expanded in
  the tree), so our numbers can be read on the paper's terms.
* Values are fractions: a benchmark whose first answer exceeds 1 (accuracy in percent, as
  NAS-Bench-201) is scaled by 1/100 (``value_scale`` overrides), so UCT's ``Cp`` and the sigmoid
  output mean what they mean in the official code.
* After ``max_episodes`` (30,000) episodes in a row without an unevaluated architecture (a
  small space whose tree has run dry), ``ask`` falls back to a uniformly random unevaluated
  architecture, logged and counted (``fallbacks``, ``random_picks``: those picks are random search,
  not AlphaX; the claims report shows their share). The official code has no fallback: it keeps
  running episodes, and since it counts every evaluation call, repeats included, a dry tree there
  spends its budget on repeats. How long asks wait on nb101-30k-v6 (``six-vertices``, seed 2, 1,736
  asks up to 1,740 samples): median 166 episodes over the first 500 samples, 580 up to 1,000,
  1,690 up to 1,500 and 9,787 after; 53 asks (3%, all after 1,000 samples) waited 30,000 to
  100,000 episodes. The earlier limit, 100,000 (version 2), spent most of a censored trial's time
  in the episodes before its fallbacks (seed 2: 409 fallbacks, 41M of 53M episodes, 82 min).
  ``longest_wait`` records the most episodes an ask ran before the tree found its own.

State: the tree and every table of the search live in :class:`AlphaXState`; ``ask`` and ``tell``
update it in place and return it (copy it with ``copy.deepcopy`` to checkpoint).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.benchmark import Status
from nasbench.space import INVALID, Space
from strategies.base import Strategy
from strategies.models.actions import ActionDesign, design_for, random_terminal, uniforms
from strategies.models.predictors import fit_ensemble, init_ensemble, predict_ensemble
from strategies.registry import register

log = logging.getLogger(__name__)

META_DNN_HIDDEN: tuple[int, ...] = (512, 2048, 2048, 512)
MEMO_LIMIT = 2_000_000  # terminal states whose index is memoised (cleared when full)


@dataclass(frozen=True)
class AlphaXConfig:
    cp: float = 2.0  # UCT exploration constant (MCTS.Cp)
    batch: int = 1  # architectures per ask (episodes waiting on the oracle at once)
    rollout_tries: int = 1000  # rollouts retried while not in the table
    failed_rollout_value: float = 0.1  # value when every try failed (official 0.1)
    meta_dnn: bool = True
    dyna_rollouts: int = 10  # predicted rollouts per expansion (num_dyna_sim)
    refit_every: int = 100  # new evaluations between Meta-DNN refits
    hidden: tuple[int, ...] = META_DNN_HIDDEN
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-4
    encoding: str = "auto"  # "auto": the space's "metadnn" encoding if any, else "onehot"
    value_scale: float = 0.0  # 0: auto (1/100 when the first answer exceeds 1)
    max_vertices: int = 0  # cell spaces: 0 = the space's limit (7 on NB101; official code 6)
    max_edges: int = 0  # cell spaces: 0 = the space's limit (9 on NB101)
    max_episodes: int = 30_000  # episodes in a row without a new architecture before a random fallback
    rollout: str = "official"  # cells: "official" (all actions, restart on an illegal one) or "legal" (ours)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.rollout not in ("official", "legal"):
            raise ValueError(f"rollout must be 'official' or 'legal', got {self.rollout!r}")
        if self.cp < 0 or self.batch < 1 or self.rollout_tries < 1 or self.max_episodes < 1:
            raise ValueError("cp must be >= 0; batch, rollout_tries and max_episodes >= 1")
        if self.meta_dnn and (self.refit_every < 1 or self.dyna_rollouts < 1 or self.epochs < 1):
            raise ValueError("with meta_dnn, refit_every, dyna_rollouts and epochs must be >= 1")


class _Node:
    """A tree node: visit count, sum of backed-up values (``xbar = total / n``), creator parent."""

    __slots__ = ("total", "n", "parent", "children")

    def __init__(self, total: float, n: int, parent: Hashable | None):
        self.total, self.n, self.parent = total, n, parent
        self.children: tuple[Hashable, ...] | None = None  # the states of its actions, once selected from

    @property
    def xbar(self) -> float:
        return self.total / self.n


@dataclass(frozen=True)
class _Pending:
    """An episode waiting for the oracle's answer on architecture ``idx``."""

    idx: int
    node: Hashable  # the expanded state
    terminal: bool  # value = the answer itself (else a rollout value, Meta-DNN mixed)
    tries: int  # rollout tries used so far
    dyna: tuple[int | None, ...] | None  # predicted rollouts (None: no Meta-DNN mixing)


@dataclass
class AlphaXCounters:
    """What a trial did, for its record's diagnostics (:meth:`AlphaX.diagnostics`)."""

    episodes: int = 0
    expansions: int = 0
    revisits: int = 0  # terminal nodes selected again (no new evaluation)
    rollouts: int = 0  # every rollout, the Meta-DNN's predicted ones included
    rollout_retries: int = 0  # rollouts that ended out of the table and were drawn again
    failed_rollouts: int = 0  # rollouts that never found an in-table architecture
    fallbacks: int = 0
    random_picks: int = 0  # architectures the fallbacks took (random search)
    longest_wait: int = 0  # most episodes an ask ran to find its own architecture
    evaluation_calls: int = 0  # the official train_net counter, repeats included
    tree_evaluations: int = 0  # terminal nodes expanded in the tree
    dyna_rollouts: int = 0  # the Meta-DNN's predicted rollouts


@dataclass
class AlphaXState:
    rng: np.random.Generator  # tie breaks and rollouts
    key: jax.Array  # Meta-DNN training
    tree: dict[Hashable, _Node] = field(default_factory=dict)
    values: dict[int, float] = field(default_factory=dict)  # evaluated index -> scaled value
    failed: set[int] = field(default_factory=set)  # indices the oracle answered out of table
    pending: list[_Pending] = field(default_factory=list)
    running: frozenset[int] = frozenset()  # set_pending: training on other workers, not asked again
    scale: float | None = None
    params: Any = None  # Meta-DNN parameters (a 1-member ensemble)
    fits: int = 0
    n_new: int = 0  # NEW evaluations told
    stats: AlphaXCounters = field(default_factory=AlphaXCounters)


def uct(xbar: float, n_child: int, n_parent: int, cp: float) -> float:
    """AlphaX's UCT score ``xbar + 2 Cp sqrt(2 ln n_parent / n_child)``; ``+inf`` when unseen."""
    if n_child <= 0:
        return math.inf
    return xbar + 2.0 * cp * math.sqrt(2.0 * math.log(n_parent) / n_child)


def _backup(tree: dict[Hashable, _Node], key: Hashable, value: float, visits: int) -> None:
    """Add ``visits`` visits and ``value`` to every ancestor of ``key`` (along creator links)."""
    p = tree[key].parent
    while p is not None:
        node = tree[p]
        node.n += visits
        node.total += value
        p = node.parent


@register
class AlphaX(Strategy):
    name = "alphax"
    paper = (
        "Wang, Zhao, Jinnai, Tian, Fonseca: AlphaX: eXploring Neural Architectures with Deep Neural "
        "Networks and Monte Carlo Tree Search, arXiv 1903.11059, 2019 (AAAI 2020)"
    )
    summary = "MCTS over architecture-building actions (UCT, random rollouts) with a Meta-DNN value mix."
    Config = AlphaXConfig
    presets = {
        "test": {"hidden": (16, 16), "epochs": 2, "refit_every": 8, "dyna_rollouts": 3, "batch_size": 16},
        "no-metadnn": {"meta_dnn": False},
        "six-vertices": {"max_vertices": 6},
        "legal-rollouts": {"rollout": "legal"},
    }
    # 2: the official rollout rule on cells (restart on an illegal action), official counters;
    # 3: fallback after 30,000 idle episodes (was 100,000); rollouts read block-drawn uniforms (the
    #    same law, other draws: :func:`strategies.models.actions.uniforms`)
    version = 3

    def __init__(self, space: Space, config: Any = None) -> None:
        super().__init__(space, config)
        cfg = self.config
        self.design: ActionDesign = design_for(space, cfg.max_vertices or None, cfg.max_edges or None)
        self._memo: dict[Hashable, int] = {}  # terminal state -> index (a pure function of the space)
        # the space's Meta-DNN inputs (a pure function of the space), built here: nothing changes on self in a trial
        self._x: np.ndarray | None = self._encode_space() if cfg.meta_dnn else None

    # ---------------------------------------------------------------- protocol
    def init(self, key: jax.Array) -> AlphaXState:
        seed = np.asarray(jax.random.bits(jax.random.fold_in(key, 0), (4,), jnp.uint32))
        state = AlphaXState(rng=np.random.default_rng(seed.tolist()), key=jax.random.fold_in(key, 1))
        if self.config.meta_dnn:
            state.params = init_ensemble(jax.random.fold_in(key, 2), 1, self._inputs().shape[1],
                                         self.config.hidden, "sigmoid")
        return state

    def set_pending(self, state: AlphaXState, pending: np.ndarray) -> AlphaXState:
        state.running = frozenset(int(i) for i in np.asarray(pending).reshape(-1))
        return state

    def ask(self, state: AlphaXState, budget_left: int) -> tuple[AlphaXState, np.ndarray]:
        cfg = self.config
        if cfg.meta_dnn and state.n_new // cfg.refit_every > state.fits:
            self._refit(state)  # due since the last tell; done here so a trial's last tell fits nothing
        want = max(1, min(cfg.batch, int(budget_left)))
        # answers still owed, except those training on other workers (asynchronous workers)
        batch = [i for i in dict.fromkeys(p.idx for p in state.pending) if i not in state.running]
        idle = 0
        while len(batch) < want:
            if idle >= cfg.max_episodes:
                i = self._fallback(state, batch)
                if i is None:
                    break
                batch.append(i)
                continue
            p = self._episode(state)
            if p is None:
                idle += 1
            elif p.idx in state.running:  # waits, a virtual visit, on one already training
                idle += 1
            elif p.idx not in batch:
                batch.append(p.idx)
                state.stats.longest_wait = max(state.stats.longest_wait, idle + 1)
                idle = 0
        if not batch:  # everything evaluated: re-ask a known one (free)
            batch = [next(iter(state.values))] if state.values else [0]
        return state, np.asarray(batch, dtype=np.int64)

    def tell(self, state: AlphaXState, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> AlphaXState:
        for i, v, st in zip(np.asarray(idx).reshape(-1), np.asarray(values).reshape(-1), np.asarray(status).reshape(-1)):
            i, v = int(i), float(v)
            if st in (Status.NEW, Status.CACHED) and math.isfinite(v):
                if state.scale is None:
                    state.scale = self.config.value_scale or (0.01 if abs(v) > 1.0 else 1.0)
                if st == Status.NEW and i not in state.values:
                    state.n_new += 1
                state.values[i] = v * state.scale
            else:
                state.failed.add(i)
        self._settle(state)
        return state

    def diagnostics(self, state: AlphaXState) -> dict[str, float]:
        st = state.stats
        return {
            "unique_evaluations": state.n_new,  # what the budget counts
            "evaluation_calls": st.evaluation_calls,  # the official counter (net_training.py:203-211)
            "rollouts": st.rollouts - st.dyna_rollouts,
            "tree_evaluations": st.tree_evaluations,
            "failed_rollouts": st.failed_rollouts,
            "rollout_retries": st.rollout_retries,
            "episodes": st.episodes,
            "fallbacks": st.fallbacks,
            "random_picks": st.random_picks,  # architectures the fallbacks took (random search)
            "longest_wait": st.longest_wait,  # most episodes an ask ran to find its own architecture
            "metadnn_fits": state.fits,
        }

    # ----------------------------------------------------------------- episodes
    def _episode(self, state: AlphaXState) -> _Pending | None:
        """One selection-expansion-backup episode; the pending answer it waits on, if any."""
        state.stats.episodes += 1
        tree, design = state.tree, self.design
        s = design.root()
        if s not in tree:
            return self._expand(state, s, None)
        while True:
            c = self._select(state, s)
            if c not in tree:
                return self._expand(state, c, s)
            if design.is_terminal(c):  # a terminal already in the tree: one more visit
                node = tree[c]
                v = node.xbar
                node.n += 1
                node.total += v
                _backup(tree, c, v, 1)
                state.stats.revisits += 1
                return None
            s = c

    def _select(self, state: AlphaXState, s: Hashable) -> Hashable:
        tree, design, cp = state.tree, self.design, self.config.cp
        here = tree[s]
        if here.children is None:
            here.children = tuple(design.apply(s, a) for a in design.actions(s))
        log_n = math.log(max(here.n, 1))
        best, ties = -math.inf, []
        for c in here.children:
            node = tree.get(c)
            u = math.inf if node is None else node.total / node.n + 2.0 * cp * math.sqrt(2.0 * log_n / node.n)
            if u > best:
                best, ties = u, [c]
            elif u == best:
                ties.append(c)
        return ties[0] if len(ties) == 1 else ties[int(state.rng.integers(len(ties)))]

    def _expand(self, state: AlphaXState, c: Hashable, parent: Hashable | None) -> _Pending | None:
        state.stats.expansions += 1
        state.tree[c] = _Node(0.0, 1, parent)
        if self.design.is_terminal(c):
            idx = self._index(c)
            if idx < 0 or idx in state.failed:
                return None  # not in the table: value 0, nothing backed up (official)
            state.stats.tree_evaluations += 1
            state.stats.evaluation_calls += 1  # the official train_net call, repeats included
            if idx in state.values:
                self._finish(state, c, state.values[idx])
                return None
            p = _Pending(idx, c, True, 0, None)
        else:
            found, tries = self._rollout(state, c, 0)
            if found is None:
                self._finish(state, c, self.config.failed_rollout_value)
                return None
            idx = found
            state.stats.evaluation_calls += 1
            dyna = self._dyna(state, c)
            if idx in state.values:
                self._finish(state, c, self._mix(state, state.values[idx], dyna, {}))
                return None
            p = _Pending(idx, c, False, tries, dyna)
        _backup(state.tree, c, 0.0, 1)  # a virtual visit until the answer comes
        state.pending.append(p)
        return p

    def _finish(self, state: AlphaXState, c: Hashable, value: float) -> None:
        """Give a freshly expanded node its value and back it up when positive (official)."""
        state.tree[c].total += value
        if value > 0:
            _backup(state.tree, c, value, 1)

    def _settle(self, state: AlphaXState) -> None:
        """Complete the pending episodes whose architecture the oracle has answered."""
        ready, still = [], []
        p: _Pending | None
        for p in state.pending:
            while p.idx in state.failed and not p.terminal:  # out of table: roll out again
                idx, tries = self._rollout(state, p.node, p.tries + 1)
                if idx is None:
                    self._resolve(state, p, self.config.failed_rollout_value)
                    p = None
                    break
                state.stats.evaluation_calls += 1
                p = replace(p, idx=idx, tries=tries)
            if p is None:
                continue
            if p.idx in state.values:
                ready.append(p)
            elif p.idx in state.failed:  # a terminal the table does not hold
                self._resolve(state, p, 0.0)
            else:
                still.append(p)
        state.pending = still
        preds = self._predictions(state, [p.dyna for p in ready if not p.terminal])
        for p in ready:
            v = state.values[p.idx]
            self._resolve(state, p, v if p.terminal else self._mix(state, v, p.dyna, preds))

    def _resolve(self, state: AlphaXState, p: _Pending, value: float) -> None:
        """Replace a pending episode's virtual 0 by its value (undo the visit if not positive)."""
        state.tree[p.node].total += value
        if value > 0:
            _backup(state.tree, p.node, value, 0)
        else:
            _backup(state.tree, p.node, 0.0, -1)

    # ----------------------------------------------------------------- rollouts
    def _indices(self, states: list[Hashable]) -> list[int]:
        """Indices of terminal states (``INVALID`` when no architecture), memoised, one
        ``space.lookup`` call for the new ones."""
        memo = self._memo
        if len(memo) > MEMO_LIMIT:  # bounded; cleared before this call's states are read from it
            memo.clear()
        todo = [t for t in dict.fromkeys(states) if t not in memo]
        if todo:
            geno = [self.design.genotype(t) for t in todo]
            rows = [k for k, g in enumerate(geno) if g is not None]
            found = self.space.lookup(np.stack([cast(np.ndarray, geno[k]) for k in rows])) if rows else np.zeros(0, np.int64)
            for t in todo:
                memo[t] = INVALID
            for k, i in zip(rows, found):
                memo[todo[k]] = int(i)
        return [memo[t] for t in states]

    def _index(self, s: Hashable) -> int:
        return self._indices([s])[0]

    def _rollout(self, state: AlphaXState, s: Hashable, tries: int) -> tuple[int | None, int]:
        """A random completion of ``s`` (uniformly random legal actions) whose architecture is in
        the table, retried up to ``rollout_tries`` times in all; ``(index or None, tries used)``."""
        out, tries = self._rollouts(state, s, 1, tries)
        return out[0], tries

    def _rollouts(self, state: AlphaXState, s: Hashable, count: int, tries: int = 0) -> tuple[list[int | None], int]:
        """``count`` successive rollouts from ``s``, stopping at the first that fails (``None``,
        after ``rollout_tries`` tries in all); returns them and the tries of the last one.

        Tries are independent, so successive rollouts are the successes of one sequence of tries
        (a rollout's tries being the failures since the previous success). The tries are drawn in
        chunks (first the expected number still needed, then growing 4x) so that the space looks
        up many cells at once; the answers are the same, in law, as one try at a time.
        """
        rng, failed, st, limit = state.rng, state.failed, state.stats, self.config.rollout_tries
        out: list[int | None] = []
        mean_tries = 1.0 + st.rollout_retries / max(st.rollouts, 1)
        chunk = max(1, min(256 * count, round(count * mean_tries)))
        official, u = self.config.rollout == "official", uniforms(rng)
        while True:
            k = min(chunk, (count - len(out) - 1) * limit + limit - tries)
            ends = [random_terminal(self.design, s, u, official) for _ in range(k)]
            for i in self._indices(ends):
                if i >= 0 and i not in failed:
                    out.append(i)
                    st.rollouts += 1
                    if len(out) == count:
                        return out, tries
                    tries = 0
                    continue
                tries += 1
                st.rollout_retries += 1
                if tries >= limit:
                    st.rollouts += 1
                    st.failed_rollouts += 1
                    out.append(None)
                    return out, tries
            chunk = min(4 * chunk, 256 * count)

    # ----------------------------------------------------------------- Meta-DNN
    def _encode_space(self) -> np.ndarray:
        enc = self.config.encoding
        if enc == "auto":
            enc = "metadnn" if "metadnn" in self.space.features else "onehot"
        return np.asarray(self.space.encode(enc), dtype=np.float32)

    def _inputs(self) -> np.ndarray:
        assert self._x is not None, "the Meta-DNN's inputs exist only when meta_dnn is on"
        return self._x

    def _dyna(self, state: AlphaXState, c: Hashable) -> tuple[int | None, ...] | None:
        """The predicted rollouts of a new node (``None`` before the Meta-DNN's first fit); stops
        at the first failed rollout, whose ``None`` then cancels the mixing (official)."""
        if not self.config.meta_dnn or state.fits == 0:
            return None
        out = self._rollouts(state, c, self.config.dyna_rollouts)[0]
        state.stats.dyna_rollouts += len(out)
        return tuple(out)

    def _predictions(self, state: AlphaXState, dynas: list[tuple[int | None, ...] | None]) -> dict[int, float]:
        """Meta-DNN predictions of the not-yet-evaluated architectures of these rollouts."""
        todo = sorted({i for d in dynas if d and None not in d for i in d if i is not None and i not in state.values})
        if not todo:
            return {}
        cfg = self.config
        pred = predict_ensemble(state.params, self._inputs()[np.asarray(todo)], hidden=cfg.hidden, out_activation="sigmoid")
        return dict(zip(todo, np.asarray(pred[0], dtype=np.float64).tolist()))

    def _mix(self, state: AlphaXState, real: float, dyna: tuple[int | None, ...] | None, preds: dict[int, float]) -> float:
        """``(real + mean of the predicted rollouts) / 2``, or ``real`` without them."""
        if not dyna or None in dyna:
            return real
        ids = cast(tuple[int, ...], dyna)  # None is not in it (checked above)
        missing = [i for i in ids if i not in state.values and i not in preds]
        if missing:
            preds = {**preds, **self._predictions(state, [tuple(missing)])}
        sim = [state.values[i] if i in state.values else preds[i] for i in ids]
        return (real + sum(sim) / len(sim)) / 2.0

    def _refit(self, state: AlphaXState) -> None:
        cfg = self.config
        idx = np.fromiter(state.values.keys(), dtype=np.int64, count=len(state.values))
        y = np.fromiter(state.values.values(), dtype=np.float32, count=len(state.values))
        state.params = fit_ensemble(jax.random.fold_in(state.key, state.fits), state.params, self._inputs()[idx], y,
                                    hidden=cfg.hidden, out_activation="sigmoid", epochs=cfg.epochs,
                                    batch_size=cfg.batch_size, lr=cfg.lr)
        state.fits += 1
        log.debug("alphax: Meta-DNN fit %d on %d architectures", state.fits, len(y))

    # ----------------------------------------------------------------- fallback
    def _fallback(self, state: AlphaXState, batch: list[int]) -> int | None:
        seen = np.zeros(self.space.n, bool)
        known = list(state.values) + [i for i in state.failed if i >= 0] + batch
        seen[np.asarray(known, dtype=np.int64)] = True
        free = np.flatnonzero(~seen)
        state.stats.fallbacks += 1
        if free.size == 0:
            return None
        state.stats.random_picks += 1
        log.info("alphax: %d episodes found no new architecture; taking a random one", self.config.max_episodes)
        return int(free[int(state.rng.integers(free.size))])

"""AlphaX: UCT values, back-up arithmetic, the action designs' legality, and search behaviour."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import jax
import numpy as np
import pytest

from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec, trial_keys
from nasbench.benchmark import Benchmark, GroundTruth, Status
from nasbench.space import INVALID, InvalidArchitecture
from nasbench.spaces import nb101
from nasbench.synthetic import synthetic_benchmark, synthetic_space
from strategies.alphax import AlphaX, AlphaXState, _backup, _Node, _Pending, uct
from strategies.models.actions import CellDesign, PositionDesign, cell_layout, design_for, uniforms

NO_DNN = {"meta_dnn": False}


def _run(strategy: AlphaX, bench: Benchmark, seed: int, budget: int):
    """The runner's ask/tell loop, returning the strategy's final state too."""
    k_strategy, k_noise = trial_keys(seed)
    oracle = bench.oracle(k_noise)
    state = strategy.init(k_strategy)
    while oracle.budget_used < budget:
        left = budget - oracle.budget_used
        state, idx = strategy.ask(state, left)
        ch = oracle.charges(idx)
        if ch.sum() > left:
            idx = idx[: int(np.searchsorted(np.cumsum(ch), left)) + 1]
        r = oracle.query(idx)
        state = strategy.tell(state, idx, r.values, r.status)
    return state, list(oracle.evaluated)


# ------------------------------------------------------------------------------ UCT
def test_uct_matches_hand_computed_values():
    # 0.5 + 2*2*sqrt(2 ln 10 / 2) = 0.5 + 4 * 1.5174271 = 6.5697085
    assert uct(0.5, 2, 10, 2.0) == pytest.approx(6.5697085, abs=1e-6)
    # 0.9 + 2*0.1*sqrt(2 ln 10 / 5) = 0.9 + 0.2 * 0.9597052 = 1.0919410
    assert uct(0.9, 5, 10, 0.1) == pytest.approx(1.0919410, abs=1e-6)
    assert uct(0.7, 3, 1, 2.0) == 0.7  # ln 1 = 0: no exploration bonus
    assert uct(0.0, 0, 10, 2.0) == math.inf  # unseen child


def test_selection_takes_the_unseen_child_then_the_best_uct():
    bench = synthetic_benchmark(positions=1, choices=3, seed=0)
    s = AlphaX(bench.space, {"cp": 0.1, "meta_dnn": False})
    state = s.init(jax.random.key(0))
    state.tree = {(): _Node(10 * 0.8, 10, None), (0,): _Node(5 * 0.9, 5, ()), (1,): _Node(0.5, 1, ())}
    assert s._select(state, ()) == (2,)  # unseen: +inf
    # UCT (0,) = 1.0919410; (1,) = 0.5 + 0.2 * 2.1459660 = 0.9291932; (2,) = 0.7 + 0.2 * 1.5174271 = 1.0034854
    state.tree[(2,)] = _Node(2 * 0.7, 2, ())
    assert s._select(state, ()) == (0,)
    state.tree[(1,)] = _Node(1.0, 1, ())  # (1,) now 1.0 + 0.4291932 = 1.4291932
    assert s._select(state, ()) == (1,)


def test_backup_is_the_running_mean_and_virtual_visits_resolve_to_it():
    def chain():
        return {"r": _Node(0.6, 1, None), "a": _Node(1.4, 2, "r"), "b": _Node(0.0, 1, "a")}

    tree = chain()
    tree["b"].total = 0.9
    _backup(tree, "b", 0.9, 1)  # official: parents get n += 1 and the running mean
    assert (tree["a"].n, tree["r"].n) == (3, 2)
    assert tree["a"].xbar == pytest.approx((1.4 + 0.9) / 3) and tree["r"].xbar == pytest.approx(0.75)
    # the same through a virtual visit (batch mode) resolved later
    s = AlphaX(synthetic_benchmark(positions=1, choices=2).space, NO_DNN)
    virt = chain()
    _backup(virt, "b", 0.0, 1)
    assert virt["r"].xbar == pytest.approx(0.3)  # the virtual 0 counts meanwhile
    s._resolve(SimpleNamespace(tree=virt), _Pending(0, "b", False, 0, None), 0.9)
    assert [(virt[k].n, virt[k].total) for k in "rab"] == [(tree[k].n, pytest.approx(tree[k].total)) for k in "rab"]
    # a non-positive value is not backed up (official): the virtual visit is undone
    virt = chain()
    _backup(virt, "b", 0.0, 1)
    s._resolve(SimpleNamespace(tree=virt), _Pending(0, "b", True, 0, None), 0.0)
    assert [(virt[k].n, virt[k].total) for k in "ra"] == [(1, 0.6), (2, 1.4)]


def test_meta_dnn_mix_is_the_mean_of_real_and_predicted_rollouts():
    s = AlphaX(synthetic_benchmark(positions=1, choices=4).space, {"hidden": (4,)})
    state = AlphaXState(rng=np.random.default_rng(0), key=jax.random.key(0), values={1: 0.8, 2: 0.6})
    # predicted rollouts 1, 2 (evaluated: real values) and 3 (predicted 0.5)
    assert s._mix(state, 0.9, (1, 2, 3), {3: 0.5}) == pytest.approx((0.9 + (0.8 + 0.6 + 0.5) / 3) / 2)
    assert s._mix(state, 0.9, (1, None), {}) == 0.9  # a failed predicted rollout: real value alone
    assert s._mix(state, 0.9, None, {}) == 0.9  # Meta-DNN not fitted yet


# ---------------------------------------------------------------------- action designs
def test_position_design_fills_positions_in_order():
    d = PositionDesign((2, 3))
    assert d.root() == () and d.actions(()) == ("0", "1")
    s = d.apply(d.apply((), "1"), "2")
    assert d.is_terminal(s) and d.genotype(s).tolist() == [1, 2]
    with pytest.raises(ValueError):
        d.apply((1,), "3")
    with pytest.raises(ValueError):
        d.actions(s)


def test_cell_design_actions_follow_the_official_generator():
    d = CellDesign()
    r = d.root()
    assert d.actions(r) == ["node:0", "node:1", "node:2", "edge:(0, 1)", "term"]
    s = d.apply(r, "edge:(0, 1)")
    assert "edge:(0, 1)" not in d.actions(s)
    s = d.apply(s, "node:2")  # a new vertex before the output, and every edge removed
    assert s == ((2,), 0, False)
    assert d.actions(s) == ["node:0", "node:1", "node:2", "edge:(0, 1)", "edge:(0, 2)", "edge:(1, 2)", "term"]
    s = d.apply(d.apply(d.apply(s, "edge:(0, 1)"), "edge:(1, 2)"), "term")
    assert d.is_terminal(s)
    m, labels = d.cell(s)
    assert m.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and labels == [-1, 2, -2]
    g = d.genotype(s)  # embedded: vertex 1 stays, the output becomes vertex 6
    expect = np.zeros(26, int)
    expect[0] = 1  # (0, 1)
    expect[nb101.EDGE_POSITIONS.index((1, 6))] = 1
    expect[21] = 2
    assert g.tolist() == expect.tolist()
    assert d.genotype(d.apply(r, "term")) is None  # input not connected to output


def test_cell_design_limits_and_every_terminal_maps_to_a_valid_cell_or_none():
    d = CellDesign(max_vertices=7, max_edges=9)
    rng = np.random.default_rng(0)
    n_valid = n_none = 0
    cells = {}
    for _ in range(400):
        s = d.root()
        while not d.is_terminal(s):
            acts = d.actions(s)
            v = len(s[0]) + 2
            assert v <= 7 and d.n_edges(s) <= 9
            assert any(a.startswith("node") for a in acts) == (v < 7)
            assert any(a.startswith("edge") for a in acts) == (d.n_edges(s) < min(9, v * (v - 1) // 2))
            # bias the walk towards full cells so that both limits are reached
            edge_acts = [a for a in acts if a.startswith("edge")]
            a = edge_acts[rng.integers(len(edge_acts))] if edge_acts and rng.random() < 0.8 else acts[rng.integers(len(acts))]
            s = d.apply(s, a)
        m, labels = d.cell(s)
        ops = ["input", *(nb101.OPS[o] for o in labels[1:-1]), "output"]
        g = d.genotype(s)
        if g is None:
            n_none += 1
            with pytest.raises(InvalidArchitecture):
                nb101.validate(m, ops)
        else:
            n_valid += 1
            nb101.validate(m, ops)
            gm, gops = nb101.genotype_to_cell(g)
            assert nb101.module_hash(gm, gops) == nb101.module_hash(m, ops)
            cells[nb101.module_hash(m, ops)] = (m, ops, g)
    assert n_valid > 50 and n_none > 5
    full = np.zeros((7, 7), np.int8)
    full[0, 1:] = 1  # 6 edges ...
    full[1, 2:5] = 1  # ... + 3 = 9
    s = ((0, 0, 0, 0, 0), int(sum(1 << (i * 7 + j) for i, j in zip(*np.nonzero(full)))), False)
    assert d.actions(s) == ["term"]  # 7 vertices and 9 edges: only term is legal
    with pytest.raises(ValueError):
        d.apply(s, "edge:(5, 6)")
    with pytest.raises(ValueError):
        d.apply(s, "node:0")
    # the space's lookup finds every valid terminal cell
    space = nb101.NB101Space.from_cells([(m, ops) for m, ops, _ in cells.values()], name="nb101-walks")
    idx = space.lookup(np.stack([g for _, _, g in cells.values()]))
    assert sorted(idx.tolist()) == list(range(len(cells)))


def test_design_for_picks_the_cell_design_for_nb101_and_positions_elsewhere():
    assert cell_layout(nb101.CARDINALITIES) == (7, 3)
    assert cell_layout((5,) * 6) is None
    bench = synthetic_benchmark(positions=3, choices=2)
    assert isinstance(design_for(bench.space), PositionDesign)
    space = _tiny_nb101(4)[0].space
    d = design_for(space)
    assert isinstance(d, CellDesign) and (d.max_vertices, d.max_edges, d.n_ops) == (7, 9, 3)
    assert design_for(space, max_vertices=6).max_vertices == 6
    own = PositionDesign((2,))
    space.action_design = own
    try:
        assert design_for(space) is own
    finally:
        del space.action_design


# ------------------------------------------------------------------------- search
def _tiny_nb101(max_vertices: int, keep: float = 1.0, seed: int = 0) -> tuple[Benchmark, int]:
    """Every NB101 cell of at most ``max_vertices`` vertices, ``keep`` of them in the table."""
    cells = {}
    for v in range(2, max_vertices + 1):
        pairs = [(i, j) for i in range(v) for j in range(i + 1, v)]
        for bits in itertools.product((0, 1), repeat=len(pairs)):
            m = np.zeros((v, v), np.int8)
            for (i, j), b in zip(pairs, bits):
                m[i, j] = b
            for ops in itertools.product(nb101.OPS, repeat=v - 2):
                labels = ["input", *ops, "output"]
                try:
                    pm, pops = nb101.canonical_cell(m, labels)
                except InvalidArchitecture:
                    continue
                cells.setdefault(nb101.module_hash(pm, pops), (pm, pops))
    rng = np.random.default_rng(seed)
    hashes = sorted(cells)
    kept = [h for h in hashes if rng.random() < keep]
    space = nb101.NB101Space.from_cells([cells[h] for h in kept], name="nb101-tiny", hashes=kept)
    truth = 0.5 + 0.4 * rng.random(space.n)
    bench = Benchmark("nb101-tiny", space, "acc", truth[:, None], np.ones(space.n), GroundTruth(truth, "acc"))
    return bench, len(hashes)


def _position_bench() -> Benchmark:
    """4 positions x 4 choices; value 2 at position 0 adds 0.3, the rest at most 0.05."""
    g = np.asarray(list(itertools.product(range(4), repeat=4)))
    rng = np.random.default_rng(0)
    truth = 0.5 + 0.3 * (g[:, 0] == 2) + 0.05 * rng.random(len(g))
    space = synthetic_space(g, (4,) * 4, np.arange(len(g)), "concentrate")
    return Benchmark("concentrate", space, "score", truth[:, None], np.ones(len(g)), GroundTruth(truth, "score"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_concentrates_visits_on_the_best_branch(seed):
    bench = _position_bench()
    s = AlphaX(bench.space, {"meta_dnn": False, "cp": 0.1})
    state, arch = _run(s, bench, seed, 60)
    visits = np.array([state.tree[(v,)].n for v in range(4)])
    assert visits.argmax() == 2 and visits[2] > 0.6 * visits.sum()
    # most evaluations fall in the good branch (a quarter of the space)
    assert (bench.space.genotypes[arch, 0] == 2).mean() > 0.5


@pytest.mark.parametrize("batch", [1, 4])
def test_every_episode_backs_one_visit_up_to_the_root(batch):
    bench = synthetic_benchmark(positions=3, choices=4, seed=2)
    s = AlphaX(bench.space, {"meta_dnn": False, "batch": batch})
    state, arch = _run(s, bench, 0, 30)
    assert len(set(arch)) == 30 and not state.pending
    root = state.tree[()]
    # all values are positive, so each episode (expansion or revisit) adds one root visit
    assert root.n == state.stats.episodes
    assert min(state.values.values()) <= root.xbar <= max(state.values.values())


def test_batch_asks_several_distinct_new_architectures():
    bench = synthetic_benchmark(positions=3, choices=4, seed=2)
    s = AlphaX(bench.space, {"meta_dnn": False, "batch": 5})
    state = s.init(jax.random.key(1))
    state, idx = s.ask(state, 100)
    assert len(idx) == 5 == len(set(idx.tolist())) and len(state.pending) == 5
    state, idx2 = s.ask(state, 3)  # nothing told: the owed answers are asked again
    assert idx2.tolist() == idx.tolist()


def test_cell_search_on_nb101_cells_with_out_of_table_rollouts():
    bench, n_all = _tiny_nb101(4, keep=0.5, seed=3)
    assert bench.space.n < n_all
    s = AlphaX(bench.space, {"meta_dnn": False, "max_vertices": 4})
    assert isinstance(s.design, CellDesign) and s.design.max_vertices == 4
    state, arch = _run(s, bench, 0, 25)
    assert len(set(arch)) == 25
    assert state.stats.rollout_retries > 0  # cells outside the table were retried, free
    assert all(len(k[0]) + 2 <= 4 for k in state.tree)


def test_rollout_gives_up_after_the_bounded_tries():
    bench, _ = _tiny_nb101(3)
    s = AlphaX(bench.space, {"meta_dnn": False, "max_vertices": 3, "rollout_tries": 5})
    state = s.init(jax.random.key(0))
    state.failed = set(range(bench.space.n))  # nothing answers
    idx, tries = s._rollout(state, s.design.root(), 0)
    assert idx is None and tries == 5 and state.stats.rollout_retries == 5


def test_percent_answers_are_scaled_to_fractions():
    bench = synthetic_benchmark(positions=2, choices=3)
    s = AlphaX(bench.space, NO_DNN)
    state = s.init(jax.random.key(0))
    state, idx = s.ask(state, 5)
    state = s.tell(state, idx, np.array([93.5]), np.array([Status.NEW]))
    assert state.scale == 0.01 and state.values[int(idx[0])] == pytest.approx(0.935)
    assert state.tree[()].xbar == pytest.approx(0.935)


def test_invalid_never_asked_and_out_of_table_answer_retries_the_rollout():
    bench = synthetic_benchmark(positions=2, choices=3)
    s = AlphaX(bench.space, NO_DNN)
    state = s.init(jax.random.key(0))
    state, idx = s.ask(state, 5)
    assert (idx >= 0).all() and INVALID not in idx
    first = int(idx[0])
    state = s.tell(state, idx, np.array([np.nan]), np.array([Status.OUT_OF_TABLE]))
    assert first in state.failed and len(state.pending) == 1 and state.pending[0].idx != first
    assert state.pending[0].tries == 1


def test_meta_dnn_refits_every_n_new_evaluations_and_mixes_predictions():
    bench = synthetic_benchmark(positions=4, choices=4, seed=0)
    rec = run_trial(TrialSpec(bench.name, "alphax:test", 0, 20), bench)
    assert len(set(rec["arch"])) == 20
    s = AlphaX(bench.space, AlphaX.presets["test"])
    state, _ = _run(s, bench, 0, 20)
    assert state.fits == 20 // 8
    p = s._predictions(state, [(0, 1, 2)])
    assert set(p) == {0, 1, 2} - set(state.values) and all(0.0 < v < 1.0 for v in p.values())


def test_fast_random_terminal_draws_from_the_uniform_action_distribution():
    """The cell design's fast rollout against the exact law of uniformly random actions."""
    d = CellDesign(max_vertices=3, max_edges=2)

    def law(s) -> dict:
        if d.is_terminal(s):
            return {s: 1.0}
        out: dict = {}
        acts = d.actions(s)
        for a in acts:
            for t, p in law(d.apply(s, a)).items():
                out[t] = out.get(t, 0.0) + p / len(acts)
        return out

    _assert_draws_follow(lambda rng: d.random_terminal(d.root(), iter(rng.random, None)), law(d.root()), seed=0)


def _assert_draws_follow(draw, exact: dict, seed: int, n: int = 20000) -> None:
    """``n`` draws land only on ``exact``'s outcomes, each within 4.5 binomial standard deviations."""
    rng = np.random.default_rng(seed)
    counts: dict = {}
    for _ in range(n):
        t = draw(rng)
        counts[t] = counts.get(t, 0) + 1
    assert set(counts) <= set(exact)
    for t, p in exact.items():
        assert abs(counts.get(t, 0) / n - p) <= 4.5 * math.sqrt(p * (1 - p) / n) + 1e-12


def test_official_rollout_restarts_on_an_illegal_action_with_the_exact_law():
    """MCTS.simulation: uniform over *all* actions; an illegal draw restarts the walk. The law of
    the accepted walks weighs each by prod 1/|all actions|, not prod 1/|legal actions|."""
    d = CellDesign(max_vertices=3, max_edges=2)

    def n_all(s) -> int:
        ops, edges, _ = s
        v = len(ops) + 2
        return d.n_ops + v * (v - 1) // 2 - edges.bit_count() + 1

    def weights(s) -> dict:
        if d.is_terminal(s):
            return {s: 1.0}
        out: dict = {}
        for a in d.actions(s):  # the legal ones; the illegal ones are the restarts
            for t, w in weights(d.apply(s, a)).items():
                out[t] = out.get(t, 0.0) + w / n_all(s)
        return out

    w = weights(d.root())
    total = sum(w.values())
    _assert_draws_follow(lambda rng: d.official_terminal(d.root(), iter(rng.random, None)),
                         {t: v / total for t, v in w.items()}, seed=1)
    u = uniforms(np.random.default_rng(1))  # the block stream AlphaX's rollouts read
    # a hand-computed case: one op vertex at the vertex limit, edge limit 1. All actions: 3 nodes
    # (illegal), 3 edges, term. Term at once weighs 1/7; edge e then term 1/7 * 1/6 (the nodes and
    # the 2 other edges are illegal at the edge limit): P(no edge) = (1/7) / (1/7 + 3/42) = 2/3
    # (uniform legal actions: 1/4).
    d1 = CellDesign(max_vertices=3, max_edges=1)
    start = ((0,), 0, False)
    draws = [d1.official_terminal(start, u)[1] == 0 for _ in range(14000)]
    assert abs(np.mean(draws) - 2 / 3) < 4.5 * math.sqrt(2 / 9 / 14000)
    legal = [d1.random_terminal(start, u)[1] == 0 for _ in range(14000)]
    assert abs(np.mean(legal) - 1 / 4) < 4.5 * math.sqrt(3 / 16 / 14000)


def test_official_rollouts_by_default_and_the_counters_of_the_record():
    bench, _ = _tiny_nb101(4, keep=0.5, seed=3)
    rec = run_trial(TrialSpec("nb101-tiny", "alphax:no-metadnn", 0, 20, config={"max_vertices": 4}), bench)
    d = rec["diagnostics"]
    assert AlphaX(bench.space).config.rollout == "official" and rec["strategy_version"] == 3
    assert d["unique_evaluations"] == 20
    # every charged evaluation came from a rollout or a terminal expansion; repeats count officially
    assert d["evaluation_calls"] == d["rollouts"] - d["failed_rollouts"] + d["tree_evaluations"] >= 20
    legal = run_trial(TrialSpec("nb101-tiny", "alphax:no-metadnn", 0, 20, config={"max_vertices": 4, "rollout": "legal"}), bench)
    assert legal["arch"] != rec["arch"]  # a different search


def test_the_block_stream_is_the_generators_draws_in_order():
    got = list(itertools.islice(uniforms(np.random.default_rng(5), first=4, most=16), 60))
    assert got == np.random.default_rng(5).random(60).tolist()  # blocks of 4, 8, 16, 16, 16


def _reference_walk(d, state, rng, official: bool):
    """The rollouts as first written (the absent edges listed afresh at every step): the walkers,
    which keep the list and pop from it, must consume the same draws and return the same cells."""
    ops0, edges0, term = state
    if term:
        return state
    ops, edges = list(ops0), edges0
    mv = d.max_vertices
    pairs = [tuple(1 << (i * mv + j) for i in range(v) for j in range(i + 1, v)) for v in range(mv + 1)]
    while True:
        v = len(ops) + 2
        if official:
            absent = [b for b in pairs[v] if not edges & b]
            n_node = d.n_ops
        else:
            absent = [b for b in pairs[v] if not edges & b] if edges.bit_count() < d.max_edges else []
            n_node = d.n_ops if v < mv else 0
        r = int(rng.random() * (n_node + len(absent) + 1))
        if r < n_node:
            if v >= mv:
                ops, edges = list(ops0), edges0
                continue
            ops.append(r)
            edges = 0
        elif r < n_node + len(absent):
            if edges.bit_count() >= d.max_edges:
                ops, edges = list(ops0), edges0
                continue
            edges |= absent[r - n_node]
        else:
            return (tuple(ops), edges, True)


@pytest.mark.parametrize("official", [True, False])
def test_rollouts_are_the_reference_ones_draw_for_draw(official):
    for mv, me in ((6, 9), (7, 9), (5, 3)):  # (5, 3): the edge limit binds, restarts often
        d = CellDesign(max_vertices=mv, max_edges=me)
        starts = [d.root(), d.apply(d.root(), "node:1"), d.apply(d.apply(d.root(), "node:0"), "edge:(0, 2)")]
        for k, start in enumerate(starts):
            a, b = np.random.default_rng([mv, k]), np.random.default_rng([mv, k])
            walk = d.official_terminal if official else d.random_terminal
            got = [walk(start, iter(a.random, None)) for _ in range(3000)]
            assert got == [_reference_walk(d, start, b, official) for _ in range(3000)]
            assert a.random() == b.random()  # the same number of draws


def test_a_dry_tree_falls_back_to_random_picks_after_max_episodes_and_counts_them():
    """With ``max_episodes = 1`` every episode that finds nothing new ends the wait: the trial still
    covers the space, each fallback is one counted random pick, and no ask's own find waited
    longer than one episode."""
    bench = synthetic_benchmark(positions=2, choices=3, seed=0)  # 9 architectures
    picks = 0
    for seed in range(5):
        rec = run_trial(TrialSpec(bench.name, "alphax:no-metadnn", seed, 9, config={"max_episodes": 1}), bench)
        d = rec["diagnostics"]
        assert sorted(rec["arch"]) == list(range(9))
        assert d["random_picks"] == d["fallbacks"] and d["longest_wait"] <= 1
        assert d["random_picks"] + d["rollouts"] - d["failed_rollouts"] + d["tree_evaluations"] >= 9
        picks += d["random_picks"]
    assert picks > 0
    assert AlphaX(bench.space).config.max_episodes == 30_000


def test_the_index_memo_is_cleared_when_full_without_losing_the_states_asked_for(monkeypatch):
    """``_indices`` memoises terminal state -> index; when the memo is full it is cleared before it
    is read (clearing it after, as version 3 did, lost states memoised earlier in the same call:
    a KeyError on nb101-30k, where a 7-vertex trial rolls out millions of distinct cells)."""
    import strategies.alphax as ax

    space = synthetic_benchmark(positions=3, choices=3).space
    s = AlphaX(space, NO_DNN)
    rng = np.random.default_rng(0)
    terminals = [random_terminal_state(s.design, rng) for _ in range(40)]
    want = [int(i) for i in space.lookup(np.stack([s.design.genotype(t) for t in terminals]))]
    monkeypatch.setattr(ax, "MEMO_LIMIT", 5)
    assert s._indices(terminals[:10]) == want[:10]
    # the memo holds 10 > 5: this call's states (old and new) must all come back
    assert s._indices(terminals[5:25]) == want[5:25]
    assert len(s._memo) == len(set(terminals[5:25])) < len(set(terminals[:25]))  # it was emptied first
    assert s._indices(terminals) == want and len(s._memo) == len(set(terminals))


def random_terminal_state(design, rng):
    from strategies.models.actions import random_terminal

    return random_terminal(design, design.root(), uniforms(rng), True)

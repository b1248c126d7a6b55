"""LaNAS: UCB, the split rule, the closed-form fits, whole-space classification, sampling, search."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec
from nasbench.benchmark import Benchmark, GroundTruth, Status
from nasbench.synthetic import synthetic_benchmark
from strategies.lanas import LaNAS
from strategies.models.partition import (
    classify,
    draw_classified,
    draw_rejection,
    fit_masked,
    fit_tree,
    leaf_path,
    n_internal,
    ucb,
)
from strategies.registry import resolve


# ---------------------------------------------------------------------------------- UCB
def test_ucb_matches_hand_computed_values():
    # 0.9 + 2*0.1*sqrt(2 ln 20 / 5) = 0.9 + 0.2 * 1.0946648 = 1.1189330
    assert float(ucb(0.9, 5, 20, 0.1)) == pytest.approx(1.1189330, abs=1e-6)
    # one-shot Cp = 10: 0.5 + 20*sqrt(2 ln 100 / 50) = 0.5 + 20 * 0.4291932 = 9.0838640
    assert float(ucb(0.5, 50, 100, 10.0)) == pytest.approx(9.083864, abs=1e-4)
    assert float(ucb(0.7, 1, 1, 0.1)) == pytest.approx(0.7)  # ln 1 = 0: no exploration bonus
    assert float(ucb(0.7, 0, 10, 0.1)) == math.inf  # unvisited first
    got = np.asarray(ucb(jnp.array([0.9, 0.8]), jnp.array([8, 2]), 10, 0.1))
    np.testing.assert_allclose(got, [0.9 + 0.2 * math.sqrt(2 * math.log(10) / 8), 0.8 + 0.2 * math.sqrt(2 * math.log(10) / 2)], rtol=1e-6)


def _stats_height2(x_good, n_good, x_bad, n_bad):
    """(xsum, m, n) of a height-2 tree (root, good leaf, bad leaf) with the given leaf means."""
    m = np.array([n_good + n_bad, n_good, n_bad])
    xsum = np.array([x_good * n_good + x_bad * n_bad, x_good * n_good, x_bad * n_bad], np.float32)
    return jnp.asarray(xsum), jnp.asarray(m), jnp.asarray(m)


@pytest.mark.parametrize("cp, expected_leaf", [(0.1, 1), (0.01, 0)])
def test_ucb_descent_picks_the_hand_computed_child(cp, expected_leaf):
    # good leaf: 0.9 + 2cp sqrt(2 ln 10 / 8); bad leaf: 0.8 + 2cp sqrt(2 ln 10 / 2)
    # cp = 0.1: 1.0517 < 1.1035 -> bad (1); cp = 0.01: 0.9152 > 0.8303 -> good (0)
    xsum, m, n = _stats_height2(0.9, 8, 0.8, 2)
    leaf_of = jnp.array([0, 0, 1, 1], jnp.int32)
    avail = jnp.ones(4, bool)
    u = jnp.array([0.1, 0.2, 0.3, 0.4])
    idx, leaves, n_after, _ = draw_classified(jax.random.key(0), xsum, m, n, jnp.float32(cp), leaf_of, avail, u, height=2, k=1)
    assert int(leaves[0]) == expected_leaf
    assert int(idx[0]) == [1, 3][expected_leaf]  # the available architecture with the largest key
    np.testing.assert_array_equal(np.asarray(n_after), np.asarray(n) + np.array([1, 1 - expected_leaf, expected_leaf]))


def test_ucb_ties_are_broken_at_random():
    xsum, m, n = jnp.zeros(3), jnp.array([5, 0, 0]), jnp.array([5, 0, 0])  # both children unvisited
    leaf_of, avail, u = jnp.array([0, 1], jnp.int32), jnp.ones(2, bool), jnp.array([0.5, 0.5])
    picks = [int(draw_classified(jax.random.key(s), xsum, m, n, jnp.float32(0.1), leaf_of, avail, u, height=2, k=1)[1][0])
             for s in range(40)]
    assert 8 <= sum(picks) <= 32  # Binomial(40, 1/2): outside this with probability < 1e-4


# ---------------------------------------------------------------------------- the split rule
def test_split_rule_on_a_hand_case():
    """Fit y ~ w x + b on x = 0..3, y = (1, 2, 2.5, 5): w = 6.25/5 = 1.25, b = 2.625 - 1.25*1.5 = 0.75,
    threshold = mean prediction = mean y = 2.625. In training, samples go left (good) by their TRUE
    value: only y = 5. The sample x = 2 is predicted 3.25 >= 2.625 but its true 2.5 < 2.625 sends it
    right; as an unevaluated candidate the same x = 2 is classified left (by prediction)."""
    x = jnp.array([[0.0], [1.0], [2.0], [3.0]])
    y = jnp.array([1.0, 2.0, 2.5, 5.0])
    fit = fit_tree(x, y, jnp.ones(4, bool), 1e-9, height=2)
    assert float(fit["W"][0, 0]) == pytest.approx(1.25, abs=1e-4)
    assert float(fit["b"][0]) == pytest.approx(0.75, abs=1e-4)
    assert float(fit["thr"][0]) == pytest.approx(2.625, abs=1e-5)
    np.testing.assert_array_equal(np.asarray(fit["path"]), [[0, 0, 0, 0], [2, 2, 2, 1]])  # node 1 good, 2 bad
    leaves = classify(x, fit["W"], fit["b"], fit["thr"], height=2)
    np.testing.assert_array_equal(np.asarray(leaves), [1, 1, 0, 0])  # x = 2 goes left by prediction


def test_split_rule_recurses_on_the_bags():
    """Height 3: the root splits at the mean 2.625, then each child fits and splits its own bag."""
    x = jnp.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = jnp.array([1.0, 2.0, 3.0, 4.0, 10.0, 12.0])  # mean 5.333: good bag {10, 12}, bad {1, 2, 3, 4}
    fit = fit_tree(x, y, jnp.ones(6, bool), 1e-9, height=3)
    path = np.asarray(fit["path"])
    np.testing.assert_array_equal(path[1], [2, 2, 2, 2, 1, 1])
    # node 1: bag {10, 12}, mean 11: 12 -> node 3 (good), 10 -> node 4; node 2: bag 1..4, mean 2.5
    np.testing.assert_array_equal(path[2], [6, 6, 5, 5, 4, 3])
    np.testing.assert_allclose(np.asarray(fit["thr"]), [16 / 3 * 1.0, 11.0, 2.5], rtol=1e-5)


def test_closed_form_fit_is_the_ridge_least_squares_solution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 7)).astype(np.float32)
    y = (x @ rng.normal(size=7) + 0.3 + 0.1 * rng.normal(size=60)).astype(np.float32)
    mask = (rng.random(60) < 0.7).astype(np.float32)
    ridge = 1e-3
    fit = jax.jit(fit_masked)
    w, b, thr = fit(jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask[None]), ridge)
    xs, ys = x[mask > 0].astype(np.float64), y[mask > 0].astype(np.float64)
    xc, yc = xs - xs.mean(0), ys - ys.mean()
    cov = xc.T @ xc / len(xs)
    w_ref = np.linalg.solve(cov + ridge * np.trace(cov) / 7 * np.eye(7), xc.T @ yc / len(xs))
    b_ref = ys.mean() - w_ref @ xs.mean(0)
    np.testing.assert_allclose(np.asarray(w[0]), w_ref, atol=1e-4)
    assert float(b[0]) == pytest.approx(b_ref, abs=1e-4)
    assert float(thr[0]) == pytest.approx(ys.mean(), abs=1e-4)  # mean prediction = mean value
    # an empty bag fits nothing
    w0, b0, t0 = fit(jnp.asarray(x), jnp.asarray(y), jnp.zeros((1, 60)), ridge)
    assert not np.asarray(w0).any() and float(b0[0]) == 0.0 and float(t0[0]) == 0.0


# ------------------------------------------------------------- whole-space classification
# The tests below share one space and the array shapes the strategy itself uses (256 padded fit
# rows, height 5, 20 draws, 4096 rejection proposals), so jit compiles each kernel once.
@pytest.fixture(scope="module")
def good_region():
    """4,096 architectures with an additive score: the top 5% is a region a linear split can find."""
    return synthetic_benchmark(positions=6, choices=4, repeats=1, noise_sd=0.0, seed=0, name="syn4x6")


def _tree_on(bench, n_samples=256, height=5, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.choice(bench.n_space, n_samples, replace=False)
    x = jnp.asarray(bench.space.encode("onehot", idx))
    y = jnp.asarray(bench.truth.truth[idx], jnp.float32)
    return fit_tree(x, y, jnp.ones(n_samples, bool), 1e-4, height=height)


def test_classifying_the_space_as_one_matrix_product_matches_a_loop(good_region):
    h = 5
    fit = _tree_on(good_region)
    x = good_region.space.encode("onehot")
    got = np.asarray(classify(jnp.asarray(x), fit["W"], fit["b"], fit["thr"], height=h))
    w, b, thr = (np.asarray(fit[k], np.float64) for k in ("W", "b", "thr"))
    want = np.empty(len(x), np.int64)
    margin = np.full(len(x), np.inf)
    for i, row in enumerate(x.astype(np.float64)):  # push every architecture down the tree alone
        node = 0
        for _ in range(h - 1):
            p = row @ w[node] + b[node]
            margin[i] = min(margin[i], abs(p - thr[node]))
            node = 2 * node + 1 if p >= thr[node] else 2 * node + 2
        want[i] = node - n_internal(h)
    clear = margin > 1e-5  # float32 vs float64 may only disagree within rounding of a hyperplane
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(got[clear], want[clear])
    assert len(np.unique(got)) > 4  # a real partition, not everything in one leaf


def test_leaf_path_lists_the_ancestors_and_directions():
    assert leaf_path(0, 3) == [(0, True), (1, True)]
    assert leaf_path(3, 3) == [(0, False), (2, False)]
    assert leaf_path(2, 3) == [(0, False), (2, True)]


# -------------------------------------------------------------------------------- sampling
def test_an_empty_leaf_gives_way_to_the_first_non_empty_leaf():
    # height 3: root 0; good 1 (mean 0.9), bad 2 (mean 0.5); leaves 3..6 at positions 0..3.
    m = np.array([10, 6, 4, 0, 6, 2, 2])
    xsum = np.array([7.4, 5.4, 2.0, 0.0, 5.4, 1.0, 1.0], np.float32)
    leaf_of = jnp.array([1, 1, 2, 2, 3], jnp.int32)  # nothing classified into position 0
    u = jnp.array([0.9, 0.1, 0.8, 0.7, 0.6])
    idx, leaves, n, _ = draw_classified(jax.random.key(0), jnp.asarray(xsum), jnp.asarray(m), jnp.asarray(m),
                                     jnp.float32(0.0), leaf_of, jnp.ones(5, bool), u, height=3, k=2)
    # Cp 0: node 1 wins (0.9 > 0.5); node 3 (position 0) is unvisited (+inf) but empty -> position 1
    np.testing.assert_array_equal(np.asarray(leaves), [1, 1])
    np.testing.assert_array_equal(np.asarray(idx), [0, 1])  # uniform w/o replacement: keys 0.9, then 0.1
    np.testing.assert_array_equal(np.asarray(n), m + np.array([2, 2, 0, 0, 2, 0, 0]))  # back-propagated visits


def test_rejection_sampling_draws_satisfy_every_constraint_on_the_path(good_region):
    h = 5
    fit = _tree_on(good_region, seed=1)
    cnt = np.zeros(2**h - 1, np.int64)
    for level in np.asarray(fit["path"]):
        np.add.at(cnt, level, 1)
    assert (cnt > 0).all()  # every node is active, so constraints and classification agree
    x = jnp.asarray(good_region.space.encode("onehot"))
    xsum = jnp.zeros(2**h - 1)
    visits = jnp.zeros(2**h - 1, jnp.int32).at[0].set(1)  # all leaves unvisited: random descents
    idx, leaves, _, _ = draw_rejection(
        jax.random.key(2), xsum, visits, visits, jnp.float32(0.1), jnp.asarray(cnt[: n_internal(h)] > 0),
        fit["W"], fit["b"], fit["thr"], x, jnp.ones(x.shape[0], bool), jnp.zeros(x.shape[0]),
        height=h, k=20, tries=4096,
    )
    idx = np.asarray(idx)
    assert len(set(idx.tolist())) == 20  # without replacement
    got = np.asarray(classify(x[idx], fit["W"], fit["b"], fit["thr"], height=h))
    np.testing.assert_array_equal(got, np.asarray(leaves))
    assert len(set(np.asarray(leaves).tolist())) > 4  # the random descents reach several leaves


# ------------------------------------------------------------------------ search behaviour
@pytest.mark.parametrize("sampling", ["classify", "rejection"])
def test_the_tree_concentrates_its_samples_in_the_good_region(good_region, sampling):
    """With converged (exact) linear fits; the official Adam fits are far from converged early on."""
    thr = np.quantile(good_region.truth.truth, 0.95)  # random search: 5% of its samples land there
    fractions, hits = [], []
    for seed in range(2):
        rec = run_trial(TrialSpec(good_region.name, "lanas:exact-fit", seed, 250, config={"sampling": sampling}), good_region)
        truth = np.asarray(rec["truth"])
        fractions.append((truth[10:] >= thr).mean())  # after the 10 random initial samples
        best = np.maximum.accumulate(truth)
        hits.append(int(np.argmax(best >= good_region.truth.optimum)) + 1 if best[-1] >= good_region.truth.optimum else np.inf)
    assert np.mean(fractions) > 0.25, fractions  # > 5x random search's 5%
    if sampling == "classify":  # random search needs (4096 + 1) / 2 = 2048.5 samples for the optimum
        assert max(hits) <= 250, hits


# ------------------------------------------------------------------ protocol and config
def test_batch_ask_returns_a_round_and_sequential_ask_one_with_backpropagation(good_region):
    space = good_region.space
    strat = LaNAS(space, {"init_samples": 10, "samples_per_rebuild": 20, "batch": True})
    st = strat.init(jax.random.key(0))
    st, idx = strat.ask(st, 1000)
    assert len(idx) == 10  # the random initial samples
    st = strat.tell(st, idx, good_region.truth.truth[idx], np.full(10, Status.NEW))
    st, idx = strat.ask(st, 1000)
    assert len(idx) == 20 and len(set(idx.tolist()) | set(st.obs_idx.tolist())) == 30
    st, idx = strat.ask(st, 7)
    assert len(idx) == 7  # never more than the budget left

    seq = LaNAS(space, {"batch": False})
    st = seq.init(jax.random.key(0))
    st, idx = seq.ask(st, 1000)
    st = seq.tell(st, idx, good_region.truth.truth[idx], np.full(len(idx), Status.NEW))
    st, idx = seq.ask(st, 1000)
    assert len(idx) == 1
    (i, leaf), = st.pending
    before_m, before_x = st.tree.m.copy(), st.tree.xsum.copy()
    v = float(good_region.truth.truth[idx[0]])
    st = seq.tell(st, idx, np.array([v]), np.array([Status.NEW]))
    path = [a for a, _ in leaf_path(leaf, 5)] + [leaf + n_internal(5)]
    np.testing.assert_array_equal(st.tree.m - before_m, np.isin(np.arange(31), path).astype(int))
    np.testing.assert_allclose((st.tree.xsum - before_x)[path], v)


def test_out_of_table_answers_are_never_asked_again(good_region):
    strat = LaNAS(good_region.space, {"init_samples": 4})
    st = strat.init(jax.random.key(1))
    st, idx = strat.ask(st, 100)
    st = strat.tell(st, idx, np.full(len(idx), np.nan), np.full(len(idx), Status.OUT_OF_TABLE))
    assert st.dead[idx].all() and st.obs_idx.size == 0
    st, idx2 = strat.ask(st, 100)
    assert not set(idx2.tolist()) & set(idx.tolist())


def test_value_scale_is_automatic_for_percentages(good_region):
    pct = Benchmark("syn-pct", good_region.space, "percent", good_region.values * 100, good_region.cost,
                    GroundTruth(good_region.truth.truth * 100, "percent"))
    for bench, scale in [(good_region, 1.0), (pct, 100.0)]:
        strat = LaNAS(bench.space)
        st = strat.init(jax.random.key(0))
        st, idx = strat.ask(st, 100)
        st = strat.tell(st, idx, bench.truth.truth[idx], np.full(len(idx), Status.NEW))
        st, _ = strat.ask(st, 100)
        assert st.value_scale == scale
        # the UCB sees fractions either way: the root's mean is the mean of values / scale
        assert st.tree.xsum[0] / st.tree.m[0] == pytest.approx(np.mean(bench.truth.truth[st.obs_idx]) / scale)


def test_presets_and_config_errors(good_region):
    _, cfg = resolve("lanas:oneshot")
    assert cfg == {"cp": 10.0, "init_samples": 300, "sampling": "rejection", "samples_per_rebuild": 1}
    c = LaNAS(good_region.space).config
    assert (c.height, c.cp, c.init_samples, c.samples_per_rebuild, c.sampling) == (5, 0.1, 10, 20, "classify")
    # the official trainer and loop (Classifier.py:38-40, 67-87; MCTS.py:194-204)
    assert (c.fit, c.lr, c.clip, c.first_epochs, c.later_epochs, c.batch) == ("adam", 1e-5, 5.0, 20_000, 3_000, False)
    assert resolve("lanas:exact-fit")[1] == {"fit": "exact"}
    assert LaNAS(good_region.space).encoding == "onehot"  # no "adjacency" encoding on this space
    with pytest.raises(ValueError, match="sampling"):
        LaNAS(good_region.space, {"sampling": "mcmc"})
    with pytest.raises(KeyError, match="encoding"):
        LaNAS(good_region.space, {"encoding": "path"})


@pytest.mark.data
def test_finds_the_nas_bench_201_optimum_far_sooner_than_random_search():
    from nasbench.data import DataNotFound
    from nasbench.registry import get_benchmark

    try:
        bench = get_benchmark("nb201-cifar10")
    except DataNotFound as exc:
        pytest.skip(f"NAS-Bench-201 data not found: {exc}")
    rec = run_trial(TrialSpec("nb201-cifar10", "lanas", 0, 1500), bench)
    best = np.maximum.accumulate(rec["truth"])
    # random search needs (15625 + 1) / 2 = 7813 samples in expectation, and hits within 1500 with p ~ 0.096
    assert best[-1] >= bench.truth.optimum


# ------------------------------------------------------------------ the official trainer
def _torch_formula_fit(w, b, x, y, steps, lr, clip, b1=0.9, b2=0.999, eps=1e-8):
    """float64 numpy transcription of Classifier.train: per-sample MSE gradient (nn.MSELoss, mean),
    clip_grad_norm_ over weight and bias together, torch.optim.Adam's update."""
    w, b = w.astype(np.float64).copy(), float(b)
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    for t in range(1, steps + 1):
        r = x @ w + b - y
        gw, gb = 2 * x.T @ r / len(y), 2 * r.mean()
        norm = np.sqrt((gw ** 2).sum() + gb ** 2)
        coef = min(clip / (norm + 1e-6), 1.0)
        gw, gb = gw * coef, gb * coef
        mw, vw = b1 * mw + (1 - b1) * gw, b2 * vw + (1 - b2) * gw ** 2
        mb, vb = b1 * mb + (1 - b1) * gb, b2 * vb + (1 - b2) * gb ** 2
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        w = w - lr / bc1 * mw / (np.sqrt(vw) / np.sqrt(bc2) + eps)
        b = b - lr / bc1 * mb / (np.sqrt(vb) / np.sqrt(bc2) + eps)
    return w, b


@pytest.mark.parametrize("lr,scale", [(1e-5, 1.0), (1e-2, 1.0), (1e-2, 50.0)])
def test_adam_trainer_is_pytorchs_update_rule(lr, scale):
    """Two nodes with different bags and step counts against the PyTorch-formula reference; the
    last case has targets large enough that clipping is active at every step."""
    from strategies.models.partition import init_models, train_linear

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(12, 5)).astype(np.float32)
    y = (rng.random(12) * scale).astype(np.float32)
    mask = np.zeros((2, 12), np.float32)
    mask[0, :7], mask[1, 5:] = 1, 1
    p0 = init_models(jax.random.key(3), 2, 5)
    steps = np.array([300, 120], np.int32)
    p = train_linear(p0, jnp.asarray(mask), jnp.asarray(x), jnp.asarray(y), jnp.asarray(steps), lr, 5.0)
    for k in range(2):
        rows = mask[k] > 0
        w, b = _torch_formula_fit(np.asarray(p0["w"][k]), float(p0["b"][k]), x[rows].astype(np.float64),
                                  y[rows].astype(np.float64), int(steps[k]), lr, 5.0)
        np.testing.assert_allclose(np.asarray(p["w"][k]), w, rtol=2e-4, atol=2e-6)
        assert float(p["b"][k]) == pytest.approx(b, rel=2e-4, abs=2e-6)
        assert int(p["t"][k]) == steps[k]  # Adam's step counter persists with the model


def test_adam_init_is_xavier_uniform_and_linear_default_bias():
    from strategies.models.partition import init_models

    p = init_models(jax.random.key(0), 2000, 49)
    bw, bb = np.sqrt(6 / 50), 1 / 7
    w, b = np.asarray(p["w"]), np.asarray(p["b"])
    assert np.abs(w).max() <= bw and np.abs(w).max() > 0.99 * bw
    assert np.abs(b).max() <= bb and np.abs(b).max() > 0.99 * bb
    assert abs(w.var() - bw ** 2 / 3) < 0.01 * bw ** 2


def test_official_fit_trains_20000_steps_first_then_3000_and_keeps_its_state(good_region):
    strat = LaNAS(good_region.space, {"height": 3, "first_epochs": 50, "later_epochs": 7})
    st = strat.init(jax.random.key(0))
    truth = good_region.truth.truth
    st, idx = strat.ask(st, 1000)  # the 10 random initial draws, in one ask
    st = strat.tell(st, idx, truth[idx], np.full(len(idx), Status.NEW))
    for _ in range(41):  # one draw per ask: rebuilds before draws 1, 21 and 41
        st, idx = strat.ask(st, 1000)
        assert len(idx) == 1
        st = strat.tell(st, idx, truth[idx], np.full(len(idx), Status.NEW))
    fits, t = np.asarray(st.models["fits"]), np.asarray(st.models["t"])
    assert st.rounds == 3 and fits[0] == 3 and t[0] == 50 + 7 + 7  # the root: first fit, then two later ones
    np.testing.assert_array_equal(t[fits > 0], 50 + 7 * (fits[fits > 0] - 1))
    d = strat.diagnostics(st)
    assert d["rebuilds"] == 3 and d["draws_initial"] == 10
    assert d["draws_chosen_leaf"] + d["draws_fallback_leaf"] == 41

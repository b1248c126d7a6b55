"""The shared predictors: they learn known functions, members differ, masks and graphs behave."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import spearmanr

from nasbench.spaces.nb201 import nb201_space
from nasbench.synthetic import synthetic_benchmark
from strategies.models.predictors import (
    PredictorSpec,
    acquisition,
    fit_ensemble,
    fit_gnn_ensemble,
    fit_predictor,
    init_ensemble,
    init_gnn_ensemble,
    predict_ensemble,
    predict_gnn_ensemble,
    predict_predictor,
    predictor_inputs,
    standardize,
)

HIDDEN = (16, 16)  # one size for every MLP test, so they share compiled functions
GIN_HIDDEN = (16, 16)


@pytest.fixture(scope="module")
def linear_problem():
    """The synthetic additive benchmark: its truth is linear in the one-hot encoding."""
    bench = synthetic_benchmark(positions=5, choices=4, repeats=1, noise_sd=0.0, seed=3)
    x = bench.space.encode("onehot")
    return x, bench.truth.truth


def test_mlp_ensemble_learns_a_linear_target(linear_problem):
    x, y = linear_problem
    rng = np.random.default_rng(0)
    train = rng.choice(len(x), 60, replace=False)
    test = np.setdiff1d(np.arange(len(x)), train)
    ys, _, _ = standardize(y[train])
    p = init_ensemble(jax.random.key(0), 2, x.shape[1], HIDDEN)
    p = fit_ensemble(jax.random.key(1), p, x[train], ys, hidden=HIDDEN, epochs=100, lr=0.01)
    pred = np.asarray(predict_ensemble(p, x[test], hidden=HIDDEN))
    assert pred.shape == (2, len(test))
    assert spearmanr(pred.mean(0), y[test]).statistic > 0.9
    for member in pred:  # every member on its own learned it too
        assert spearmanr(member, y[test]).statistic > 0.8


def test_ensemble_members_differ_and_keys_reproduce(linear_problem):
    x, y = linear_problem
    ys, _, _ = standardize(y[:40])
    p0 = init_ensemble(jax.random.key(0), 2, x.shape[1], HIDDEN)
    a = fit_ensemble(jax.random.key(1), p0, x[:40], ys, hidden=HIDDEN, epochs=10)
    b = fit_ensemble(jax.random.key(1), p0, x[:40], ys, hidden=HIDDEN, epochs=10)
    pa = np.asarray(predict_ensemble(a, x, hidden=HIDDEN))
    np.testing.assert_array_equal(pa, np.asarray(predict_ensemble(b, x, hidden=HIDDEN)))
    # different initialisations and data orders: no two members predict alike
    assert np.abs(pa[0] - pa[1]).mean() > 1e-3
    kernel = p0["params"]["Dense_0"]["kernel"]  # [members, d, h]
    assert not np.allclose(kernel[0], kernel[1])


def test_mask_ignores_padded_rows_exactly(linear_problem):
    """Rows with mask 0 (a caller's own padding, here filled with junk) change nothing."""
    x, y = linear_problem
    ys, _, _ = standardize(y[:30])
    junk_x = np.concatenate([x[:30], np.full((10, x.shape[1]), 7.0, np.float32)])
    junk_y = np.concatenate([ys, np.full(10, -50.0, np.float32)])
    mask = np.r_[np.ones(30), np.zeros(10)]
    p0 = init_ensemble(jax.random.key(0), 2, x.shape[1], HIDDEN)
    a = fit_ensemble(jax.random.key(5), p0, x[:30], ys, hidden=HIDDEN, epochs=5)
    b = fit_ensemble(jax.random.key(5), p0, junk_x, junk_y, hidden=HIDDEN, epochs=5, mask=mask)
    for la, lb in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(la), np.asarray(lb), rtol=1e-5, atol=1e-6)


def test_sigmoid_output_is_the_logistic_of_the_linear_output():
    p = init_ensemble(jax.random.key(0), 2, 4, HIDDEN, out_activation="sigmoid")
    x = 3 * np.random.default_rng(0).normal(size=(50, 4))
    out = np.asarray(predict_ensemble(p, x, hidden=HIDDEN, out_activation="sigmoid"), np.float64)
    z = np.asarray(predict_ensemble(p, x, hidden=HIDDEN, out_activation="none"), np.float64)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-z)), rtol=1e-5, atol=1e-6)
    assert z.std() > 0.1 and ((out > 0) & (out < 1)).all()
    with pytest.raises(ValueError, match="out_activation"):
        init_ensemble(jax.random.key(0), 2, 4, HIDDEN, out_activation="tanh")


def test_nan_targets_are_refused(linear_problem):
    x, _ = linear_problem
    p = init_ensemble(jax.random.key(0), 2, x.shape[1], HIDDEN)
    with pytest.raises(ValueError, match="NaN"):
        fit_ensemble(jax.random.key(0), p, x[:4], np.array([0.0, np.nan, 1.0, 2.0]), hidden=HIDDEN)


def _permute_graph(adj: np.ndarray, feats: np.ndarray, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel node ``perm[k]`` as node ``k``: ``A' = P A P^T``, ``X' = P X``."""
    return adj[:, perm][:, :, perm], feats[:, perm]


def test_gnn_is_invariant_to_node_relabelling():
    adj, feats = nb201_space().graph
    idx = np.arange(0, 15625, 977)
    a, f = adj[idx], feats[idx]
    p = init_gnn_ensemble(jax.random.key(0), 2, a.shape[1], f.shape[2], GIN_HIDDEN)
    out = np.asarray(predict_gnn_ensemble(p, a, f, hidden=GIN_HIDDEN))
    perm = np.random.default_rng(0).permutation(a.shape[1])
    out_perm = np.asarray(predict_gnn_ensemble(p, *_permute_graph(a, f, perm), hidden=GIN_HIDDEN))
    np.testing.assert_allclose(out, out_perm, rtol=1e-5, atol=1e-5)
    # and it does look at the graph: reversing every edge changes the answer
    out_rev = np.asarray(predict_gnn_ensemble(p, np.swapaxes(a, 1, 2), f, hidden=GIN_HIDDEN))
    assert np.abs(out - out_rev).max() > 1e-4


def test_gnn_padding_nodes_do_not_count():
    """A graph and the same graph with an extra all-zero (padding) node predict the same."""
    adj, feats = nb201_space().graph
    a, f = adj[:5], feats[:5]
    a_pad = np.zeros((5, 9, 9), np.float32)
    a_pad[:, :8, :8] = a
    a_pad[:, 8, :] = 1.0  # edges from a padding node must be ignored
    f_pad = np.concatenate([f, np.zeros((5, 1, f.shape[2]), np.float32)], axis=1)
    p = init_gnn_ensemble(jax.random.key(1), 2, 8, f.shape[2], GIN_HIDDEN)
    np.testing.assert_allclose(np.asarray(predict_gnn_ensemble(p, a, f, hidden=GIN_HIDDEN)),
                               np.asarray(predict_gnn_ensemble(p, a_pad, f_pad, hidden=GIN_HIDDEN)),
                               rtol=1e-5, atol=1e-5)


def test_gnn_ensemble_learns_an_op_count_target():
    """Target: the number of 3x3 convolutions in an NB-201 cell (a function of node features)."""
    space = nb201_space()
    y = (space.genotypes == 3).sum(1).astype(np.float64) - 0.5 * (space.genotypes == 0).sum(1)
    rng = np.random.default_rng(1)
    train = rng.choice(space.n, 64, replace=False)
    test = rng.choice(np.setdiff1d(np.arange(space.n), train), 1000, replace=False)
    spec = PredictorSpec(kind="gnn", members=2, hidden=GIN_HIDDEN, epochs=60, lr=3e-3)
    inputs = predictor_inputs(space, spec)
    ys, _, _ = standardize(y[train])
    params = fit_predictor(jax.random.key(0), spec, inputs, train, ys)
    pred = np.asarray(predict_predictor(spec, params, inputs, test))
    assert spearmanr(pred.mean(0), y[test]).statistic > 0.85
    # the direct API gives the same shape contract
    direct = fit_gnn_ensemble(jax.random.key(0), params, inputs[0][train[:10]], inputs[1][train[:10]], ys[:10],
                              hidden=GIN_HIDDEN, epochs=1)
    assert np.asarray(predict_gnn_ensemble(direct, inputs[0][:3], inputs[1][:3], hidden=GIN_HIDDEN)).shape == (2, 3)


def test_acquisitions_match_their_formulas():
    preds = jnp.asarray([[0.0, 1.0, 5.0], [2.0, 1.0, 3.0]])  # mean [1, 1, 4], std [1, 0, 1]
    np.testing.assert_allclose(acquisition(preds, "mean"), [1.0, 1.0, 4.0])
    np.testing.assert_allclose(acquisition(preds, "ucb", beta=2.0), [3.0, 1.0, 6.0])
    key = jax.random.key(3)
    z = np.asarray(jax.random.normal(key, (3,)))
    np.testing.assert_allclose(acquisition(preds, "thompson", key=key), [1 + z[0], 1.0, 4 + z[2]], rtol=1e-6)
    with pytest.raises(ValueError, match="key"):
        acquisition(preds, "thompson")
    with pytest.raises(ValueError, match="acquisition"):
        acquisition(preds, "ei")


def test_standardize():
    z, mu, sd = standardize(np.array([1.0, 2.0, 3.0]))
    assert mu == 2.0 and sd == pytest.approx(np.sqrt(2 / 3))
    np.testing.assert_allclose(z, [-1.224745, 0.0, 1.224745], rtol=1e-5)
    z, _, sd = standardize(np.array([4.0, 4.0]))  # constant targets stay finite
    assert sd == 1.0 and (z == 0).all()


def test_predictions_in_chunks_equal_one_pass(linear_problem):
    x, _ = linear_problem
    p = init_ensemble(jax.random.key(2), 2, x.shape[1], HIDDEN)
    whole = np.asarray(predict_ensemble(p, x, hidden=HIDDEN))
    chunked = np.asarray(predict_ensemble(p, x, hidden=HIDDEN, chunk=100))
    np.testing.assert_allclose(whole, chunked, rtol=1e-6, atol=1e-6)

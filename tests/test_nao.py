"""NAO: the seq2seq parts (optimiser, masked loss, autoencoder, gradient move, constrained decoding)
and the strategy's proposal rules (new, valid, in-table architectures; random fill; token lookup).

The models use the ``nao:test`` sizes on the 4 x 4 synthetic space, the shapes the contract tests
compile, so a full test run compiles them once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasbench.benchmark import Status
from nasbench.space import INVALID, OUT_OF_TABLE
from nasbench.spaces import nb101 as S
from nasbench.synthetic import synthetic_benchmark
from strategies.models.seq2seq import TrainConfig, capacity, legal_mask, make_optimizer
from strategies.nao import NAO, nb101_lookup_tokens

TEST = NAO.presets["test"]


@pytest.fixture(scope="module")
def toy():
    return synthetic_benchmark(positions=4, choices=4, repeats=3, seed=0)


@pytest.fixture(scope="module")
def trained(toy):
    """NAO (test sizes) trained on 64 of the 256 toy architectures."""
    strat = NAO(toy.space, {**TEST, "epochs": 600})
    arch = np.arange(0, toy.space.n, 4)
    values = toy.truth.truth[arch]
    params, _, _ = strat.fit(strat.nets.init(jax.random.key(0)), arch, values, jax.random.key(1))
    return strat, params, arch, values


# ------------------------------------------------------------------ hand-computed pieces
def test_capacity_is_a_power_of_two_number_of_batches():
    assert [capacity(n, 100) for n in (1, 100, 101, 200, 201, 400, 401, 1100)] == [100, 100, 200, 200, 400, 400, 800, 1600]


def test_legal_mask_marks_exactly_the_listed_tokens():
    mask = legal_mask(((1, 2), (3, 4, 5, 6)), 7)
    assert mask.tolist() == [[False, True, True, False, False, False, False],
                             [False, False, False, True, True, True, True]]
    with pytest.raises(ValueError, match="position 1"):
        legal_mask(((1,), ()), 3)


def test_optimizer_is_pytorch_adam_with_coupled_weight_decay_after_clipping():
    """Three steps against PyTorch's Adam(weight_decay) after clip_grad_norm_, written out."""
    tc = TrainConfig(lr=1e-2, weight_decay=0.1, grad_clip=1.0)
    opt = make_optimizer(tc)
    p = jnp.asarray([1.0, -2.0, 0.5])
    state = opt.init(p)
    grads = [np.array([3.0, 4.0, 0.0]), np.array([0.1, -0.2, 0.3]), np.array([-0.5, 0.0, 0.2])]
    ref, m, v = np.array([1.0, -2.0, 0.5]), np.zeros(3), np.zeros(3)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t, g in enumerate(grads, start=1):
        upd, state = opt.update(jnp.asarray(g), state, p)
        p = p + upd
        g = g * min(1.0, tc.grad_clip / np.linalg.norm(g))  # clip_grad_norm_
        g = g + tc.weight_decay * ref  # Adam's weight_decay: L2 added to the gradient
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        ref = ref - tc.lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    np.testing.assert_allclose(np.asarray(p), ref, rtol=1e-5, atol=1e-7)


def test_padding_rows_do_not_change_training(toy):
    """``fit`` trains on the first n rows only: whatever fills the padding, the weights are the same."""
    strat = NAO(toy.space, {**TEST, "epochs": 3})
    nets = strat.nets
    params = nets.init(jax.random.key(0))
    tok = np.zeros((100, 4), np.int32)
    tok[:30] = toy.space.tokens[:30]
    y = np.zeros(100, np.float32)
    y[:30] = np.linspace(-1, 1, 30)
    junk_tok, junk_y = tok.copy(), y.copy()
    junk_tok[30:] = toy.space.tokens[100:170]
    junk_y[30:] = 50.0
    a, loss_a = nets.fit(params, jnp.asarray(tok), jnp.asarray(y), 30, jax.random.key(1), 3)
    b, loss_b = nets.fit(params, jnp.asarray(junk_tok), jnp.asarray(junk_y), 30, jax.random.key(1), 3)
    for x, z in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(z))
    np.testing.assert_array_equal(np.asarray(loss_a), np.asarray(loss_b))
    loss, mse, nll = np.asarray(loss_a)
    np.testing.assert_allclose(loss, 0.8 * mse + 0.2 * nll, rtol=1e-5)
    # and training moved the weights
    assert any(not np.array_equal(np.asarray(x), np.asarray(z))
               for x, z in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(params)))


def _move(strat, params, tokens, etas):
    """``move`` in chunks of the shapes the strategy compiles (top_k seeds x step_chunk etas)."""
    k, e = strat.config.top_k, strat.config.step_chunk
    assert len(etas) == e
    toks, preds = [], []
    for start in range(0, len(tokens), k):
        chunk = tokens[start : start + k]
        t, p = strat.nets.move(params, jnp.asarray(chunk), jnp.asarray(etas, jnp.float32), strat._legal)
        toks.append(np.asarray(t)[:, : len(chunk)])
        preds.append(np.asarray(p)[:, : len(chunk)])
    return np.concatenate(toks, axis=1), np.concatenate(preds, axis=1)


# ------------------------------------------------------------------ the trained autoencoder
def test_autoencoder_reconstructs_its_training_sequences(trained):
    strat, params, arch, values = trained
    tok = strat.space.tokens[arch]
    rec = _move(strat, params, tok, [0.0] * 5)[0][0]  # eta = 0: decode the sequence's own encoding
    assert (rec == tok).mean() >= 0.95, f"token accuracy {(rec == tok).mean():.3f}"
    # decoding the reconstruction gives back the architecture itself, nearly always
    assert (strat.lookup_tokens(rec) == arch).mean() >= 0.9


def test_predictor_ranks_its_training_set(trained):
    strat, params, arch, values = trained
    pred = _move(strat, params, strat.space.tokens[arch], [0.0] * 5)[1][0]
    assert np.corrcoef(pred, values)[0, 1] > 0.9


def test_a_gradient_step_increases_the_predicted_score(trained):
    """h' = normalise(h + eta df/dh) raises the prediction for small eta (and -eta lowers it)."""
    strat, params, arch, values = trained
    _, pred = _move(strat, params, strat.space.tokens[arch], [-0.02, 0.0, 0.02, 1.0, 2.0])
    assert (pred[2] > pred[1]).all() and (pred[0] < pred[1]).all()
    # and the moves the search makes (eta = 1, 2) raise the mean prediction of the seeds
    assert pred[3].mean() > pred[1].mean() and pred[4].mean() > pred[1].mean()


def test_decoding_is_constrained_to_legal_tokens(toy):
    """An untrained decoder emits illegal tokens when unconstrained, never when constrained."""
    strat = NAO(toy.space, TEST)
    params = strat.nets.init(jax.random.key(3))
    seeds = jnp.asarray(toy.space.tokens[:8])
    etas = jnp.arange(1.0, 6.0)  # the test preset's step_chunk and top_k: shapes compiled once
    free, _ = strat.nets.move(params, seeds, etas, jnp.ones_like(strat._legal))
    legal = np.asarray(strat._legal)
    pos = np.arange(toy.space.tokens.shape[1])
    assert not legal[pos, np.asarray(free)].all(), "the check needs a decoder that errs when unconstrained"
    toks, _ = strat.nets.move(params, seeds, etas, strat._legal)
    toks = np.asarray(toks)
    assert legal[pos, toks].all()
    assert (strat.lookup_tokens(toks.reshape(-1, toks.shape[-1])) >= 0).all()  # product space: all valid


# ------------------------------------------------------------------ the strategy's proposals
def test_proposals_are_new_valid_and_in_table():
    """On a partial table, proposals are in-table, unevaluated and distinct."""
    bench = synthetic_benchmark(positions=4, choices=4, repeats=1, keep=0.4, seed=1, name="synthetic-partial")
    strat = NAO(bench.space, {**TEST, "epochs": 50, "max_step": 30})
    arch = np.arange(0, bench.space.n, 3)[:30]
    values = bench.truth.truth[arch]
    params, _, _ = strat.fit(strat.nets.init(jax.random.key(0)), arch, values, jax.random.key(1))
    seen = np.zeros(bench.space.n, bool)
    seen[arch] = True
    new, decoded, counts = strat.propose(params, arch, values, seen, 20)
    assert 1 <= len(new) <= 20 and len(new) == counts["decoded_new"] + counts["decoded_projected"]
    assert len(set(new.tolist())) == len(new) and (new >= 0).all() and not seen[new].any()
    # the ones decoded as they are: their sequence is the architecture's own
    assert len(decoded) == counts["decoded_new"]
    assert all(strat.lookup_tokens(np.asarray([seq]))[0] == i for i, seq in decoded)


def test_a_short_round_is_filled_with_random_unevaluated_architectures(toy):
    """With one step size and 8 seeds at most 8 decodes are new: the rest of 40 is random."""
    strat = NAO(toy.space, {**TEST, "n_init": 8, "n_new": 40, "max_step": 1})
    state = strat.init(jax.random.key(0))
    oracle = toy.oracle(jax.random.key(1))
    state, idx = strat.ask(state, 100)
    assert len(idx) == 8
    res = oracle.query(idx)
    state = strat.tell(state, idx, res.values, res.status)
    state, idx = strat.ask(state, 100)
    assert len(idx) == 40 and len(set(idx.tolist())) == 40
    assert not set(idx.tolist()) & set(state.arch)
    # the budget left caps the round
    state2, idx2 = strat.ask(state, 5)
    assert len(idx2) == 5


def test_tell_keeps_only_answered_architectures(toy):
    strat = NAO(toy.space, TEST)
    state = strat.init(jax.random.key(0))
    st = strat.tell(state, np.array([3, -1, 5, 3]), np.array([0.5, np.nan, 0.7, 0.5]),
                    np.array([Status.NEW, Status.OUT_OF_TABLE, Status.NEW, Status.CACHED]))
    assert st.arch == (3, 5) and st.values == (0.5, 0.7)


def test_tokens_map_back_to_their_architectures(toy):
    strat = NAO(toy.space, TEST)
    assert (strat.lookup_tokens(toy.space.tokens) == np.arange(toy.space.n)).all()
    bad = toy.space.tokens[:2].copy()
    bad[0, 1] = bad[0, 0]  # a token of position 0 at position 1
    assert strat.lookup_tokens(bad).tolist() == [INVALID, 1]


def test_nb101_token_sequences_use_the_space_decoder():
    """NAS-Bench-101's 27 tokens: decoded by tokens_to_cell, looked up by the official hash."""
    c3, c1, mp = S.CONV3X3, S.CONV1X1, S.MAXPOOL3X3
    chain = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [S.INPUT, c3, S.OUTPUT])
    wide = ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [S.INPUT, c1, mp, S.OUTPUT])
    other = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [S.INPUT, mp, S.OUTPUT])
    space = S.NB101Space.from_cells([chain, wide], name="nb101-two")
    toks = np.stack([S.cell_to_tokens(*chain), S.cell_to_tokens(*wide), S.cell_to_tokens(*other)])
    broken = toks[0].copy()
    broken[2] = 6  # output op at column 2, then a non-padding column: not a cell
    # a 7-vertex sequence whose extra vertices are dangling prunes to the chain
    m = np.zeros((7, 7), int)
    m[0, 1] = m[1, 6] = m[2, 3] = 1
    dangling = S.cell_to_tokens(m, [S.INPUT, c3, c1, c1, mp, mp, S.OUTPUT])
    got = nb101_lookup_tokens(space, np.stack([*toks, broken, dangling]))
    assert got.tolist() == [0, 1, OUT_OF_TABLE, INVALID, 0]
    assert NAO(space, TEST).lookup_tokens(toks[:2]).tolist() == [0, 1]


def test_seminas_validity_accepts_a_dangling_early_output_vertex():
    """SemiNAS builds the 7x7 cell from all 27 tokens (an output token mid-sequence included) and
    ModelSpec prunes it: an early 'output' vertex that pruning removes leaves a valid cell."""
    c3 = S.CONV3X3
    chain = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [S.INPUT, c3, S.OUTPUT])
    space = S.NB101Space.from_cells([chain], name="nb101-one")
    m = np.zeros((7, 7), int)
    m[0, 1] = m[1, 6] = 1  # vertices 2..5 dangling
    seq = S.cell_to_tokens(m, [S.INPUT, c3, S.OUTPUT, S.CONV1X1, S.CONV1X1, S.CONV1X1, S.OUTPUT])
    assert 0 not in seq.tolist() and seq[4] == 6  # an output token at column 2 (tokens 2, 3 are its edges)
    with pytest.raises(S.InvalidArchitecture):
        S.tokens_to_cell(seq)  # the stricter reading rejects it
    m2 = m.copy()
    m2[1, 2] = m2[2, 6] = 1  # the early output vertex now lies on a path: not a cell
    seq2 = S.cell_to_tokens(m2, [S.INPUT, c3, S.OUTPUT, S.CONV1X1, S.CONV1X1, S.CONV1X1, S.OUTPUT])
    assert nb101_lookup_tokens(space, np.stack([seq, seq2])).tolist() == [0, INVALID]


def test_embedded_tokens_have_no_padding_and_decode_to_their_own_cells():
    from strategies.nao import nb101_embedded_tokens

    c3, c1, mp = S.CONV3X3, S.CONV1X1, S.MAXPOOL3X3
    cells = [([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [S.INPUT, c3, S.OUTPUT]),
             ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [S.INPUT, c1, mp, S.OUTPUT])]
    space = S.NB101Space.from_cells(cells, name="nb101-two")
    toks = nb101_embedded_tokens(space)
    assert toks.shape == (2, 27) and not (toks == 0).any()
    assert nb101_lookup_tokens(space, toks).tolist() == [0, 1]
    assert (NAO(space, TEST)._tokens == toks).all()  # what NAO trains on and reconstructs


def test_every_query_is_accounted_for_in_the_diagnostics():
    from experiments.harness.runner import run_trial
    from experiments.harness.spec import TrialSpec

    bench = synthetic_benchmark(positions=4, choices=4, repeats=1, keep=0.4, seed=1, name="synthetic-partial")
    rec = run_trial(TrialSpec(bench.name, "nao:test", 0, 40, config={"steps": 20, "recon_target": 0.5}), bench)
    d = rec["diagnostics"]
    assert d["random_init"] + d["decoded_new"] + d["decoded_projected"] + d["random_fill"] == 40
    assert d["random_init"] == 8 and d["rounds"] == 4 and 0 <= d["recon_round1"] <= 1
    assert d["train_steps"] >= 4 * 20  # at least one chunk of steps per round
    assert rec["strategy_version"] == 2


def _real(name):
    from nasbench.data import DataNotFound
    from nasbench.registry import get_benchmark

    try:
        return get_benchmark(name)
    except DataNotFound as exc:
        pytest.skip(f"{name} data not found: {exc}")


@pytest.mark.data
@pytest.mark.parametrize("name", ["nb201-cifar10", pytest.param("nb101-30k", marks=pytest.mark.slow)])
def test_first_round_training_reconstructs_90_percent_of_real_cells(name):
    """The default suite's preset trains until the decoder gives back >= 90% of its 50 training
    sequences exactly (nb201-cifar10: 100% after 250 steps; nb101-30k: 96% after 1,250)."""
    bench = _real(name)
    strat = NAO(bench.space, NAO.presets["small"])
    arch = np.random.default_rng(0).choice(bench.space.n, 50, replace=False)
    params, steps, recon = strat.fit(strat.nets.init(jax.random.key(0)), arch, bench.truth.truth[arch], jax.random.key(1))
    rec = np.asarray(strat.nets.reconstruct(params, jnp.asarray(strat._tokens[arch]), strat._legal))
    exact = float((rec == strat._tokens[arch]).all(axis=1).mean())
    assert exact == pytest.approx(recon) and exact >= 0.9 and steps <= strat.config.max_steps
    assert (strat.lookup_tokens(rec) == arch)[(rec == strat._tokens[arch]).all(axis=1)].all()

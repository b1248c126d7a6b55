"""The NAS-Bench-201 Flax network, the masked networks (NB-201 supernet, padded NB-101), the two
ways to compile, and vmapped training of several architectures: tiny networks, few steps."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from nasbench.space import InvalidArchitecture
from nasbench.spaces.nb201 import arch_string
from nasbench.train import nb201, networks, trainer

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# none=0, skip=1, conv1x1=2, conv3x3=3, avgpool=4; edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
G_MIXED = (3, 2, 0, 1, 4, 3)


def _variables(net, *args, side=8):
    return jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((2, side, side, 3)), *args, train=False))


def test_nb201_parameter_count_by_hand():
    # C=2, N=1, 3 stages, 3 classes. stem conv 3*3*3*2 + BN 2*2 = 58; a cell at C has conv3x3
    # 9*C*C + 2C and conv1x1 C*C + 2C per edge (skip, pool and none have none); reduction C->2C:
    # conv_a 9*C*2C + 4C, conv_b 9*2C*2C + 4C, shortcut conv1x1 C*2C (no BN); lastact BN 2*8; dense 8*3+3
    def cell(c):
        return 2 * (9 * c * c + 2 * c) + (c * c + 2 * c)  # two conv3x3 edges, one conv1x1 edge

    def reduce(c):
        return (9 * c * 2 * c + 4 * c) + (9 * 4 * c * c + 4 * c) + 2 * c * c

    expected = 58 + cell(2) + reduce(2) + cell(4) + reduce(4) + cell(8) + 16 + 27
    assert expected == 2949
    net = nb201.nb201_network(G_MIXED, channels=2, cells_per_stage=1, num_classes=3, dtype=jnp.float32)
    v = _variables(net)
    assert networks.parameter_count(v["params"]) == expected
    # batch statistics: mean and variance of every BN (stem 2, cells 3 convs x C, reductions 2 x 2C, last 8)
    assert networks.parameter_count(v["batch_stats"]) == 2 * (2 + 3 * 2 + 8 + 3 * 4 + 16 + 3 * 8 + 8)
    # the supernet holds both convolutions on all 6 edges
    sup = nb201.nb201_network(None, channels=2, cells_per_stage=1, num_classes=3, dtype=jnp.float32)
    vs = _variables(sup, jnp.zeros((6, 5)))
    every = 58 + reduce(2) + reduce(4) + 16 + 27 + sum(6 * (10 * c * c + 4 * c) for c in (2, 4, 8))
    assert networks.parameter_count(vs["params"]) == every == 6645
    y = jax.eval_shape(lambda w: net.apply(w, jnp.ones((5, 8, 8, 3)), train=False), v)
    assert y.shape == (5, 3) and y.dtype == jnp.float32


@pytest.mark.parametrize(
    "genotype, model_size",
    [  # NB-201's table (model_size, millions of parameters, C=16, N=5, CIFAR-10)
        ((0, 0, 0, 0, 0, 0), 0.073306),
        ((3, 3, 3, 3, 3, 3), 1.531546),
        ((2, 2, 2, 2, 2, 2), 0.241306),
        ((3, 0, 0, 0, 0, 0), 0.316346),
        ((1, 4, 1, 4, 1, 4), 0.073306),
    ],
)
def test_full_size_parameter_count_matches_the_table(genotype, model_size):
    net = nb201.nb201_network(genotype, dtype=jnp.float32)  # C=16, N=5, 10 classes
    v = _variables(net, side=32)
    assert networks.parameter_count(v["params"]) == round(model_size * 1e6)


def test_cell_forms_and_errors():
    s = arch_string(G_MIXED)
    assert nb201.as_genotype(s) == G_MIXED
    names = ["nor_conv_3x3", "nor_conv_1x1", "none", "skip_connect", "avg_pool_3x3", "nor_conv_3x3"]
    assert nb201.as_genotype(names) == G_MIXED
    m = nb201.onehot(G_MIXED)
    assert m.shape == (6, 5) and m.sum() == 6 and m[0, 3] == 1 and m[2, 0] == 1
    with pytest.raises(InvalidArchitecture):
        nb201.as_genotype((0, 1, 2, 3, 4, 5))
    sup = nb201.nb201_network(None, channels=2, cells_per_stage=1, dtype=jnp.float32)
    with pytest.raises(ValueError, match="arch"):
        _variables(sup)


def _compare_to_supernet(per_net, sup_net, arch, x):
    vp = per_net.init(jax.random.key(0), x, train=False)
    vs = sup_net.init(jax.random.key(0), x, arch, train=False)
    fp, fs = flatten_dict(vp["params"]), flatten_dict(vs["params"])
    assert set(fp) < set(fs)  # the per-arch parameters are a subset of the supernet's ...
    for k in fp:  # ... with the same initial values (Flax derives them from the module path)
        np.testing.assert_array_equal(fp[k], fs[k])
    yp, up = per_net.apply(vp, x, train=True, mutable=["batch_stats"])
    ys, us = sup_net.apply(vs, x, arch, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(yp, ys, rtol=1e-5, atol=1e-6)
    bp, bs = flatten_dict(up["batch_stats"]), flatten_dict(us["batch_stats"])
    for k in bp:
        np.testing.assert_allclose(bp[k], bs[k], rtol=1e-5, atol=1e-6)
    ep = per_net.apply({**vp, "batch_stats": up["batch_stats"]}, x, train=False)
    es = sup_net.apply({**vs, "batch_stats": us["batch_stats"]}, x, arch, train=False)
    np.testing.assert_allclose(ep, es, rtol=1e-5, atol=1e-6)
    return yp


@pytest.mark.parametrize("genotype, stages", [(G_MIXED, 2), ((1, 0, 0, 4, 0, 2), 1), ((0, 0, 0, 0, 0, 0), 1)])
def test_nb201_supernet_equals_per_arch_network(genotype, stages):
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    kw = dict(channels=2, stages=stages, cells_per_stage=1, num_classes=2, dtype=jnp.float32)
    per = nb201.nb201_network(genotype, **kw)
    sup = nb201.nb201_network(None, **kw)
    y = _compare_to_supernet(per, sup, jnp.asarray(nb201.onehot(genotype)), x)
    assert np.isfinite(np.asarray(y)).all()


# NB-101: input -> conv3x3 -> conv1x1 -> maxpool -> output, input -> conv1x1 and input -> output:
# one vertex (3) feeds the output, so the official channel rules give every vertex the full width
CHAIN = (
    [[0, 1, 1, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
    ["input", C3, C1, MP, "output"],
)
# two vertices feed the output: the official cell concatenates 2 + 2 channels, the masked one sums 4 + 4
FORK = ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, C1, "output"])


def test_nb101_masked_network_equals_official_when_one_vertex_feeds_the_output():
    x = jax.random.normal(jax.random.key(2), (4, 8, 8, 3))
    kw = dict(channels=4, stacks=1, cells_per_stack=1, num_classes=3, dtype=jnp.float32)
    adj, ops = networks.masked_arrays(*CHAIN)
    # embedded: vertices 1..3 keep their index, the output moves to vertex 6; vertices 4, 5 are padding
    assert adj[0, 6] == 1 and adj[3, 6] == 1 and adj[:, 4].sum() == 0 and adj[:, 5].sum() == 0
    assert ops[1].tolist() == [1, 0, 0] and ops[2].tolist() == [0, 1, 0] and ops[3].tolist() == [0, 0, 1]
    assert ops[4].sum() == 0 and ops[5].sum() == 0
    official = networks.nb101_network(*CHAIN, **kw)
    masked = networks.nb101_masked_network(**kw)
    _compare_to_supernet(official, masked, (jnp.asarray(adj), jnp.asarray(ops)), x)
    # a fork: the masked cell is the documented wider variant, not the official cell
    fork = networks.nb101_network(*FORK, **kw)
    arch = tuple(jnp.asarray(a) for a in networks.masked_arrays(*FORK))
    vo = fork.init(jax.random.key(0), x, train=False)
    vm = masked.init(jax.random.key(0), x, arch, train=False)
    assert not np.allclose(fork.apply(vo, x), masked.apply(vm, x, arch))
    # masked parameters, C=4, 1 stack of 1 cell, 3 classes: stem 3*3*3*4 + 8 = 116; each of the 5
    # vertices: projection 4*4+8, conv3x3 9*4*4+8, conv1x1 4*4+8; output projection 4*4+8; dense 4*3+3
    assert networks.parameter_count(vm["params"]) == 116 + 5 * (24 + 152 + 24) + 24 + 15 == 1155
    # 2 stacks (4 then 8 channels, max-pool between): the second cell's vertices have 8 channels
    two = networks.nb101_masked_network(**{**kw, "stacks": 2})
    v2 = _variables(two, arch)
    cell8 = 5 * ((4 * 8 + 16) + (9 * 64 + 16) + (64 + 16)) + (4 * 8 + 16)
    assert networks.parameter_count(v2["params"]) == 1155 + cell8 + 4 * 3


def _toy(n=48, side=8, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.integers(0, 100, (n, side, side, 3)) + 120 * y[:, None, None, None]).astype(np.uint8)
    return {"train_x": x[:32], "train_y": y[:32], "valid_x": x[32:], "valid_y": y[32:]}


def _tiny(mode="per_arch", **kw):
    return trainer.nb201_tiny_config(compile_mode=mode, **kw)


def _cells(n, seed):
    from nasbench.spaces.nb201 import index_to_genotype

    idx = np.random.default_rng(seed).choice(15625, n, replace=False)
    return [tuple(int(v) for v in g) for g in index_to_genotype(idx)]


def test_masked_mode_compiles_once_for_20_cells_per_arch_once_per_cell():
    data = _toy()
    cells = _cells(20, seed=5)
    cfg = _tiny("masked")
    before = trainer.compile_count()
    with trainer.count_xla_compiles() as counts:
        results = [trainer.train_and_evaluate(g, data, cfg, jax.random.key(0)) for g in cells]
    assert trainer.compile_count() == before + 1 and counts["train_step"] == 1
    assert results[0]["compile_time"] > 0 and all(r["compile_time"] == 0.0 for r in results[1:])
    # per architecture: one compile per distinct cell (3 here; 20 in the slow test and the bench),
    # none for a repeated cell
    cfg = _tiny("per_arch")
    before = trainer.compile_count()
    with trainer.count_xla_compiles() as counts:
        for g in [*cells[:3], cells[0]]:
            trainer.train_and_evaluate(g, data, cfg, jax.random.key(0))
    assert trainer.compile_count() == before + 3 and counts["train_step"] == 3


@pytest.mark.slow
def test_per_arch_mode_compiles_20_times_for_20_cells():
    data = _toy()
    cfg = _tiny("per_arch", pad=3)  # a config of its own: nothing compiled by other tests is reused
    before = trainer.compile_count()
    with trainer.count_xla_compiles() as counts:
        for g in _cells(20, seed=5):
            trainer.train_and_evaluate(g, data, cfg, jax.random.key(0))
    assert trainer.compile_count() == before + 20 and counts["train_step"] == 20


_VMAP_CELLS = [G_MIXED, (1, 3, 0, 2, 3, 1)]
_VMAP_KEYS = (3, 4)


def _vmap_config():
    return _tiny("masked", steps=6, learning_rate=0.05)


def test_vmapped_training_of_two_cells_matches_training_each_alone():
    data = _toy()
    cfg = _vmap_config()
    keys = [jax.random.key(k) for k in _VMAP_KEYS]
    alone = [trainer.train_and_evaluate(g, data, cfg, k) for g, k in zip(_VMAP_CELLS, keys)]
    many = trainer.train_many(_VMAP_CELLS, data, cfg, keys)
    for a, m in zip(alone, many):
        assert m["vmap"] == 2 and m["steps"] == 6
        np.testing.assert_allclose(m["losses"], a["losses"], rtol=2e-4, atol=1e-5)
        assert m["val_acc"] == pytest.approx(a["val_acc"], abs=1 / 16 + 1e-9)  # at most one image flips
    assert not np.allclose(alone[0]["losses"], alone[1]["losses"])  # two different runs
    with pytest.raises(ValueError, match="keys"):
        trainer.train_many(_VMAP_CELLS, data, cfg, keys[:1])


def test_masked_and_per_arch_training_of_an_nb201_cell_agree():
    # NB-201's masked network trains the same model as the per-architecture one (same key: same
    # initial weights, augmentation and batches)
    data = _toy()
    cfg = _vmap_config()  # the masked program is compiled once per process and shared with the test above
    key = jax.random.key(_VMAP_KEYS[0])
    masked = trainer.train_and_evaluate(G_MIXED, data, cfg, key)
    per = trainer.train_and_evaluate(G_MIXED, data, dataclasses.replace(cfg, compile_mode="per_arch"), key)
    np.testing.assert_allclose(per["losses"], masked["losses"], rtol=2e-4, atol=1e-5)
    assert per["val_acc"] == pytest.approx(masked["val_acc"], abs=1 / 16 + 1e-9)
    assert per["compile_time"] > 0 and np.isfinite(per["losses"]).all()


def test_switched_and_per_arch_training_of_an_nb201_cell_agree():
    # the switched supernet runs only each edge's chosen op: the same model as the per-architecture
    # network, its convolutions' gradients summed in another order (nasbench.train.same_conv)
    data = _toy()
    cfg = _tiny("switched", steps=6, learning_rate=0.05)
    key = jax.random.key(_VMAP_KEYS[0])
    switched = trainer.train_and_evaluate(G_MIXED, data, cfg, key)
    per = trainer.train_and_evaluate(G_MIXED, data, dataclasses.replace(cfg, compile_mode="per_arch"), key)
    np.testing.assert_allclose(per["losses"], switched["losses"], rtol=2e-4, atol=1e-5)
    assert per["val_acc"] == pytest.approx(switched["val_acc"], abs=1 / 16 + 1e-9)
    other = trainer.train_and_evaluate((1, 3, 0, 2, 3, 1), data, cfg, key)  # another cell, the same program
    assert other["compile_time"] == 0 and not np.allclose(other["losses"], switched["losses"])
    with pytest.raises(ValueError, match="nb201 only"):
        dataclasses.replace(cfg, space="nb101")


def test_nb201_presets_and_optimizer():
    full = trainer.nb201_config()
    assert (full.epochs, full.batch_size, full.learning_rate, full.optimizer, full.nesterov, full.weight_decay) == (
        200.0,
        256,
        0.1,
        "sgd",
        True,
        5e-4,
    )
    assert (full.channels, full.stacks, full.cells_per_stack, full.space) == (16, 3, 5, "nb201")
    assert full.total_steps(50_000) == 39_062
    lr = trainer.learning_rate_schedule(full, 100)
    assert float(lr(0)) == pytest.approx(0.1)  # no NB-101-style zero first step
    assert float(lr(50)) == pytest.approx(0.05)
    proxy = trainer.preset("nb201-proxy")
    assert (proxy.channels, proxy.cells_per_stack, proxy.batch_size, proxy.epochs) == (8, 1, 64, 1.0)
    assert trainer.preset("nb101") == trainer.TrainConfig()
    with pytest.raises(KeyError):
        trainer.preset("nb999")
    with pytest.raises(ValueError, match="compile_mode"):
        trainer.TrainConfig(compile_mode="sometimes")
    # Nesterov SGD, zero weight decay, constant gradient g, lr 0.1 at step 0: update -lr*(g + 0.9*g)
    tx = trainer.make_optimizer(trainer.nb201_config(weight_decay=0.0), 100)
    w = {"w": jnp.array([1.0])}
    upd, _ = tx.update({"w": jnp.array([2.0])}, tx.init(w), w)
    assert float(upd["w"][0]) == pytest.approx(-0.1 * (2.0 + 0.9 * 2.0), rel=1e-5)


def test_cache_identity_of_nb201_cells(tmp_path, monkeypatch):
    data = _toy()
    cfg = _tiny("masked")
    r1 = trainer.cached_train_and_evaluate(G_MIXED, data, cfg, seed=0, data_id="toy", folder=tmp_path)
    assert r1["cached"] is False and r1["arch_id"] == arch_string(G_MIXED) and "module_hash" not in r1
    monkeypatch.setattr(trainer, "train_and_evaluate", lambda *a, **k: pytest.fail("retrained a cached cell"))
    r2 = trainer.cached_train_and_evaluate(arch_string(G_MIXED), data, cfg, seed=0, data_id="toy", folder=tmp_path)
    assert r2["cached"] is True and r2["val_acc"] == r1["val_acc"] and r2["wall_time"] == r1["wall_time"]


@pytest.mark.parametrize("shape", [(4, 32, 32, 16), (2, 8, 8, 64), (3, 1, 1, 2), (2, 2, 5, 3)])
def test_avg_pool_is_flax_count_include_pad_false_bit_for_bit(shape):
    """Our 3x3 average pool (divisors as a numpy constant, which XLA need not fold) computes what
    ``flax.linen.avg_pool(count_include_pad=False)`` computes, forward and backward, bit for bit."""
    x = jax.random.normal(jax.random.key(0), shape)

    def flax_pool(v):
        return nn.avg_pool(v, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)

    assert jnp.array_equal(nb201.avg_pool_3x3(x), flax_pool(x))
    assert jnp.array_equal(jax.grad(lambda v: (nb201.avg_pool_3x3(v) ** 2).sum())(x),
                           jax.grad(lambda v: (flax_pool(v) ** 2).sum())(x))
    assert float(nb201._pool_counts(3, 4)[0, 0, 0, 0]) == 4 and float(nb201._pool_counts(3, 4)[0, 1, 1, 0]) == 9

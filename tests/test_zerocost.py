"""Zero-cost proxies (nasbench.zerocost) against hand-computed answers: a two-layer linear network
in closed form (numpy, float64), NASWOT's kernel and the Jacobian score on small matrices, the ReLU
sites of a tiny NB-201 network counted by hand, the switched supernet against the per-architecture
network, and params / FLOPs against the NB-201 table's own column."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from nasbench import zerocost as zc
from nasbench.data import DataNotFound
from nasbench.spaces.nb201 import all_genotypes
from nasbench.train import nb201
from nasbench.zerocost_table import N_ARCHS, sample_cells

K = zc.JACOV_K
G_MIXED = (3, 2, 0, 1, 4, 3)  # conv3x3 on 1<-0 and 3<-2, conv1x1 on 2<-0, none, skip, avg pool


class TwoLayer(nn.Module):
    """logits = x @ K1 @ K2 (no biases, no nonlinearity): every proxy has a closed form."""

    hidden: int = 3
    out: int = 4

    @nn.compact
    def __call__(self, x: jax.Array, arch: jax.Array | None = None, train: bool = False) -> jax.Array:
        return nn.Dense(self.out, use_bias=False, name="fc2")(nn.Dense(self.hidden, use_bias=False, name="fc1")(x))


@pytest.fixture(scope="module")
def linear():
    model = TwoLayer()
    x = np.asarray(jax.random.normal(jax.random.key(3), (5, 6)), np.float64)
    y = np.array([0, 3, 1, 1, 2])
    variables = model.init(jax.random.key(4), jnp.asarray(x, jnp.float32))
    k1 = np.asarray(variables["params"]["fc1"]["kernel"], np.float64)
    k2 = np.asarray(variables["params"]["fc2"]["kernel"], np.float64)
    return model, variables, x, y, k1, k2


def _grads(x, y, k1, k2):
    """Closed-form gradients of the mean cross-entropy of x @ k1 @ k2 (float64)."""
    h = x @ k1
    z = h @ k2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - np.eye(k2.shape[1])[y]) / len(x)  # dL/dlogits
    return x.T @ (delta @ k2.T), h.T @ delta, h, z, delta


def test_synflow_of_a_linear_network_is_depth_times_the_flow(linear):
    # R = 1^T |K1| |K2| 1 is homogeneous of degree 1 in each layer, so sum |theta * dR/dtheta| = 2 R
    model, variables, _, _, k1, k2 = linear
    flow = np.ones(6) @ np.abs(k1) @ np.abs(k2) @ np.ones(4)
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), variables["params"])
        s = zc.synflow(lambda p, xx: model.apply({"params": p}, xx), p64, (6,))
        assert s.dtype == jnp.float64
    np.testing.assert_allclose(float(s), 2 * flow, rtol=1e-12)


def test_snip_grad_norm_fisher_of_a_linear_network(linear):
    model, variables, x, y, k1, k2 = linear
    g1, g2, h, z, delta = _grads(x, y, k1, k2)
    out = zc.loss_proxies(model, variables, jnp.asarray(x, jnp.float32), jnp.asarray(y))
    np.testing.assert_allclose(float(out["snip"]), np.abs(k1 * g1).sum() + np.abs(k2 * g2).sum(), rtol=1e-5)
    np.testing.assert_allclose(float(out["grad_norm"]), np.linalg.norm(g1) + np.linalg.norm(g2), rtol=1e-5)
    # fisher: per layer 0.5 * mean_n (a * dL/da)^2 per output unit, times the fan-in (6, then 3)
    f1 = 0.5 * np.mean((h * (delta @ k2.T)) ** 2, axis=0).sum() * 6
    f2 = 0.5 * np.mean((z * delta) ** 2, axis=0).sum() * 3
    np.testing.assert_allclose(float(out["fisher"]), f1 + f2, rtol=1e-4)
    assert "kernel" not in out  # no ReLU sites in this network


def test_grasp_of_a_linear_network_against_finite_differences(linear):
    model, variables, x, y, k1, k2 = linear
    g1, g2, *_ = _grads(x, y, k1, k2)
    eps = 1e-5
    plus = _grads(x, y, k1 + eps * g1, k2 + eps * g2)
    minus = _grads(x, y, k1 - eps * g1, k2 - eps * g2)
    hg1, hg2 = (plus[0] - minus[0]) / (2 * eps), (plus[1] - minus[1]) / (2 * eps)
    expected = -(k1 * hg1).sum() - (k2 * hg2).sum()
    got = zc.grasp_proxy(model, variables, jnp.asarray(x, jnp.float32), jnp.asarray(y))
    assert abs(expected) > 1e-4
    np.testing.assert_allclose(float(got), expected, rtol=1e-3)


def test_jacov_of_a_linear_network(linear):
    # d(sum of logits)/dx = K1 K2 1 for every image: a correlation matrix of ones, eigenvalues N and 0
    model, variables, x, _, k1, k2 = linear
    j = np.asarray(zc.jacobian_proxy(model, variables, jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(j, np.tile(k1 @ k2 @ np.ones(4), (5, 1)), rtol=1e-5)
    n = len(x)
    expected = -(np.log(n + K) + 1 / (n + K)) - (n - 1) * (np.log(K) + 1 / K)
    np.testing.assert_allclose(zc.jacov_score(j), expected, rtol=1e-6)


def test_jacov_score_by_hand():
    # rows [1, 2, 3] and [3, 2, 1]: correlation -1, eigenvalues 0 and 2
    expected = -(np.log(K) + 1 / K + np.log(2 + K) + 1 / (2 + K))
    np.testing.assert_allclose(zc.jacov_score(np.array([[1.0, 2, 3], [3, 2, 1]])), expected, rtol=1e-9)
    assert np.isnan(zc.jacov_score(np.array([[1.0, 1, 1], [3, 2, 1]])))  # a constant row has no correlation


def test_nwot_kernel_by_hand():
    # codes [1, 0], [1, 1], [0, 0]: agreements K = [[2, 1, 1], [1, 2, 0], [1, 0, 2]], det 4
    pre = jnp.array([[0.5, -1.0], [2.0, 1.0], [-1.0, 0.0]])
    ignored = jnp.array([[1.0], [-1.0], [1.0]])
    kern = zc.relu_kernel([(pre, 1.0), (ignored, 0.0)])
    np.testing.assert_array_equal(np.asarray(kern), [[2, 1, 1], [1, 2, 0], [1, 0, 2]])
    np.testing.assert_allclose(zc.nwot_score(np.asarray(kern)), np.log(4.0), rtol=1e-12)


# ---------------------------------------------------------------------------- tiny NB-201
TINY = dict(channels=2, cells_per_stage=1, num_classes=3)


def _tiny(cell):
    return nb201.nb201_network(cell, dtype=jnp.float32, switched=True, **TINY)


def _tiny_batch(n=4, side=8):
    x = jax.random.normal(jax.random.key(5), (n, side, side, 3))
    return x, jnp.array([0, 1, 2, 1][:n])


@pytest.mark.slow  # 15-60 s on a 2-core CPU (eager Flax supernet passes)
def test_nb201_relu_sites_counted_by_hand():
    # G_MIXED has 3 convolutions per cell, each a ReLU site; stages 8x8x2, 4x4x4, 2x2x8 on an 8x8 input:
    # cells 3 * (128 + 64 + 32) = 672; reductions conv_a/conv_b inputs 128 + 64 and 64 + 32; last ReLU 32
    x, y = _tiny_batch()
    net = _tiny(G_MIXED)
    v = net.init(jax.random.key(0), x, train=False)
    out = zc.loss_proxies(net, v, x, y)
    kern = np.asarray(out["kernel"])
    np.testing.assert_array_equal(np.diag(kern), np.full(4, 992.0))
    assert (kern >= 0).all() and (kern <= 992).all() and np.array_equal(kern, kern.T)


@pytest.mark.slow  # 15-60 s on a 2-core CPU (eager Flax supernet passes)
def test_nb201_empty_cell_scores_zero():
    # every edge 'none': the cells output zeros, so no weight but the classifier's reaches the loss and
    # its input is 0 too; the input gradient is 0 (jacov undefined), every image has the same codes
    x, y = _tiny_batch()
    net = _tiny((0,) * 6)
    v = net.init(jax.random.key(0), x, train=False)
    out = zc.loss_proxies(net, v, x, y)
    assert float(out["snip"]) == 0 and float(out["grad_norm"]) == 0
    assert float(out["fisher"]) > 0  # the classifier's output (its bias) times dL/dlogits
    assert zc.nwot_score(np.asarray(out["kernel"])) == -np.inf
    assert float(zc.grasp_proxy(net, v, x, y)) == 0
    assert np.isnan(zc.jacov_score(np.asarray(zc.jacobian_proxy(net, v, x))))


@pytest.mark.slow  # 15-60 s on a 2-core CPU (eager Flax supernet passes)
@pytest.mark.parametrize("genotype", [G_MIXED, (2, 3, 1, 0, 3, 4)])
def test_switched_supernet_computes_the_per_architecture_proxies(genotype):
    x, y = _tiny_batch()
    per, sup = _tiny(genotype), _tiny(None)
    arch = jnp.asarray(nb201.onehot(genotype))
    vp = per.init(jax.random.key(0), x, train=False)
    vs = sup.init(jax.random.key(0), x, arch, train=False)
    a, b = zc.loss_proxies(per, vp, x, y), zc.loss_proxies(sup, vs, x, y, arch)
    for k in ("snip", "grad_norm", "fisher"):
        np.testing.assert_allclose(float(a[k]), float(b[k]), rtol=1e-5, err_msg=k)
    np.testing.assert_array_equal(np.asarray(a["kernel"]), np.asarray(b["kernel"]))
    np.testing.assert_allclose(
        float(zc.grasp_proxy(per, vp, x, y)), float(zc.grasp_proxy(sup, vs, x, y, arch)), rtol=1e-4
    )
    # the switched cells' input gradients are forward convolutions (nasbench.train.same_conv): equal up to
    # the order of float32 sums, so entries near 0 are compared on the scale of the whole Jacobian
    jp, js = np.asarray(zc.jacobian_proxy(per, vp, x)), np.asarray(zc.jacobian_proxy(sup, vs, x, arch))
    np.testing.assert_allclose(js, jp, rtol=1e-5, atol=1e-5 * np.abs(jp).max())


@pytest.mark.slow
def test_scorer_supernet_equals_per_arch_every_group():
    # the jitted scorer end to end (init inside, float64 synflow): compiles 8 programs
    x, y = _tiny_batch(side=8)
    base = dict(channels=2, cells_per_stage=1, num_classes=3, batch_size=4, image_size=8)
    key = jax.random.key(7)
    arch = nb201.onehot(G_MIXED)
    a = zc.finish_scores(zc.score_all(zc.nb201_scorer(zc.ZeroCostConfig(supernet=False, **base)), key, x, y, arch))
    b = zc.finish_scores(zc.score_all(zc.nb201_scorer(zc.ZeroCostConfig(supernet=True, **base)), key, x, y, arch))
    for k in zc.PASS_PROXIES:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, err_msg=k)
    assert a["synflow"] > 0


def test_scorer_rejects_an_unknown_group():
    with pytest.raises(ValueError, match="unknown proxy group"):
        zc.nb201_scorer(zc.ZeroCostConfig())("synflo", jax.random.key(0), None, None, None)


# ---------------------------------------------------------------------------- params and FLOPs
def test_flops_by_hand():
    # MACs of the convolutions and the classifier (NB-201's count): stem 3*16*9*32*32; 30 conv3x3 per
    # stage at 9*C*C*H*W = 2,359,296 each; reductions (conv_a, conv_b, 1x1 shortcut) 3,670,016 each;
    # classifier 64*10 + 10
    stem, reductions, classifier = 442_368, 2 * 3_670_016, 650
    p, f = zc.params_flops(np.array([[0] * 6, [3] * 6]))
    np.testing.assert_allclose(
        f * 1e6, [stem + reductions + classifier, stem + reductions + classifier + 90 * 2_359_296]
    )
    assert f[1] == pytest.approx(220.11969) and f[0] == pytest.approx(7.78305)
    for g in [(3, 2, 0, 1, 4, 3), (2, 2, 2, 2, 2, 2)]:
        np.testing.assert_allclose(zc.direct_params_flops(g), np.ravel(zc.params_flops(np.array([g]))), rtol=1e-12)


def test_params_equal_the_table_on_every_cell():
    # the table's model_size (millions of parameters) per training seed: ours equals every seed's on
    # 15,421 cells; on the other 204 the file's seeds disagree (one seed's entry carries another size,
    # a quirk of the file) and ours is one of them
    import pickle

    from nasbench.tables import nb201 as table

    try:
        path = table.locate("cifar10")
    except DataNotFound as exc:
        pytest.skip(f"NB-201 table absent: {exc}")
    with open(path, "rb") as f:
        raw = pickle.load(f)  # noqa: S301 - the table's own format
    genotypes = all_genotypes()
    params, _ = zc.params_flops(genotypes)
    ours = np.round(params * 1e6).astype(np.int64)
    agree = 0
    for g, p in zip(genotypes, ours):
        seeds = [round(v * 1e6) for v in raw["".join(map(str, g))]["model_size"]]
        assert p in seeds, (g, p, seeds)
        agree += seeds.count(p) == len(seeds)
    assert agree == 15_421


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="batch_size"):
        zc.ZeroCostConfig(batch_size=1)
    assert zc.ZeroCostConfig().key() != zc.ZeroCostConfig(seed=1).key()


def test_sample_cells_is_a_prefix_of_one_permutation():
    """Cells are computed in the order drawn, so the cells finished when a run stops (a prefix) are
    a uniform sample too: a smaller sample is the prefix of a larger one with the same seed."""
    big, small = sample_cells(3000, seed=0), sample_cells(100, seed=0)
    assert len(set(big.tolist())) == 3000 and big.min() >= 0 and big.max() < N_ARCHS
    np.testing.assert_array_equal(big[:100], small)
    assert sorted(sample_cells(None, seed=1).tolist()) == list(range(N_ARCHS))
    assert not np.array_equal(big[:100], np.sort(big[:100]))  # drawn order, not index order


def test_a_table_of_some_groups_holds_only_their_proxies():
    from nasbench.zerocost_table import check_groups, chunk_folder, default_out, score_cells

    cfg = zc.ZeroCostConfig(channels=2, cells_per_stage=1, num_classes=3, batch_size=4, image_size=8)
    images = jax.random.uniform(jax.random.key(1), (16, 8, 8, 3), maxval=255.0)
    labels = jnp.arange(16) % 3
    df = score_cells([3906, 15624], cfg, images, labels, groups=("synflow",))  # no "none" edge: flow reaches the logits
    assert list(df.columns) == ["index", "arch", "synflow", "sec_synflow"]
    assert (df["synflow"] > 0).all() and df["synflow"].nunique() == 2
    assert check_groups(["synflow", "loss"]) == ("loss", "synflow") and check_groups(None) == tuple(zc.GROUPS)
    with pytest.raises(ValueError, match="unknown proxy groups"):
        check_groups(["synflo"])
    assert default_out(("synflow",)).name == "nb201-cifar10-synflow.csv" and default_out().name == "nb201-cifar10.csv"
    assert chunk_folder(cfg, "ab" * 32, ("synflow",)) != chunk_folder(cfg, "ab" * 32)  # never mixed with full chunks


def test_a_run_resumes_from_its_committed_table_when_the_chunk_cache_is_gone(tmp_path):
    import json

    from nasbench.zerocost_table import recovered

    cfg = zc.ZeroCostConfig()
    out = tmp_path / "nb201-cifar10.csv"
    table = pd.DataFrame({"index": [3, 9], "arch": ["a", "b"], **{p: [1.5, 2.5] for p in zc.PROXIES}})
    table.to_csv(out, index=False)
    meta = {"config_key": cfg.key(), "data": {"sha256": "c" * 64}, "groups": {g: list(v) for g, v in zc.GROUPS.items()},
            "seconds_per_cell": {"loss": 1.0, "grasp": 6.0, "jacov": 1.0, "synflow": 0.1}}
    out.with_suffix(".json").write_text(json.dumps(meta))
    rows = recovered(out, cfg, "c" * 64, tuple(zc.GROUPS))
    assert list(rows["index"]) == [3, 9] and list(rows["grasp"]) == [1.5, 2.5] and (rows["sec_grasp"] == 6.0).all()
    assert "params" not in rows  # recomputed from shapes when the table is written
    assert recovered(out, cfg, "d" * 64, tuple(zc.GROUPS)) is None  # other data
    assert recovered(out, zc.ZeroCostConfig(seed=1), "c" * 64, tuple(zc.GROUPS)) is None  # another config
    assert recovered(out, cfg, "c" * 64, ("synflow",)) is None  # other groups


def test_a_data_free_table_needs_no_images_and_names_its_benchmark(tmp_path, monkeypatch):
    """synflow reads only the batch's shape: a synflow table of another NB-201 dataset is computed
    without any image file (the data folder holds CIFAR-10 only), and its json says so."""
    import json

    from nasbench.zerocost_table import compute_table, config_for, default_out

    monkeypatch.setenv("NASARENA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NASARENA_DATA", str(tmp_path / "no-data-here"))
    assert config_for("nb201-imagenet16").key() == "nb201-C16-N5-k120-b64-aug1-seed0-img16-switched"
    assert config_for("nb201-cifar100").num_classes == 100 and config_for("nb201-cifar10") == zc.ZeroCostConfig()
    assert default_out(("synflow",), "nb201-cifar100").name == "nb201-cifar100-synflow.csv"
    with pytest.raises(ValueError, match="only the groups that use no images"):
        compute_table([1], config_for("nb201-cifar100"), tmp_path / "t.csv", groups=("loss",), benchmark="nb201-cifar100")
    cfg = zc.ZeroCostConfig(channels=2, cells_per_stage=1, num_classes=100, batch_size=4, image_size=8)
    out = tmp_path / "nb201-cifar100-synflow.csv"
    df = compute_table([3906, 15624], cfg, out, chunk=1, progress=lambda _: None, groups=("synflow",),
                       benchmark="nb201-cifar100")
    assert list(df["index"]) == [3906, 15624] and (df["synflow"] > 0).all()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["benchmark"] == "nb201-cifar100" and meta["data"] == {"file": None, "sha256": "no-data"}

"""The jitted training path: NB-101 network shapes and parameter counts, augmentation, a few steps
of training on tiny synthetic data, and the CIFAR-10 readers on tiny hand-built archives."""

from __future__ import annotations

import io
import pickle
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nasbench.space import InvalidArchitecture
from nasbench.train import cifar, networks, trainer

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# input -> conv3x3 -> output, input -> maxpool -> output
CELL_A = ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, MP, "output"])
# input -> conv1x1 -> output, plus input -> output
CELL_B = ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", C1, "output"])


def _params(cell, **kw):
    """The network and its variables' shapes (abstract evaluation: nothing is computed)."""
    net = networks.nb101_network(*cell, dtype=jnp.float32, **kw)
    variables = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((2, 8, 8, 3)), train=False))
    return net, variables


def test_vertex_channels_match_official_rules():
    # three vertices feed the output: 128 = 43 + 43 + 42 (the remainder goes to the first ones)
    m = np.zeros((5, 5), int)
    m[0, 1] = m[0, 2] = m[0, 3] = 1
    m[1, 4] = m[2, 4] = m[3, 4] = 1
    assert networks.compute_vertex_channels(64, 128, m) == [64, 43, 43, 42, 128]
    # vertex 1 feeds only vertex 2 and 3: it takes the max of their channels
    m = np.zeros((5, 5), int)
    m[0, 1] = m[1, 2] = m[1, 3] = m[2, 4] = m[3, 4] = 1
    assert networks.compute_vertex_channels(16, 7, m) == [16, 4, 4, 3, 7]


def test_parameter_count_of_hand_checked_cells():
    # CELL_A, C=4, 1 stack of 1 cell, 3 classes. stem 3*3*3*4 + BN 2*4 = 116; vertices get 2 channels
    # each: v1 projection 4*2 + 4, conv3x3 3*3*2*2 + 4; v2 projection 4*2 + 4; dense 4*3 + 3.
    net, v = _params(CELL_A, channels=4, stacks=1, cells_per_stack=1, num_classes=3)
    assert networks.parameter_count(v["params"]) == 116 + (12 + 40) + 12 + 15
    y = jax.eval_shape(lambda w: net.apply(w, jnp.ones((2, 8, 8, 3)), train=False), v)
    assert y.shape == (2, 3) and y.dtype == jnp.float32
    # CELL_B, 2 stacks (4 then 8 channels): stack 0: projection 4*4+8, conv1x1 4*4+8, output
    # projection 4*4+8; stack 1: projection 4*8+16, conv1x1 8*8+16, output projection 4*8+16
    net, v = _params(CELL_B, channels=4, stacks=2, cells_per_stack=1, num_classes=3)
    assert networks.parameter_count(v["params"]) == 116 + 72 + 176 + 8 * 3 + 3
    # batch statistics: mean and variance per BN channel (stem 4, stack0 3x4, stack1 3x8)
    assert networks.parameter_count(v["batch_stats"]) == 2 * (4 + 12 + 24)
    assert jax.eval_shape(lambda w: net.apply(w, jnp.ones((5, 8, 8, 3)), train=False), v).shape == (5, 3)


def test_network_prunes_and_rejects_cells():
    # a dangling vertex 2 (no path to the output) is pruned: same parameters as CELL_B
    m = [[0, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    net = networks.nb101_network(m, ["input", C1, C3, "output"], channels=4, stacks=1, cells_per_stack=1)
    assert net.ops == ("input", C1, "output")
    with pytest.raises(InvalidArchitecture):
        networks.nb101_network([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"])


def test_crop_and_flip_are_exact():
    x = jnp.arange(2 * 5 * 5 * 1, dtype=jnp.float32).reshape(2, 5, 5, 1) + 1
    same = trainer.crop(x, jnp.array([[2, 2], [2, 2]]), pad=2)
    np.testing.assert_array_equal(same, x)
    shifted = trainer.crop(x, jnp.array([[0, 0], [4, 4]]), pad=2)
    np.testing.assert_array_equal(shifted[0, 2:, 2:], x[0, :3, :3])
    assert float(jnp.abs(shifted[0, :2]).sum()) == 0.0  # zero padding came in from the top
    np.testing.assert_array_equal(shifted[1, :3, :3], x[1, 2:, 2:])
    flipped = trainer.flip(x, jnp.array([True, False]))
    np.testing.assert_array_equal(flipped[0], x[0, :, ::-1])
    np.testing.assert_array_equal(flipped[1], x[1])
    # augment without padding: every image is itself or its mirror, and both happen
    y = jax.random.uniform(jax.random.key(1), (64, 4, 4, 3))
    out = trainer.augment(jax.random.key(2), y, pad=0)
    assert out.shape == y.shape
    is_same = np.all(np.asarray(out == y), axis=(1, 2, 3))
    is_flip = np.all(np.asarray(out == y[:, :, ::-1]), axis=(1, 2, 3))
    assert np.all(is_same | is_flip) and is_same.any() and is_flip.any()
    # augment with the training path's pad 4: every image is a crop of its zero-padded self at an
    # offset in [0, 8]^2, mirrored or not, and the crops use many offsets
    # (8 x 8 images: every window then holds real pixels, so exactly one offset and flip matches)
    pad = 4
    z = np.asarray(jax.random.uniform(jax.random.key(4), (64, 8, 8, 3)))
    with_pad = np.asarray(trainer.augment(jax.random.key(3), jnp.asarray(z), pad=pad))
    padded = np.pad(z, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    seen = set()
    for k in range(len(z)):
        matches = [(dy, dx, f) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for f in (False, True)
                   if np.array_equal(with_pad[k], (lambda c: c[:, ::-1] if f else c)(padded[k, dy:dy + 8, dx:dx + 8]))]
        assert len(matches) == 1, f"image {k}: {len(matches)} (mirrored) crops of its padded self match"
        seen.add(matches[0])
    assert len({(dy, dx) for dy, dx, _ in seen}) >= 20  # of the 81 offsets, with 64 images
    assert 0 < sum(f for _, _, f in seen) < len(z)  # some mirrored, some not


def test_rmsprop_is_the_official_tf1_update():
    """NB-101's default optimiser against TF1's ``RMSPropOptimizer`` written out (training_ops
    ``ApplyRMSProp``: the mean-square slot starts at 1; ``ms = rho ms + (1 - rho) g^2``,
    ``mom = momentum mom + lr g / sqrt(ms + eps)``, ``var -= mom``; rho 0.9, momentum 0.9, eps 1.0),
    with the L2 term ``wd * sum(v^2) / 2`` in the loss and the cosine learning rate, 0 at step 0."""
    total, wd, base = 10, 1e-4, 0.2
    tx = trainer.make_optimizer(trainer.nb101_config(learning_rate=base, weight_decay=wd), total)
    grads = np.array([[0.3, -1.2, 2.0], [-0.7, 0.4, 0.9], [1.5, 0.1, -0.2], [0.2, 0.2, 0.2]])
    v = np.array([0.5, -1.0, 2.0])
    params = {"w": jnp.asarray(v, jnp.float32)}
    state = tx.init(params)
    ms, mom = np.ones(3), np.zeros(3)
    for t, g in enumerate(grads):
        updates, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        params = optax.apply_updates(params, updates)
        lr = 0.0 if t == 0 else base * 0.5 * (1 + np.cos(np.pi * t / total))
        g = g + wd * v
        ms = 0.9 * ms + 0.1 * g * g
        mom = 0.9 * mom + lr * g / np.sqrt(ms + 1.0)
        v = v - mom
        np.testing.assert_allclose(np.asarray(params["w"]), v, rtol=1e-5, atol=1e-6)
    assert not np.allclose(v, [0.5, -1.0, 2.0])  # it moved


def test_cosine_schedule_and_weight_decay():
    cfg = trainer.TrainConfig(learning_rate=0.2)
    lr = trainer.learning_rate_schedule(cfg, 100)
    assert float(lr(0)) == 0.0  # the official code trains nothing at step 0
    assert float(lr(50)) == pytest.approx(0.1)
    assert float(lr(100)) == pytest.approx(0.0, abs=1e-7)
    # SGD, zero gradient: the update is -lr * weight_decay * w at step 1 (no momentum history)
    tx = trainer.make_optimizer(trainer.TrainConfig(optimizer="sgd", weight_decay=0.5, learning_rate=0.2), 100)
    w = {"w": jnp.array([2.0])}
    st = tx.init(w)
    _, st = tx.update({"w": jnp.zeros(1)}, st, w)  # step 0: lr 0
    upd, _ = tx.update({"w": jnp.zeros(1)}, st, w)
    expected = -float(lr(1)) * 0.5 * 2.0 * (1 + 0.9)  # momentum trace carries step 0's decay term
    assert float(upd["w"][0]) == pytest.approx(expected, rel=1e-5)


def _toy_data(n, key=0):
    rng = np.random.default_rng(key)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 100, (n, 8, 8, 3)) + 120 * y[:, None, None, None]
    return x.astype(np.uint8), y


def test_training_reduces_loss_and_compiles_once(tmp_path, monkeypatch):
    x, y = _toy_data(96)
    data = {
        "train_x": x[:64],
        "train_y": y[:64],
        "valid_x": x[64:],
        "valid_y": y[64:],
        "test_x": x[64:80],
        "test_y": y[64:80],
    }
    cfg = trainer.proxy_config(
        channels=4,
        batch_size=16,
        steps=12,
        num_classes=2,
        learning_rate=0.1,
        optimizer="sgd",
        eval_batch_size=24,
        augment=True,
        pad=1,
    )
    before = trainer.compile_count()
    r = trainer.train_and_evaluate(CELL_B, data, cfg, jax.random.key(0))
    assert r["steps"] == 12 and len(r["losses"]) == 12 and r["compile_time"] > 0
    assert np.isfinite(r["losses"]).all()
    assert r["losses"][-3:].mean() < 0.7 * r["losses"][:2].mean()
    # accuracies are fractions of the 32 validation and 16 test images
    assert 0 <= r["val_acc"] <= 1 and (r["val_acc"] * 32).is_integer()
    assert 0 <= r["test_acc"] <= 1 and (r["test_acc"] * 16).is_integer()
    assert trainer.compile_count() == before + 1
    # the same architecture and config again: no new compile, and the same key gives the same run
    r2 = trainer.train_and_evaluate(CELL_B, data, cfg, jax.random.key(0))
    assert r2["compile_time"] == 0.0 and trainer.compile_count() == before + 1
    np.testing.assert_allclose(r2["losses"], r["losses"], rtol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        trainer.train_and_evaluate(CELL_B, {"train_x": x[:8], "train_y": y[:8]}, cfg, jax.random.key(0))
    # disk cache: the first query trains (same key: same accuracy as r), an isomorphic cell (CELL_B
    # plus a dangling vertex, pruned to CELL_B) is then answered from disk without training
    c1 = trainer.cached_train_and_evaluate(CELL_B, data, cfg, seed=0, data_id="toy", folder=tmp_path)
    assert c1["cached"] is False and c1["val_acc"] == r["val_acc"] and len(list(tmp_path.glob("*.json"))) == 1
    monkeypatch.setattr(trainer, "train_and_evaluate", lambda *a, **k: pytest.fail("retrained a cached cell"))
    padded = ([[0, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], ["input", C1, C3, "output"])
    c2 = trainer.cached_train_and_evaluate(padded, data, cfg, seed=0, data_id="toy", folder=tmp_path)
    assert c2["cached"] is True and c2["val_acc"] == c1["val_acc"] and c2["module_hash"] == c1["module_hash"]


def _add(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def test_python_tarball_reader(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    rng = np.random.default_rng(0)
    raw = {}
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
            raw[name] = data
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps({b"data": data, b"labels": [i % 10, (i + 1) % 10]}))
    d = cifar.read_python_tarball(path)
    assert (
        d["train_x"].shape == (8, 32, 32, 3)
        and d["valid_x"].shape == (2, 32, 32, 3)
        and d["test_x"].shape == (2, 32, 32, 3)
    )
    # channel-major rows: pixel (r, c) of channel k is data[k * 1024 + r * 32 + c]; batch 5 is validation
    assert d["valid_x"][1, 3, 5, 2] == raw["data_batch_5"][1, 2 * 1024 + 3 * 32 + 5]
    assert d["train_x"][0, 0, 1, 0] == raw["data_batch_1"][0, 1]
    assert d["valid_y"].tolist() == [4, 5] and d["test_y"].tolist() == [5, 6]


def test_image_tarball_reader(tmp_path):
    from PIL import Image

    path = tmp_path / "imgs.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split, n in (("train", 5), ("test", 1)):
            for c, cls in enumerate(("cat", "airplane")):
                for k in range(n):
                    buf = io.BytesIO()
                    Image.fromarray(np.full((32, 32, 3), 10 * c + k, np.uint8)).save(buf, format="PNG")
                    _add(tar, f"root/{split}/{cls}/{k:04d}.png", buf.getvalue())
    d = cifar.read_image_tarball(path)
    assert d["train_x"].shape == (8, 32, 32, 3) and d["valid_x"].shape == (2, 32, 32, 3)
    assert sorted(d["test_y"].tolist()) == [0, 3]  # airplane 0, cat 3
    both = np.concatenate([d["train_x"], d["valid_x"]])
    labels = np.concatenate([d["train_y"], d["valid_y"]])
    # PNG is lossless: each image's value identifies its class and index
    assert np.all((both[:, 0, 0, 0] >= 10) == (labels == 0))  # airplane images hold 10..14

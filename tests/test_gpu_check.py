"""The prepared GPU check (``python -m bench.gpu_train``) and its PyTorch reference network.

What makes the JAX-vs-PyTorch comparison trustworthy: with the same weights the torch network
(:mod:`bench.torch_nb101`) has the Flax network's parameters, gives its outputs and takes its
training steps (official RMSProp, schedule, weight decay, batch norm), to float32 tolerance; and
at full size both have NAS-Bench-101's own parameter counts. The torch tests skip where torch is
not installed (it is not a dependency); the table tests where the real data is absent. The CLI
runs: ``--budget 0`` (every part skipped, with torch hidden: seconds) and the whole ``--tiny`` run
(a dozen small XLA compiles: minutes on a busy 2-core CPU, so marked slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import gpu_fidelity, gpu_sizes, gpu_throughput
from nasbench.train import networks, trainer

ROOT = Path(__file__).resolve().parents[1]
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# vertex 1 (3 of 5 channels) feeds vertex 2 (2 channels): its tensor is truncated; input -> output
TRUNCATED = ([[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, MP, "output"])
IDENTITY = ([[0, 1], [0, 0]], ["input", "output"])  # only the output projection
CELLS = {"CELL_A": gpu_throughput.CELL_A, "CELL_B": gpu_throughput.CELL_B, "truncated": TRUNCATED, "identity": IDENTITY}


def _variables(model, seed):
    """Random variables of ``model`` in Flax's shapes (numpy draws: no per-op XLA compiles of an
    eager init): conv and dense weights N(0, 0.3^2), BN scales and variances in [0.5, 2], the rest
    N(0, 0.1^2), so the eval-mode running statistics are not the trivial 0 / 1."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)), train=False))
    rng = np.random.default_rng(seed)

    def draw(path, s):
        name = path[-1].key
        if name in ("scale", "var"):
            return rng.uniform(0.5, 2.0, s.shape).astype(np.float32)
        return (rng.standard_normal(s.shape) * (0.3 if name == "kernel" else 0.1)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def _flax(cell, channels=5, stacks=3, **kw):
    cfg = trainer.nb101_config(channels=channels, stacks=stacks, cells_per_stack=1, dtype="float32", **kw)
    model = trainer.build_network(cell, cfg)
    return cfg, model, _variables(model, seed=1)


def _images(n, side=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int32)


@pytest.mark.parametrize("name", CELLS)
def test_torch_network_has_the_flax_parameters_and_outputs(name):
    torch = pytest.importorskip("torch")
    from bench import torch_nb101 as tnb

    cfg, model, variables = _flax(CELLS[name])
    x = np.array(trainer.normalize(jnp.asarray(_images(8)[0])))
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    net = tnb.network(CELLS[name], cfg)
    assert tnb.parameter_count(net) == networks.parameter_count(variables["params"])
    tnb.load_flax_variables(net, variables)  # raises unless every torch tensor gets a Flax value
    with torch.no_grad():
        eval_mode = net.eval()(xt).numpy()
        train_mode = net.train()(xt).numpy()  # (updates torch's running statistics: second)
    ours, _ = model.apply(variables, x, train=True, mutable=["batch_stats"])  # batch statistics
    np.testing.assert_allclose(train_mode, np.asarray(ours), rtol=1e-4, atol=1e-5)
    ours = model.apply(variables, x, train=False)  # running statistics
    np.testing.assert_allclose(eval_mode, np.asarray(ours), rtol=1e-4, atol=1e-5)
    assert np.abs(eval_mode - train_mode).max() > 1e-2  # the two modes differ: both were tested


def test_torch_training_steps_match_the_jax_trainer():
    """Three steps (learning rate 0, then 0.15, 0.05 by the cosine schedule) from the same weights on
    the same batches: the same losses, parameters and batch statistics (official RMSProp, weight
    decay on every parameter, BN momentum 0.997; augmentation off, its randomness differs)."""
    torch = pytest.importorskip("torch")
    from bench import torch_nb101 as tnb

    cfg, model, variables = _flax(TRUNCATED, stacks=2, batch_size=8, steps=3, augment=False)
    tx = trainer.make_optimizer(cfg, 3)
    params = variables["params"]
    state = trainer.TrainState(params, variables["batch_stats"], tx.init(params), jnp.zeros((), jnp.int32))
    net = tnb.load_flax_variables(
        tnb.network(TRUNCATED, cfg), {"params": state.params, "batch_stats": state.batch_stats}
    )
    opt = tnb.OfficialRMSProp(net.parameters(), cfg.weight_decay, cfg.momentum)
    images, labels = _images(16, seed=3)
    step = jax.jit(trainer.make_train_step(model, tx, cfg.augment, cfg.pad))
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(4)
    start = state.params
    for s in range(3):
        idx = rng.permutation(16)[:8].astype(np.int32)
        state, loss = step(state, None, images, labels, idx, jax.random.key(0))
        tl = tnb.train_step(
            net.train(), opt, cfg, 3, s, torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(idx), gen
        )
        np.testing.assert_allclose(float(tl), float(loss), rtol=1e-5)
    ref = tnb.load_flax_variables(
        tnb.network(TRUNCATED, cfg), {"params": state.params, "batch_stats": state.batch_stats}
    )
    got = net.state_dict()
    for k, want in ref.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        # running_var: torch keeps the unbiased batch variance (n/(n-1), n = 8 x 4 x 4 at least)
        rtol = 1e-3 if k.endswith("running_var") else 1e-5
        np.testing.assert_allclose(got[k].numpy(), want.numpy(), rtol=rtol, atol=1e-6, err_msg=k)
    moved = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(state.params)))
    assert moved > 1e-3  # the steps did change the weights: the comparison is not vacuous


def test_torch_learning_rate_is_the_trainer_schedule():
    pytest.importorskip("torch")
    from bench import torch_nb101 as tnb

    cfg = trainer.nb101_config()
    sched = trainer.learning_rate_schedule(cfg, 625)
    for s in (0, 1, 2, 100, 312, 624, 625, 700):
        assert tnb.learning_rate(cfg, 625, s) == pytest.approx(float(sched(s)), abs=1e-7)


def test_torch_augment_is_a_crop_of_the_padded_image_and_a_flip():
    torch = pytest.importorskip("torch")
    from bench import torch_nb101 as tnb

    x = np.random.default_rng(5).standard_normal((16, 6, 6, 3)).astype(np.float32)
    out = tnb.augment(torch.from_numpy(x), 2, torch.Generator().manual_seed(0)).numpy()
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    seen = set()
    for k in range(len(x)):
        crops = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)]
        match = [c for c in crops if np.array_equal(out[k], _crop_flip(padded[k], *c, 6))]
        assert match, f"image {k} is no crop of its padded image"
        seen.add(match[0])
    assert len(seen) > 8 and {f for *_, f in seen} == {False, True}


def _crop_flip(img, dy, dx, flip, side):
    c = img[dy : dy + side, dx : dx + side]
    return c[:, ::-1] if flip else c


def test_fidelity_cells_and_nb101_parameter_counts():
    """The fidelity cells are spread over val_acc_4 among cheap cells, and at full size (C = 128,
    3 x 3 cells) our JAX network (and the torch one) has the table's own parameter count."""
    from conftest import data_dir, require_data

    from nasbench.spaces import nb101 as S
    from nasbench.tables import nb101 as t101

    require_data("nasbench101-subset/nb101_subset_30k.csv.gz")
    _, arrays = t101.subset_table(data_dir())
    picked = gpu_fidelity.fidelity_cells(arrays, 6)
    assert len(set(picked)) == 6
    assert np.all(arrays["train_time_108"][picked] <= np.quantile(arrays["train_time_108"], 0.25))
    acc = arrays["val_acc_4"][picked]
    assert np.all(np.diff(acc) >= 0) and acc[-1] - acc[0] > 0.2
    full = trainer.nb101_config()
    for i in picked:
        assert gpu_throughput.jax_params(S.genotype_to_cell(arrays["genotype"][i]), full) == arrays["params"][i]
    try:
        from bench import torch_nb101 as tnb
    except ImportError:
        return
    for i in picked[:2]:
        assert tnb.parameter_count(tnb.network(S.genotype_to_cell(arrays["genotype"][i]), full)) == arrays["params"][i]


def _run_cli(tmp_path, *args, hide_torch=False):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    from conftest import data_dir

    if data_dir() is not None:
        env["NASARENA_DATA"] = str(data_dir())
    if hide_torch:  # a torch module that cannot be imported, first on the path
        (tmp_path / "hide").mkdir()
        (tmp_path / "hide" / "torch.py").write_text('raise ImportError("No module named torch (hidden by the test)")\n')
        env["PYTHONPATH"] = str(tmp_path / "hide")
    out = tmp_path / "gpu_train.json"
    cmd = [sys.executable, "-m", "bench.gpu_train", "--tiny", "--out", str(out), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _common_fields(r):
    assert r["measured"] is False and r["tiny"] is True and r["complete"] is True
    assert r["backend"] == "cpu" and r["device"] and r["elapsed_s"] >= 0
    assert {"python", "jax", "jaxlib", "flax", "optax", "numpy", "torch"} <= set(r["versions"])
    assert set(r["throughput"]) >= {"torch", "jax", "masked", "vmap", "torch_compile"}
    assert {"equivalence", "fidelity", "budget_s", "sizes", "cells", "settings"} <= set(r)


def test_no_budget_skips_every_part_with_its_reason_and_torch_absent(tmp_path):
    r = _run_cli(tmp_path, "--budget", "0", hide_torch=True)
    _common_fields(r)
    tp = r["throughput"]
    assert r["versions"]["torch"] is None
    for part in (tp["torch"], tp["torch_compile"], r["equivalence"]):
        assert part["skipped"].startswith("torch is not installed")
    for part in (*tp["jax"], tp["masked"], tp["vmap"]):
        assert part["skipped"].startswith("time budget")
    assert "jax_over_torch" not in tp
    fid = r["fidelity"]
    if "skipped" in fid:
        assert fid["skipped"].startswith("data not found")
    else:
        assert fid["cells"] == [] and fid["cut"].startswith("3 of 3 cells not trained: time budget")


def _errors(obj, path=""):
    if isinstance(obj, dict):
        return [f"{path}.{k}" for k in obj if k == "error"] + [
            e for k, v in obj.items() for e in _errors(v, f"{path}.{k}")
        ]
    if isinstance(obj, list):
        return [e for k, v in enumerate(obj) for e in _errors(v, f"{path}[{k}]")]
    return []


@pytest.mark.slow
def test_tiny_run_measures_every_part(tmp_path):
    r = _run_cli(tmp_path)
    _common_fields(r)
    assert _errors(r) == []
    tp = r["throughput"]
    jax_rows = tp["jax"]
    assert [(j["cell"], j["dtype"]) for j in jax_rows] == list(gpu_throughput.CONFIGS)
    for j in jax_rows:
        assert j["images_per_s"] > 0 and j["compile_s"] > 0 and j["steps"] == gpu_sizes.TINY.steps
    # CELL_A's masked network computes the per-architecture one: same weights, same training
    assert tp["masked"]["final_loss"] == pytest.approx(jax_rows[0]["final_loss"], abs=2e-2)
    assert tp["masked"]["params"] > jax_rows[0]["params"]  # every op at every vertex
    assert tp["vmap"]["vmap"] == 2 and tp["vmap"]["architecture_steps_per_s"] > 0
    try:
        import torch  # noqa: F401
    except ImportError:
        assert tp["torch"]["skipped"].startswith("torch is not installed")
    else:
        for t, j in zip(tp["torch"]["eager"], jax_rows):
            assert t["images_per_s"] > 0 and t["params"] == j["params"]
        assert len(tp["jax_over_torch"]) == 3
        eq = r["equivalence"]
        assert eq["params_jax"] == eq["params_torch"] and eq["max_abs_diff"] < 1e-4 and eq["same_argmax"] == 1.0
        assert tp["torch_compile"]["skipped"].startswith("--tiny")
    fid = r["fidelity"]
    if "skipped" in fid:
        assert fid["skipped"].startswith("data not found")
        return
    assert fid["table_column"] == "val_acc_4" and len(fid["cells"]) == 3
    for c in fid["cells"]:
        assert 0 <= c["val_acc"] <= 1 and c["abs_diff"] == pytest.approx(
            abs(c["val_acc"] - c["val_acc_4_table"]), abs=2e-4
        )
        assert c["params"] == c["params_table"]  # full-size NB-101 count, whatever the tiny size
    assert fid["summary"]["n"] == 3 and fid["summary"]["params_match"] and fid["summary"]["spearman"] is not None

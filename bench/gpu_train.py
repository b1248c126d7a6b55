"""The GPU check of the training path (issue 24), in one process, one JSON: how fast our jitted
JAX training step is against PyTorch's, and how close its 4-epoch accuracy is to NAS-Bench-101's.

    python -m bench.gpu_train [--tiny] [--out bench/gpu_train.json] [--budget 420] [--data-dir DIR]

**Throughput** (``throughput``), full size: the NB-101 network (C = 128, 3 stacks of 3 cells, 10
classes, batch 256, 32x32x3) trained with NB-101's step (RMSProp as TF1, cosine schedule, L2 weight
decay, on-device crop + flip) on random uint8 images held on the device, for :data:`CELL_A` (bf16
and fp32) and :data:`CELL_B` (bf16):

* ``jax``: :func:`nasbench.train.trainer.train_and_evaluate` run twice per config (``per_arch``
  network): ``compile_s`` (ahead-of-time compile of the train and eval steps, first run),
  ``images_per_s`` / ``steps_per_s`` over the second run's ``steps`` (the first run's steps are the
  warm-up), ``peak_bytes_so_far`` (``device.memory_stats()["peak_bytes_in_use"]``: the process's peak
  up to then, so an upper bound for this config; exact where it exceeds every earlier one);
* ``torch``: :mod:`bench.torch_nb101` on the same device, eager, channels-last, bf16 by
  ``torch.autocast`` (fp32: cuDNN's defaults, TF32 allowed), ``cudnn.benchmark`` on: ``steps``
  warm-up steps then ``steps`` timed ones; ``peak_bytes`` (``torch.cuda.max_memory_allocated``);
  ``torch_compile``: the same for ``torch.compile(model)`` (CELL_A, bf16; its ``warmup_s`` holds
  the compile) when time is left;
* ``jax_over_torch``: the images/s ratio per config; ``masked``: the one-compile masked network
  (CELL_A, whose masked network computes exactly the per-architecture one, so only the mask's cost
  shows); ``vmap``: :func:`~nasbench.train.trainer.train_many` of :data:`FULL`'s ``vmap`` cells at
  once (architecture-steps/s).

**Equivalence** (``equivalence``): the Flax and torch networks of CELL_A at full size with the same
weights (:func:`bench.torch_nb101.load_flax_variables`), fp32, train mode, one batch: the largest
logit difference on this device (TF32 and cuDNN/XLA kernels make it differ from the CPU's ~1e-6).

**Fidelity** (``fidelity``): :data:`FULL`'s ``n_fidelity`` cells of the NB-101 30k subset
(:func:`fidelity_cells`: the cheapest quarter by the table's ``train_time_108``, at evenly spaced
ranks of ``val_acc_4``) trained with NB-101's own 4-epoch protocol (:func:`nasbench.train.trainer.
nb101_config` with ``epochs=4``: 625 steps of batch 256, the cosine schedule over those steps,
RMSProp, weight decay, crop + flip) on the real CIFAR-10 40,000 / 10,000 train / validation split
(:func:`nasbench.train.cifar.load_cifar10`), in the backend's default dtype (bf16 on a GPU; NB-101
trained in float32 on TPUs), two cells at a time in threads (one compiles while the other trains).
Each cell's validation accuracy is compared with the subset's ``val_acc_4`` (the 4-epoch validation
accuracy of one NB-101 run; the subset holds one of the three repeats): absolute differences and
Spearman's rank correlation; its parameter count with the table's ``params``.

**Budget**: every part (and every fidelity cell) starts only when its estimate fits in what is left
of ``--budget`` seconds (counted from :func:`run`'s start). Estimates start from :data:`GUESS` and
are replaced by this run's measurements (the largest compile and init times so far, the largest
bf16 step time); from the first JAX measurement on, the throughput parts before the fidelity keep
the fidelity's estimate in reserve. A part not run is ``{"skipped": reason}``, one that failed
``{"error": message}``; the JSON is rewritten after every part, with ``complete: true`` at the end.
``measured`` is true for a full-size run on an accelerator. ``--tiny``: the same code at
:data:`TINY` sizes on random images (the fidelity cells and their parameter counts come from the
real table; their accuracies mean nothing): a dozen small XLA compiles, 2-3 CPU minutes.

**Estimated time on one H100 / H200** (not measured: no GPU where this was written). XLA's cost
analysis gives 2.77 TFLOP per training step of CELL_A at batch 256 (10.8 GFLOP per image) and
0.29-0.87 TFLOP for the six fidelity cells. Likely (compiles ~20 s, CELL_A bf16 step ~25 ms, ~100
TFLOP/s effective): start-up 15 s, torch eager 15 s, JAX per-arch 3 x 25 s, equivalence 10 s,
fidelity 20 s data + 3 rounds of two cells x 25 s + 6 x 625 steps x ~10 ms, 135 s: about 250 s,
leaving room for the masked (~60 s) and vmap (~80 s) parts, torch.compile only if ~150 s remain.
Conservative (compiles 40 s, steps 40 ms, fp32 80 ms): start-up 15 s, torch 25 s, JAX per-arch
2 x 50 s (CELL_B is then skipped to keep the fidelity's reserve), equivalence 15 s, fidelity 30 s
+ 3 x 46 s + 6 x 625 x 20 ms, 245 s: about 400 s, nothing after it. Since nothing starts that its
estimate says would end past the budget, the run ends within about 420 s + start-up + the
misestimate of its last part: under 8 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_train import CELL as CELL_A

OUT = Path(__file__).parent / "gpu_train.json"
ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 420.0

#: The Inception-like example cell of the official NAS-Bench-101 README (1x1 conv, 3x3 conv, two
#: chained 3x3 convs and a 3x3 max-pool, four of them concatenated at the output).
CELL_B = (
    [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"],
)
#: (cell name, dtype) of the per-architecture throughput configs, in order of priority.
CONFIGS = (("CELL_A", "bfloat16"), ("CELL_A", "float32"), ("CELL_B", "bfloat16"))
#: Starting estimates (seconds), conservative for one H100, replaced by this run's measurements.
GUESS = {"compile": 60.0, "step": 0.1, "init": 5.0, "data": 30.0, "eval": 5.0, "torch_compile": 150.0}


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each part is."""

    channels: int
    stacks: int
    cells_per_stack: int
    batch: int
    steps: int  # throughput: timed steps (after as many warm-up steps)
    vmap: int  # cells trained at once by train_many
    n_fidelity: int  # fidelity cells
    fidelity_steps: int | None  # None: NB-101's 4 epochs
    n_train: int | None  # fidelity images (None: the whole 40,000 / 10,000 split; else random images)
    n_valid: int | None
    eval_batch: int
    equivalence_batch: int


FULL = Sizes(128, 3, 3, 256, 40, 4, 6, None, None, None, 500, 32)
TINY = Sizes(4, 2, 1, 16, 2, 2, 3, 2, 64, 32, 32, 4)


class Budget:
    """Wall-clock seconds for the whole run; a part runs only when its estimate fits."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def check(self, need: float, reserve: float = 0.0) -> str | None:
        """``None`` when ``need`` seconds fit in what is left beyond ``reserve``; else why not."""
        left = max(0.0, self.seconds - self.elapsed())
        if left - reserve >= need:
            return None
        kept = f", {reserve:.0f} s of it kept for the fidelity part" if reserve else ""
        return f"time budget: {left:.0f} s of {self.seconds:.0f} s left{kept}; this part needs about {need:.0f} s"


def _log(msg: str, budget: Budget) -> None:
    print(f"[gpu_train {budget.elapsed():6.1f}s] {msg}", file=sys.stderr, flush=True)


def _num(x: Any, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (``None`` for NaN or infinity)."""
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _guarded(fn: Callable[..., dict], *args: Any, **kw: Any) -> dict:
    """``fn(*args, **kw)``, or ``{"error": ...}`` when it raises (one failure keeps the others)."""
    try:
        return fn(*args, **kw)
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON, the run goes on
        return {"error": f"{type(exc).__name__}: {exc}"}


def random_data(n: int, seed: int = 0, side: int = 32) -> dict[str, np.ndarray]:
    """``n`` random uint8 ``side x side x 3`` images and labels of 10 classes (numpy seed ``seed``)."""
    rng = np.random.default_rng(seed)
    return {"train_x": rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), "train_y": rng.integers(0, 10, n)}


def import_torch() -> tuple[Any, str | None]:
    """``(torch, None)``, or ``(None, reason)`` when torch cannot be imported."""
    try:
        import torch
    except ImportError as exc:
        return None, f"torch is not installed ({exc})"
    return torch, None


def torch_device(torch: Any) -> tuple[Any, str | None]:
    """The torch device matching JAX's backend, or ``(None, reason)`` when torch cannot use it."""
    import jax

    if jax.default_backend() == "cpu":
        return torch.device("cpu"), None
    if not torch.cuda.is_available():
        return None, f"JAX runs on {jax.devices()[0]} but torch {torch.__version__} sees no CUDA device (a CPU build?)"
    return torch.device("cuda"), None


def versions(torch: Any) -> dict[str, Any]:
    import flax
    import jax
    import jaxlib
    import optax

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
    }
    if torch is not None:
        out["torch_cuda"] = torch.version.cuda
        out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return out


def train_config(sizes: Sizes, **overrides: Any) -> Any:
    """NB-101's training config (:func:`~nasbench.train.trainer.nb101_config`) at ``sizes``."""
    from nasbench.train import trainer

    base = dict(
        channels=sizes.channels,
        stacks=sizes.stacks,
        cells_per_stack=sizes.cells_per_stack,
        batch_size=sizes.batch,
        eval_batch_size=sizes.eval_batch,
    )
    return trainer.nb101_config(**{**base, **overrides})


def jax_params(cell: Any, config: Any) -> int:
    """Trainable scalars of the network ``config`` trains for ``cell`` (abstract: nothing runs)."""
    import jax
    import jax.numpy as jnp

    from nasbench.train import networks, trainer

    x = jnp.zeros((1, 32, 32, 3))
    if config.compile_mode == "masked":
        model, arch = trainer.build_masked_network(config), trainer.arch_arrays(cell, config)
        shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, arch, train=False))
    else:
        model = trainer.build_network(cell, config)
        shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    return networks.parameter_count(shapes["params"])


def jax_peak_bytes() -> int | None:
    """The device's ``peak_bytes_in_use`` so far (``None`` where the backend keeps no statistics)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    return None if not stats else stats.get("peak_bytes_in_use")


def jax_rate(cell: Any, config: Any, data: dict, key: Any) -> dict:
    """Throughput of :func:`~nasbench.train.trainer.train_and_evaluate`: the first run compiles and
    warms up, the second is timed."""
    import jax

    from nasbench.train import trainer

    first = trainer.train_and_evaluate(cell, data, config, key)
    second = trainer.train_and_evaluate(cell, data, config, jax.random.fold_in(key, 1))
    steps, t = second["steps"], second["train_time"]
    return {
        "dtype": config.dtype,
        "compile_mode": config.compile_mode,
        "params": jax_params(cell, config),
        "compile_s": _num(first["compile_time"], 2),
        "init_s": _num(second["init_time"], 2),
        "steps": steps,
        "step_s": _num(t / steps, 5),
        "steps_per_s": _num(steps / t, 2),
        "images_per_s": _num(steps * config.batch_size / t, 1),
        "first_run_images_per_s": _num(steps * config.batch_size / first["train_time"], 1),
        "peak_bytes_so_far": jax_peak_bytes(),
        "final_loss": _num(second["losses"][-1]),
    }


def jax_vmap_rate(cells: list, config: Any, data: dict, key: Any) -> dict:
    """Throughput of :func:`~nasbench.train.trainer.train_many` (the first call compiles and warms up)."""
    import jax

    from nasbench.train import trainer

    keys = [jax.random.fold_in(key, k) for k in range(len(cells))]
    first = trainer.train_many(cells, data, config, keys)
    second = trainer.train_many(cells, data, config, [jax.random.fold_in(k, 1) for k in keys])
    m, steps = len(cells), second[0]["steps"]
    t = second[0]["train_time"] * m
    return {
        "vmap": m,
        "dtype": config.dtype,
        "compile_s": _num(first[0]["compile_time"] * m, 2),
        "steps": steps,
        "step_s": _num(t / steps, 5),
        "architecture_steps_per_s": _num(m * steps / t, 2),
        "images_per_s": _num(m * steps * config.batch_size / t, 1),
        "peak_bytes_so_far": jax_peak_bytes(),
    }


def torch_rate(torch: Any, device: Any, cell: Any, config: Any, data: dict, seed: int, compiled: bool = False) -> dict:
    """Throughput of :func:`bench.torch_nb101.train_step`: ``config.steps`` warm-up steps, then as
    many timed (the schedule spans both)."""
    from bench import torch_nb101 as tnb

    torch.manual_seed(seed)
    model = tnb.network(cell, config).to(device, memory_format=torch.channels_last)
    opt = tnb.OfficialRMSProp(model.parameters(), config.weight_decay, config.momentum)
    fwd = torch.compile(model) if compiled else model
    gen = torch.Generator(device).manual_seed(seed)
    images = torch.from_numpy(data["train_x"]).to(device)
    labels = torch.from_numpy(np.asarray(data["train_y"], np.int64)).to(device)
    b, steps = config.batch_size, config.steps
    per_epoch = len(images) // b
    perm = torch.randperm(len(images), generator=gen, device=device)
    autocast = torch.bfloat16 if config.dtype == "bfloat16" else None
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def timed(first: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        for s in range(first, first + steps):
            e = s % per_epoch
            loss = tnb.train_step(
                fwd, opt, config, 2 * steps, s, images, labels, perm[e * b : (e + 1) * b], gen, autocast
            )
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0, float(loss)

    warm, _ = timed(0)
    t, loss = timed(steps)
    return {
        "dtype": config.dtype,
        "compiled": compiled,
        "params": tnb.parameter_count(model),
        "warmup_s": _num(warm, 2),
        "steps": steps,
        "step_s": _num(t / steps, 5),
        "steps_per_s": _num(steps / t, 2),
        "images_per_s": _num(steps * b / t, 1),
        "peak_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
        "final_loss": _num(loss),
    }


def equivalence(torch: Any, device: Any, cell: Any, config: Any, data: dict, batch: int, key: Any) -> dict:
    """Largest logit difference of the Flax and torch networks of ``cell`` with the same weights:
    fp32, train mode (batch statistics), ``batch`` images of ``data``."""
    import jax
    import jax.numpy as jnp

    from bench import torch_nb101 as tnb
    from nasbench.train import networks, trainer

    c32 = dataclasses.replace(config, dtype="float32")
    model = trainer.build_network(cell, c32)
    variables = model.init(key, jnp.zeros((1, 32, 32, 3)), train=False)
    x = trainer.normalize(jnp.asarray(data["train_x"][:batch]))
    logits, _ = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
    net = tnb.load_flax_variables(tnb.network(cell, c32), jax.device_get(variables))
    net = net.to(device, memory_format=torch.channels_last).train()
    with torch.no_grad():
        theirs = net(torch.from_numpy(np.array(x)).to(device).permute(0, 3, 1, 2)).cpu().numpy()
    ours = np.asarray(logits)
    diff = np.abs(ours - theirs)
    return {
        "dtype": "float32",
        "mode": "train (batch statistics)",
        "batch": batch,
        "params_jax": networks.parameter_count(variables["params"]),
        "params_torch": tnb.parameter_count(net),
        "max_abs_diff": float(diff.max()),
        "max_abs_logit": float(np.abs(ours).max()),
        "same_argmax": float(np.mean(ours.argmax(-1) == theirs.argmax(-1))),
    }


def fidelity_cells(arrays: dict[str, np.ndarray], n: int, cost_quantile: float = 0.25) -> list[int]:
    """Indices of ``n`` subset cells: those whose ``train_time_108`` is in the cheapest
    ``cost_quantile`` (cheap to train here), then ``n`` at evenly spaced ranks of ``val_acc_4``
    (ranks ``(k + 1/2) n_cheap / n``), lowest first."""
    cost = arrays["train_time_108"]
    cheap = np.flatnonzero(cost <= np.quantile(cost, cost_quantile))
    ranked = cheap[np.argsort(arrays["val_acc_4"][cheap], kind="stable")]
    return [int(ranked[int((k + 0.5) * len(ranked) / n)]) for k in range(n)]


def _fidelity_data(sizes: Sizes, data_dir: str | None) -> tuple[dict, str]:
    """The fidelity part's images and where they come from (random ones with ``sizes.n_train``)."""
    if sizes.n_train is not None:
        n = sizes.n_train
        d = random_data(n + (sizes.n_valid or 0), seed=1)
        data = {
            "train_x": d["train_x"][:n],
            "train_y": d["train_y"][:n],
            "valid_x": d["train_x"][n:],
            "valid_y": d["train_y"][n:],
        }
        return data, f"random images ({sizes.n_train} train, {sizes.n_valid} validation): --tiny, no accuracy meaning"
    from nasbench.train import cifar, live

    full = cifar.load_cifar10(data_dir)
    data = {k: full[k] for k in ("train_x", "train_y", "valid_x", "valid_y")}
    return (
        data,
        f"CIFAR-10 {live.cifar_source(data_dir)}, NB-101 split: {len(data['train_x'])} train, {len(data['valid_x'])} validation",
    )


def fidelity(sizes: Sizes, data_dir: str | None, budget: Budget, est: dict, workers: int = 2) -> dict:
    """Train :func:`fidelity_cells` with NB-101's 4-epoch protocol and compare with ``val_acc_4``."""
    import jax
    from scipy.stats import spearmanr

    from nasbench.data import DataNotFound
    from nasbench.spaces import nb101 as S
    from nasbench.tables import nb101 as t101
    from nasbench.train import trainer

    try:
        path, arrays = t101.subset_table(data_dir)
        data, source = _fidelity_data(sizes, data_dir)
    except DataNotFound as exc:
        return {"skipped": f"data not found: {exc}"}
    cfg = train_config(sizes, epochs=4.0, steps=sizes.fidelity_steps)
    steps = cfg.total_steps(len(data["train_x"]))
    picked = fidelity_cells(arrays, sizes.n_fidelity)
    order = [picked[k] for k in np.random.default_rng(0).permutation(len(picked))]

    def one(i: int) -> dict:
        cell = S.genotype_to_cell(arrays["genotype"][i])
        r = trainer.train_and_evaluate(cell, data, cfg, jax.random.key(i))
        ours, table = float(r["val_acc"]), float(arrays["val_acc_4"][i])
        return {
            "index": i,
            "hash": arrays["hash"][i].tobytes().hex(),
            "val_acc": _num(ours),
            "val_acc_4_table": _num(table),
            "abs_diff": _num(abs(ours - table)),
            "params": jax_params(cell, trainer.nb101_config()),  # the table's size: C = 128, 3 x 3
            "params_table": int(arrays["params"][i]),
            "train_time_108_table": _num(arrays["train_time_108"][i], 1),
            "compile_s": _num(r["compile_time"], 2),
            "train_s": _num(r["train_time"], 2),
            "wall_s": _num(r["wall_time"], 2),
        }

    rows: list[dict] = []
    cut = None

    def need() -> float:
        done = [c["wall_s"] for c in rows if c.get("wall_s")]
        return max(done) if done else est["compile"] + est["init"] + steps * est["step"] + est["eval"]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[Future, int] = {}
        for k, i in enumerate(order):
            while len(running) >= workers:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                rows.extend(_result(f, running.pop(f)) for f in done)
            cut = budget.check(need())
            if cut:
                cut = f"{len(order) - k} of {len(order)} cells not trained: {cut}"
                break
            running[pool.submit(one, i)] = i
        rows.extend(_result(f, i) for f, i in running.items())
    ok = [c for c in rows if "val_acc" in c and c["val_acc"] is not None]
    ours = np.array([c["val_acc"] for c in ok])
    table = np.array([c["val_acc_4_table"] for c in ok])
    summary: dict[str, Any] = {"n": len(ok)}
    if ok:
        summary.update(
            mean_abs_diff=_num(np.mean(np.abs(ours - table))),
            max_abs_diff=_num(np.max(np.abs(ours - table))),
            mean_diff_ours_minus_table=_num(np.mean(ours - table)),
            params_match=all(c["params"] == c["params_table"] for c in ok),
        )
    if len(ok) >= 3:
        rho = spearmanr(ours, table)
        summary.update(spearman=_num(rho.statistic), spearman_p=_num(rho.pvalue))
    else:
        summary["spearman"] = None
        summary["spearman_why"] = f"{len(ok)} cells trained: a rank correlation needs at least 3"
    return {
        "table": str(path),
        "table_column": "val_acc_4",
        "table_note": "the subset's 4-epoch validation accuracy of one NB-101 training run (the full "
        "dataset has three repeats); NB-101's repeats differ a lot at 4 epochs, so per-cell "
        "differences are noisy and the rank correlation of a handful of cells is a coarse check",
        "selection": "the cheapest quarter of the subset by train_time_108, at evenly spaced ranks of val_acc_4",
        "protocol": f"{'NB-101' if sizes.fidelity_steps is None else '--tiny'}: {steps} steps of batch "
        f"{cfg.batch_size} ({len(data['train_x'])} images), RMSProp, cosine schedule, "
        f"weight decay {cfg.weight_decay}, crop + flip; dtype {cfg.dtype or 'the backend default'}; "
        f"{workers} cells trained at once in threads (their times overlap)",
        "data": source,
        "cells": sorted(rows, key=lambda c: c["index"]),
        "summary": summary,
        **({"cut": cut} if cut else {}),
    }


def _result(f: Future, i: int) -> dict:
    try:
        return f.result()
    except Exception as exc:  # noqa: BLE001 - recorded, the other cells go on
        return {"index": i, "error": f"{type(exc).__name__}: {exc}"}


def run(
    tiny: bool = False,
    out: str | os.PathLike[str] | None = None,
    budget_s: float = BUDGET_S,
    data_dir: str | None = None,
) -> dict:
    """The whole check (see the module docstring); writes ``out`` after every part when given."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX and torch share the device
    import jax

    from nasbench.data import atomic_write_text
    from nasbench.spaces import nb101 as S

    jax.config.update("jax_enable_compilation_cache", False)  # compile times are compiles
    budget = Budget(budget_s)
    sizes = TINY if tiny else FULL
    est = dict(GUESS)
    measured = False  # whether est holds this run's JAX measurements yet
    torch, torch_why = import_torch()
    device, device_why = torch_device(torch) if torch is not None else (None, torch_why)
    dev = jax.devices()[0]
    res: dict[str, Any] = {
        "measured": not tiny and jax.default_backend() != "cpu",
        "tiny": tiny,
        "complete": False,
        "device": str(dev),
        "device_kind": dev.device_kind,
        "backend": jax.default_backend(),
        "versions": versions(torch),
        "settings": {
            "XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"),
            "jax_compilation_cache": False,
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,  # type: ignore[attr-defined]
            "torch_cudnn_benchmark": None if device is None else device.type == "cuda",
            "torch_cudnn_allow_tf32": None if torch is None else torch.backends.cudnn.allow_tf32,
        },
        "budget_s": budget_s,
        "sizes": dataclasses.asdict(sizes),
        "cells": {"CELL_A": CELL_A, "CELL_B": CELL_B},
        "throughput": {},
    }
    cells = {"CELL_A": CELL_A, "CELL_B": CELL_B}
    data = random_data(sizes.batch * 8)
    tp = res["throughput"]
    key = jax.random.key(0)

    def flush(part: str) -> None:
        res["elapsed_s"] = round(budget.elapsed(), 1)
        _log(f"{part} done", budget)
        if out is not None:
            atomic_write_text(out, json.dumps(res, indent=1))

    def reserve() -> float:
        """The fidelity part's estimate: two cells at a time (compiles overlap), their steps at half
        CELL_A's (XLA's cost analysis: the fidelity cells take 0.29-0.87 TFLOP a step, CELL_A 2.77).
        Nothing is reserved before the first JAX measurement: its numbers make the estimates."""
        if not measured:
            return 0.0
        fixed = est["compile"] + est["init"] + est["eval"]
        return est["data"] + sizes.n_fidelity * (fixed + (sizes.fidelity_steps or 625) * est["step"]) / 2

    def attempt(need: float, fn: Callable[..., dict], *args: Any, keep: float = 0.0, **kw: Any) -> dict:
        why = budget.check(need, keep)
        return {"skipped": why} if why else _guarded(fn, *args, **kw)

    per_arch = est["compile"] + 2 * (est["init"] + sizes.steps * est["step"])

    # --- PyTorch, eager: cheap, first, so its allocator is emptied before JAX takes memory
    if device is None:
        tp["torch"] = {"skipped": device_why}
    else:
        torch.backends.cudnn.benchmark = True
        rows = []
        for name, dtype in CONFIGS:
            cfg = train_config(sizes, steps=sizes.steps, dtype=dtype)
            need = 2 * sizes.steps * est["step"] + est["init"]
            rows.append({"cell": name, **attempt(need, torch_rate, torch, device, cells[name], cfg, data, 0)})
        tp["torch"] = {"device": str(device), "eager": rows}
        if device.type == "cuda":
            torch.cuda.empty_cache()
    flush("torch eager")

    # --- JAX, per-architecture network; its measurements replace the guesses
    rows = []
    for name, dtype in CONFIGS:
        cfg = train_config(sizes, steps=sizes.steps, dtype=dtype)
        rows.append({"cell": name, **attempt(per_arch, jax_rate, cells[name], cfg, data, key, keep=reserve())})
        done = [r for r in rows if "compile_s" in r]
        if done:  # steps: bf16's, the fidelity's dtype on an accelerator
            est.update({k: max(r[f"{k}_s"] for r in done) for k in ("compile", "init")})
            est["step"] = max([r["step_s"] for r in done if r["dtype"] == "bfloat16"] or [est["step"]])
            measured = True
            per_arch = est["compile"] + 2 * (est["init"] + sizes.steps * est["step"])
    tp["jax"] = rows
    if "eager" in tp["torch"]:
        tp["jax_over_torch"] = [
            {"cell": j["cell"], "dtype": j["dtype"], "images_per_s": _num(j["images_per_s"] / t["images_per_s"], 3)}
            for j, t in zip(rows, tp["torch"]["eager"])
            if j.get("images_per_s") and t.get("images_per_s")
        ]
    flush("jax per-architecture")

    # --- the same weights in both frameworks, on this device
    if device is None:
        res["equivalence"] = {"skipped": device_why}
    else:
        need = est["compile"] / 2 + est["init"]
        args = (torch, device, CELL_A, train_config(sizes), data, sizes.equivalence_batch, key)
        res["equivalence"] = {"cell": "CELL_A", **attempt(need, equivalence, *args, keep=reserve())}
    flush("equivalence")

    # --- NAS-Bench-101's own 4-epoch numbers
    res["fidelity"] = _guarded(fidelity, sizes, data_dir, budget, est)
    flush("fidelity")

    # --- one compile for every cell: the masked network, then vmap over several cells
    cfg = train_config(sizes, steps=sizes.steps, dtype="bfloat16", compile_mode="masked")
    tp["masked"] = {"cell": "CELL_A", **attempt(3 * per_arch, jax_rate, CELL_A, cfg, data, key)}
    flush("masked")
    rng = np.random.default_rng(0)
    vcells = [CELL_A, CELL_B, *(S.random_spec(rng) for _ in range(sizes.vmap - 2))][: sizes.vmap]
    need = 3 * est["compile"] + 2 * sizes.vmap * sizes.steps * (tp["masked"].get("step_s") or 3 * est["step"])
    tp["vmap"] = attempt(need, jax_vmap_rate, vcells, cfg, data, key)
    flush("vmap")

    # --- torch.compile, last: its compile time is the least predictable
    if device is None:
        tp["torch_compile"] = {"skipped": device_why}
    elif tiny:
        tp["torch_compile"] = {"skipped": "--tiny: torch.compile takes longer than the whole tiny run"}
    else:
        cfg = train_config(sizes, steps=sizes.steps, dtype="bfloat16")
        need = est["torch_compile"] + 2 * sizes.steps * est["step"]
        targs = (torch, device, CELL_A, cfg, data, 0)
        tp["torch_compile"] = {"cell": "CELL_A", **attempt(need, torch_rate, *targs, compiled=True)}
    res["complete"] = True
    flush("all")
    return res


def data_folder(arg: str | None) -> str | None:
    """``--data-dir``; else, when ``$NASARENA_DATA`` is unset, ``../shared/data`` or ``shared/data``
    next to the repository where one exists (the Justfile's convention)."""
    if arg or os.environ.get("NASARENA_DATA"):
        return arg
    found = [p for p in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data") if p.is_dir()]
    return str(found[0]) if found else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="GPU check of the training path: throughput vs PyTorch, accuracy vs NB-101")
    p.add_argument("--tiny", action="store_true", help="tiny sizes on random images (2-3 CPU minutes)")
    p.add_argument("--out", default=str(OUT), help=f"the JSON written (default {OUT})")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="wall-clock seconds for the whole run")
    p.add_argument("--data-dir", default=None, help="folder holding cifar10-jpg/ and nasbench101-subset/")
    a = p.parse_args(argv)
    res = run(a.tiny, a.out, a.budget, data_folder(a.data_dir))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

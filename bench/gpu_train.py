"""The GPU check of the training path (issue 24), in one process, one JSON: how fast our jitted
JAX training step is against PyTorch's, and how close its 4-epoch accuracy is to NAS-Bench-101's.

    python -m bench.gpu_train [--tiny] [--out bench/gpu_train.json] [--budget 420] [--data-dir DIR]

The parts are in :mod:`bench.gpu_throughput` (throughput, equivalence) and :mod:`bench.gpu_fidelity`;
their sizes and the time budget in :mod:`bench.gpu_sizes`. The JSON:

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
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.gpu_fidelity import fidelity
from bench.gpu_sizes import FULL, GUESS, TINY, Budget, guarded, num, random_data, train_config
from bench.gpu_throughput import (
    CELL_A,
    CELL_B,
    CONFIGS,
    equivalence,
    import_torch,
    jax_rate,
    jax_vmap_rate,
    torch_device,
    torch_rate,
    versions,
)

OUT = Path(__file__).parent / "gpu_train.json"
ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 420.0


def _log(msg: str, budget: Budget) -> None:
    print(f"[gpu_train {budget.elapsed():6.1f}s] {msg}", file=sys.stderr, flush=True)


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
        return {"skipped": why} if why else guarded(fn, *args, **kw)

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
            {"cell": j["cell"], "dtype": j["dtype"], "images_per_s": num(j["images_per_s"] / t["images_per_s"], 3)}
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
    res["fidelity"] = guarded(fidelity, sizes, data_dir, budget, est)
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

"""Speed of the jitted training path on this machine: proxies, the two ways to compile, vmap.

:func:`run` reports four sections (random uint8 32x32x3 inputs, 10 classes, float32 on the CPU,
augmentation on; no data needed):

* ``nb101_proxy``: the NB-101 network of a fixed 5-vertex cell at the small proxy size (C = 16,
  1 stack of 1 cell, batch 64, RMSProp as NB-101): ``compile_s`` (ahead-of-time compile of its
  train and eval steps), ``steps_per_s`` / ``images_per_s`` after the compile, their CPU-time
  twins (``compile_cpu_s``, ``steps_per_cpu_s``: this process's CPU seconds, all threads, which a
  shared machine inflates much less than wall time; on an idle 2-core machine wall-clock steps/s
  is up to ~2x ``steps_per_cpu_s``), ``params``.
* ``nb201_compile_ways``: the NB-201 CPU proxy (:func:`~nasbench.train.trainer.nb201_proxy_config`:
  C = 8, N = 1, 3 stages, batch 64, SGD Nesterov) trained for ``steps`` steps on each of ``cells``
  different cells, once per way: ``per_arch`` (one compile per cell), ``masked`` (one compile
  for all; every edge computes all 5 ops) and ``switched`` (one compile for all; each edge runs
  only its chosen op). Per way: compile seconds (the per-arch one averaged
  over the cells; the masked one paid once), parameter-initialisation seconds (eager, per cell),
  seconds per step (mean over cells), wall and CPU. Then the break-even number of training steps
  per architecture, from ``compile_arch + S * t_arch = compile_masked / n + init_masked + S *
  t_masked`` for a search of ``n`` architectures (``compile_arch``: a cell's compile plus its
  init): ``S*(n) = (compile_arch - init_masked - compile_masked / n) / (t_masked - t_arch)``;
  ``break_even_steps_1`` (n = 1, one architecture; ``None``: no step count balances them, the
  per-architecture way is cheaper at every one), ``break_even_steps_20`` and
  ``break_even_steps_search`` (n -> infinity). Below ``S*`` steps per architecture the masked
  network is cheaper; the
  proxy trains ``proxy_steps_per_arch`` (1 epoch of 5,000 images at batch 64);
  ``cpu_s_per_arch_search`` is each way's CPU seconds per architecture of a long search at that
  many steps, and ``choice`` the cheapest.
* ``compile_counts_20_cells``: a search of 20 different NB-201 cells with a tiny network (C = 2,
  1 stage of 1 cell, 8x8 inputs, 1 step): :func:`~nasbench.train.trainer.compile_count` increments
  and XLA backend compiles of the train step (JAX's monitoring events,
  :func:`~nasbench.train.trainer.count_xla_compiles`) per way, and the search's wall time.
* ``vmap``: :func:`~nasbench.train.trainer.train_many` of ``vmap_cells`` NB-201 proxy cells at
  once against the masked step of one cell: seconds per step and architecture-steps per second.

``gpu_full_nb101`` is **not measured here** (no accelerator on the machine this was written on):
``python -m bench.gpu_train`` (``just gpu-check``) on a GPU machine runs the whole prepared check
(JAX bf16/fp32 against the PyTorch reference network, masked and vmapped networks, fidelity to
NB-101's 4-epoch accuracies) and writes ``bench/gpu_train.json``; :func:`run` calls it itself when
JAX's backend is a GPU.
"""

from __future__ import annotations

import time

import numpy as np

from bench import gpu_train
from bench.gpu_sizes import CELL


def _random_data(n: int, side: int = 32, classes: int = 10, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8),
        "train_y": rng.integers(0, classes, n),
    }


def nb101_proxy(steps: int = 30, batch: int = 64, channels: int = 16) -> dict:
    import jax

    from nasbench.train import networks, trainer

    data = _random_data(batch * 4)
    cfg = trainer.proxy_config(channels=channels, batch_size=batch, steps=steps, dtype="float32")
    c0 = time.process_time()
    r = trainer.train_and_evaluate(CELL, data, cfg, jax.random.key(0))
    cpu_total = time.process_time() - c0
    model = trainer.build_network(CELL, cfg)
    params = jax.eval_shape(lambda: model.init(jax.random.key(0), jax.numpy.zeros((1, 32, 32, 3)), train=False))[
        "params"
    ]
    return {
        "config": f"C={channels}, 1 stack x 1 cell, batch {batch}, 32x32x3, float32, {jax.default_backend()}",
        "params": networks.parameter_count(params),
        "compile_s": round(r["compile_time"], 3),
        "steps": steps,
        "steps_per_s": round(steps / r["train_time"], 3),
        "images_per_s": round(steps * batch / r["train_time"], 1),
        "compile_cpu_s": round(r["compile_cpu_time"], 3),
        "steps_per_cpu_s": round(steps / r["train_cpu_time"], 3),
        "process_cpu_s_total": round(cpu_total, 2),
        "final_loss": float(r["losses"][-1]),
    }


def sample_nb201_cells(n: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``n`` distinct NB-201 genotypes drawn uniformly (numpy ``seed``)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(15625, size=n, replace=False)
    from nasbench.spaces.nb201 import index_to_genotype

    return [tuple(int(v) for v in g) for g in index_to_genotype(idx)]


def _break_even(
    c_arch: float, c_masked: float, t_arch: float, t_masked: float, n: float, i_masked: float = 0.0
) -> float | None:
    """Steps per architecture where both ways cost the same for a search of ``n`` architectures
    (``c_arch``: compile and init of a new architecture; ``i_masked``: the masked network's init
    per architecture); ``None`` when no step count balances them (per-arch is cheaper at every
    step count, or the masked step is not slower)."""
    dt = t_masked - t_arch
    gain = c_arch - i_masked - (c_masked / n if n != float("inf") else 0.0)
    if dt <= 0 or gain <= 0:
        return None
    return round(gain / dt, 1)


def nb201_compile_ways(cells: int = 4, steps: int = 20, batch: int = 64) -> dict:
    import jax

    from nasbench.train import trainer

    data = _random_data(batch * 4)
    genotypes = sample_nb201_cells(cells, seed=1)
    out: dict = {
        "config": f"NB-201 proxy: C=8, N=1, 3 stages, batch {batch}, 32x32x3, float32, {jax.default_backend()}",
        "cells": [list(g) for g in genotypes],
        "steps": steps,
    }
    # warm the eager initialisation ops once, so neither way pays their one-time compiles
    warm = trainer.nb201_proxy_config(steps=1, batch_size=batch, dtype="float32")
    model = trainer.build_masked_network(warm)
    trainer.init_state(
        model, trainer.make_optimizer(warm, 1), jax.random.key(0), (32, 32, 3), trainer.arch_arrays(genotypes[0], warm)
    )
    for g in genotypes:
        trainer.init_state(
            trainer.build_network(g, warm), trainer.make_optimizer(warm, 1), jax.random.key(0), (32, 32, 3)
        )
    for mode in ("per_arch", "masked", "switched"):
        cfg = trainer.nb201_proxy_config(steps=steps, batch_size=batch, dtype="float32", compile_mode=mode)
        rows = []
        for g in genotypes:
            r = trainer.train_and_evaluate(g, data, cfg, jax.random.key(0))
            rows.append(r)
        compiles = [r["compile_time"] for r in rows if r["compile_time"] > 0]
        compiles_cpu = [r["compile_cpu_time"] for r in rows if r["compile_time"] > 0]
        out[mode] = {
            "compiles": len(compiles),
            "compile_s": round(float(np.mean(compiles)), 3),
            "compile_cpu_s": round(float(np.mean(compiles_cpu)), 3),
            "init_s": round(float(np.mean([r["init_time"] for r in rows])), 3),
            "step_s": round(float(np.mean([r["train_time"] / steps for r in rows])), 4),
            "step_cpu_s": round(float(np.mean([r["train_cpu_time"] / steps for r in rows])), 4),
            "step_s_per_cell": [round(r["train_time"] / steps, 4) for r in rows],
            "steps_per_s": round(float(steps / np.mean([r["train_time"] for r in rows])), 3),
        }
    pa, mk = out["per_arch"], out["masked"]
    for unit, c_key, t_key in (("wall", "compile_s", "step_s"), ("cpu", "compile_cpu_s", "step_cpu_s")):
        c_arch = pa[c_key] + pa["init_s"]  # a new architecture pays its compile and its init
        c_masked = mk[c_key]
        t_arch, t_masked = pa[t_key], mk[t_key]
        i_mk = mk["init_s"]
        out[f"break_even_{unit}"] = {
            "break_even_steps_1": _break_even(c_arch, c_masked, t_arch, t_masked, 1, i_mk),
            "break_even_steps_20": _break_even(c_arch, c_masked, t_arch, t_masked, 20, i_mk),
            "break_even_steps_search": _break_even(c_arch, c_masked, t_arch, t_masked, float("inf"), i_mk),
            "masked_step_cost_ratio": round(t_masked / t_arch, 2),
        }
    proxy_steps = trainer.nb201_proxy_config().total_steps(5000)
    out["proxy_steps_per_arch"] = proxy_steps
    # CPU seconds per architecture of a long search at the proxy's steps: a new architecture pays its
    # compile and init per_arch; one-program modes pay their init and nothing for the compile
    out["cpu_s_per_arch_search"] = {
        "per_arch": round(pa["compile_cpu_s"] + pa["init_s"] + proxy_steps * pa["step_cpu_s"], 2),
        **{m: round(out[m]["init_s"] + proxy_steps * out[m]["step_cpu_s"], 2) for m in ("masked", "switched")},
    }
    out["switched_step_cost_ratio"] = round(out["switched"]["step_cpu_s"] / pa["step_cpu_s"], 2)
    out["choice"] = min(out["cpu_s_per_arch_search"], key=out["cpu_s_per_arch_search"].get)
    return out


def compile_counts_20_cells(n: int = 20) -> dict:
    import jax

    from nasbench.train import trainer

    data = _random_data(16, side=8, classes=2)
    genotypes = sample_nb201_cells(n, seed=2)
    out: dict = {"config": "NB-201, C=2, 1 stage of 1 cell, 8x8x3, batch 8, 1 step", "cells": n}
    for mode in ("per_arch", "masked"):
        cfg = trainer.nb201_tiny_config(eval_batch_size=8, augment=True, compile_mode=mode)
        before = trainer.compile_count()
        t0, c0 = time.perf_counter(), time.process_time()
        with trainer.count_xla_compiles() as counts:
            for g in genotypes:
                trainer.train_and_evaluate(g, data, cfg, jax.random.key(0))
        out[mode] = {
            "compile_count_increase": trainer.compile_count() - before,
            "xla_train_step_compiles": counts["train_step"],
            "xla_compiles_all": counts["all"],
            "search_wall_s": round(time.perf_counter() - t0, 2),
            "search_cpu_s": round(time.process_time() - c0, 2),
        }
    return out


def vmap_speed(cells: int = 2, steps: int = 10, batch: int = 64) -> dict:
    import jax

    from nasbench.train import trainer

    data = _random_data(batch * 4)
    genotypes = sample_nb201_cells(cells, seed=3)
    cfg = trainer.nb201_proxy_config(steps=steps, batch_size=batch, dtype="float32", compile_mode="masked")
    one = trainer.train_and_evaluate(genotypes[0], data, cfg, jax.random.key(0))
    many = trainer.train_many(genotypes, data, cfg, [jax.random.key(k) for k in range(cells)])
    t_one = one["train_time"] / steps
    t_many = many[0]["train_time"] * cells / steps  # train_time is the batch's share per architecture
    return {
        "config": f"NB-201 proxy (masked), {cells} cells at once, batch {batch}",
        "vmap_cells": cells,
        "masked_step_s": round(t_one, 4),
        "vmapped_step_s": round(t_many, 4),
        "arch_steps_per_s_single": round(1 / t_one, 3),
        "arch_steps_per_s_vmapped": round(cells / t_many, 3),
        "vmap_compile_s": round(many[0]["compile_time"] * cells, 2),
    }


def run() -> dict:
    import jax

    res: dict = {
        "nb101_proxy": nb101_proxy(),
        "nb201_compile_ways": nb201_compile_ways(),
        "compile_counts_20_cells": compile_counts_20_cells(),
        "vmap": vmap_speed(),
    }
    if jax.default_backend() == "gpu":
        res["gpu_full_nb101"] = gpu_train.run()
    else:
        res["gpu_full_nb101"] = {
            "measured": False,
            "why": f"no GPU here (backend {jax.default_backend()})",
            "how": "python -m bench.gpu_train  (on a machine with a GPU; writes bench/gpu_train.json)",
        }
    return res


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    only = sys.argv[1:] or ["nb101_proxy", "nb201_compile_ways", "compile_counts_20_cells", "vmap"]
    fns = {
        "nb101_proxy": nb101_proxy,
        "nb201_compile_ways": nb201_compile_ways,
        "compile_counts_20_cells": compile_counts_20_cells,
        "vmap": vmap_speed,
    }
    print(json.dumps({k: fns[k]() for k in only}, indent=2))

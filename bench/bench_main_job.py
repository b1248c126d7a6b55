"""The costs behind `just run-all` and the search-until-optimum protocol (issue 44).

* ``stop_protocol``: random search and evolution, 100 seeds to the optimum of nb201-cifar10 at the
  reproduction suite's cap (7,812), as one vectorised computation (compile included, nothing
  cached) against the ask/tell loop (seconds per trial over a few seeds, times 100); the records of
  those seeds must be equal but for their wall time.
* ``nao_step``: NAO's optimiser step on NAS-Bench-101's 27 tokens (hidden 64, batch 100, the first
  round of ``nao:small``: 75 rows), in ms, beside its floating-point work (XLA's count of one
  step, the 27-step scan bodies counted 27 times) and the machine's matmul rate under XLA's default
  threading (all cores; a process-pool worker has one): the floor no code change reaches without
  changing the training.
* ``alphax_nb101``: AlphaX (v3) seconds per trial at 150 queries on nb101-30k, seeds 0-5.

Needs the NB-101 30k subset for the last two (skipped without it). Measured on one core; say what
else ran.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

ASK_TELL_SEEDS = 3


def _stop_protocol() -> dict[str, Any]:
    from experiments.harness import runner
    from experiments.harness.spec import TrialSpec
    from nasbench.registry import get_benchmark

    bench = get_benchmark("nb201-cifar10")
    out: dict[str, Any] = {"benchmark": "nb201-cifar10", "cap": 7812, "seeds": 100, "stop": "optimum"}
    for name in ("random-search", "regularized-evolution"):
        specs = [TrialSpec(bench.name, name, s, 7812, stop="optimum") for s in range(100)]
        runner._VECTOR_CACHE.clear()
        t0 = time.perf_counter()
        vec = runner.run_vectorized(specs, bench)
        vec_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = [runner.run_trial(s, bench) for s in specs[:ASK_TELL_SEEDS]]
        loop_s = (time.perf_counter() - t0) / ASK_TELL_SEEDS
        same = all({k: v for k, v in a.items() if k != "wall_time"} == {k: v for k, v in b.items() if k != "wall_time"}
                   for a, b in zip(vec, loop))
        out[name] = {"vectorised_100_seeds_s": round(vec_s, 2), "ask_tell_s_per_trial": round(loop_s, 2),
                     "ask_tell_100_seeds_s_estimated": round(100 * loop_s, 1),
                     "found_optimum": sum(r["stopped"] for r in vec),
                     "mean_samples": round(float(np.mean([len(r["arch"]) for r in vec])), 1),
                     f"records_equal_seeds_0_{ASK_TELL_SEEDS - 1}": same}
    return out


def _nao_step() -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    from strategies.models.seq2seq import ModelConfig, Seq2Seq, TrainConfig, joint_loss

    mc, tc = ModelConfig(7, 27), TrainConfig()
    s = Seq2Seq(mc, tc)
    params = s.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    tok = jnp.asarray(rng.integers(1, 7, (100, 27)), jnp.int32)
    tgt = jnp.asarray(rng.normal(size=100), jnp.float32)
    epochs = 200
    jax.block_until_ready(s.fit(params, tok, tgt, 75, jax.random.key(1), 2))  # compile
    t0 = time.perf_counter()
    jax.block_until_ready(s.fit(params, tok, tgt, 75, jax.random.key(1), epochs))
    ms = 1000 * (time.perf_counter() - t0) / epochs
    grad = jax.jit(jax.value_and_grad(functools.partial(joint_loss, s.train_model, tc.trade_off), has_aux=True))
    cost = grad.lower(params, tok, tgt, jnp.ones(100), jax.random.key(1)).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # XLA counts each scan body once: add the other 26 steps of the encoder's and decoder's
    # recurrences (forward and backward: 3 matmuls of [B, H] x [H, 4H] per step and direction)
    b, h = 100, mc.hidden
    recurrent = 3 * 2 * b * h * 4 * h * (2 + 1) * (mc.length - 1)
    flops = float(cost["flops"]) + recurrent
    a, w = jnp.ones((2700, 64)), jnp.ones((64, 512))
    # the scale by (1 + i * 1e-9) keeps XLA from hoisting the loop-invariant matmul out of the loop
    mm = jax.jit(lambda a, w: jax.lax.fori_loop(0, 50, lambda i, c: c + (a * (1.0 + i * 1e-9)) @ w,
                                                jnp.zeros((2700, 512))))
    jax.block_until_ready(mm(a, w))
    t0 = time.perf_counter()
    jax.block_until_ready(mm(a, w))
    gflops = 50 * 2 * 2700 * 64 * 512 / (time.perf_counter() - t0) / 1e9
    return {"ms_per_step": round(ms, 1), "rows": 75, "batch": 100, "tokens": 27, "hidden": 64,
            "gflop_per_step": round(flops / 1e9, 2),
            # XLA's default threading: every core of the machine (a pool worker runs on one)
            "matmul_gflops_xla_default_threads": round(gflops, 1),
            "floor_ms_at_that_rate": round(flops / 1e9 / gflops * 1000, 1)}


def _alphax_nb101() -> dict[str, Any]:
    import nasarena

    bench = nasarena.benchmark("nb101-30k")
    nasarena.run("alphax", bench, seed=29, budget=20)  # Meta-DNN compile and the space's caches
    walls = []
    for seed in range(6):
        t0 = time.perf_counter()
        nasarena.run("alphax", bench, seed=seed, budget=150)
        walls.append(time.perf_counter() - t0)
    return {"budget": 150, "seeds": "0-5", "s_per_trial": [round(w, 1) for w in walls],
            "mean_s": round(float(np.mean(walls)), 1)}


def run() -> dict[str, Any]:
    from nasbench.data import DataNotFound

    out: dict[str, Any] = {"stop_protocol": _stop_protocol()}
    try:
        out["alphax_nb101"] = _alphax_nb101()
    except DataNotFound as exc:
        out["alphax_nb101"] = {"skipped": str(exc).splitlines()[0]}
    out["nao_step"] = _nao_step()
    return out

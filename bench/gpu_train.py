"""Throughput of the full-size NB-101 network on an accelerator (**not measured** where this was
written: no GPU there).

    python -m bench.gpu_train [--steps 50] [--batch 256] [--out bench/gpu_train.json]

Trains the NAS-Bench-101 network of a fixed cell (:data:`bench.bench_train.CELL`) at the full size
(C = 128, 3 stacks of 3 cells, 10 classes, 32x32x3 inputs) with NB-101's training step (RMSProp,
cosine schedule, weight decay, on-device crop + flip augmentation) on random uint8 data held on
the device, in the backend's default dtype (bf16 on GPU/TPU, float32 on CPU), and reports:

* ``compile_s``: ahead-of-time compile of the train and eval steps (one new architecture);
* ``images_per_s`` / ``steps_per_s``: after the compile, over ``steps`` steps of a second run
  (the first run's steps include one-off warm-up), batch ``batch``;
* the device, dtype and parameter count.

Runs anywhere (on a CPU it is slow: about a second per step per core at C = 128). The
PyTorch comparison the issue asks for is not implemented here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "gpu_train.json"


def run(steps: int = 50, batch: int = 256, channels: int = 128) -> dict:
    import jax

    from bench.bench_train import CELL
    from nasbench.train import networks, trainer

    rng = np.random.default_rng(0)
    n = batch * 8
    data = {"train_x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), "train_y": rng.integers(0, 10, n)}
    cfg = trainer.nb101_config(steps=steps, batch_size=batch, channels=channels)
    t0 = time.perf_counter()
    first = trainer.train_and_evaluate(CELL, data, cfg, jax.random.key(0))
    second = trainer.train_and_evaluate(CELL, data, cfg, jax.random.key(1))
    model = trainer.build_network(CELL, cfg)
    params = jax.eval_shape(lambda: model.init(jax.random.key(0), jax.numpy.zeros((1, 32, 32, 3)), train=False))
    return {
        "measured": True,
        "device": str(jax.devices()[0]),
        "backend": jax.default_backend(),
        "dtype": str(np.dtype(model.dtype)),
        "config": f"NB-101 C={channels}, 3 stacks x 3 cells, batch {batch}, 32x32x3",
        "params": networks.parameter_count(params["params"]),
        "compile_s": round(first["compile_time"], 2),
        "steps": steps,
        "steps_per_s": round(steps / second["train_time"], 2),
        "images_per_s": round(steps * batch / second["train_time"], 1),
        "first_run_images_per_s": round(steps * batch / first["train_time"], 1),
        "total_s": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="full-size NB-101 training throughput")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)
    res = run(a.steps, a.batch, a.channels)
    from nasbench.data import atomic_write_text

    atomic_write_text(a.out, json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Speed of the jitted training path on this machine's CPU (the small NB-101 proxy).

:func:`run` trains the NB-101 network of a fixed 5-vertex cell (conv3x3, conv1x1, maxpool, with
an input-to-output edge) at the small proxy size (C = 16, 1 stack of 1 cell, batch 64, 32x32x3
random uint8 inputs, 10 classes, float32, RMSProp as NB-101, augmentation on) and reports

* ``compile_s``: wall time of the ahead-of-time compile of its train and eval steps (the cost of
  one new architecture in the "one compile per distinct architecture" way);
* ``steps_per_s`` / ``images_per_s``: training steps (and images) per second after the compile,
  over ``steps`` steps (the loss is fetched at the end only);
* ``compile_cpu_s`` / ``steps_per_cpu_s``: the same over this process's CPU time (all threads),
  which a machine shared with other jobs inflates much less than wall time; on an idle 2-core
  machine wall-clock steps/s is up to ~2x ``steps_per_cpu_s`` (XLA uses both cores);
* ``process_cpu_s_total``: this process's CPU time for the whole call (init, compile, steps);
* ``params``: trainable parameters of the proxy network.

No data are needed (random images); nothing here uses an accelerator.
"""

from __future__ import annotations

import time

import numpy as np

CELL = (
    [[0, 1, 1, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"],
)


def run(steps: int = 30, batch: int = 64, channels: int = 16) -> dict:
    import jax

    from nasbench.train import networks, trainer

    rng = np.random.default_rng(0)
    n = batch * 4
    data = {"train_x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), "train_y": rng.integers(0, 10, n)}
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


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))

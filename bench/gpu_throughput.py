"""The GPU check's throughput and equivalence parts, run by :mod:`bench.gpu_train` (whose docstring
says what each field of their JSON means): our jitted JAX training step (per-architecture, masked and
vmapped networks) and the PyTorch reference (:mod:`bench.torch_nb101`), eager and compiled, timed
on the same device and random images; and the largest logit difference of the two networks with
the same weights.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from typing import Any

import numpy as np

from bench.gpu_sizes import CELL as CELL_A  # noqa: F401 - CONFIGS names it; gpu_train and tests take it from here
from bench.gpu_sizes import num
from nasbench.spaces.nb101 import EXAMPLE_CELL

CELL_B = EXAMPLE_CELL  # the Inception-like example cell of the official NAS-Bench-101 README
#: (cell name, dtype) of the per-architecture throughput configs, in order of priority.
CONFIGS = (("CELL_A", "bfloat16"), ("CELL_A", "float32"), ("CELL_B", "bfloat16"))


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
        "compile_s": num(first["compile_time"], 2),
        "init_s": num(second["init_time"], 2),
        "steps": steps,
        "step_s": num(t / steps, 5),
        "steps_per_s": num(steps / t, 2),
        "images_per_s": num(steps * config.batch_size / t, 1),
        "first_run_images_per_s": num(steps * config.batch_size / first["train_time"], 1),
        "peak_bytes_so_far": jax_peak_bytes(),
        "final_loss": num(second["losses"][-1]),
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
        "compile_s": num(first[0]["compile_time"] * m, 2),
        "steps": steps,
        "step_s": num(t / steps, 5),
        "architecture_steps_per_s": num(m * steps / t, 2),
        "images_per_s": num(m * steps * config.batch_size / t, 1),
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
        "warmup_s": num(warm, 2),
        "steps": steps,
        "step_s": num(t / steps, 5),
        "steps_per_s": num(steps / t, 2),
        "images_per_s": num(steps * b / t, 1),
        "peak_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
        "final_loss": num(loss),
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

"""What a training run does: :class:`TrainConfig`, the NB-101 and NB-201 presets and CPU proxies.

**NB-101 defaults** (:class:`TrainConfig`, :func:`nb101_config`) follow NAS-Bench-101's official
training code (``model_builder.py``, ``config.py``): batch 256, base learning rate 0.2 (0.1 scaled
by the 2 TPU shards used there) with cosine decay by step and learning rate 0 at step 0, momentum
0.9, L2 weight decay 1e-4 on every trainable variable (``add_decayed_weights``, the gradient of
``1e-4 * sum(v**2) / 2``), no label smoothing, augmentation by a random crop of the 4-pixel
zero-padded image and a random horizontal flip, 108 epochs. The official optimiser is *RMSProp*
(decay 0.9, momentum 0.9, epsilon 1.0, mean-square slot initialised to 1, as TF1's
``RMSPropOptimizer``): ``optimizer="rmsprop"``, the default. ``optimizer="sgd"`` gives SGD with
momentum 0.9 (what the NB-101 paper's text and issue 9 name).

**NB-201 defaults** (:func:`nb201_config`) follow NAS-Bench-201's ``CIFAR-10`` config: SGD with
Nesterov momentum 0.9, learning rate 0.1 with cosine decay to 0 (by step, no warm-up; the rate at
step 0 is 0.1), weight decay 5e-4 on every parameter (PyTorch's L2 form), batch 256, 200 epochs,
C = 16, N = 5, the same crop-and-flip augmentation. :func:`nb201_proxy_config` is a CPU proxy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from nasbench.errors import UnknownName

#: CIFAR-10 per-channel mean and std of the 0..255 pixels (the usual training-set values).
CIFAR_MEAN = (125.307, 122.950, 113.865)
CIFAR_STD = (62.993, 62.089, 66.705)

SPACES = ("nb101", "nb201")
COMPILE_MODES = ("per_arch", "masked", "switched")
#: The compile mode of :func:`nb201_proxy_config`, chosen by the break-even measurement of
#: ``bench/bench_train.py`` on a 2-core CPU: the masked step costs ~2.4x the per-architecture one
#: and a per-architecture compile ~10 CPU s, so per-architecture compiles win above ~37 steps per
#: architecture; the proxy trains 78 per epoch (see the README's live-benchmark section).
NB201_PROXY_COMPILE_MODE = "per_arch"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What a training run does; ``steps`` (when set) overrides ``epochs``. Defaults: NB-101's."""

    epochs: float = 108.0
    steps: int | None = None
    batch_size: int = 256
    learning_rate: float = 0.2
    optimizer: str = "rmsprop"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    zero_lr_first_step: bool = True  # NB-101's schedule trains nothing at step 0
    augment: bool = True
    pad: int = 4
    channels: int = 128
    stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    dtype: str | None = None  # "float32", "bfloat16" or None: bf16 on accelerators, f32 on CPU
    eval_batch_size: int = 500
    space: str = "nb101"  # which network family: "nb101" or "nb201"
    compile_mode: str = "per_arch"  # "per_arch", "masked" or "switched" (NB-201 only; see nasbench.train.steps)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"TrainConfig.space must be one of {SPACES}, got {self.space!r}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"TrainConfig.compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")
        if self.compile_mode == "switched" and self.space != "nb201":
            raise ValueError("TrainConfig.compile_mode 'switched' exists for space nb201 only")

    def total_steps(self, n_train: int) -> int:
        if self.steps is not None:
            return int(self.steps)
        return max(1, int(self.epochs * n_train / self.batch_size))

    def key(self) -> str:
        """A stable text identity, for caches."""
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


NB201_DEFAULTS: dict[str, Any] = dict(
    epochs=200.0,
    batch_size=256,
    learning_rate=0.1,
    optimizer="sgd",
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    zero_lr_first_step=False,
    channels=16,
    stacks=3,
    cells_per_stack=5,
    space="nb201",
)


def nb101_config(**overrides: Any) -> TrainConfig:
    """NAS-Bench-101's training (the :class:`TrainConfig` defaults): C = 128, 108 epochs."""
    return TrainConfig(**overrides)


def proxy_config(**overrides: Any) -> TrainConfig:
    """A small NB-101 CPU proxy: C=16, 1 stack of 1 cell, batch 64, 1 epoch."""
    base: dict[str, Any] = dict(epochs=1.0, batch_size=64, channels=16, stacks=1, cells_per_stack=1)
    base.update(overrides)
    return TrainConfig(**base)


def nb201_config(**overrides: Any) -> TrainConfig:
    """NAS-Bench-201's training: C = 16, N = 5, SGD Nesterov 0.9, lr 0.1 cosine, wd 5e-4, batch 256,
    200 epochs."""
    return TrainConfig(**{**NB201_DEFAULTS, **overrides})


def nb201_proxy_config(**overrides: Any) -> TrainConfig:
    """A small NB-201 CPU proxy: NB-201's optimiser at C = 8, N = 1 (3 stages), batch 64, 1 epoch,
    compiled per architecture (:data:`NB201_PROXY_COMPILE_MODE`)."""
    base = {
        **NB201_DEFAULTS,
        "channels": 8,
        "cells_per_stack": 1,
        "batch_size": 64,
        "epochs": 1.0,
        "compile_mode": NB201_PROXY_COMPILE_MODE,
    }
    return TrainConfig(**{**base, **overrides})


def nb201_tiny_config(**overrides: Any) -> TrainConfig:
    """The smallest NB-201 network, for tests and benchmarks of the compile and training paths (not
    for ranking): C = 2, one stage of one cell, batch 8, one step, 2 classes, float32, no augmentation."""
    base: dict[str, Any] = dict(channels=2, stacks=1, cells_per_stack=1, batch_size=8, steps=1, num_classes=2,
                                eval_batch_size=16, dtype="float32", augment=False)
    return nb201_proxy_config(**{**base, **overrides})


PRESETS: dict[str, Callable[..., TrainConfig]] = {
    "nb101": nb101_config,
    "nb101-proxy": proxy_config,
    "nb201": nb201_config,
    "nb201-proxy": nb201_proxy_config,
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named config (:data:`PRESETS`) with ``overrides``."""
    if name not in PRESETS:
        raise UnknownName(f"unknown training preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name](**overrides)

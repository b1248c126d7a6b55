"""What the GPU check (:mod:`bench.gpu_train`) measures at which size, its time budget, and the
small helpers its parts share: :data:`FULL` (NB-101's own network and protocol) and :data:`TINY`
(``--tiny``: the same code in 2-3 CPU minutes); :class:`Budget`, the wall-clock seconds a part
starts in only when its estimate fits; :data:`GUESS`, the estimates before anything is measured.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# the reference NB-101 cell of the training benchmarks and the GPU check (5 vertices, every operation)
CELL = (
    [[0, 1, 1, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"],
)

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


def num(x: Any, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (``None`` for NaN or infinity)."""
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def guarded(fn: Callable[..., dict], *args: Any, **kw: Any) -> dict:
    """``fn(*args, **kw)``, or ``{"error": ...}`` when it raises (one failure keeps the others)."""
    try:
        return fn(*args, **kw)
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON, the run goes on
        return {"error": f"{type(exc).__name__}: {exc}"}


def random_data(n: int, seed: int = 0, side: int = 32) -> dict[str, np.ndarray]:
    """``n`` random uint8 ``side x side x 3`` images and labels of 10 classes (numpy seed ``seed``)."""
    rng = np.random.default_rng(seed)
    return {"train_x": rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), "train_y": rng.integers(0, 10, n)}


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

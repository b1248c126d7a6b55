"""A PyTorch reference of the NAS-Bench-101 network and training step, for ``bench/gpu_train.py``.

The same network as :class:`nasbench.train.networks.NB101Network` (the per-architecture one), which
follows the official ``nasbench/lib/model_builder.py`` and ``base_ops.py`` (Ying et al., 2019,
github.com/google-research/nasbench): 3x3 conv-BN-ReLU stem; stacks of cells with a 2x2 max-pool
and doubled channels before every stack but the first; global average pool; dense classifier.
Inside a cell: :func:`~nasbench.train.networks.compute_vertex_channels`, a vertex's input the sum
of its interior predecessors truncated to its channel count then the 1x1 conv-BN-ReLU projection
of the cell input, ops conv3x3 / conv1x1 (conv-BN-ReLU, no bias) and maxpool3x3 (stride 1), the
output the concatenation of the vertices feeding it plus the input's projection when the input
feeds the output. BatchNorm: momentum 0.997 (PyTorch's ``momentum`` is ``1 - 0.997``), epsilon
1e-5; convolutions are initialised as TF's ``variance_scaling_initializer`` (fan-in, truncated
normal), the classifier Glorot-uniform with zero bias, as the Flax network.

Module names are the Flax module's (``stem``, ``stack0_cell0.vertex_1_conv3x3``, ``classifier``),
so :func:`load_flax_variables` copies Flax weights by name; ``tests/test_gpu_check.py`` checks
that the two networks then give the same outputs and take the same training steps.

The training step is :func:`nasbench.train.trainer.make_train_step`'s with NB-101's official
optimiser (:func:`nasbench.train.trainer.make_optimizer`): L2 weight decay added to the gradient,
then RMSProp as TF1's ``RMSPropOptimizer`` (decay 0.9, epsilon 1.0 inside the square root, mean
square initialised to 1, momentum 0.9 on the learning-rate-scaled update), the cosine schedule by
step with learning rate 0 at step 0, softmax cross-entropy, per-image random crop of the 4-pixel
zero-padded (normalised) image and random horizontal flip, on device-resident uint8 images.

One known difference: ``BatchNorm2d`` keeps the *unbiased* batch variance in its running estimate,
Flax the biased one, so after training the eval-time variances differ by a factor up to
``n / (n - 1)`` (``n`` = batch x height x width, >= 16,384 at full size). Training-mode outputs
and every parameter are unaffected.

Torch is not a dependency of nasarena: import this module only where torch is installed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from flax.traverse_util import flatten_dict
from torch import nn

from nasbench.spaces.nb101 import CONV1X1, CONV3X3, MAXPOOL3X3, canonical_cell
from nasbench.train.networks import BN_EPSILON, BN_MOMENTUM, compute_vertex_channels
from nasbench.train.trainer import CIFAR_MEAN, CIFAR_STD, TrainConfig

#: std of a standard normal truncated to [-2, 2] (TF's ``truncated_normal`` correction)
_TRUNC_STD = 0.87962566103423978


class ConvBNReLU(nn.Module):
    """Conv (no bias, same padding, stride 1) -> BatchNorm -> ReLU (``base_ops.conv_bn_relu``)."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPSILON, momentum=1.0 - BN_MOMENTUM)
        std = math.sqrt(1.0 / (cin * kernel * kernel)) / _TRUNC_STD
        nn.init.trunc_normal_(self.conv.weight, std=std, a=-2 * std, b=2 * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Cell(nn.Module):
    """One NAS-Bench-101 module of a *pruned* cell, ``cin`` channels in, ``channels`` out."""

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], cin: int, channels: int):
        super().__init__()
        self.m = np.asarray(matrix)
        self.ops = list(ops)
        v = len(self.ops)
        self.vch = compute_vertex_channels(cin, channels, self.m)
        kernels = {CONV3X3: ("conv3x3", 3), CONV1X1: ("conv1x1", 1)}
        for t in range(1, v - 1):
            if self.m[0, t]:
                self.add_module(f"vertex_{t}_projection", ConvBNReLU(cin, self.vch[t], 1))
            if self.ops[t] in kernels:
                name, k = kernels[self.ops[t]]
                self.add_module(f"vertex_{t}_{name}", ConvBNReLU(self.vch[t], self.vch[t], k))
            elif self.ops[t] != MAXPOOL3X3:
                raise ValueError(f"NB101 cell: unsupported op {self.ops[t]!r} at vertex {t}")
        if self.m[0, v - 1] or v == 2:
            self.output_projection = ConvBNReLU(cin, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, v = self.m, len(self.ops)
        tensors, concat_in = [x], []
        for t in range(1, v - 1):
            add_in = [tensors[s][:, : self.vch[t]] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                add_in.append(getattr(self, f"vertex_{t}_projection")(x))
            h = sum(add_in[1:], add_in[0])
            if self.ops[t] == MAXPOOL3X3:
                h = F.max_pool2d(h, 3, stride=1, padding=1)
            else:
                h = getattr(self, f"vertex_{t}_{'conv3x3' if self.ops[t] == CONV3X3 else 'conv1x1'}")(h)
            tensors.append(h)
            if m[t, v - 1]:
                concat_in.append(h)
        if not concat_in:
            return self.output_projection(x)
        out = torch.cat(concat_in, dim=1) if len(concat_in) > 1 else concat_in[0]
        return out + self.output_projection(x) if m[0, v - 1] else out


class Network(nn.Module):
    """The NAS-Bench-101 network of a cell (validated and pruned first), NCHW input."""

    def __init__(
        self,
        matrix: Any,
        ops: Sequence[str],
        channels: int = 128,
        stacks: int = 3,
        cells_per_stack: int = 3,
        num_classes: int = 10,
    ):
        super().__init__()
        m, pops = canonical_cell(matrix, ops)
        self.stacks, self.cells_per_stack = stacks, cells_per_stack
        self.stem = ConvBNReLU(3, channels, 3)
        cin = ch = channels
        for s in range(stacks):
            ch = channels * 2**s
            for c in range(cells_per_stack):
                self.add_module(f"stack{s}_cell{c}", Cell(m, pops, cin, ch))
                cin = ch
        self.classifier = nn.Linear(ch, num_classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for s in range(self.stacks):
            if s > 0:
                x = F.max_pool2d(x, 2, stride=2)
            for c in range(self.cells_per_stack):
                x = getattr(self, f"stack{s}_cell{c}")(x)
        return self.classifier(x.mean(dim=(2, 3))).float()


def network(cell: Any, config: TrainConfig) -> Network:
    """The network of an NB-101 ``(matrix, ops)`` cell at ``config``'s sizes."""
    matrix, ops = cell
    return Network(matrix, ops, config.channels, config.stacks, config.cells_per_stack, config.num_classes)


def parameter_count(model: nn.Module) -> int:
    """Trainable scalars (conv kernels, BN scales and offsets, classifier), as the Flax count."""
    return sum(p.numel() for p in model.parameters())


_SUBMODULE = {"Conv_0": "conv", "BatchNorm_0": "bn"}
_LEAF = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


def load_flax_variables(model: Network, variables: Any) -> Network:
    """Copy the Flax ``NB101Network`` variables (``params``, ``batch_stats``) into ``model``.

    Conv kernels HWIO -> OIHW, dense kernels ``[in, out]`` -> ``[out, in]``; every parameter and
    statistic of ``model`` must receive a value (raises ``RuntimeError`` naming what is missing
    or left over), so a successful copy also proves the two networks have the same structure.
    """
    state = {}
    for coll in ("params", "batch_stats"):
        for path, value in flatten_dict(variables.get(coll, {})).items():
            *mods, leaf = path
            a = np.asarray(value, np.float32)
            if leaf == "kernel":
                a = a.transpose(3, 2, 0, 1) if a.ndim == 4 else a.T
            state[".".join([*(_SUBMODULE.get(m, m) for m in mods), _LEAF[coll, leaf]])] = torch.from_numpy(a.copy())
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"Flax -> torch: missing {missing}, unexpected {result.unexpected_keys}")
    return model


def learning_rate(config: TrainConfig, total_steps: int, step: int) -> float:
    """:func:`nasbench.train.trainer.learning_rate_schedule` at ``step`` (a Python float)."""
    if config.zero_lr_first_step and step == 0:
        return 0.0
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


class OfficialRMSProp:
    """``optax.chain(add_decayed_weights(wd), rmsprop(lr, decay, eps, initial_scale=1, momentum))``:

    ``g += wd * p; nu = decay * nu + (1 - decay) * g**2; mom = momentum * mom + lr * g /
    sqrt(nu + eps); p -= mom`` (TF1's ``RMSPropOptimizer``, NB-101's optimiser), with fused
    multi-tensor (``torch._foreach_*``) updates.
    """

    def __init__(self, params: Any, weight_decay: float, momentum: float, decay: float = 0.9, eps: float = 1.0):
        self.params = list(params)
        self.weight_decay, self.momentum, self.decay, self.eps = weight_decay, momentum, decay, eps
        self.nu = [torch.ones_like(p) for p in self.params]
        self.mom = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        g = [p.grad for p in self.params]
        torch._foreach_add_(g, self.params, alpha=self.weight_decay)
        torch._foreach_mul_(self.nu, self.decay)
        torch._foreach_addcmul_(self.nu, g, g, value=1.0 - self.decay)
        denom = torch._foreach_sqrt(torch._foreach_add(self.nu, self.eps))
        torch._foreach_mul_(self.mom, self.momentum)
        torch._foreach_addcdiv_(self.mom, g, denom, value=lr)
        torch._foreach_sub_(self.params, self.mom)


def augment(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop of the ``pad``-zero-padded NHWC images and random horizontal flip, per image."""
    n, h, w, _ = x.shape
    dev = x.device
    padded = F.pad(x, (0, 0, pad, pad, pad, pad))
    off = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=dev)
    rows = (off[:, 0, None] + torch.arange(h, device=dev))[:, :, None]
    cols = (off[:, 1, None] + torch.arange(w, device=dev))[:, None, :]
    x = padded[torch.arange(n, device=dev)[:, None, None], rows, cols]
    mirror = torch.rand(n, generator=generator, device=dev) < 0.5
    return torch.where(mirror[:, None, None, None], x.flip(2), x)


@functools.lru_cache(maxsize=8)
def _cifar_stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """:data:`~nasbench.train.trainer.CIFAR_MEAN` and ``CIFAR_STD`` on ``device`` (copied once)."""
    return torch.tensor(CIFAR_MEAN, device=device), torch.tensor(CIFAR_STD, device=device)


def train_step(
    model: Network,
    opt: OfficialRMSProp,
    config: TrainConfig,
    total_steps: int,
    step: int,
    images: torch.Tensor,
    labels: torch.Tensor,
    idx: torch.Tensor,
    generator: torch.Generator,
    autocast: torch.dtype | None = None,
) -> torch.Tensor:
    """One training step on ``images[idx]`` (uint8 NHWC on the device); returns the loss.

    The images are normalised with :data:`~nasbench.train.trainer.CIFAR_MEAN` / ``CIFAR_STD``,
    augmented when ``config.augment``, and fed as the NCHW view of NHWC storage (channels-last);
    ``autocast`` (e.g. ``torch.bfloat16``) runs the forward pass in mixed precision.
    """
    mean, std = _cifar_stats(images.device)
    x = (images[idx].float() - mean) / std
    if config.augment:
        x = augment(x, config.pad, generator)
    x = x.permute(0, 3, 1, 2)
    with torch.autocast(images.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        loss = F.cross_entropy(model(x), labels[idx].long())
    model.zero_grad(set_to_none=True)
    loss.backward()
    opt.step(learning_rate(config, total_steps, step))
    return loss.detach()


__all__ = [
    "ConvBNReLU",
    "Cell",
    "Network",
    "network",
    "parameter_count",
    "load_flax_variables",
    "learning_rate",
    "OfficialRMSProp",
    "augment",
    "train_step",
]

"""A stride-1 "same" convolution whose derivatives are themselves forward convolutions and matmuls.

Why: inside ``jax.lax.switch`` (the switched NB-201 supernet, :mod:`nasbench.train.nb201`, which
runs only the chosen op of each edge), XLA:CPU runs the *transposed* convolutions of a gradient
(the input and kernel gradients ``jax.grad`` derives for ``lax.conv_general_dilated``) far slower
than outside a conditional: measured 2026-12-07 on this 2-core CPU, a 3x3 conv on ``[64, 32, 32, 16]``
took 12 ms for its gradient outside a switch and 480-550 ms inside one. Forward convolutions and
matmuls run at full speed in both places, so :func:`same_conv` writes its own VJP with them:

* input gradient: the same "same" convolution of the output gradient with the kernel flipped in
  space and with its input and output channels swapped (for stride 1 and padding ``(k - 1) / 2``);
* kernel gradient: for each tap ``(a, b)``, ``einsum("nhwi,nhwo->io")`` of the zero-padded input
  shifted by ``(a, b)`` with the output gradient.

Both are built from :func:`same_conv` itself and ``einsum``, so a second reverse pass (GraSP's
Hessian-vector product) again runs only forward convolutions. The values equal
``lax.conv_general_dilated``'s up to the order of floating-point sums (``tests/test_same_conv.py``
compares gradients and Hessian-vector products). Forward-mode differentiation (``jax.jvp``) of a
``custom_vjp`` function is not defined: differentiate in reverse mode only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _pad(k: int) -> int:
    if k % 2 != 1:
        raise ValueError(f"same_conv: kernel sizes must be odd, got {k}")
    return (k - 1) // 2


@jax.custom_vjp
def same_conv(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x`` ``[N, H, W, C_in]`` convolved with ``w`` ``[k_h, k_w, C_in, C_out]`` (odd sizes),
    stride 1, zero padding ``(k - 1) / 2`` on every side: ``[N, H, W, C_out]``."""
    ph, pw = _pad(w.shape[0]), _pad(w.shape[1])
    return lax.conv_general_dilated(x, w, (1, 1), ((ph, ph), (pw, pw)), dimension_numbers=DIMENSION_NUMBERS)


def _fwd(x: jax.Array, w: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return same_conv(x, w), (x, w)


def _bwd(res: tuple[jax.Array, jax.Array], dy: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, w = res
    kh, kw = w.shape[0], w.shape[1]
    ph, pw = _pad(kh), _pad(kw)
    dx = same_conv(dy, jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2))
    xp = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h, wd = dy.shape[1], dy.shape[2]
    dw = jnp.stack([
        jnp.stack([jnp.einsum("nhwi,nhwo->io", xp[:, a:a + h, b:b + wd], dy) for b in range(kw)]) for a in range(kh)
    ])
    return dx, dw.astype(w.dtype)


same_conv.defvjp(_fwd, _bwd)


def same_conv_general(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: Any,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    precision: Any = None,
    **_: Any,
) -> jax.Array:
    """:func:`same_conv` with ``lax.conv_general_dilated``'s signature, for ``flax.linen.Conv``'s
    ``conv_general_dilated`` field; anything but a 2-D, stride-1, undilated, ungrouped NHWC/HWIO
    convolution with symmetric padding ``(k - 1) / 2`` is refused."""
    k = rhs.shape[:2]
    same = [(_pad(k[0]), _pad(k[0])), (_pad(k[1]), _pad(k[1]))]
    dn = dimension_numbers
    layout = (dn.lhs_spec, dn.rhs_spec, dn.out_spec) if hasattr(dn, "lhs_spec") else dn
    ok = (
        tuple(window_strides) == (1, 1)
        and [tuple(p) for p in padding] == same
        and all(d in (None, (1, 1), [1, 1]) for d in (lhs_dilation, rhs_dilation))
        and feature_group_count == 1
        and layout in (DIMENSION_NUMBERS, lax.conv_dimension_numbers(lhs.shape, rhs.shape, DIMENSION_NUMBERS))
    )
    if not ok:
        raise ValueError("same_conv_general: only 2-D, stride-1, 'same'-padded NHWC/HWIO convolutions")
    return same_conv(lhs, rhs)


__all__ = ["same_conv", "same_conv_general", "DIMENSION_NUMBERS"]

"""nasbench.train.same_conv: values, gradients and Hessian-vector products equal lax's convolution,
inside and outside lax.switch, and anything but a stride-1 'same' convolution is refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from nasbench.train.same_conv import DIMENSION_NUMBERS, same_conv, same_conv_general


def _lax_conv(x, w):
    p = (w.shape[0] - 1) // 2
    return lax.conv_general_dilated(x, w, (1, 1), ((p, p), (p, p)), dimension_numbers=DIMENSION_NUMBERS)


def _data(k):
    x = jax.random.normal(jax.random.key(0), (3, 6, 5, 4), jnp.float32)
    w = jax.random.normal(jax.random.key(1), (k, k, 4, 2), jnp.float32)
    t = jax.random.normal(jax.random.key(2), (3, 6, 5, 2), jnp.float32)
    return x, w, t


def test_value_by_hand():
    # a single 1 at pixel (2, 2) of input channel i: the output around it is the kernel's slice for i,
    # as a cross-correlation reads it (output (2 + 1 - a, 2 + 1 - b) sees input (2, 2) through tap (a, b))
    w = jnp.arange(3 * 3 * 2 * 4, dtype=jnp.float32).reshape(3, 3, 2, 4)
    x = jnp.zeros((1, 5, 5, 2)).at[0, 2, 2, 1].set(1.0)
    y = np.asarray(same_conv(x, w))
    for a in range(3):
        for b in range(3):
            np.testing.assert_array_equal(y[0, 3 - a, 3 - b], np.asarray(w[a, b, 1]))
    assert np.count_nonzero(np.abs(y).sum(-1)) == 9


@pytest.mark.parametrize("k", [1, 3])
def test_gradients_equal_lax(k):
    x, w, t = _data(k)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) * t)

    for a, b in zip(jax.grad(loss(same_conv), (0, 1))(x, w), jax.grad(loss(_lax_conv), (0, 1))(x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_hessian_vector_product_equals_lax(k):
    # reverse over reverse, as GraSP uses it: d/dw (v . dL/dw)
    x, w, t = _data(k)
    v = jax.random.normal(jax.random.key(3), w.shape)

    def hvp(conv):
        grad = jax.grad(lambda w: jnp.sum(jnp.tanh(conv(x, w)) * t))
        return jax.grad(lambda w: jnp.vdot(grad(w), v))(w)

    np.testing.assert_allclose(hvp(same_conv), hvp(_lax_conv), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_second_derivatives_through_the_input_equal_lax(k):
    # GraSP differentiates every layer's input gradient again: the x-x and x-w blocks of the Hessian
    x, w, t = _data(k)
    u = jax.random.normal(jax.random.key(5), x.shape)

    def blocks(conv):
        grad_x = jax.grad(lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) * t), 0)
        return jax.grad(lambda x, w: jnp.vdot(grad_x(x, w), u), (0, 1))(x, w)

    for a, b in zip(blocks(same_conv), blocks(_lax_conv)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_inside_switch_the_unchosen_branch_gets_zero_gradient():
    x, w3, t = _data(3)
    w1 = jax.random.normal(jax.random.key(4), (1, 1, 4, 2))

    def loss(w3, w1, i):
        y = lax.switch(i, [lambda: same_conv(x, w1), lambda: same_conv(x, w3)])
        return jnp.sum(y * t)

    g3, g1 = jax.jit(jax.grad(loss, (0, 1)))(w3, w1, 1)
    assert not np.asarray(g1).any()
    np.testing.assert_allclose(g3, jax.grad(lambda w: jnp.sum(_lax_conv(x, w) * t))(w3), rtol=1e-5, atol=1e-5)


def test_general_form_refuses_other_convolutions():
    x, w, _ = _data(3)
    dn = lax.conv_dimension_numbers(x.shape, w.shape, DIMENSION_NUMBERS)
    np.testing.assert_allclose(same_conv_general(x, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=dn), same_conv(x, w))
    for strides, padding in [((2, 2), [(1, 1), (1, 1)]), ((1, 1), [(0, 0), (0, 0)])]:
        with pytest.raises(ValueError, match="only 2-D, stride-1"):
            same_conv_general(x, w, strides, padding, dimension_numbers=dn)
    with pytest.raises(ValueError, match="odd"):
        same_conv(x, jnp.zeros((2, 2, 4, 2)))

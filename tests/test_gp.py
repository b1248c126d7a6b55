"""The GP module against closed forms and independent numpy/scipy computations."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from strategies.models import gp


def _params(lengthscale: float, signal: float, noise: float) -> gp.GPParams:
    return gp.GPParams(*(jnp.asarray(math.log(v), jnp.float32) for v in (lengthscale, signal, noise)))


def _np_matern52(a: np.ndarray, b: np.ndarray, ls: float, s2: float) -> np.ndarray:
    r = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)) / ls
    return s2 * (1 + math.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-math.sqrt(5) * r)


@pytest.fixture(scope="module")
def tiny():
    """Six binary 'encodings' (4 bits), values, and five query points."""
    rng = np.random.default_rng(0)
    x = (rng.random((6, 4)) < 0.5).astype(np.float64)
    y = rng.normal(size=6)
    xs = (rng.random((5, 4)) < 0.5).astype(np.float64)
    return x, y, xs


def test_posterior_of_one_observation_is_the_closed_form():
    # RBF, l = 1, s2 = 2, n2 = 0.5; observe y = 1 at x = 0, predict at x = 1:
    # k = 2 exp(-1/2); mean = k / (2 + 0.5); var = 2 - k^2 / 2.5
    p = _params(1.0, 2.0, 0.5)
    post = gp.posterior(p, jnp.zeros((1, 1)), jnp.ones(1), jnp.ones(1, bool), "rbf")
    mean, var = gp.predict(post, jnp.asarray([[1.0], [0.0]]), "rbf")
    k = 2 * math.exp(-0.5)
    np.testing.assert_allclose(mean, [k / 2.5, 2 / 2.5], rtol=1e-5)
    np.testing.assert_allclose(var, [2 - k**2 / 2.5, 2 - 4 / 2.5], rtol=1e-5)


def test_posterior_matches_numpy_matern52(tiny):
    x, y, xs = tiny
    ls, s2, n2 = 1.3, 0.8, 0.05
    k = _np_matern52(x, x, ls, s2) + n2 * np.eye(len(x))
    ks = _np_matern52(x, xs, ls, s2)
    mean_np = ks.T @ np.linalg.solve(k, y)
    var_np = s2 - np.einsum("ij,ij->j", ks, np.linalg.solve(k, ks))
    post = gp.posterior(_params(ls, s2, n2), jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32),
                        jnp.ones(len(x), bool))
    mean, var = gp.predict(post, jnp.asarray(xs, jnp.float32))
    np.testing.assert_allclose(mean, mean_np, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(var, var_np, rtol=1e-4, atol=1e-5)


def test_log_marginal_likelihood_matches_scipy(tiny):
    x, y, _ = tiny
    ls, s2, n2 = 0.7, 1.5, 0.2
    ref = multivariate_normal(np.zeros(len(x)), _np_matern52(x, x, ls, s2) + n2 * np.eye(len(x))).logpdf(y)
    got = gp.log_marginal_likelihood(_params(ls, s2, n2), jnp.asarray(x, jnp.float32),
                                     jnp.asarray(y, jnp.float32), jnp.ones(len(x), bool))
    assert float(got) == pytest.approx(ref, abs=1e-4)


def test_padding_with_a_mask_is_exact(tiny):
    """Padded rows (whatever they hold) change neither the likelihood nor the posterior."""
    x, y, xs = tiny
    p = _params(0.9, 1.2, 0.1)
    rng = np.random.default_rng(1)
    xp = np.concatenate([x, rng.random((10, 4))]).astype(np.float32)
    yp = np.concatenate([y, 100 * rng.normal(size=10)]).astype(np.float32)
    mask = np.arange(16) < 6
    full = gp.log_marginal_likelihood(p, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.ones(6, bool))
    padded = gp.log_marginal_likelihood(p, jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(mask))
    assert float(padded) == pytest.approx(float(full), abs=1e-4)
    m1, v1 = gp.predict(gp.posterior(p, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.ones(6, bool)),
                        jnp.asarray(xs, jnp.float32))
    m2, v2 = gp.predict(gp.posterior(p, jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(mask)), jnp.asarray(xs, jnp.float32))
    np.testing.assert_allclose(m2, m1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v2, v1, rtol=1e-5, atol=1e-6)


def test_expected_improvement_known_values():
    # at mean == best, EI = sigma * phi(0) = sigma / sqrt(2 pi)
    assert float(gp.expected_improvement(jnp.asarray(0.3), jnp.asarray(1.0), 0.3)) == pytest.approx(
        1 / math.sqrt(2 * math.pi), rel=1e-6)
    mean = np.array([-1.0, 0.0, 0.5, 2.0, 1.0])
    std = np.array([0.5, 2.0, 0.1, 1.0, 0.0])
    best, xi = 0.4, 0.05
    z = np.where(std > 0, (mean - best - xi) / np.where(std > 0, std, 1), 0)
    ref = np.where(std > 0, (mean - best - xi) * norm.cdf(z) + std * norm.pdf(z), np.maximum(mean - best - xi, 0))
    got = gp.expected_improvement(jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32), best, xi)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    assert float(got[-1]) == pytest.approx(0.55, rel=1e-6)  # sigma = 0: the plain improvement


def test_standardize_uses_only_real_rows():
    y = jnp.asarray([1.0, 3.0, 5.0, 1000.0])
    ys, mean, sd = gp.standardize(y, jnp.asarray([True, True, True, False]))
    assert float(mean) == pytest.approx(3.0) and float(sd) == pytest.approx(math.sqrt(8 / 3), rel=1e-6)
    np.testing.assert_allclose(ys, [-math.sqrt(1.5), 0.0, math.sqrt(1.5), 0.0], rtol=1e-6)


def test_bucket_sizes_are_half_octaves():
    assert [gp.bucket_size(n) for n in (0, 16, 17, 24, 25, 33, 49, 97, 129, 151, 193)] == [
        16, 16, 24, 24, 32, 48, 64, 128, 192, 192, 256]
    # a trial of budget 150 (fits on 10..149 rows, one free slot each) compiles 8 shapes
    assert sorted({gp.bucket_size(n + 1) for n in range(10, 150)}) == [16, 24, 32, 48, 64, 96, 128, 192]
    with pytest.raises(ValueError):
        gp.bucket_size(-1)


def test_fit_recovers_the_generating_hyperparameters_and_compiles_once_per_bucket():
    """Data drawn from a known GP: the fit raises the likelihood and finds a small noise and a
    lengthscale near the true one; refitting another row count in the same bucket reuses the
    compiled function."""
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 6, 48))[:, None]
    ls, s2, n2 = 0.8, 1.0, 1e-3
    cov = _np_matern52(x, x, ls, s2) + n2 * np.eye(48)
    y = rng.multivariate_normal(np.zeros(48), cov)
    xj, yj = jnp.asarray(np.concatenate([x, np.zeros((16, 1))]), jnp.float32), jnp.asarray(np.r_[y, np.zeros(16)], jnp.float32)
    mask = jnp.arange(64) < 48
    before = gp.TRACE_COUNTS["fit"]
    p, trace = gp.fit(gp.init_params(xj, mask), xj, yj, mask, kernel="matern52", steps=300, learning_rate=0.05)
    trace = np.asarray(trace)
    assert trace.shape == (301,) and np.isfinite(trace).all()
    assert trace[-1] > trace[0] + 10  # the likelihood improved by a lot
    assert trace[-1] >= trace[-50:].max() - 0.05  # and converged
    fitted_ls, fitted_noise = math.exp(float(p.log_lengthscale)), math.exp(float(p.log_noise))
    assert 0.4 < fitted_ls < 1.6 and fitted_noise < 0.02
    gp.fit(gp.init_params(xj, mask), xj, yj, jnp.arange(64) < 40, kernel="matern52", steps=300, learning_rate=0.05)
    assert gp.TRACE_COUNTS["fit"] - before == 1


def test_unknown_kernel_is_an_error():
    with pytest.raises(ValueError, match="matern52"):
        gp.kernel_matrix("cosine", _params(1, 1, 1), jnp.zeros((1, 1)), jnp.zeros((1, 1)))

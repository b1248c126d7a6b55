"""Exact Gaussian-process regression in JAX: kernels over architecture encodings, marginal-likelihood
fitting with optax, posterior mean and variance, and expected improvement.

A shared part (not a strategy: it registers nothing); :mod:`strategies.bayesian_optimization`
uses it, and any predictor-based strategy may.

Model. ``f ~ GP(0, s2 * k(x, x' / l))``, ``y = f + eps``, ``eps ~ N(0, n2)``, on standardised targets
(:func:`standardize`). Kernels are stationary functions of the (scaled) Euclidean distance
between encodings:

* ``"matern52"`` (default): ``k(r) = (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)``;
* ``"rbf"``: ``k(r) = exp(-r^2 / 2)``.

For binary architecture encodings (one-hot ops, adjacency bits, BANANAS path indicators) the
squared Euclidean distance is the Hamming distance, so these kernels are kernels on the Hamming
distance, as used for architecture BO by Kandasamy et al. (NASBOT, NeurIPS 2018, which uses an
optimal-transport distance in the same exponentiated-distance form) and White et al. (BANANAS,
AAAI 2021, whose path-encoding GP baseline uses a distance kernel); Ru et al. (NAS-BOWL, ICLR
2021) compare such kernels to graph kernels. One shared lengthscale by default (``ard=False``):
with 100-200 observations and tens to hundreds of binary dimensions, per-dimension lengthscales
are poorly identified and overfit; ``ard=True`` gives one per dimension.

Hyperparameters are fitted by maximising the log marginal likelihood with Adam over
log-parameters (:func:`fit`, jitted, a fixed number of steps), each clipped to a sane box
(:data:`BOUNDS`, standardised units) so that a degenerate fit cannot break the Cholesky
factorisation in float32.

Padding. Every function takes a boolean ``mask`` over the training rows: masked-out rows get a
unit diagonal, no covariance with anything and a zero target, which leaves the marginal
likelihood and the posterior *exactly* those of the unmasked rows alone. Padding the training set
to a few bucket sizes (:func:`bucket_size`, half-octave steps) lets one compiled function serve a whole
search instead of recompiling at every new observation. :data:`TRACE_COUNTS` counts how often each
jitted function here was traced (compiled), so callers and tests can check that it stays small.

Performance note. On CPU, XLA runs triangular solves with a matrix right-hand side (the gradient
of the Cholesky factorisation, the posterior variance) through the BLAS ``trsm`` of the LAPACK that
jaxlib borrows from SciPy (OpenBLAS). With OpenBLAS's default threading each such call costs
milliseconds of thread start-up whatever the matrix size, which makes a fit 10-100x slower on a
busy machine; run with ``OPENBLAS_NUM_THREADS=1`` (set before Python starts) for GP sizes like
these (measured: a 32x32 solve 8 ms -> 0.02 ms of CPU time on a shared 2-core machine).
"""

from __future__ import annotations

import collections
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.stats import norm

KERNELS = ("matern52", "rbf")

#: (low, high) of each log-parameter, in standardised-target units (signal and noise are variances).
BOUNDS: dict[str, tuple[float, float]] = {
    "log_lengthscale": (math.log(1e-2), math.log(1e3)),
    "log_signal": (math.log(1e-2), math.log(1e2)),
    "log_noise": (math.log(1e-4), math.log(1e1)),
}
JITTER = 1e-6

#: traces (compilations) per jitted function of this module, by name; grows only at trace time.
TRACE_COUNTS: collections.Counter[str] = collections.Counter()


class GPParams(NamedTuple):
    """Log-hyperparameters (a pytree): lengthscale (scalar, or ``[d]`` with ARD), signal
    variance and noise variance."""

    log_lengthscale: jax.Array
    log_signal: jax.Array
    log_noise: jax.Array


class GPPosterior(NamedTuple):
    """What prediction needs: the Cholesky factor of the (masked) training covariance, the weights
    ``alpha = K^-1 y``, the training inputs and mask, and the hyperparameters."""

    chol: jax.Array
    alpha: jax.Array
    x: jax.Array
    mask: jax.Array
    params: GPParams


# ---------------------------------------------------------------------------- kernels
def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"unknown GP kernel {kernel!r}; choose one of {KERNELS}")


def clip_params(params: GPParams) -> GPParams:
    """Params clipped into :data:`BOUNDS`."""
    return GPParams(*(jnp.clip(p, *BOUNDS[name]) for name, p in zip(GPParams._fields, params)))


def scaled_sq_dist(x1: jax.Array, x2: jax.Array, lengthscale: jax.Array) -> jax.Array:
    """``[n, m]`` squared Euclidean distances between rows of ``x1 / l`` and ``x2 / l``."""
    a, b = x1 / lengthscale, x2 / lengthscale
    d2 = jnp.sum(a * a, -1)[:, None] + jnp.sum(b * b, -1)[None, :] - 2.0 * a @ b.T
    return jnp.maximum(d2, 0.0)


def kernel_matrix(kernel: str, params: GPParams, x1: jax.Array, x2: jax.Array) -> jax.Array:
    """``[n, m]`` covariance ``s2 * k(x1, x2)`` under ``params`` (clipped to :data:`BOUNDS`)."""
    _check_kernel(kernel)
    p = clip_params(params)
    d2 = scaled_sq_dist(x1, x2, jnp.exp(p.log_lengthscale))
    if kernel == "rbf":
        k = jnp.exp(-0.5 * d2)
    else:
        # sqrt has an infinite derivative at 0; the 1e-12 keeps the diagonal's gradient finite
        r = jnp.sqrt(d2 + 1e-12)
        s5r = math.sqrt(5.0) * r
        k = (1.0 + s5r + 5.0 / 3.0 * d2) * jnp.exp(-s5r)
    return jnp.exp(p.log_signal) * k


def _train_cov(kernel: str, params: GPParams, x: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked training covariance ``K + (n2 + jitter) I`` on real rows, identity on padding."""
    m = mask.astype(x.dtype)
    k = kernel_matrix(kernel, params, x, x) * m[:, None] * m[None, :]
    noise = jnp.exp(clip_params(params).log_noise) + JITTER
    return k + jnp.diag(m * noise + (1.0 - m))


# ------------------------------------------------------------------- data helpers
def standardize(y: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``((y - mean) / sd`` on masked rows, 0 on padding; ``mean``; ``sd``)``; ``sd`` is the
    population standard deviation of the real rows, floored at 1e-8 (and 1 for a single row)."""
    m = mask.astype(y.dtype)
    n = jnp.maximum(m.sum(), 1.0)
    mean = jnp.sum(y * m) / n
    var = jnp.sum(((y - mean) * m) ** 2) / n
    sd = jnp.where(m.sum() > 1, jnp.sqrt(jnp.maximum(var, 1e-16)), 1.0)
    sd = jnp.maximum(sd, 1e-8)
    return jnp.where(mask, (y - mean) / sd, 0.0), mean, sd


def bucket_size(n: int, minimum: int = 16) -> int:
    """The padded training-set size for ``n`` rows: the smallest of ``minimum * {1, 1.5, 2, 3, 4, 6,
    ...}`` (half-octave steps, each size a power of two or 1.5 times one for ``minimum`` a power of
    two) that is ``>= n``. Half-octaves keep the padding waste under 1.5x in rows (3.4x in the
    cubic cost of a Cholesky) at two compilations per doubling of the data."""
    if n < 0:
        raise ValueError(f"a training-set size is non-negative, got {n}")
    if minimum < 1:
        raise ValueError(f"the smallest bucket must hold at least one row, got {minimum}")
    size = minimum
    while True:
        if size >= n:
            return size
        if size + size // 2 >= n and size % 2 == 0:
            return size + size // 2
        size *= 2


def init_params(x: jax.Array, mask: jax.Array, ard: bool = False) -> GPParams:
    """Starting point of the fit: lengthscale = root-mean-square distance between real rows (the
    usual distance heuristic), signal variance 1 (standardised targets), noise variance 0.1."""
    m = mask.astype(x.dtype)
    d2 = scaled_sq_dist(x, x, jnp.ones((), x.dtype))
    pairs = m[:, None] * m[None, :] * (1.0 - jnp.eye(x.shape[0], dtype=x.dtype))
    mean_d2 = jnp.sum(d2 * pairs) / jnp.maximum(pairs.sum(), 1.0)
    ls = jnp.log(jnp.sqrt(jnp.maximum(mean_d2, 1e-6)))
    if ard:
        ls = jnp.full((x.shape[1],), ls)
    return clip_params(GPParams(ls, jnp.asarray(0.0, x.dtype), jnp.asarray(math.log(0.1), x.dtype)))


# ------------------------------------------------------------- marginal likelihood
@partial(jax.jit, static_argnames=("kernel",))
def log_marginal_likelihood(params: GPParams, x: jax.Array, y: jax.Array, mask: jax.Array,
                            kernel: str = "matern52") -> jax.Array:
    """``log p(y | x, params)`` of the masked rows: ``-y'K^-1 y / 2 - log|K| / 2 - n log(2 pi) / 2``."""
    cov = _train_cov(kernel, params, x, mask)
    chol = jnp.linalg.cholesky(cov)
    yz = jnp.where(mask, y, 0.0)
    alpha = cho_solve((chol, True), yz)
    n = mask.astype(x.dtype).sum()
    return (-0.5 * yz @ alpha - jnp.sum(jnp.log(jnp.diag(chol)))
            - 0.5 * n * math.log(2.0 * math.pi))


@partial(jax.jit, static_argnames=("kernel", "steps", "learning_rate"))
def fit(params: GPParams, x: jax.Array, y: jax.Array, mask: jax.Array, kernel: str = "matern52",
        steps: int = 100, learning_rate: float = 0.05) -> tuple[GPParams, jax.Array]:
    """Maximise the log marginal likelihood from ``params`` with ``steps`` Adam steps over the
    log-parameters. Returns (the clipped fitted params, ``[steps + 1]`` LML before each step and
    after the last). A step whose loss or gradient is not finite is skipped."""
    TRACE_COUNTS["fit"] += 1
    _check_kernel(kernel)
    opt = optax.adam(learning_rate)

    def loss(p):
        return -log_marginal_likelihood(p, x, y, mask, kernel)

    def step(carry, _):
        p, s = carry
        value, grads = jax.value_and_grad(loss)(p)
        updates, s_new = opt.update(grads, s, p)
        p_new = clip_params(optax.apply_updates(p, updates))
        ok = jnp.isfinite(value) & jnp.all(jnp.asarray([jnp.all(jnp.isfinite(g)) for g in grads]))
        p = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), p_new, p)
        s = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), s_new, s)
        return (p, s), -value

    params = clip_params(params)
    (params, _), trace = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    final = log_marginal_likelihood(params, x, y, mask, kernel)
    return params, jnp.concatenate([trace, final[None]])


# -------------------------------------------------------------------- posterior
@partial(jax.jit, static_argnames=("kernel",))
def posterior(params: GPParams, x: jax.Array, y: jax.Array, mask: jax.Array,
              kernel: str = "matern52") -> GPPosterior:
    """Condition the GP on the masked rows of ``(x, y)``."""
    chol = jnp.linalg.cholesky(_train_cov(kernel, params, x, mask))
    alpha = cho_solve((chol, True), jnp.where(mask, y, 0.0))
    return GPPosterior(chol, alpha, x, mask, params)


@partial(jax.jit, static_argnames=("kernel",))
def predict(post: GPPosterior, xstar: jax.Array, kernel: str = "matern52") -> tuple[jax.Array, jax.Array]:
    """Posterior mean and variance of the latent ``f`` (no observation noise) at rows of ``xstar``."""
    ks = kernel_matrix(kernel, post.params, post.x, xstar) * post.mask.astype(xstar.dtype)[:, None]
    mean = ks.T @ post.alpha
    v = solve_triangular(post.chol, ks, lower=True)
    prior = jnp.exp(clip_params(post.params).log_signal)
    var = jnp.maximum(prior - jnp.sum(v * v, axis=0), 1e-12)
    return mean, var


# ------------------------------------------------------------------- acquisition
@partial(jax.jit, static_argnames=("xi",))
def expected_improvement(mean: jax.Array, std: jax.Array, best: jax.Array | float,
                         xi: float = 0.0) -> jax.Array:
    """Closed-form expected improvement over ``best`` for *maximisation* (Jones et al., 1998):
    ``EI = (mu - best - xi) Phi(z) + sigma phi(z)``, ``z = (mu - best - xi) / sigma``;
    ``max(mu - best - xi, 0)`` where ``sigma = 0``."""
    imp = mean - best - xi
    safe = jnp.where(std > 0, std, 1.0)
    z = imp / safe
    ei = imp * norm.cdf(z) + safe * norm.pdf(z)
    return jnp.where(std > 0, jnp.maximum(ei, 0.0), jnp.maximum(imp, 0.0))

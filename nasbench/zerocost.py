"""Zero-cost proxies of NAS-Bench-201 networks, in JAX, from the live benchmark's Flax network.

A zero-cost proxy scores an architecture from its *untrained* network with at most a few forward
and backward passes on one batch (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021; Krishnakumar et al., "NAS-Bench-Suite-Zero", NeurIPS 2022 Datasets and Benchmarks;
Mellor et al., "Neural Architecture Search without Training", ICML 2021). Larger is better for
every proxy here (the sign conventions of the references are kept).

References read for every choice below (file:line of the repositories as fetched):

* ZC = ``mohsaied/zero-cost-nas`` at ``ca61347`` (release v1.0.0);
* NL = ``automl/NASLib`` at ``0b51bc18``, ``naslib/predictors/utils/pruners/`` (NAS-Bench-Suite-Zero);
* XA = ``D-X-Y/AutoDL-Projects``, ``xautodl/utils/flop_benchmark.py`` (NAS-Bench-201's FLOPs).

Definitions. *Weights* are the kernels of every convolution and dense layer (the ``kernel``
leaves of the Flax tree): the references score ``nn.Conv2d``/``nn.Linear`` ``.weight`` only, never
biases or batch-norm parameters (ZC ``foresight/pruners/p_utils.py:56-65``). A per-weight score
is summed over all weights of all layers into one number (ZC ``foresight/pruners/predictive.py:100-114``).
``L`` is the mean cross-entropy of the batch.

* ``synflow`` = sum |theta * dR/dtheta| with R = sum of the logits of the network whose parameters
  are all replaced by their absolute values, batch norm removed, in float64, on one all-ones input
  image (ZC ``measures/synflow.py:22-67``; NL ``measures/synflow.py:26-68``). NL then reports
  ``log(synflow)`` (NL ``predictors/zerocost.py:43-47``); the table stores the raw value (float64),
  so a rank correlation is the same either way. NB: ZC's own NB-201 model rebuilds the network
  without batch norm but keeps it in the two reduction blocks (ZC ``models/nasbench2.py:80-86`` with
  ``nasbench2_ops.py:79-80``); here, as in NL (``predictive.py:31-37``: every BatchNorm forward is
  the identity), batch norm is off everywhere.
* ``snip`` = sum |theta * dL/dtheta| (ZC ``measures/snip.py:35-69``: the gradient of a ones mask
  on the weights equals theta * dL/dtheta).
* ``grad_norm`` = sum over layers of the L2 norm of that layer's dL/dtheta (a sum of per-layer
  norms, not the global norm: ZC ``measures/grad_norm.py:24-38``, NL ``measures/grad_norm.py:26-45``).
* ``fisher`` = sum over layers l and output channels k of ``0.5 * mean_n (sum_hw a * dL/da)^2 *
  fan_in_l`` where a is the layer's output (before batch norm) and ``fan_in_l`` = k_h * k_w *
  C_in: the references compute the channel score and broadcast it over ``weight.shape[1:]`` before
  summing (ZC ``measures/fisher.py:38-107`` with ``p_utils.py:67-79``; NL ``measures/fisher.py:41-113``).
  The dense layer counts with its ``[N, out]`` output (ZC ``fisher.py:69``).
* ``grasp`` = sum -theta * (H g) with g = dL/dtheta (held fixed) and H the Hessian of L over the
  weights, T = 1, one iteration (ZC ``measures/grasp.py:25-87``): here H g is a forward-over-reverse
  Hessian-vector product.
* ``jacov`` = -sum_i (log(v_i + k) + 1 / (v_i + k)), k = 1e-5, over the eigenvalues v of the
  correlation matrix (``numpy.corrcoef``, rows = images) of J = d(sum of logits)/dx, the input
  gradient of every image (ZC ``measures/jacob_cov.py:22-57``; NL ``measures/jacov.py:31-62``).
  The eigenvalues are ``numpy.linalg.eigvalsh`` in float64 (the matrix is symmetric; the references'
  ``eig`` can return complex or negative values from rounding); a score that is not finite is NaN.
* ``nwot``: Mellor et al.'s NASWOT score in its ICML 2021 form, as NAS-Bench-Suite-Zero computes
  it (NL ``measures/nwot.py:27-52``): for every ReLU (a forward hook on each ``nn.ReLU`` module)
  c = 1[input > 0] per image, K = sum over ReLUs of c c^T + (1 - c)(1 - c)^T (the number of units
  on which two images agree), score = log|det K| (``slogdet``). In the NB-201 network the ReLUs are
  the first op of every ``ReLUConvBN`` (cell convolutions and the reduction blocks' two) and the
  last one after ``lastact_bn``. ``jacov`` is Mellor et al.'s *first* score (arXiv v1-v2, the
  correlation of input Jacobians) as the zero-cost paper adopted it; ``nwot`` is their second.
  They differ, so both are computed.
* ``params``: trainable parameters (weights, biases and batch-norm scales and offsets), in
  millions, as the NB-201 table's ``model_size`` (which it equals exactly: tested on all cells).
* ``flops``: millions of multiply-accumulates as NB-201 counts them (XA ``get_model_infos``):
  convolutions ``k_h k_w C_in C_out H_out W_out`` (+ ``C_out H_out W_out`` with a bias) and dense
  layers ``in * out + out``; pooling, batch norm and additions are not counted (XA
  ``compute_average_flops_cost``: pools are commented out of the sum). By hand: 7.78305 for the
  empty cell, 220.11969 for all ``nor_conv_3x3`` (tested).

Protocol (ZC ``nasbench2_pred.py`` and ``foresight/dataset.py``):

* network: NB-201's ``TinyNetwork`` with C = 16, N = 5 (ZC ``models/nasbench2.py:39-64``), built by
  :mod:`nasbench.train.nb201` as the live benchmark does; by default its *switched* supernet
  (:func:`nasbench.train.nb201.nb201_network` with ``cell=None, switched=True``), one compile for all
  15,625 cells, which runs only each edge's chosen op and computes the per-architecture network's
  proxies up to the order of floating-point sums (tested). It replaced the masked supernet (every op
  of every edge, weighted by the one-hot mask) on 2026-12-07: idle, one cell of the default config
  took 5.4 s (loss group) and 3.9 s (jacov) masked, against 0.6 s and 0.4 s per architecture. ZC's NB-201 model is the search-cell
  variant: cell batch norms without affine parameters (``affine=False``, ``track_running_stats=False``)
  and cell convolutions with a bias (``nasbench2_ops.py:24-31``, ``nasbench2.py:59``). In training
  mode batch norm subtracts the batch mean, so a conv bias and a unit-scale zero-offset affine
  change nothing for the loss-based proxies; only ``synflow`` (no batch norm) differs: ZC's cell
  biases add flow that the benchmark's own network, used here, does not have;
* batch norm in **training mode** (batch statistics) for every proxy that keeps it: ZC builds the
  copy with ``model_new.train()`` (``nasbench2.py:86``) and its cell norms never track statistics;
* initialisation: the network's own (PyTorch defaults, as :mod:`nasbench.train.nb201`), ZC's
  ``--init_w_type none`` (``nasbench2_pred.py:34-35,87``); a fresh draw per cell, key
  ``fold_in(init_key, cell index)`` (ZC seeds once and builds the cells one after another);
* batch: ``batch_size`` = 64 training images (ZC ``nasbench2_pred.py:36``, ``dataload random``,
  1 batch: ``:40-41``), drawn without replacement from the 40,000-image training split of
  :func:`nasbench.train.cifar.load_cifar10`, with the training augmentation (random 32x32 crop of the
  4-pixel zero-padded image and a random horizontal flip: ZC ``dataset.py:49-55``), a fresh batch
  per cell (ZC draws one from a shuffling loader per cell) with key ``fold_in(data_key, cell
  index)``, the same batch for every proxy of the cell (ZC ``predictive.py:53-68``). Normalisation:
  the project's per-channel mean / std (:func:`nasbench.train.steps.normalize`, std 0.247-0.262
  where ZC divides by 0.199-0.202, ``dataset.py:32-33``): nearly a uniform scale, which train-mode
  batch norm after the stem convolution removes and to which a correlation matrix is blind;
* dtype float32, except ``synflow`` in float64 (ZC ``synflow.py:49-51``).

All proxies of a cell come from four jitted groups (:data:`GROUPS`, :func:`nb201_scorer`), each
timed on its own: ``loss``, the loss gradient with respect to the weights and to a zero ``m``
multiplying every conv/dense output as ``a * (1 + m)`` (``snip``, ``grad_norm``, ``fisher`` from
``dL/dm = sum over space of a * dL/da``, and the ReLU codes of ``nwot`` from the same forward pass);
``grasp``, a Hessian-vector product (reverse over reverse on the switched supernet, forward over
reverse elsewhere: :func:`grasp`); ``jacov``, the input gradient;
``synflow``, the float64 pass on one image. Randomness comes only from explicit JAX keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from nasbench.spaces.nb201 import EDGES, N_EDGES, N_OPS, OPS
from nasbench.train import nb201
from nasbench.train.networks import parameter_count
from nasbench.train.steps import augment, normalize

#: Proxies in table-column order.
PROXIES: tuple[str, ...] = ("synflow", "snip", "grad_norm", "fisher", "grasp", "jacov", "nwot", "params", "flops")
#: Proxies that need the network's forward/backward passes (the rest are counted from shapes).
PASS_PROXIES: tuple[str, ...] = PROXIES[:7]
JACOV_K = 1e-5

Params = Any
ApplyFn = Callable[[Params, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class ZeroCostConfig:
    """Network, batch and seed of a proxy table (see the module docstring for each default)."""

    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    batch_size: int = 64
    augment: bool = True
    seed: int = 0
    supernet: bool = True  # one compile for the whole space (the switched supernet)
    image_size: int = 32

    def __post_init__(self) -> None:
        if min(self.channels, self.cells_per_stage, self.num_classes, self.batch_size) < 1:
            raise ValueError(f"ZeroCostConfig: sizes must be >= 1, got {self}")
        if self.batch_size < 2:
            raise ValueError("ZeroCostConfig: batch_size must be >= 2 (jacov and nwot compare images)")

    def key(self) -> str:
        """A short string naming everything that changes the proxies (cache and table identity)."""
        return (
            f"nb201-C{self.channels}-N{self.cells_per_stage}-k{self.num_classes}-b{self.batch_size}"
            f"-aug{int(self.augment)}-seed{self.seed}-img{self.image_size}-{'switched' if self.supernet else 'perarch'}"
        )


# ------------------------------------------------------------------------------ weights
def is_weight(path: tuple[str, ...]) -> bool:
    """A conv or dense kernel (what the references score: ``nn.Conv2d``/``nn.Linear`` ``.weight``)."""
    return path[-1] == "kernel"


def split_weights(params: Params) -> tuple[dict[tuple[str, ...], jax.Array], dict[tuple[str, ...], jax.Array]]:
    """``(weights, rest)``: the flat ``{path: array}`` kernels and everything else."""
    flat = flatten_dict(params)
    return {k: v for k, v in flat.items() if is_weight(k)}, {k: v for k, v in flat.items() if not is_weight(k)}


def _sum(tree: Mapping[Any, jax.Array]) -> jax.Array:
    return sum((jnp.sum(v) for v in tree.values()), jnp.zeros(()))


def _path_key(path: tuple[str, ...]) -> str:
    return "/".join(path)


# ------------------------------------------------------------------------------ taps
@dataclasses.dataclass
class _Taps:
    """What the interceptor does and records while a network runs (one trace). Nothing is recorded
    from inside the switched supernet's ``lax.switch`` branches (a value would leak out of the branch):
    a cell's ReLU inputs are its edge inputs, which the cell itself sows (:mod:`nasbench.train.nb201`)."""

    bn_off: bool = False
    scale: Mapping[str, jax.Array] | None = None  # zeros multiplying every conv/dense output: out * (1 + m)
    sites: list[tuple[str, jax.Array]] | None = None  # ReLU inputs outside the cells (path, array)
    logits: list[jax.Array] | None = None  # the classifier's output, in the network's dtype


@contextlib.contextmanager
def _tapped(taps: _Taps) -> Iterator[None]:
    """Run Flax modules with ``taps``: batch norm as the identity, every conv/dense output multiplied
    by ``1 + m`` (``m`` = 0: the forward pass is unchanged and ``dL/dm`` is ``sum over space of
    a * dL/da``, Fisher's channel score), the ReLU inputs outside the cells and the logits recorded.
    Flax's ``intercept_methods`` reaches every module without changing the network's code."""

    def interceptor(next_fun: Callable, args: tuple, kwargs: dict, context: Any) -> Any:
        m = context.module
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        if taps.bn_off and isinstance(m, nn.BatchNorm):
            return args[0]
        path = _path_key(tuple(m.path))
        in_cell = _EDGE_RE.search(path) is not None
        if taps.sites is not None and isinstance(m, nb201.ReLUConvBN) and not in_cell:
            taps.sites.append((path, args[0]))
        out = next_fun(*args, **kwargs)
        if isinstance(m, (nn.Conv, nn.Dense)) and taps.scale is not None:
            out = out * (1 + taps.scale[path].astype(out.dtype))
        if taps.logits is not None and isinstance(m, nn.Dense) and m.name == "classifier":
            taps.logits.append(out)
        if taps.sites is not None and isinstance(m, nn.BatchNorm) and m.name == "lastact_bn":
            taps.sites.append((path, out))  # NB-201's last ReLU: relu(lastact_bn(x))
        return out

    with nn.intercept_methods(interceptor):
        yield


# ------------------------------------------------------------------------------ proxies (generic)
def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy (``F.cross_entropy``)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32))
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=1))


def synflow(apply: ApplyFn, params: Params, input_shape: tuple[int, ...]) -> jax.Array:
    """Synaptic flow (Tanaka et al., 2020) as ZC/NL compute it: sum |theta * dR/dtheta|, R = sum of
    the logits of the all-|theta| network on one all-ones input. Call it under
    ``jax.enable_x64(True)`` with a float64 network for the reference's float64; ``apply`` must run
    the network without batch norm (see :func:`nb201_scorer`)."""
    absp = jax.tree_util.tree_map(jnp.abs, params)
    dtype = jax.tree_util.tree_leaves(absp)[0].dtype
    x = jnp.ones((1, *input_shape), dtype)
    g = jax.grad(lambda p: jnp.sum(apply(p, x)))(absp)
    w, _ = split_weights(absp)
    gw, _ = split_weights(g)
    return _sum({k: jnp.abs(w[k] * gw[k]) for k in w})


def snip_grad_norm(weights: Mapping[Any, jax.Array], grads: Mapping[Any, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``(snip, grad_norm)`` from the weights and their loss gradients (flat dicts, same keys)."""
    snip = _sum({k: jnp.abs(weights[k] * grads[k]) for k in weights})
    gn = sum((jnp.sqrt(jnp.sum(jnp.square(grads[k]))) for k in weights), jnp.zeros(()))
    return snip, gn


def fisher(channel_grads: Mapping[str, jax.Array], fan_in: Mapping[str, int]) -> jax.Array:
    """Fisher (Theis et al., 2018; Turner et al., 2020) as ZC: per layer and output channel
    ``0.5 * mean_n (sum_spatial a * dL/da)^2``, times the layer's ``fan_in`` (the broadcast over
    ``weight.shape[1:]``), summed. ``channel_grads``: ``sum_spatial a * dL/da`` per layer, ``[N, C]``
    (or with singleton spatial axes), the gradient of the loss with respect to a zero ``m`` that
    multiplies the layer's output ``a`` as ``a * (1 + m)``."""
    total = jnp.zeros(())
    for k, g in channel_grads.items():
        g_nk = g.reshape(g.shape[0], g.shape[-1]).astype(jnp.float32)
        del_k = 0.5 * jnp.mean(jnp.square(g_nk), axis=0)
        total = total + jnp.sum(jnp.abs(del_k)) * fan_in[k]
    return total


def grasp(loss_of_weights: Callable[[dict], jax.Array], weights: dict, reverse: bool = False) -> jax.Array:
    """GraSP (Wang et al., 2020) as ZC: sum -theta * (H g), g = dL/dtheta held fixed, H the Hessian
    of ``loss_of_weights`` (a function of the flat weight dict only). ``H g`` is a forward-over-reverse
    product (``jax.jvp`` of the gradient), or with ``reverse`` the gradient of ``g . grad L`` (ZC's
    own ``autograd.grad`` of ``z = g . grad``), which the switched supernet needs: its convolutions
    define reverse-mode derivatives only (:mod:`nasbench.train.same_conv`). The same number either
    way, up to float rounding; forward over reverse is several times cheaper where it is allowed
    (measured 2026-12-07 on the 2-core CPU, NB-101's example cell at C = 128, batch 64: 8.1 s
    forward over reverse, 39 s reverse over reverse, 2.5 s for the gradient alone)."""
    grad_fn = jax.grad(loss_of_weights)
    g = jax.lax.stop_gradient(grad_fn(weights))
    if reverse:
        hg = jax.grad(lambda w: _sum({k: jnp.vdot(g[k], v) for k, v in grad_fn(w).items()}))(weights)
    else:
        _, hg = jax.jvp(grad_fn, (weights,), (g,))
    return _sum({k: -weights[k] * hg[k] for k in weights})


def input_jacobian(apply: ApplyFn, params: Params, x: jax.Array) -> jax.Array:
    """``d(sum of logits)/dx`` flattened per image, ``[N, D]`` (ZC ``jacob_cov.py:22-34``)."""
    j = jax.grad(lambda xx: jnp.sum(apply(params, xx)))(x)
    return j.reshape(j.shape[0], -1)


def jacov_score(jacobian: np.ndarray, k: float = JACOV_K) -> float:
    """``-sum(log(v + k) + 1/(v + k))`` over the eigenvalues of ``corrcoef(jacobian)`` (float64,
    ``eigvalsh``); NaN when that is not finite (e.g. a constant row)."""
    with np.errstate(all="ignore"):
        c = np.corrcoef(np.asarray(jacobian, np.float64))
        if not np.isfinite(c).all():
            return float("nan")
        v = np.linalg.eigvalsh(c)
        s = -np.sum(np.log(v + k) + 1.0 / (v + k))
    return float(s) if np.isfinite(s) else float("nan")


def relu_kernel(codes: list[tuple[jax.Array, jax.Array]]) -> jax.Array:
    """NASWOT's ``K = sum w (c c^T + (1-c)(1-c)^T)`` over ``(pre-activation [N, ...], weight w)``
    pairs, ``c = 1[pre > 0]`` flattened per image (float32; exact integer counts below 2^24)."""
    n = codes[0][0].shape[0]
    k = jnp.zeros((n, n), jnp.float32)
    for pre, w in codes:
        c = (pre.reshape(n, -1) > 0).astype(jnp.float32)
        k = k + w * (c @ c.T + (1.0 - c) @ (1.0 - c).T)
    return k


def nwot_score(kernel: np.ndarray) -> float:
    """``log|det K|`` (``numpy.linalg.slogdet`` in float64, as NL ``nwot.py:50``)."""
    _, logdet = np.linalg.slogdet(np.asarray(kernel, np.float64))
    return float(logdet)


# ------------------------------------------------------------------------------ NB-201
def nb201_model(config: ZeroCostConfig, cell: Any = None, dtype: Any = jnp.float32) -> nb201.NB201Network:
    """The benchmark's network of ``cell`` (or the switched supernet when ``config.supernet``)."""
    return nb201.nb201_network(
        None if config.supernet else cell,
        channels=config.channels,
        cells_per_stage=config.cells_per_stage,
        num_classes=config.num_classes,
        dtype=dtype,
        switched=True,
    )


_EDGE_RE = re.compile(r"edge(\d)_(\d)_(\w+?)(?:/|$)")


_CONVS = (OPS.index("nor_conv_1x1"), OPS.index("nor_conv_3x3"))


def _cell_sites(model: nn.Module, intermediates: Mapping[str, Any], arch: jax.Array | None) -> list[tuple[jax.Array, Any]]:
    """``(ReLU input, weight)`` of every cell convolution: the edge's input, sown by the cell, with
    weight 1 where the edge's op is a convolution and 0 elsewhere (the supernet's ``arch`` mask, or
    the per-architecture network's genotype)."""
    genotype: tuple[int, ...] = getattr(model, "genotype", None) or ()
    out = []
    for path, value in flatten_dict(dict(intermediates)).items():
        m = _EDGE_RE.fullmatch(path[-1])
        if m is None or m.group(3) != "input":
            continue
        p = EDGES.index((int(m.group(1)), int(m.group(2))))
        w = (arch[p, _CONVS[0]] + arch[p, _CONVS[1]]) if arch is not None else float(genotype[p] in _CONVS)
        out.append((value[0], w))
    return out


def _fan_in(params: Params) -> dict[str, int]:
    """``k_h * k_w * C_in`` (conv) or ``in`` (dense) of every kernel, keyed by its module path."""
    w, _ = split_weights(params)
    return {_path_key(k[:-1]): int(np.prod(v.shape[:-1])) for k, v in w.items()}


def _run(model: nn.Module, variables: Any, x: jax.Array, arch_in: Any, taps: _Taps, params: Any) -> tuple[jax.Array, Any]:
    """Logits of ``model`` with batch norm in training mode (statistics of the batch), tapped, and the
    values the network sowed (``intermediates``)."""
    with _tapped(taps):
        out, state = model.apply({**variables, "params": params}, x, arch_in, train=True,
                                 mutable=["batch_stats", "intermediates"])
    return out, state.get("intermediates", {})


def _loss_of(model: nn.Module, variables: Any, x: jax.Array, y: jax.Array, arch_in: Any) -> Callable:
    _, rest = split_weights(variables["params"])

    def loss(w: dict, scale: Mapping[str, jax.Array] | None) -> tuple[jax.Array, list]:
        taps = _Taps(scale=scale, sites=[])
        logits, sown = _run(model, variables, x, arch_in, taps, unflatten_dict({**w, **rest}))
        assert taps.sites is not None
        sites = [(pre, 1.0) for _, pre in taps.sites] + _cell_sites(model, sown, arch_in)
        return cross_entropy(logits, y), sites

    return loss


def _channel_zeros(params: Params, n: int) -> dict[str, jax.Array]:
    """A zero ``m`` per conv/dense output, keyed by module path: ``[n, 1, 1, C]`` or ``[n, C]``."""
    w, _ = split_weights(params)
    return {_path_key(k[:-1]): jnp.zeros((n,) + (1,) * (v.ndim - 2) + (v.shape[-1],), jnp.float32) for k, v in w.items()}


def loss_proxies(
    model: nn.Module, variables: Any, x: jax.Array, y: jax.Array, arch_in: Any = None
) -> dict[str, jax.Array]:
    """``snip``, ``grad_norm``, ``fisher`` and NASWOT's ``kernel`` of any Flax ``model`` called as
    ``model.apply(variables, x, arch_in, train=True)``, from one forward and backward pass."""
    weights, _ = split_weights(variables["params"])
    loss = _loss_of(model, variables, x, y, arch_in)
    zeros = _channel_zeros(variables["params"], x.shape[0])
    (_, sites), (gw, gm) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(weights, zeros)
    snip, gn = snip_grad_norm(weights, gw)
    out = {"snip": snip, "grad_norm": gn, "fisher": fisher(gm, _fan_in(variables["params"]))}
    if sites:
        out["kernel"] = relu_kernel(sites)
    return out


def grasp_proxy(model: nn.Module, variables: Any, x: jax.Array, y: jax.Array, arch_in: Any = None) -> jax.Array:
    """``grasp`` of any Flax ``model`` (see :func:`loss_proxies` for the call)."""
    weights, _ = split_weights(variables["params"])
    loss = _loss_of(model, variables, x, y, arch_in)
    return grasp(lambda w: loss(w, None)[0], weights, reverse=getattr(model, "switched", False))


def jacobian_proxy(model: nn.Module, variables: Any, x: jax.Array, arch_in: Any = None) -> jax.Array:
    """``jacov``'s input Jacobian ``[N, D]`` of any Flax ``model`` (see :func:`loss_proxies`)."""
    return input_jacobian(lambda p, xx: _run(model, variables, xx, arch_in, _Taps(), p)[0], variables["params"], x)


#: The jitted groups of :func:`nb201_scorer`, each timed on its own, and the proxies each yields.
GROUPS: dict[str, tuple[str, ...]] = {
    "loss": ("snip", "grad_norm", "fisher", "nwot"),
    "grasp": ("grasp",),
    "jacov": ("jacov",),
    "synflow": ("synflow",),
}

Scorer = Callable[[str, jax.Array, jax.Array, jax.Array, Any], dict[str, jax.Array]]


def nb201_scorer(config: ZeroCostConfig) -> Scorer:
    """``score(group, key, x, y, arch) -> {name: array}`` for a group of :data:`GROUPS`, ``x``
    ``[B, S, S, 3]`` float32 images, ``y`` labels, ``arch`` the ``[6, 5]`` one-hot cell; ``key``
    initialises the network (the same key gives the same weights in every group). ``jacov`` and
    ``nwot`` come as their matrices (``jacobian``, ``kernel``): finish with :func:`finish_scores`.
    Jitted per group; with ``config.supernet`` one compile per group serves every cell (``arch`` a
    traced input), otherwise the per-architecture network is built from the concrete ``arch``."""

    def build(arch: Any, dtype: Any) -> tuple[nb201.NB201Network, Any]:
        if config.supernet:
            return nb201_model(config, dtype=dtype), arch
        g = tuple(int(i) for i in np.argmax(np.asarray(arch), axis=1))
        return nb201_model(config, g, dtype=dtype), None

    def setup(key: jax.Array, x: jax.Array, arch: Any) -> tuple[nb201.NB201Network, Any, Any]:
        model, arch_in = build(arch, jnp.float32)
        return model, arch_in, model.init(key, x[:1], arch_in, train=False)

    def loss_group(key: jax.Array, x: jax.Array, y: jax.Array, arch: Any) -> dict[str, jax.Array]:
        model, arch_in, variables = setup(key, x, arch)
        return loss_proxies(model, variables, x, y, arch_in)

    def grasp_group(key: jax.Array, x: jax.Array, y: jax.Array, arch: Any) -> dict[str, jax.Array]:
        model, arch_in, variables = setup(key, x, arch)
        return {"grasp": grasp_proxy(model, variables, x, y, arch_in)}

    def jacov_group(key: jax.Array, x: jax.Array, y: jax.Array, arch: Any) -> dict[str, jax.Array]:
        model, arch_in, variables = setup(key, x, arch)
        return {"jacobian": jacobian_proxy(model, variables, x, arch_in)}

    def synflow_group(key: jax.Array, x: jax.Array, y: jax.Array, arch: Any) -> dict[str, jax.Array]:
        _, arch_in, variables = setup(key, x.astype(jnp.float32), arch)
        p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), variables["params"])
        m64, _ = build(arch, jnp.float64)
        a64 = None if arch_in is None else arch_in.astype(jnp.float64)

        def apply(p: Params, xx: jax.Array) -> jax.Array:
            taps = _Taps(bn_off=True, logits=[])
            with _tapped(taps):
                m64.apply({"params": p}, xx, a64, train=False)
            assert taps.logits
            return taps.logits[0]  # float64 logits (the model casts to float32)

        return {"synflow": synflow(apply, p64, tuple(x.shape[1:]))}

    fns = {"loss": loss_group, "grasp": grasp_group, "jacov": jacov_group, "synflow": synflow_group}
    jitted = {name: jax.jit(f) for name, f in fns.items()}

    def score(group: str, key: jax.Array, x: jax.Array, y: jax.Array, arch: Any) -> dict[str, jax.Array]:
        if group not in fns:
            raise ValueError(f"unknown proxy group {group!r}; known: {', '.join(fns)}")
        call: Callable[..., Any]
        if config.supernet:
            call = functools.partial(jitted[group], arch=jnp.asarray(arch))
        else:
            a = np.asarray(arch)  # static: the per-architecture network is built from it
            call = jax.jit(lambda k, xx, yy: fns[group](k, xx, yy, a))
        if group == "synflow":
            with jax.enable_x64(True):
                return dict(call(key, x, y))
        return dict(call(key, x, y))

    return score


def score_all(score: Scorer, key: jax.Array, x: jax.Array, y: jax.Array, arch: Any) -> dict[str, Any]:
    """Every group of :data:`GROUPS` for one cell (the arrays; see :func:`finish_scores`)."""
    out: dict[str, Any] = {}
    for group in GROUPS:
        out.update(score(group, key, x, y, arch))
    return out


def finish_scores(raw: Mapping[str, Any]) -> dict[str, float]:
    """The proxies of one cell from :func:`nb201_scorer`'s arrays (host side, float64): those of the
    groups that ran."""
    out = {k: float(raw[k]) for k in ("synflow", "snip", "grad_norm", "fisher", "grasp") if k in raw}
    if "jacobian" in raw:
        out["jacov"] = jacov_score(np.asarray(raw["jacobian"]))
    if "kernel" in raw:
        out["nwot"] = nwot_score(np.asarray(raw["kernel"]))
    return out


# ------------------------------------------------------------------------------ params and flops
def _counts(model: nn.Module, x_shape: tuple[int, ...], arch: Any) -> tuple[int, int]:
    """``(parameters, NB-201 FLOPs)`` of ``model`` on one image, from shapes only (no compile)."""
    flops: list[int] = []

    def interceptor(next_fun: Callable, args: tuple, kwargs: dict, context: Any) -> Any:
        out = next_fun(*args, **kwargs)
        m = context.module
        if context.method_name == "__call__" and isinstance(m, (nn.Conv, nn.Dense)):
            kernel = m.variables["params"]["kernel"]
            positions = int(np.prod(out.shape[1:-1])) if out.ndim > 2 else 1
            bias = out.shape[-1] * positions if "bias" in m.variables["params"] else 0
            flops.append(int(np.prod(kernel.shape)) * positions + bias)
        return out

    def go() -> Any:
        with nn.intercept_methods(interceptor):
            return model.init(jax.random.key(0), jnp.zeros(x_shape, jnp.float32), arch, train=False)

    variables = jax.eval_shape(go)
    return parameter_count(variables["params"]), sum(flops)


def op_costs(config: ZeroCostConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(params, flops)`` in millions, each ``[1 + N_OPS]``: entry 0 the network with every edge
    ``none``, entry ``1 + k`` what op ``k`` adds on one edge. Both are additive over edges (each
    op's modules are its own), so a cell's counts are ``base + sum over edges``."""
    cfg = dataclasses.replace(config, supernet=False)
    rows = []
    for g in [(0,) * N_EDGES] + [(k,) + (0,) * (N_EDGES - 1) for k in range(N_OPS)]:
        rows.append(_counts(nb201_model(cfg, g), (1, config.image_size, config.image_size, 3), None))
    c = np.asarray(rows, np.float64)
    base = c[0]
    out = np.concatenate([base[None], c[1:] - base[None]])
    return out[:, 0] / 1e6, out[:, 1] / 1e6


def params_flops(genotypes: np.ndarray, config: ZeroCostConfig = ZeroCostConfig()) -> tuple[np.ndarray, np.ndarray]:
    """``(params, flops)`` in millions of ``[n, 6]`` genotypes (see :func:`op_costs`)."""
    p, f = op_costs(config)
    g = np.atleast_2d(np.asarray(genotypes, np.int64))
    return p[0] + p[1:][g].sum(axis=1), f[0] + f[1:][g].sum(axis=1)


def direct_params_flops(cell: Any, config: ZeroCostConfig = ZeroCostConfig()) -> tuple[float, float]:
    """``(params, flops)`` in millions of one cell, counted on its own network (the check on
    :func:`params_flops`)."""
    p, f = _counts(nb201_model(dataclasses.replace(config, supernet=False), cell), (1, 32, 32, 3), None)
    return p / 1e6, f / 1e6


# ------------------------------------------------------------------------------ data
def draw_batch(
    key: jax.Array, images: jax.Array, labels: jax.Array, batch_size: int, augment_on: bool = True
) -> tuple[jax.Array, jax.Array]:
    """``batch_size`` images drawn without replacement, augmented (crop + flip) and normalised."""
    k1, k2 = jax.random.split(key)
    idx = jax.random.choice(k1, images.shape[0], (batch_size,), replace=False)
    x = images[idx]
    if augment_on:
        x = augment(k2, x)
    return normalize(x), labels[idx]


__all__ = [
    "PROXIES",
    "PASS_PROXIES",
    "ZeroCostConfig",
    "synflow",
    "snip_grad_norm",
    "fisher",
    "grasp",
    "input_jacobian",
    "jacov_score",
    "relu_kernel",
    "nwot_score",
    "nb201_scorer",
    "loss_proxies",
    "grasp_proxy",
    "jacobian_proxy",
    "score_all",
    "GROUPS",
    "finish_scores",
    "op_costs",
    "params_flops",
    "direct_params_flops",
    "draw_batch",
]

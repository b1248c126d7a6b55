"""The encoder / performance-predictor / decoder of NAO, in Flax, with a jitted optax training loop.

Luo, Tian, Qin, Chen, Liu: "Neural Architecture Optimization", NeurIPS 2018; the modules follow
the NAS-Bench-101 code of the authors' SemiNAS (``renqianluo/SemiNAS``, ``nasbench/encoder.py``,
``decoder.py``, ``controller.py``, ``train_seminas.py``):

* **Encoder**: token embedding (dropout) -> one bidirectional LSTM layer -> linear projection of
  the two directions back to ``hidden`` -> residual add of the embedding -> L2-normalise each
  token's output. The architecture embedding is the mean of the token outputs, L2-normalised.
  Padding tokens (0) are encoded like any token and enter the mean, as in SemiNAS.
* **Predictor**: residual MLP on the embedding, ``hidden -> mlp_hidden -> ... -> hidden`` (ReLU,
  dropout), ``(embedding + mlp) * sqrt(1/2)``, then a linear read-out to one number.
* **Decoder**: one LSTM layer whose state (c, h) starts at (embedding, embedding), fed the token
  embedding of the previous step (start symbol 0); residual ``(x + lstm) * sqrt(1/2)``; dot
  attention over the encoder's token outputs (query projection, ``tanh`` of a projection of
  [context, query]) with another residual; a linear layer to the vocabulary. Teacher forcing in
  training, greedy decoding at search time restricted to the tokens legal at each position
  (SemiNAS restricts op positions to op tokens and edge positions to edge tokens).
* **Loss**: ``trade_off * MSE(prediction, target) + (1 - trade_off) * NLL(reconstruction)``, the
  NLL averaged over every position of every sequence (no padding mask, as in SemiNAS).
* **Optimiser**: gradient clipping by global norm, then PyTorch-style (coupled) Adam weight decay
  (``grad + weight_decay * param``), then Adam: ``torch.optim.Adam(weight_decay=...)`` after
  ``clip_grad_norm_``, exactly.
* **Search move**: gradient of the predicted value with respect to the (normalised) token outputs,
  ``h' = normalise(h + eta * df/dh)``, embedding re-pooled from ``h'``, greedy decode.

Initialisation follows PyTorch's defaults (uniform +-1/sqrt(fan_in) for linear and LSTM weights,
N(0, 1) embeddings); the LSTM has one bias per gate where PyTorch has two (``b_ih + b_hh``).

Departures from SemiNAS (none changes the function computed):

* the training set is padded to a fixed capacity (``batch_size * 2**k`` rows) with a row mask, so
  one compiled loop serves every round; the masked mean over a batch equals PyTorch's mean over the
  smaller last batch;
* for speed on CPU: embeddings are one-hot matmuls (their gradient is a matmul, not a scatter), the
  four LSTM gates go through one ``tanh`` (``sigmoid(x) = (1 + tanh(x / 2)) / 2``), the input
  projections of all steps are one matmul outside the recurrence, and the two encoder directions
  share one ``lax.scan``.

The whole training (epochs x mini-batches) is one jitted ``lax.fori_loop``; the compiled functions
are cached per (model, training) config and data capacity, so the trials of one config in a
process compile once (about 10 s of CPU). On a CPU one mini-batch step costs about 70 ms for
NAS-Bench-101's 27 tokens at hidden 64 (forward and backward through three 27-step LSTM scans).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

Params = Any
SQRT_HALF = math.sqrt(0.5)


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the encoder / predictor / decoder (SemiNAS NAS-Bench-101 defaults)."""

    vocab: int
    length: int
    hidden: int = 64
    mlp_hidden: int = 16
    mlp_layers: int = 2
    dropout: float = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (SemiNAS NAS-Bench-101 defaults)."""

    trade_off: float = 0.8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    batch_size: int = 100


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """``x / max(||x||, eps)`` along ``axis`` (``torch.nn.functional.normalize``)."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), eps)


def embed(table: jax.Array, tokens: jax.Array) -> jax.Array:
    """``table[tokens]`` as a one-hot matmul: its gradient is a matmul, not a scatter (slow on CPU)."""
    return jax.nn.one_hot(tokens, table.shape[0], dtype=table.dtype) @ table


def pool(outputs: jax.Array) -> jax.Array:
    """Architecture embedding from token outputs ``[..., L, H]``: mean over tokens, normalised."""
    return l2_normalize(jnp.mean(outputs, axis=-2))


# ---------------------------------------------------------------------------------------- modules
def torch_uniform(fan_in: int) -> Callable[..., jax.Array]:
    """PyTorch's default init of ``nn.Linear`` / ``nn.LSTM`` weights and biases: U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, fan_in: int, use_bias: bool = True, name: str | None = None) -> nn.Dense:
    """``nn.Dense`` initialised as PyTorch's ``nn.Linear``."""
    init = torch_uniform(fan_in)
    return nn.Dense(features, use_bias=use_bias, kernel_init=init, bias_init=init, name=name)


def lstm_cell(wh: jax.Array, carry: tuple[jax.Array, jax.Array], gx: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """One LSTM step given the input's gate pre-activations ``gx [..., B, 4H]`` (gates i, f, g, o;
    ``wh [..., H, 4H]``, leading dims batched). ``sigmoid(x) = (1 + tanh(x / 2)) / 2``: one
    ``tanh`` over all four gates, which is markedly faster on CPU than separate sigmoids."""
    c, h = carry
    hidden = h.shape[-1]
    scale = jnp.repeat(jnp.asarray([0.5, 0.5, 1.0, 0.5], gx.dtype), hidden)
    shift = jnp.repeat(jnp.asarray([0.5, 0.5, 0.0, 0.5], gx.dtype), hidden)
    i, f, g, o = jnp.split(jnp.tanh((gx + h @ wh) * scale) * scale + shift, 4, axis=-1)
    c = f * c + i * g
    h = o * jnp.tanh(c)
    return (c, h), h


def lstm_scan(wh: jax.Array, carry: tuple[jax.Array, jax.Array], gx: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """Run :func:`lstm_cell` over the leading (time) axis of ``gx [L, ..., B, 4H]``."""
    return jax.lax.scan(functools.partial(lstm_cell, wh), carry, gx)


class BiLSTM(nn.Module):
    """One bidirectional LSTM layer, ``[B, L, D] -> [B, L, 2 * hidden]`` (forward, backward).

    The input projections of every step are one matmul; the two directions run in the same
    ``lax.scan`` (the backward one on the reversed sequence), so only the recurrent matmuls are in
    the loop: cheap to compile and to run on CPU.
    """

    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h, d = self.hidden, x.shape[-1]
        init = torch_uniform(h)
        w_in = self.param("input", init, (2, d, 4 * h))
        b_in = self.param("bias", init, (2, 4 * h))
        w_rec = self.param("recurrent", init, (2, h, 4 * h))
        gx = jnp.einsum("bld,edk->lebk", x, w_in) + b_in[:, None, :]  # [L, 2, B, 4H]
        gx = jnp.stack([gx[:, 0], gx[::-1, 1]], axis=1)  # backward direction reads the reversed sequence
        zeros = jnp.zeros((2, x.shape[0], h), gx.dtype)
        _, hs = lstm_scan(w_rec, (zeros, zeros), gx)  # [L, 2, B, H]
        both = jnp.concatenate([hs[:, 0], hs[::-1, 1]], axis=-1)  # [L, B, 2H]
        return jnp.swapaxes(both, 0, 1)


class Encoder(nn.Module):
    """Tokens ``[B, L]`` -> L2-normalised token outputs ``[B, L, hidden]``."""

    vocab: int
    hidden: int
    dropout: float
    deterministic: bool

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        table = self.param("embedding", nn.initializers.normal(1.0), (self.vocab, self.hidden))
        x = embed(table, tokens)
        x = nn.Dropout(self.dropout, deterministic=self.deterministic)(x)
        y = dense(self.hidden, 2 * self.hidden, name="out_proj")(BiLSTM(self.hidden, name="bilstm")(x))
        return l2_normalize(x + y)


class Predictor(nn.Module):
    """Residual MLP: embedding ``[B, hidden]`` -> predicted (z-scored) value ``[B]``."""

    hidden: int
    mlp_hidden: int
    mlp_layers: int
    dropout: float
    deterministic: bool

    @nn.compact
    def __call__(self, emb: jax.Array) -> jax.Array:
        x = emb
        for i in range(self.mlp_layers):
            width = self.hidden if i == self.mlp_layers - 1 else self.mlp_hidden
            x = nn.relu(dense(width, x.shape[-1], name=f"mlp_{i}")(x))
            x = nn.Dropout(self.dropout, deterministic=self.deterministic)(x)
        x = (emb + x) * SQRT_HALF if self.mlp_layers > 0 else emb
        return dense(1, self.hidden, name="regressor")(x)[..., 0]


class Decoder(nn.Module):
    """LSTM decoder with dot attention (SemiNAS ``Decoder`` + ``Attention``).

    The parameters are plain arrays so that the greedy loop can be a ``lax.scan`` over positions;
    the teacher-forced pass runs the LSTM over the whole shifted target and the attention (which
    does not feed back into the LSTM) on all positions at once.
    """

    vocab: int
    hidden: int
    dropout: float
    deterministic: bool

    def setup(self):
        h, v = self.hidden, self.vocab
        u_h, u_2h = torch_uniform(h), torch_uniform(2 * h)
        self.embedding = self.param("embedding", nn.initializers.normal(1.0), (v, h))
        self.w_in = self.param("lstm_input", u_h, (h, 4 * h))
        self.b_in = self.param("lstm_bias", u_h, (4 * h,))
        self.w_rec = self.param("lstm_recurrent", u_h, (h, 4 * h))
        self.w_query = self.param("attn_in", u_h, (h, h))
        self.w_mix = self.param("attn_out", u_2h, (2 * h, h))
        self.w_out = self.param("out", u_h, (h, v))
        self.b_out = self.param("out_bias", u_h, (v,))
        self.drop = nn.Dropout(self.dropout, deterministic=self.deterministic)

    def _head(self, x: jax.Array, y: jax.Array, enc_out: jax.Array) -> jax.Array:
        """Residuals and attention after the LSTM: ``x, y [B, T, H]`` -> logits ``[B, T, V]``."""
        x = (x + y) * SQRT_HALF
        weights = jax.nn.softmax(jnp.einsum("bth,blh->btl", x @ self.w_query, enc_out), axis=-1)
        context = jnp.einsum("btl,blh->bth", weights, enc_out)
        att = jnp.tanh(jnp.concatenate([context, x], axis=-1) @ self.w_mix)
        x = (x + att) * SQRT_HALF
        return x @ self.w_out + self.b_out

    def __call__(self, enc_out: jax.Array, emb: jax.Array, targets: jax.Array) -> jax.Array:
        """Teacher forcing: logits ``[B, L, V]`` of ``targets [B, L]`` (input: start 0, targets[:-1])."""
        dec_in = jnp.concatenate([jnp.zeros_like(targets[:, :1]), targets[:, :-1]], axis=1)
        x = self.drop(embed(self.embedding, dec_in))
        _, y = lstm_scan(self.w_rec, (emb, emb), jnp.swapaxes(x @ self.w_in + self.b_in, 0, 1))
        return self._head(x, jnp.swapaxes(y, 0, 1), enc_out)

    def greedy(self, enc_out: jax.Array, emb: jax.Array, legal: jax.Array) -> jax.Array:
        """Greedy decoding, each position restricted to its legal tokens (``legal [L, V]``)."""
        b = enc_out.shape[0]

        def step(carry, legal_p):
            lstm_carry, prev = carry
            x = self.embedding[prev]
            lstm_carry, y = lstm_cell(self.w_rec, lstm_carry, x @ self.w_in + self.b_in)
            logits = self._head(x[:, None], y[:, None], enc_out)[:, 0]
            tok = jnp.argmax(jnp.where(legal_p, logits, -jnp.inf), axis=-1).astype(jnp.int32)
            return (lstm_carry, tok), tok

        _, toks = jax.lax.scan(step, ((emb, emb), jnp.zeros((b,), jnp.int32)), legal)
        return toks.T


class NAOModel(nn.Module):
    """Encoder, predictor and decoder; methods for each part (used with ``apply(method=...)``)."""

    cfg: ModelConfig
    deterministic: bool = True

    def setup(self):
        c = self.cfg
        self.encoder = Encoder(c.vocab, c.hidden, c.dropout, self.deterministic)
        self.predictor = Predictor(c.hidden, c.mlp_hidden, c.mlp_layers, c.dropout, self.deterministic)
        self.decoder = Decoder(c.vocab, c.hidden, c.dropout, self.deterministic)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Teacher-forced pass: (prediction ``[B]``, reconstruction logits ``[B, L, V]``)."""
        enc = self.encoder(tokens)
        emb = pool(enc)
        return self.predictor(emb), self.decoder(enc, emb, tokens)

    def encode(self, tokens: jax.Array) -> jax.Array:
        return self.encoder(tokens)

    def predict_outputs(self, enc_out: jax.Array) -> jax.Array:
        """Predicted value from token outputs (pooled into the embedding)."""
        return self.predictor(pool(enc_out))

    def decode(self, enc_out: jax.Array, legal: jax.Array) -> jax.Array:
        """Greedy, legal-masked decoding from token outputs: tokens ``[B, L]``."""
        return self.decoder.greedy(enc_out, pool(enc_out), legal)


# ---------------------------------------------------------------------------------- pure functions
def make_optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    """clip -> coupled L2 weight decay -> Adam (PyTorch's ``Adam(weight_decay=...)`` after clipping)."""
    return optax.chain(
        optax.clip_by_global_norm(tc.grad_clip),
        optax.add_decayed_weights(tc.weight_decay),
        optax.scale_by_adam(),
        optax.scale(-tc.lr),
    )


def legal_mask(token_types: tuple[tuple[int, ...], ...], vocab: int) -> np.ndarray:
    """``[L, V]`` bool: ``mask[p, t]`` when token ``t`` is legal at position ``p``."""
    mask = np.zeros((len(token_types), vocab), dtype=bool)
    for p, toks in enumerate(token_types):
        if not toks:
            raise ValueError(f"position {p} allows no token; every position needs at least one")
        mask[p, list(toks)] = True
    return mask


def joint_loss(train_model: NAOModel, trade_off: float, params: Params, tokens: jax.Array,
               targets: jax.Array, weights: jax.Array, rng: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """``trade_off * MSE + (1 - trade_off) * NLL`` averaged over rows with weight 1 (others 0)."""
    pred, logits = cast(tuple[jax.Array, jax.Array], train_model.apply({"params": params}, tokens, rngs={"dropout": rng}))
    denom = jnp.maximum(weights.sum(), 1.0)
    mse = jnp.sum(weights * (pred - targets) ** 2) / denom
    logp = jax.nn.log_softmax(logits, axis=-1)
    tok_nll = -jnp.sum(jax.nn.one_hot(tokens, logp.shape[-1], dtype=logp.dtype) * logp, axis=-1).mean(axis=-1)
    nll = jnp.sum(weights * tok_nll) / denom
    return trade_off * mse + (1.0 - trade_off) * nll, (mse, nll)


class Seq2Seq:
    """Compiled functions of one (model, training) config; get one with :func:`seq2seq`.

    All functions are pure in their array arguments; ``fit`` trains from given parameters with a
    fresh optimiser state (as SemiNAS re-creates its Adam optimiser every round).
    """

    def __init__(self, mc: ModelConfig, tc: TrainConfig):
        self.mc, self.tc = mc, tc
        self.train_model = NAOModel(mc, deterministic=False)
        self.eval_model = NAOModel(mc, deterministic=True)
        self.optimizer = make_optimizer(tc)
        self.init = jax.jit(self._init)
        # LLVM -O1 instead of -O2 on CPU: the training loop compiles ~30% faster and runs as fast
        cpu = jax.default_backend() == "cpu"
        opts = {"xla_backend_optimization_level": 1} if cpu else None
        self.fit = jax.jit(self._fit, compiler_options=opts)
        self.fit_steps = jax.jit(self._fit_steps, compiler_options=opts)
        self.predict = jax.jit(self._predict)
        self.reconstruct = jax.jit(self._reconstruct)
        self.move = jax.jit(self._move)

    # -- parameters
    def _init(self, key: jax.Array) -> Params:
        tokens = jnp.zeros((1, self.mc.length), jnp.int32)
        return self.eval_model.init({"params": key}, tokens)["params"]

    # -- training
    def _trainer(self, tokens: jax.Array, targets: jax.Array, n: jax.Array, key: jax.Array):
        """``(padded tokens, valid rows, batches per epoch, epoch(e, (params, opt_state, last)))``:
        one epoch of shuffled mini-batches over the first ``n`` rows (the rest is padding)."""
        bs = self.tc.batch_size
        cap = tokens.shape[0]
        pad = (-cap) % bs
        tokens = jnp.pad(tokens, ((0, pad), (0, 0)))
        targets = jnp.pad(targets, (0, pad))
        cap += pad
        valid = jnp.arange(cap) < n
        n_batches = (n + bs - 1) // bs
        grad_fn = jax.value_and_grad(functools.partial(joint_loss, self.train_model, self.tc.trade_off), has_aux=True)

        def batch_step(b, carry):
            params, opt_state, perm, ek, acc = carry
            rows = jax.lax.dynamic_slice(perm, (b * bs,), (bs,))
            w = valid[rows].astype(jnp.float32)
            (loss, (mse, nll)), grads = grad_fn(params, tokens[rows], targets[rows], w, jax.random.fold_in(ek, b))
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            acc = acc + w.sum() * jnp.stack([loss, mse, nll])
            return params, opt_state, perm, ek, acc

        def epoch(e, carry):
            params, opt_state, _ = carry
            k_perm, ek = jax.random.split(jax.random.fold_in(key, e))
            order = jnp.where(valid, jax.random.uniform(k_perm, (cap,)), 2.0)
            perm = jnp.argsort(order)  # a random order of the valid rows, padding last
            params, opt_state, _, _, acc = jax.lax.fori_loop(
                0, n_batches, batch_step, (params, opt_state, perm, ek, jnp.zeros(3)))
            return params, opt_state, acc / jnp.maximum(n, 1)

        return tokens, valid, n_batches, epoch

    def _fit(self, params: Params, tokens: jax.Array, targets: jax.Array, n: jax.Array, key: jax.Array,
             epochs: jax.Array) -> tuple[Params, jax.Array]:
        """Train on the first ``n`` rows of ``tokens [C, L]`` / ``targets [C]`` (rows ``>= n`` are
        padding) for ``epochs`` epochs of shuffled mini-batches. Returns (params, ``[3]`` mean
        loss / MSE / NLL over the last epoch)."""
        _, _, _, epoch = self._trainer(tokens, targets, n, key)
        opt_state = self.optimizer.init(params)
        params, _, last = jax.lax.fori_loop(0, epochs, epoch, (params, opt_state, jnp.zeros(3)))
        return params, last

    def _fit_steps(self, params: Params, tokens: jax.Array, targets: jax.Array, n: jax.Array, key: jax.Array,
                   steps: jax.Array, legal: jax.Array, target: jax.Array, max_steps: jax.Array
                   ) -> tuple[Params, jax.Array, jax.Array, jax.Array]:
        """Train by optimiser steps, in one compiled loop: chunks of ``steps`` steps (whole epochs,
        at least ``steps``) until the greedy decoder reconstructs a fraction ``>= target`` of the
        ``n`` training sequences exactly, or ``max_steps`` steps are done (at least one chunk).
        One Adam run throughout. Returns (params, last-epoch losses ``[3]``, steps done,
        exact-reconstruction rate)."""
        padded, valid, n_batches, epoch = self._trainer(tokens, targets, n, key)
        chunk = (steps + n_batches - 1) // n_batches  # epochs per chunk

        def rate(params):
            rec = self._reconstruct(params, padded, legal)
            ok = jnp.all(rec == padded, axis=1) & valid
            return ok.sum() / jnp.maximum(n, 1)

        def cond(c):
            e, _, _, _, r = c
            return (r < target) & (e * n_batches < max_steps)

        def body(c):
            e, params, opt_state, last, _ = c
            params, opt_state, last = jax.lax.fori_loop(e, e + chunk, epoch, (params, opt_state, last))
            return e + chunk, params, opt_state, last, rate(params)

        init = (jnp.int32(0), params, self.optimizer.init(params), jnp.zeros(3), jnp.float32(-1.0))
        e, params, _, last, r = jax.lax.while_loop(cond, body, init)
        return params, last, e * n_batches, r

    # -- inference
    def _predict(self, params: Params, tokens: jax.Array) -> jax.Array:
        """Predicted (z-scored) value of each sequence ``[B]``."""
        m = self.eval_model
        enc = m.apply({"params": params}, tokens, method=NAOModel.encode)
        return cast(jax.Array, m.apply({"params": params}, enc, method=NAOModel.predict_outputs))

    def _reconstruct(self, params: Params, tokens: jax.Array, legal: jax.Array) -> jax.Array:
        """Greedy decoding of the sequences' own encodings (autoencoder round trip)."""
        m = self.eval_model
        enc = m.apply({"params": params}, tokens, method=NAOModel.encode)
        return cast(jax.Array, m.apply({"params": params}, enc, method=NAOModel.decode, legal=legal))

    def _move(self, params: Params, tokens: jax.Array, etas: jax.Array, legal: jax.Array) -> tuple[jax.Array, jax.Array]:
        """NAO's search move for each step size: ``h' = normalise(h + eta * df/dh)``, decode.

        ``tokens [K, L]``, ``etas [E]`` -> (decoded tokens ``[E, K, L]``, predicted value of the
        moved embeddings ``[E, K]``).
        """
        m = self.eval_model
        enc = m.apply({"params": params}, tokens, method=NAOModel.encode)

        def total(h):
            return m.apply({"params": params}, h, method=NAOModel.predict_outputs).sum()

        grad = jax.grad(total)(enc)

        def one(eta):
            h = l2_normalize(enc + eta * grad)
            return (m.apply({"params": params}, h, method=NAOModel.decode, legal=legal),
                    m.apply({"params": params}, h, method=NAOModel.predict_outputs))

        return jax.lax.map(one, etas)


@functools.lru_cache(maxsize=32)
def seq2seq(mc: ModelConfig, tc: TrainConfig) -> Seq2Seq:
    """The (cached) compiled functions of a config: trials of one config share compilations."""
    return Seq2Seq(mc, tc)


def capacity(n: int, batch_size: int) -> int:
    """Padded training-set size for ``n`` rows: ``batch_size * 2**k`` (few distinct compiled shapes)."""
    batches = max(1, -(-n // batch_size))
    return batch_size * (1 << (batches - 1).bit_length())

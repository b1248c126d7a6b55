"""NAO: Neural Architecture Optimization, as the authors run it on NAS-Bench-101.

Luo, Tian, Qin, Chen, Liu: "Neural Architecture Optimization", NeurIPS 2018. The NAS-Bench-101
version followed here is the authors' SemiNAS code (Luo, Tan, Wang, Qin, Chen, Liu:
"Semi-Supervised Neural Architecture Search", NeurIPS 2020; ``renqianluo/SemiNAS@2f03d96``,
``nasbench/train_seminas.py``), summarised in ``shared/notes/seed-algorithms.md``.

Algorithm. Evaluate ``n_init`` random architectures. Then, every round: train the
encoder / predictor / decoder (:mod:`strategies.models.seq2seq`) on the token sequences of every
architecture evaluated so far (``space.tokens``) with the joint loss
``trade_off * MSE + (1 - trade_off) * NLL``; take the ``top_k`` evaluated architectures as seeds;
for step sizes ``eta = 1, 2, 3, ...`` move each seed's token outputs along the predictor's gradient,
``h' = normalise(h + eta * df/dh)``, and decode greedily (every position restricted to its legal
tokens, ``space.token_types``); keep each decoded architecture that is valid, in the table and not
evaluated, until ``n_new`` are found or ``eta`` passes ``max_step``; evaluate them; repeat.

Defaults (SemiNAS NAS-Bench-101): 1,100 random architectures, then rounds of 300; top 100 seeds;
step sizes up to 100; hidden 64, predictor MLP 64 -> 16 -> 64 -> 1 (residual), dropout 0.1;
trade-off 0.8; Adam lr 1e-3, weight decay 1e-4, gradient clipping 5, batch 100; 1,000 epochs per
round. The authors stop after 3 rounds (2,000 queries); here rounds go on until the budget is spent.

Presets:

* ``small`` (budgets of 150-300 queries): 50 random architectures first, then rounds of 25 new
  ones from the top 25 seeds, 100 epochs per round (the weights are kept between rounds, so each
  round continues training). With the authors' schedule a 300-query budget would be random search
  (1,100 initial samples); the ratios of ``small`` to the budget are like the authors' (a random
  start, then rounds of a few per cent of the budget), and 100 epochs of one to three mini-batches
  keep a trial to about a minute on a CPU.
* ``test``: tiny sizes for the contract tests.

Departures from the official code, and why:

* Targets are z-scored with the mean and standard deviation of the architectures evaluated so far
  (recomputed every round); SemiNAS uses the constants 0.908192301 / 0.023961, statistics of the
  whole NAS-Bench-101 table, which a strategy must not see (and which differ per benchmark).
* The random start is uniform over the table. SemiNAS's ``generate_arch`` drops initial samples with
  validation accuracy below 0.9 without counting them, which uses table knowledge and makes its
  1,100 "queries" cost more; we count every query.
* Decoded architectures are compared by their index in the space (NAS-Bench-101: the canonical
  cell, so isomorphic decodes are one architecture); SemiNAS compares raw token sequences.
* Decoded architectures the table does not hold (``OUT_OF_TABLE``, e.g. most cells on the
  NAS-Bench-101 30k subset) are skipped like invalid ones: the oracle would answer them for free
  but with no value, so asking teaches nothing. They do not count toward the round's ``n_new``.
* If a round decodes fewer than ``n_new`` new architectures (``eta > max_step``), the rest of the
  round is filled with uniformly random unevaluated architectures so that the budget is always
  spendable (SemiNAS would evaluate fewer).
* SemiNAS's semi-supervised part (10,000 unlabelled architectures pseudo-labelled by the predictor,
  500 more epochs on the mix) is SemiNAS's own contribution, not NAO, and is not run.
* Each round trains on all evaluated architectures from the previous round's weights with a fresh
  optimiser, as SemiNAS does (``warm_start = False`` re-initialises instead).

Token sequences: one token per genotype position on product spaces (NB-201, Macro, synthetic), mapped
back to genotypes through ``token_types`` and ``space.lookup``. NAS-Bench-101's 27-token sequence
(SemiNAS's ``convert_arch_to_seq``) is decoded by the space's ``tokens_to_cell`` and looked up by
the cell's official hash; a decoded sequence is a 7-vertex cell (the decoder never emits padding,
as in SemiNAS), pruned to its canonical form. Any other space whose sequence is not one token per
genotype position must provide ``lookup_tokens(tokens [m, L]) -> indices`` (with the
``OUT_OF_TABLE`` / ``INVALID`` codes).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.benchmark import Status
from nasbench.space import INVALID, OUT_OF_TABLE, InvalidArchitecture, Space
from nasbench.spaces.nb101 import NB101Space, tokens_to_cell
from strategies.base import ConfigError, Strategy
from strategies.models.seq2seq import ModelConfig, Seq2Seq, TrainConfig, capacity, legal_mask, seq2seq
from strategies.registry import register

log = logging.getLogger(__name__)


def nb101_lookup_tokens(space: NB101Space, tokens: np.ndarray) -> np.ndarray:
    """Indices of NAS-Bench-101 27-token sequences: the space's token -> cell decoder
    (:func:`nasbench.spaces.nb101.tokens_to_cell`), then the cell's canonical index (pruning and
    the official hash); ``INVALID`` for a malformed sequence or an invalid cell."""
    out = np.empty(len(tokens), dtype=np.int64)
    for k, row in enumerate(np.asarray(tokens)):
        try:
            out[k] = space.index_of_cell(*tokens_to_cell(row))
        except InvalidArchitecture:
            out[k] = INVALID
    return out


@dataclass(frozen=True)
class NAOConfig:
    n_init: int = 1100  # random architectures before the first round
    n_new: int = 300  # new architectures per round
    top_k: int = 100  # best evaluated architectures used as seeds of the gradient moves
    max_step: int = 100  # largest step size eta (eta = 1, 2, ..., max_step)
    hidden: int = 64
    mlp_hidden: int = 16
    mlp_layers: int = 2
    dropout: float = 0.1
    trade_off: float = 0.8  # lambda: weight of the MSE; 1 - lambda on the reconstruction NLL
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    batch_size: int = 100
    epochs: int = 1000  # training epochs per round
    warm_start: bool = True  # keep the weights between rounds (SemiNAS); False: re-initialise
    step_chunk: int = 10  # step sizes decoded per compiled call (speed only; results unchanged)


@dataclass(frozen=True)
class NAOState:
    key: jax.Array
    arch: tuple[int, ...] = ()  # evaluated indices, in order
    values: tuple[float, ...] = ()  # their observed values
    params: Any = None  # the encoder / predictor / decoder weights after the last round
    rounds: int = 0


@register
class NAO(Strategy):
    name = "nao"
    paper = (
        "Luo, Tian, Qin, Chen, Liu: Neural Architecture Optimization, NeurIPS 2018 "
        "(NAS-Bench-101 version of the authors' SemiNAS code: Luo et al., Semi-Supervised Neural "
        "Architecture Search, NeurIPS 2020)"
    )
    summary = "LSTM encoder-predictor-decoder; gradient steps on the embedding of the best, decoded."
    Config = NAOConfig
    presets = {
        "small": {"n_init": 50, "n_new": 25, "top_k": 25, "epochs": 100},
        "test": {"n_init": 8, "n_new": 8, "top_k": 8, "max_step": 10, "hidden": 16, "mlp_hidden": 8,
                 "epochs": 20, "step_chunk": 5},
    }

    def __init__(self, space: Space, config: Any = None):
        super().__init__(space, config)
        c = self.config
        for f in ("n_init", "n_new", "top_k", "max_step", "hidden", "batch_size", "step_chunk"):
            if getattr(c, f) < 1:
                raise ConfigError(f"nao: {f} must be at least 1, got {getattr(c, f)}")
        if c.epochs < 0 or c.mlp_layers < 0 or not 0.0 <= c.dropout < 1.0 or not 0.0 <= c.trade_off <= 1.0:
            raise ConfigError("nao: epochs and mlp_layers must be >= 0, dropout in [0, 1), trade_off in [0, 1]")
        tokens = np.asarray(space.tokens)
        if tokens.ndim != 2 or tokens.shape[0] != space.n:
            raise ValueError(f"nao: space {space.name!r} needs tokens [n, L]; got shape {tokens.shape}")
        length = tokens.shape[1]
        if len(space.token_types) != length:
            raise ValueError(f"nao: space {space.name!r} has {len(space.token_types)} token_types for sequences of length {length}")
        self._lookup_tokens = getattr(space, "lookup_tokens", None)
        if self._lookup_tokens is None and isinstance(space, NB101Space):
            self._lookup_tokens = functools.partial(nb101_lookup_tokens, space)
        if self._lookup_tokens is None and length != len(space.cardinalities):
            raise ValueError(
                f"nao: space {space.name!r} has sequences of {length} tokens for {len(space.cardinalities)} "
                "genotype positions and no lookup_tokens(tokens) method; give the space a lookup_tokens that "
                "maps token sequences to indices (OUT_OF_TABLE / INVALID codes)"
            )
        self._tokens = tokens.astype(np.int32)
        self._legal = jnp.asarray(legal_mask(space.token_types, space.vocab))
        # token -> value at each position (-1: not legal there), for product spaces
        self._token_value = np.full((length, space.vocab), -1, dtype=np.int64)
        for p, toks in enumerate(space.token_types):
            self._token_value[p, list(toks)] = np.arange(len(toks))
        self._model = ModelConfig(space.vocab, length, c.hidden, c.mlp_hidden, c.mlp_layers, c.dropout)
        self._train = TrainConfig(c.trade_off, c.lr, c.weight_decay, c.grad_clip, c.batch_size)

    @property
    def nets(self) -> Seq2Seq:
        """The compiled encoder / predictor / decoder functions (shared by trials of one config)."""
        return seq2seq(self._model, self._train)

    # ------------------------------------------------------------------ protocol
    def init(self, key: jax.Array) -> NAOState:
        return NAOState(key=key)

    def ask(self, state: NAOState, budget_left: int) -> tuple[NAOState, np.ndarray]:
        c = self.config
        seen = np.zeros(self.space.n, dtype=bool)
        seen[list(state.arch)] = True
        n_unseen = self.space.n - len(state.arch)
        if n_unseen == 0:
            raise RuntimeError(f"nao: every architecture of {self.space.name} is evaluated")
        key, k_init, k_fit, k_fill = jax.random.split(state.key, 4)
        if len(state.arch) < c.n_init:
            m = min(c.n_init - len(state.arch), budget_left, n_unseen)
            return replace(state, key=key), self.random_unseen(k_fill, seen, m)
        m = min(c.n_new, budget_left, n_unseen)
        params = state.params if (c.warm_start and state.params is not None) else self.nets.init(k_init)
        params = self.fit(params, np.asarray(state.arch), np.asarray(state.values), k_fit)
        new = self.propose(params, np.asarray(state.arch), np.asarray(state.values), seen, m)
        if len(new) < m:
            seen[new] = True
            log.info("nao round %d: %d of %d decoded; %d random ones fill the round",
                     state.rounds + 1, len(new), m, m - len(new))
            new = np.concatenate([new, self.random_unseen(k_fill, seen, m - len(new))])
        return replace(state, key=key, params=params, rounds=state.rounds + 1), new

    def tell(self, state: NAOState, idx: np.ndarray, values: np.ndarray, status: np.ndarray) -> NAOState:
        known = set(state.arch)
        arch, vals = list(state.arch), list(state.values)
        for i, v, s in zip(np.asarray(idx).tolist(), np.asarray(values).tolist(), np.asarray(status).tolist()):
            if s in (Status.NEW, Status.CACHED) and i not in known and np.isfinite(v):
                known.add(i)
                arch.append(int(i))
                vals.append(float(v))
        return replace(state, arch=tuple(arch), values=tuple(vals))

    # ------------------------------------------------------------------ parts
    def random_unseen(self, key: jax.Array, seen: np.ndarray, m: int) -> np.ndarray:
        """``m`` distinct uniformly random indices with ``seen`` False."""
        u = np.array(jax.random.uniform(key, (self.space.n,)))
        u[seen] = np.inf
        return np.argsort(u, kind="stable")[:m].astype(np.int64)

    def fit(self, params: Any, arch: np.ndarray, values: np.ndarray, key: jax.Array) -> Any:
        """Train on the evaluated architectures (targets z-scored with their own mean and std)."""
        c = self.config
        std = values.std()
        z = (values - values.mean()) / (std if std > 0 else 1.0)
        cap = capacity(len(arch), c.batch_size)
        tokens = np.zeros((cap, self._tokens.shape[1]), np.int32)
        tokens[: len(arch)] = self._tokens[arch]
        targets = np.zeros(cap, np.float32)
        targets[: len(arch)] = z
        params, last = self.nets.fit(params, jnp.asarray(tokens), jnp.asarray(targets), len(arch), key, c.epochs)
        loss, mse, nll = (float(v) for v in np.asarray(last))
        log.info("nao: trained on %d architectures, %d epochs: loss %.4f (mse %.4f, nll %.4f)",
                 len(arch), c.epochs, loss, mse, nll)
        return params

    def lookup_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Indices (or ``OUT_OF_TABLE`` / ``INVALID``) of token sequences ``[m, L]``."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.shape[0] == 0:
            return np.zeros(0, np.int64)
        uniq, inverse = np.unique(tokens, axis=0, return_inverse=True)
        if self._lookup_tokens is not None:
            out = np.asarray(self._lookup_tokens(uniq), dtype=np.int64)
        else:
            geno = self._token_value[np.arange(uniq.shape[1]), uniq]
            bad = (geno < 0).any(axis=1)
            out = np.full(len(uniq), INVALID, dtype=np.int64)
            if (~bad).any():
                out[~bad] = self.space.lookup(geno[~bad])
        return out[inverse.reshape(-1)]

    def propose(self, params: Any, arch: np.ndarray, values: np.ndarray, seen: np.ndarray, m: int) -> np.ndarray:
        """Up to ``m`` new in-table architectures decoded from gradient moves of the top-k seeds,
        in SemiNAS's order (step size first, then seed rank)."""
        c = self.config
        order = np.argsort(-values, kind="stable")[: c.top_k]
        k = len(order)
        seeds = self._tokens[arch[np.concatenate([order, np.repeat(order[:1], c.top_k - k)])]]
        found: list[int] = []
        taken = seen.copy()
        counts = {"invalid": 0, "out_of_table": 0, "evaluated_or_repeat": 0}
        eta_reached = 0
        for start in range(1, c.max_step + 1, c.step_chunk):
            etas = np.arange(start, start + c.step_chunk, dtype=np.float32)
            toks, _ = self.nets.move(params, jnp.asarray(seeds), jnp.asarray(etas), self._legal)
            toks = np.asarray(toks)[:, :k]
            idx = self.lookup_tokens(toks.reshape(-1, toks.shape[-1])).reshape(toks.shape[:2])
            for e, eta in enumerate(etas):
                if eta > c.max_step or len(found) >= m:
                    break
                eta_reached = int(eta)
                for i in idx[e].tolist():
                    if i == INVALID:
                        counts["invalid"] += 1
                    elif i == OUT_OF_TABLE:
                        counts["out_of_table"] += 1
                    elif taken[i]:
                        counts["evaluated_or_repeat"] += 1
                    else:
                        taken[i] = True
                        found.append(i)
                        if len(found) >= m:
                            break
            if len(found) >= m:
                break
        log.info("nao: %d new architectures decoded with step sizes up to %d (%s)", len(found), eta_reached, counts)
        return np.asarray(found, dtype=np.int64)

"""NAO: Neural Architecture Optimization, as the authors run it on NAS-Bench-101.

Luo, Tian, Qin, Chen, Liu: "Neural Architecture Optimization", NeurIPS 2018. The NAS-Bench-101
version followed here is the authors' SemiNAS code (Luo, Tan, Wang, Qin, Chen, Liu:
"Semi-Supervised Neural Architecture Search", NeurIPS 2020; ``renqianluo/SemiNAS@2f03d96``,
``nasbench/train_seminas.py``).

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

* ``nao`` (unsuffixed): the authors' NAS-Bench-101 schedule above (1,100 random, rounds of 300 from
  the top 100, 1,000 epochs per round: about 11,000 steps in round 1). At a budget of 150 it is
  random search.
* ``small`` (the default suite, budget 150): the authors' ratios at a small budget: 75 random
  architectures first (the authors: 1,100 of 2,000), then rounds of 25 new ones (300 of 2,000),
  seeds the top 9% of the evaluated (``top_fraction`` 100/1,100: 7 of 75 ... 11 of 125), step
  sizes up to 100. Training is sized by optimiser steps, not epochs (an epoch of 75 cells is one
  mini-batch): chunks of 250 steps until the decoder reconstructs at least 90% of the training
  sequences exactly (``recon_target``), at most 6,000 steps a round, all in one compiled loop
  (``Seq2Seq.fit_steps`` in :mod:`strategies.models.seq2seq`). Measured on 50 random cells: nb201-cifar10
  100% after 250 steps; nb101-30k 96% after 1,250 steps (with the earlier 100 epochs: 0%, and 92% of
  decodes invalid). The record's ``recon_round1`` holds the rate each trial reached.
* ``test``: tiny sizes for the contract tests.

Diagnostics (per trial record; every query is one of the first four): ``random_init``,
``decoded_new`` (decoded as is), ``decoded_projected`` (a decode the table lacks, replaced by the
table's nearest unevaluated architecture), ``random_fill`` (the last resort when a round decodes
too few; repeated as ``random_picks``, the suite-wide name for such queries), and
``train_steps``, ``recon_round1``, ``invalid_decodes``, ``out_of_table_decodes``, ``rounds``. On
nb101-30k, where the table holds 7% of the space, nearly every new query of a round is a
projection: NAO there is a gradient move in the embedding followed by the nearest table cell.

Asynchronous workers (:mod:`experiments.harness.timed`): SemiNAS evaluates each round before the next
(``train_seminas.py``); with workers, ``ask`` comes whenever one is free, and a round trains on the
architectures answered so far and leaves those still training (``set_pending``) out of its
decodes and random draws, as it leaves out evaluated ones. Sequential trials are unchanged.

Departures from the official code, and why:

* Targets are z-scored with the mean and standard deviation of the architectures evaluated so far
  (recomputed every round); SemiNAS uses the constants 0.908192301 / 0.023961, statistics of the
  whole NAS-Bench-101 table, which a strategy must not see (and which differ per benchmark).
* The random start is uniform over the table. SemiNAS's ``generate_arch`` drops initial samples with
  validation accuracy below 0.9 without counting them, which uses table knowledge and makes its
  1,100 "queries" cost more; we count every query.
* Decoded architectures are compared by their index in the space (NAS-Bench-101: the canonical
  cell, so isomorphic decodes are one architecture); SemiNAS compares raw token sequences. Validity
  is SemiNAS's (``convert_seq_to_arch`` then ``ModelSpec`` pruning, :func:`seminas_cell`): an output
  token before the last column is accepted when pruning removes that vertex.
* NAS-Bench-101 cells of fewer than 7 vertices are written as their padding-free 7-vertex form
  (``embedded_tokens``, :func:`nb101_embedded_tokens`), for training and as seeds. SemiNAS pads
  them with 0 tokens, which its decoder never emits, so it can never reconstruct them (on the 30k
  subset that caps exact reconstruction at 86%); the embedded form decodes back to the same cell.
* Decoded architectures the table does not hold (``OUT_OF_TABLE``, most cells of the NAS-Bench-101
  30k subset; the full table holds every valid cell) are projected onto the nearest unevaluated
  table cell (``project``), the TPE adapter's rule, and count toward the round's ``n_new``. (The
  earlier version skipped them and filled the round with uniform random cells: about 87 of 100
  post-initial queries on nb101-30k were random.)
* If a round still decodes fewer than ``n_new`` (``eta > max_step``), the rest of the round is
  filled with uniformly random unevaluated architectures, counted as ``random_fill`` (SemiNAS would
  evaluate fewer).
* Later rounds train on the sequences the decoder produced for the architectures it proposed
  (``train_on_decoded``, SemiNAS's ``seq_pool``); projected and random ones on their own sequence.
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
from nasbench.spaces.nb101 import (
    CONV1X1,
    CONV3X3,
    INPUT,
    MAX_VERTICES,
    MAXPOOL3X3,
    OUTPUT,
    NB101Space,
    canonical_cell,
    cell_to_genotype,
    cell_to_tokens,
    genotype_to_cell,
    tokens_to_cell,
)
from strategies.base import ConfigError, Strategy
from strategies.models.seq2seq import ModelConfig, Seq2Seq, TrainConfig, capacity, legal_mask, seq2seq
from strategies.registry import register

log = logging.getLogger(__name__)


_SEMINAS_OP = {3: CONV1X1, 4: CONV3X3, 5: MAXPOOL3X3, 6: OUTPUT}


def seminas_cell(tokens: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The cell SemiNAS builds from a 27-token sequence (``utils.convert_seq_to_arch``): the 7x7
    matrix of every edge token and one label per column, an output token (6) before the last
    column included; ``ModelSpec`` then prunes it, so a sequence whose early output vertex is
    dangling is a valid cell (the official library's ``ModelSpec`` pruning). A sequence with padding (0: the canonical
    form of a smaller cell; the decoder never emits it) is read by :func:`tokens_to_cell`."""
    t = [int(x) for x in np.asarray(tokens).reshape(-1)]
    if 0 in t:
        return tokens_to_cell(t)
    m = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
    ops = [INPUT]
    for i in range(MAX_VERTICES - 1):
        off = (i + 3) * i // 2
        for j in range(i + 1):
            m[j, i + 1] = t[off + j] - 1
        if t[off + i + 1] not in _SEMINAS_OP:
            raise InvalidArchitecture(f"NB101 tokens: op token {t[off + i + 1]} at column {i + 1}")
        ops.append(_SEMINAS_OP[t[off + i + 1]])
    return m, ops


def nb101_lookup_tokens(space: NB101Space, tokens: np.ndarray) -> np.ndarray:
    """Indices of NAS-Bench-101 27-token sequences under SemiNAS's rule (:func:`seminas_cell`,
    then pruning and the official hash); ``INVALID`` for a malformed sequence or an invalid cell."""
    out = np.empty(len(tokens), dtype=np.int64)
    for k, row in enumerate(np.asarray(tokens)):
        try:
            out[k] = space.index_of_cell(*seminas_cell(row))
        except (InvalidArchitecture, ValueError):
            out[k] = INVALID
    return out


_EMBEDDED_TOKENS: dict[int, tuple[Any, np.ndarray]] = {}


def nb101_embedded_tokens(space: NB101Space) -> np.ndarray:
    """Every cell of ``space`` as a 27-token sequence *without padding*: the embedded 7-vertex form
    of its genotype (a smaller cell keeps vertices ``0 .. V-2``, its output at vertex 6, and
    isolated placeholder vertices in between, which pruning removes), written by SemiNAS's
    ``convert_arch_to_seq``. The decoder can emit this sequence, and SemiNAS's validity rule reads
    it back as the same cell; the padded canonical sequence of a smaller cell it can never emit."""
    hit = _EMBEDDED_TOKENS.get(id(space))
    if hit is None or hit[0] is not space:
        toks = np.stack([cell_to_tokens(*genotype_to_cell(g)) for g in space.genotypes]).astype(np.int32)
        _EMBEDDED_TOKENS[id(space)] = hit = (space, toks)
    return hit[1]


def nb101_token_genotypes(tokens: np.ndarray) -> np.ndarray:
    """Genotypes (embedded pruned cells) of valid 27-token sequences, for the nearest-cell rule."""
    return np.stack([cell_to_genotype(*canonical_cell(*seminas_cell(row))) for row in np.asarray(tokens)])


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
    epochs: int = 1000  # training epochs per round (SemiNAS), used when steps = 0
    steps: int = 0  # > 0: train by optimiser steps, in chunks of this many (see recon_target)
    recon_target: float = 0.0  # with steps: train until this fraction of the training sequences reconstructs exactly
    max_steps: int = 20_000  # with steps: the most optimiser steps per round
    top_fraction: float = 0.0  # > 0: seeds are this fraction of the evaluated (SemiNAS: 100 of 1,100); else top_k
    train_on_decoded: bool = True  # train on the decoded sequences as proposed (SemiNAS's seq_pool)
    project: bool = True  # a decode the table lacks -> the nearest unevaluated architecture of the table
    embedded_tokens: bool = True  # NB-101: smaller cells as their padding-free 7-vertex form (decodable)
    warm_start: bool = True  # keep the weights between rounds (SemiNAS); False: re-initialise
    step_chunk: int = 10  # step sizes decoded per compiled call (speed only; results unchanged)


@dataclass(frozen=True)
class NAOState:
    key: jax.Array
    arch: tuple[int, ...] = ()  # evaluated indices, in order
    values: tuple[float, ...] = ()  # their observed values
    params: Any = None  # the encoder / predictor / decoder weights after the last round
    rounds: int = 0
    seqs: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (index, the decoded sequence it was proposed as)
    counts: tuple[tuple[str, float], ...] = ()  # diagnostics counters, as (name, value) pairs
    running: tuple[int, ...] = ()  # set_pending: training on other workers, never proposed again


COUNTERS = ("random_init", "decoded_new", "decoded_projected", "random_fill", "train_steps",
            "recon_round1", "invalid_decodes", "out_of_table_decodes")

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
    version = 2  # 2: training sized by steps to a reconstruction target, SemiNAS validity, projection, diagnostics
    presets = {
        "small": {"n_init": 75, "n_new": 25, "top_fraction": 100 / 1100, "steps": 250, "recon_target": 0.9,
                  "max_steps": 6000},
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
        if isinstance(space, NB101Space) and c.embedded_tokens:
            tokens = nb101_embedded_tokens(space)
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

    def set_pending(self, state: NAOState, pending: np.ndarray) -> NAOState:
        return replace(state, running=tuple(int(i) for i in np.asarray(pending).reshape(-1)))

    def ask(self, state: NAOState, budget_left: int) -> tuple[NAOState, np.ndarray]:
        c = self.config
        seen = np.zeros(self.space.n, dtype=bool)
        seen[list(state.arch)] = True
        seen[list(state.running)] = True
        n_unseen = int((~seen).sum())
        if n_unseen == 0:
            raise RuntimeError(f"nao: every architecture of {self.space.name} is evaluated")
        key, k_init, k_fit, k_fill = jax.random.split(state.key, 4)
        counts = dict.fromkeys(COUNTERS, 0.0) | dict(state.counts)
        if len(state.arch) < c.n_init:
            m = min(c.n_init - len(state.arch), budget_left, n_unseen)
            counts["random_init"] += m
            return replace(state, key=key, counts=tuple(counts.items())), self.random_unseen(k_fill, seen, m)
        m = min(c.n_new, budget_left, n_unseen)
        params = state.params if (c.warm_start and state.params is not None) else self.nets.init(k_init)
        params, steps, recon = self.fit(params, np.asarray(state.arch), np.asarray(state.values), k_fit, dict(state.seqs))
        counts["train_steps"] += steps
        if state.rounds == 0:
            counts["recon_round1"] = recon
        rng = np.random.default_rng(np.asarray(jax.random.key_data(k_fill)).ravel().tolist())
        new, seqs, pc = self.propose(params, np.asarray(state.arch), np.asarray(state.values), seen, m, rng)
        for k, v in pc.items():
            counts[k] += v
        if len(new) < m:
            seen[new] = True
            log.info("nao round %d: %d of %d decoded; %d random ones fill the round",
                     state.rounds + 1, len(new), m, m - len(new))
            counts["random_fill"] += m - len(new)
            new = np.concatenate([new, self.random_unseen(k_fill, seen, m - len(new))])
        return replace(state, key=key, params=params, rounds=state.rounds + 1, seqs=state.seqs + tuple(seqs),
                       counts=tuple(counts.items())), new

    def diagnostics(self, state: NAOState) -> dict[str, float]:
        counts = {**dict.fromkeys(COUNTERS, 0.0), **dict(state.counts)}
        return {**counts, "rounds": state.rounds, "random_picks": counts["random_fill"]}

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

    def fit(self, params: Any, arch: np.ndarray, values: np.ndarray, key: jax.Array,
            seqs: dict[int, tuple[int, ...]] | None = None) -> tuple[Any, int, float]:
        """Train on the evaluated architectures (targets z-scored with their own mean and std) —
        as the sequences they were proposed as, when decoded (``seqs``) and ``train_on_decoded``.
        Returns (params, optimiser steps, exact-reconstruction rate of the training sequences)."""
        c = self.config
        std = values.std()
        z = (values - values.mean()) / (std if std > 0 else 1.0)
        cap = capacity(len(arch), c.batch_size)
        tokens = np.zeros((cap, self._tokens.shape[1]), np.int32)
        tokens[: len(arch)] = self._tokens[arch]
        if seqs and c.train_on_decoded:
            for k, i in enumerate(arch.tolist()):
                if i in seqs:
                    tokens[k] = seqs[i]
        targets = np.zeros(cap, np.float32)
        targets[: len(arch)] = z
        tok, tgt = jnp.asarray(tokens), jnp.asarray(targets)
        if c.steps > 0:
            params, last, steps, recon = self.nets.fit_steps(
                params, tok, tgt, len(arch), key, c.steps, self._legal, c.recon_target, c.max_steps)
            steps, recon = int(steps), float(recon)
        else:
            params, last = self.nets.fit(params, tok, tgt, len(arch), key, c.epochs)
            steps = c.epochs * (-(-len(arch) // c.batch_size))
            rec = np.asarray(self.nets.reconstruct(params, tok, self._legal))[: len(arch)]
            recon = float((rec == tokens[: len(arch)]).all(axis=1).mean())
        loss, mse, nll = (float(v) for v in np.asarray(last))
        log.info("nao: trained on %d architectures, %d steps: loss %.4f (mse %.4f, nll %.4f), reconstruction %.2f",
                 len(arch), steps, loss, mse, nll, recon)
        return params, steps, recon

    def token_genotypes(self, tokens: np.ndarray) -> np.ndarray:
        """Genotypes of valid token sequences ``[m, L]`` (for the nearest-cell rule)."""
        if isinstance(self.space, NB101Space):
            return nb101_token_genotypes(tokens)
        return self._token_value[np.arange(tokens.shape[1]), np.asarray(tokens, dtype=np.int64)]

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

    def propose(self, params: Any, arch: np.ndarray, values: np.ndarray, seen: np.ndarray, m: int,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, list, dict[str, int]]:
        """Up to ``m`` new in-table architectures decoded from gradient moves of the top seeds, in
        SemiNAS's order (step size first, then seed rank). A decode the table lacks is replaced by
        the table's nearest unevaluated architecture (Hamming distance on the genotype, random
        ties) when ``project``. Returns (indices, ``[(index, decoded sequence)]`` of those decoded
        as they are, counts)."""
        c = self.config
        n_top = max(1, int(np.ceil(c.top_fraction * len(arch)))) if c.top_fraction > 0 else c.top_k
        order = np.argsort(-values, kind="stable")[:n_top]
        k = len(order)
        seeds = self._tokens[arch[order]]
        pad = (-k) % c.step_chunk if c.top_fraction > 0 else c.top_k - k  # few compiled shapes
        seeds = np.concatenate([seeds, np.repeat(seeds[:1], pad, axis=0)])
        rng = rng or np.random.default_rng(0)
        genotypes = np.asarray(self.space.genotypes, dtype=np.int64)
        found: list[int] = []
        decoded: list[tuple[int, tuple[int, ...]]] = []
        taken = seen.copy()
        counts = {"invalid_decodes": 0, "out_of_table_decodes": 0, "decoded_new": 0, "decoded_projected": 0}
        repeats = eta_reached = 0
        for start in range(1, c.max_step + 1, c.step_chunk):
            etas = np.arange(start, start + c.step_chunk, dtype=np.float32)
            toks, _ = self.nets.move(params, jnp.asarray(seeds), jnp.asarray(etas), self._legal)
            toks = np.asarray(toks)[:, :k]
            idx = self.lookup_tokens(toks.reshape(-1, toks.shape[-1])).reshape(toks.shape[:2])
            for e, eta in enumerate(etas):
                if eta > c.max_step or len(found) >= m:
                    break
                eta_reached = int(eta)
                for row, i in zip(toks[e], idx[e].tolist()):
                    if i == INVALID:
                        counts["invalid_decodes"] += 1
                    elif i == OUT_OF_TABLE:
                        counts["out_of_table_decodes"] += 1
                        if c.project and not taken.all():
                            g = self.token_genotypes(row[None])[0]
                            dist = np.where(taken, np.iinfo(np.int64).max, (genotypes != g[None, :]).sum(axis=1))
                            ties = np.flatnonzero(dist == dist.min())
                            j = int(ties[rng.integers(len(ties))])
                            taken[j] = True
                            found.append(j)
                            counts["decoded_projected"] += 1
                    elif taken[i]:
                        repeats += 1
                    else:
                        taken[i] = True
                        found.append(i)
                        decoded.append((i, tuple(int(t) for t in row)))
                        counts["decoded_new"] += 1
                    if len(found) >= m:
                        break
            if len(found) >= m:
                break
        log.info("nao: %d new architectures with step sizes up to %d (%s, %d repeats)", len(found), eta_reached,
                 counts, repeats)
        return np.asarray(found, dtype=np.int64), decoded, counts

"""Live benchmarks: ``train-nb201`` and ``train-nb101``, whose oracle trains what a strategy asks for.

The space is the table benchmarks' space (``train-nb201``: all 15,625 NB-201 cells;
``train-nb101``: the 30,001 cells of the real NB-101 subset, ``nb101-30k``'s space, which loads in
a fraction of a second where the full 423,624-cell space needs the official 499 MB file). A query
of architecture ``i`` trains its network with the jitted training path
(:mod:`nasbench.train.trainer`) on CIFAR-10 and answers the validation accuracy: in **percent**
for ``train-nb201`` and as a **fraction** for ``train-nb101``, the units of the matching tables.
Its cost is the measured wall time of the training call (initialisation, compile when one
happens, steps and evaluation), in seconds.

Every training run is cached on disk (:func:`nasbench.train.trainer.cached_train_and_evaluate`)
by architecture (NB-101 module hash / NB-201 arch string), training config, seed and data (source
checksum and subset sizes), so a repeated query, another trial of the same suite or a resumed run
never retrains; a cache hit answers the value and the cost recorded when it was trained, so
records are reproducible.

Noise: each architecture has ``repeats`` possible training runs (seeds ``seed .. seed+repeats-1``,
default ``repeats=1``). ``"sample"`` (the default) answers run ``randint(fold_in(noise_key, i),
repeats)``, as the table benchmarks draw a recorded repeat; ``"mean"`` trains every run and
answers their mean (cost: their sum).

Configuration (environment, or keyword arguments of :func:`live_benchmark`):

* ``NASARENA_TRAIN_PRESET``: ``proxy`` (default where JAX's backend is the CPU) or ``full``
  (default on an accelerator). ``proxy``: train-nb201 uses
  :func:`~nasbench.train.trainer.nb201_proxy_config` (C = 8, N = 1, batch 64, 1 epoch) and
  train-nb101 :func:`~nasbench.train.trainer.proxy_config` (C = 16, 1 stack of 1 cell, batch 64,
  1 epoch), both on 5,000 training and 2,000 validation images (a fixed random subset, see
  :func:`subset`), no test evaluation.
  ``full``: NB-201's own training (C = 16, N = 5, 200 epochs) / NB-101's (C = 128, 3 x 3 cells,
  108 epochs) on the whole 40,000 / 10,000 / 10,000 split.
* ``NASARENA_TRAIN``: comma-separated ``key=value`` overrides of any
  :class:`~nasbench.train.trainer.TrainConfig` field (``epochs=2,channels=16,compile_mode=masked``)
  or of :class:`LiveConfig`'s ``n_train``, ``n_valid``, ``n_test`` (``all`` for the whole split),
  ``seed``, ``repeats``, ``vmap`` (train up to that many new architectures of one query at once
  with :func:`~nasbench.train.trainer.train_many`), ``cache_folder`` and ``parallel``.

Parallel training (``NASARENA_TRAIN="parallel=ray"``, or ``parallel="ray"``; needs the ``ray``
extra, ``pip install -e '.[ray]'``): the new, uncached training runs of one query (a strategy's
whole ``ask`` batch) are trained at once as Ray tasks, one GPU each where the cluster has GPUs
(:func:`nasbench.parallel.ray_tasks.evaluate_batch_ray`: Ray is started if it is not yet, on the
cluster ``$RAY_ADDRESS`` names or locally). Each task runs
:func:`~nasbench.train.trainer.cached_train_and_evaluate`, so the worker writes the result into the
disk cache, and a query's answers keep their order and their cost (that run's measured training
wall time), as with ``parallel=local`` (the default, training in this process). The cache folder
must therefore be on a filesystem every worker shares, at the same path (``cache_folder`` or
``$NASARENA_CACHE`` as the driver resolves it), and every worker must find the same CIFAR-10 file
(the driver's ``data_dir``, else the worker's ``$NASARENA_DATA``). A run that still fails after
Ray's retries raises :class:`LiveTrainingError`; the runs of that query that did finish are cached.
``vmap`` > 1 is for local training only.

There is no ground truth: the harness's targets are unknown. :class:`LiveTruth` says so
(``known`` is false, :meth:`LiveTruth.target` returns ``None``, the optimum is NaN), and its
``truth`` array holds the trained values of the architectures trained so far in this process (NaN
elsewhere), which is what trial records report as ``truth``. The oracle cannot be vectorised
(``vectorizable`` is false; :meth:`LiveBenchmark.arrays` raises), so the in-process executor runs
live trials through the ask/tell loop.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nasbench.benchmark import NOISE_MODELS, OracleLedger, QueryResult, Status
from nasbench.data import cache_dir, find_file, source_checksum
from nasbench.errors import UnknownName
from nasbench.registry import register
from nasbench.space import OUT_OF_TABLE, Space

log = logging.getLogger(__name__)

ENV_PRESET = "NASARENA_TRAIN_PRESET"
ENV_OVERRIDES = "NASARENA_TRAIN"
#: live benchmark name -> space family
LIVE: dict[str, str] = {"train-nb201": "nb201", "train-nb101": "nb101"}
LIVE_FIELDS = ("n_train", "n_valid", "n_test", "seed", "repeats", "vmap", "cache_folder", "parallel")
PARALLEL = ("local", "ray")


class LiveTrainingError(RuntimeError):
    """Training runs of a query that failed on every attempt (``parallel=ray``)."""


@dataclasses.dataclass(frozen=True)
class LiveConfig:
    """How a live benchmark trains: the training config, the data subset, seeds and batching."""

    train: Any  # nasbench.train.trainer.TrainConfig
    preset: str
    n_train: int | None = 5000  # images of the training split (a fixed random subset; None: all)
    n_valid: int | None = 2000
    n_test: int | None = 0
    seed: int = 0
    repeats: int = 1
    vmap: int = 1
    cache_folder: str | None = None
    parallel: str = "local"  # "local": train in this process; "ray": a query's new runs as Ray tasks

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if self.vmap < 1:
            raise ValueError(f"vmap must be >= 1, got {self.vmap}")
        if self.parallel not in PARALLEL:
            raise ValueError(f"parallel must be one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        if self.parallel == "ray" and self.vmap > 1:
            raise ValueError(
                "vmap > 1 trains in this process: use it with parallel=local (parallel=ray: one run a task)"
            )


def default_preset() -> str:
    """``proxy`` on a CPU backend, ``full`` on an accelerator (``$NASARENA_TRAIN_PRESET`` wins)."""
    env = os.environ.get(ENV_PRESET, "").strip()
    if env:
        return env
    return "proxy" if jax.default_backend() == "cpu" else "full"


def _parse_value(text: str, current: Any, field_type: str) -> Any:
    t = text.strip()
    if t.lower() in ("none", "all", "null"):
        return None
    if isinstance(current, bool) or "bool" in field_type:
        if t.lower() in ("1", "true", "yes", "on"):
            return True
        if t.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if "int" in field_type and "float" not in field_type:
        return int(t)
    if "float" in field_type:
        return float(t)
    return t


def parse_overrides(text: str) -> dict[str, str]:
    """``"a=1, b=x"`` -> ``{"a": "1", "b": "x"}``."""
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{ENV_OVERRIDES}: {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def live_config(space: str, preset: str | None = None, **overrides: Any) -> LiveConfig:
    """The :class:`LiveConfig` of family ``space`` (``"nb201"`` / ``"nb101"``): ``preset`` (default
    :func:`default_preset`), then ``$NASARENA_TRAIN``, then ``overrides`` (typed values)."""
    from nasbench.train import trainer

    preset = preset or default_preset()
    if preset == "proxy":
        train = trainer.nb201_proxy_config() if space == "nb201" else trainer.proxy_config()
        live: dict[str, Any] = {"n_train": 5000, "n_valid": 2000, "n_test": 0}
    elif preset == "full":
        train = trainer.nb201_config() if space == "nb201" else trainer.nb101_config()
        live = {"n_train": None, "n_valid": None, "n_test": None}
    else:
        raise ValueError(f"{ENV_PRESET} must be 'proxy' or 'full', got {preset!r}")
    fields = {f.name: str(f.type) for f in dataclasses.fields(trainer.TrainConfig)}
    live_types = {f.name: str(f.type) for f in dataclasses.fields(LiveConfig)}
    train_kw: dict[str, Any] = {}
    for key, text in parse_overrides(os.environ.get(ENV_OVERRIDES, "")).items():
        if key in LIVE_FIELDS:
            live[key] = _parse_value(text, None, live_types[key])
        elif key in fields:
            train_kw[key] = _parse_value(text, getattr(train, key), fields[key])
        else:
            raise ValueError(
                f"{ENV_OVERRIDES}: unknown key {key!r}; use a TrainConfig field ({', '.join(fields)}) "
                f"or one of {', '.join(LIVE_FIELDS)}"
            )
    for key, value in overrides.items():
        if key in LIVE_FIELDS:
            live[key] = value
        elif key in fields:
            train_kw[key] = value
        else:
            raise TypeError(f"live_config: unknown option {key!r}")
    if "space" in train_kw and train_kw["space"] != space:
        raise ValueError(f"a live {space} benchmark trains {space} networks, not {train_kw['space']}")
    return LiveConfig(train=dataclasses.replace(train, **train_kw), preset=preset, **live)


# ------------------------------------------------------------------------------ data
_DATA: dict[tuple, dict[str, np.ndarray]] = {}


def cifar_source(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The CIFAR-10 file the live benchmarks read (raises ``DataNotFound`` saying how to get it)."""
    from nasbench.train import cifar

    return find_file(cifar.FILES, data_dir, "CIFAR-10")


def subset(
    arrays: dict[str, np.ndarray], n_train: int | None, n_valid: int | None, n_test: int | None
) -> dict[str, np.ndarray]:
    """Each split cut to ``n`` images drawn by a fixed permutation (``numpy`` seed 0; ``None``:
    the whole split). Never the first ``n``: the JPEG copy's splits are sorted by class."""
    out = {}
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if n is None or int(n) >= len(x):
            out[f"{split}_x"], out[f"{split}_y"] = x, y.astype(np.int32)
            continue
        idx = np.sort(np.random.default_rng(0).permutation(len(x))[: int(n)])
        out[f"{split}_x"], out[f"{split}_y"] = x[idx], y[idx].astype(np.int32)
    return out


def load_data(cfg: LiveConfig, data_dir: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """CIFAR-10 (NB-101 split) cut to the config's subset sizes; decoded once, kept per process."""
    from nasbench.train import cifar

    source = cifar_source(data_dir)
    key = (str(source), cfg.n_train, cfg.n_valid, cfg.n_test)
    if key not in _DATA:
        _DATA[key] = subset(cifar.load_cifar10(data_dir), cfg.n_train, cfg.n_valid, cfg.n_test)
    return _DATA[key]


# ------------------------------------------------------------------------------ the benchmark
class LiveTruth:
    """The harness's view of a live benchmark's (absent) ground truth.

    ``known`` is false; :meth:`target` returns ``None`` (no threshold, no count); ``optimum`` is
    NaN; ``truth`` is an ``[n]`` array of the values trained so far in this process (the mean over
    trained repeats), NaN elsewhere; ``n_valid`` is the size of the space (every architecture can
    be trained).
    """

    known = False

    def __init__(self, bench: LiveBenchmark):
        self._bench = bench
        self.metric = f"{bench.metric} (trained now; no table)"

    @property
    def truth(self) -> np.ndarray:
        out = np.full(self._bench.n_space, np.nan)
        for i, runs in self._bench._results.items():
            out[i] = float(np.mean([r["value"] for r in runs.values()]))
        return out

    @property
    def optimum(self) -> float:
        return float("nan")

    @property
    def n_valid(self) -> int:
        return self._bench.n_space

    def target(self, top: float | None = None) -> None:
        """``None``: a live benchmark has no table, so no target threshold is known."""
        return None


class LiveBenchmark:
    """A space plus an oracle that trains (duck-types :class:`nasbench.benchmark.Benchmark`)."""

    live = True
    vectorizable = False
    maximize = True

    def __init__(
        self,
        name: str,
        space: Space,
        config: LiveConfig,
        data_dir: str | os.PathLike[str] | None = None,
        noise: str = "sample",
        source: Path | None = None,
    ):
        if noise not in NOISE_MODELS:
            raise ValueError(f"noise model must be one of {NOISE_MODELS}, got {noise!r}")
        self.name = name
        self.space = space
        self.config = config
        self.family = config.train.space
        self.data_dir = None if data_dir is None else str(data_dir)
        self.noise = noise
        self.metric = (
            "validation accuracy (%) after live training"
            if self.family == "nb201"
            else "validation accuracy (fraction) after live training"
        )
        self.source = source if source is not None else cifar_source(data_dir)
        sha = source_checksum(self.source)
        self.checksums = {self.source.name: sha}
        self.data_id = f"{self.source.name}:{sha[:16]}:{config.n_train}/{config.n_valid}/{config.n_test}"
        self.sources = (
            "live training (nasbench.train) on CIFAR-10 (Krizhevsky, 2009), NB-101 split",
            f"file: {self.source}",
            f"training config: {config.train.key()}",
        )
        self._results: dict[int, dict[int, dict[str, Any]]] = {}
        self.truth = LiveTruth(self)

    # ------------------------------------------------------------- Benchmark-like interface
    @property
    def n_space(self) -> int:
        return self.space.n

    @property
    def n_table(self) -> int:
        """Every architecture of the space can be trained."""
        return self.space.n

    @property
    def in_table(self) -> np.ndarray:
        return np.ones(self.space.n, dtype=bool)

    @property
    def cost(self) -> np.ndarray:
        """``[n]`` measured training seconds (mean over trained repeats; NaN where not trained)."""
        out = np.full(self.n_space, np.nan)
        for i, runs in self._results.items():
            out[i] = float(np.mean([r["cost"] for r in runs.values()]))
        return out

    def info(self) -> dict[str, Any]:
        c = self.config
        return {
            "name": self.name,
            "n_space": self.n_space,
            "n_table": self.n_table,
            "metric": self.metric,
            "optimum": float("nan"),
            "noise": self.noise,
            "repeats": c.repeats,
            "live": True,
            "preset": c.preset,
            "train_config": c.train.key(),
            "data": self.data_id,
        }

    def with_noise(self, noise: str) -> LiveBenchmark:
        """The same benchmark (sharing its trained results) under another noise model."""
        if noise == self.noise:
            return self
        other = copy.copy(self)
        if noise not in NOISE_MODELS:
            raise ValueError(f"noise model must be one of {NOISE_MODELS}, got {noise!r}")
        other.noise = noise
        other.truth = LiveTruth(other)
        return other

    def oracle(self, noise_key: jax.Array) -> LiveOracle:
        return LiveOracle(self, noise_key)

    def arrays(self) -> Any:
        raise TypeError(
            f"{self.name} is a live benchmark: its oracle trains networks, so trials cannot be "
            "vectorised (no arrays to gather); run them through the ask/tell loop (run_trial)"
        )

    observe_fn = arrays
    observe_jit = arrays

    # ------------------------------------------------------------------- training
    def cell(self, idx: int) -> Any:
        """The cell of architecture ``idx`` as the trainer takes it."""
        if self.family == "nb201":
            return tuple(int(v) for v in self.space.genotypes[int(idx)])
        return self.space.cell(int(idx))  # type: ignore[attr-defined]

    def seeds_for(self, idx: int, noise_key: jax.Array) -> list[int]:
        """The training seeds whose results answer a query of ``idx`` under this noise model."""
        c = self.config
        if self.noise == "mean":
            return [c.seed + r for r in range(c.repeats)]
        if c.repeats == 1:
            return [c.seed]
        r = int(jax.random.randint(jax.random.fold_in(noise_key, int(idx)), (), 0, c.repeats))
        return [c.seed + r]

    def _value(self, r: dict[str, Any]) -> float:
        v = float(r["val_acc"])
        return 100.0 * v if self.family == "nb201" else v

    def train(self, jobs: list[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
        """Results of ``(index, seed)`` runs: from memory, the disk cache, or trained now."""
        from nasbench.train import trainer

        c = self.config
        out: dict[tuple[int, int], dict[str, Any]] = {}
        todo: list[tuple[int, int]] = []
        for i, seed in jobs:
            if seed in self._results.get(i, {}):
                out[(i, seed)] = self._results[i][seed]
                continue
            hit = trainer.read_cached(self._cache_path(i, seed))
            if hit is not None:
                out[(i, seed)] = self._store(i, seed, hit)
            else:
                todo.append((i, seed))
        if todo and c.parallel == "ray":
            out.update(self._train_ray(todo))
        elif todo:
            data = load_data(c, self.data_dir)
            for start in range(0, len(todo), c.vmap):
                chunk = todo[start : start + c.vmap]
                if len(chunk) == 1:
                    (i, seed) = chunk[0]
                    r = trainer.train_and_evaluate(self.cell(i), data, c.train, jax.random.key(seed))
                    results = [r]
                else:
                    results = trainer.train_many(
                        [self.cell(i) for i, _ in chunk], data, c.train, [jax.random.key(s) for _, s in chunk]
                    )
                for (i, seed), r in zip(chunk, results):
                    rec = trainer.write_cached(self._cache_path(i, seed), r, self.cell(i), c.train, seed, self.data_id)
                    out[(i, seed)] = self._store(i, seed, rec)
        return out

    def _train_ray(self, todo: list[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
        """Train ``todo`` as one batch of Ray tasks (each worker writes its result to the disk cache)
        and store the results; raises :class:`LiveTrainingError` naming the runs that failed."""
        from nasbench.parallel import ray_tasks
        from nasbench.train import trainer

        ray_tasks.require_ray(f"{ENV_OVERRIDES} parallel=ray")
        c = self.config
        folder = str(Path(c.cache_folder) if c.cache_folder is not None else cache_dir() / "train")
        job = functools.partial(_train_job, c, self.data_dir, self.data_id, folder)
        results = ray_tasks.evaluate_batch_ray(job, [(self.cell(i), seed) for i, seed in todo])
        out, failed = {}, []
        for (i, seed), r in zip(todo, results):
            if isinstance(r, ray_tasks.EvalFailure):
                arch = trainer.arch_id(self.cell(i), c.train)
                failed.append(f"architecture {i} ({arch}), seed {seed}, {r.attempts} attempts: {r.error}")
            else:
                out[(i, seed)] = self._store(i, seed, r)
        if failed:
            raise LiveTrainingError(
                f"{self.name}: {len(failed)} of {len(todo)} training runs failed on Ray after retries "
                f"(the others are stored and cached; a rerun trains only these):\n  " + "\n  ".join(failed)
            )
        return out

    def _cache_path(self, i: int, seed: int) -> Path:
        from nasbench.train import trainer

        return trainer.cache_path(self.cell(i), self.config.train, seed, self.data_id, self.config.cache_folder)

    def _store(self, i: int, seed: int, rec: dict[str, Any]) -> dict[str, Any]:
        res = {"value": self._value(rec), "cost": float(rec.get("wall_time", rec["train_time"])), "record": rec}
        self._results.setdefault(i, {})[seed] = res
        return res


class LiveOracle(OracleLedger):
    """The per-trial oracle of a live benchmark: the same protocol as :class:`nasbench.benchmark.Oracle`;
    every architecture of the space is answerable (it is trained when first asked for)."""

    def query(self, idx: np.ndarray | list[int]) -> QueryResult:
        """Answer a batch of indices, training the new ones (see :class:`Status`)."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        new = self.charges(idx)
        uniq = [int(i) for i in idx[new]]
        new_cost: dict[int, float] = {}
        if uniq:
            seeds = {i: self._bench.seeds_for(i, self._key) for i in uniq}
            runs = self._bench.train([(i, s) for i in uniq for s in seeds[i]])
            for i in uniq:
                rs = [runs[(i, s)] for s in seeds[i]]
                v = float(np.mean([r["value"] for r in rs]))
                new_cost[i] = float(sum(r["cost"] for r in rs))
                self._seen[i] = v
                self.evaluated.append(i)
                self.observed.append(v)
                self.costs.append(new_cost[i])
        values = np.full(idx.size, np.nan)
        status = np.empty(idx.size, dtype=np.int8)
        cost = np.zeros(idx.size)
        for k, i in enumerate(int(v) for v in idx):
            if new[k]:
                status[k], values[k], cost[k] = Status.NEW, self._seen[i], new_cost[i]
            elif i in self._seen:
                status[k], values[k] = Status.CACHED, self._seen[i]
            elif i == OUT_OF_TABLE:
                status[k] = Status.OUT_OF_TABLE
            else:
                status[k] = Status.INVALID
        return QueryResult(values=values, status=status, cost=cost)


def _train_job(cfg: LiveConfig, data_dir: str | None, data_id: str, folder: str, job: tuple[Any, int]) -> dict:
    """One Ray task of ``parallel=ray``: train ``job = (cell, seed)`` through the disk cache."""
    from nasbench.train import trainer

    cell, seed = job
    return trainer.cached_train_and_evaluate(cell, load_data(cfg, data_dir), cfg.train, seed, data_id, folder)


# ------------------------------------------------------------------------------ construction
def _space(family: str, data_dir: str | os.PathLike[str] | None) -> Space:
    if family == "nb201":
        from nasbench.spaces.nb201 import nb201_space

        return nb201_space()
    from nasbench.tables import nb101 as T

    _, arrays = T.subset_table(data_dir)
    return T._space(arrays, "nb101-30k")


def live_benchmark(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    preset: str | None = None,
    noise: str = "sample",
    **overrides: Any,
) -> LiveBenchmark:
    """Live benchmark ``name`` (``train-nb201`` / ``train-nb101``) with a preset and overrides
    (see the module docstring). Cheap: data are read at the first query that trains."""
    if name not in LIVE:
        raise UnknownName(f"unknown live benchmark {name!r}; known: {', '.join(LIVE)}")
    family = LIVE[name]
    source = cifar_source(data_dir)  # fail early, naming where to get CIFAR-10
    cfg = live_config(family, preset, **overrides)
    return LiveBenchmark(name, _space(family, data_dir), cfg, data_dir, noise, source)


def _how_to_get(name: str) -> str:
    from nasbench.train.cifar import HOW_TO_GET

    extra = "" if name == "train-nb201" else "; and the NB-101 subset (see nb101-30k)"
    return f"CIFAR-10: {HOW_TO_GET}{extra}"


def _files(name: str) -> tuple:
    """The data files a live benchmark reads (for ``nasarena data``)."""
    from nasbench.train.cifar import FILES

    if name == "train-nb201":
        return FILES
    from nasbench.tables.nb101 import SUBSET_FILE

    return (*FILES, SUBSET_FILE)


@register(
    "train-nb201",
    "Live NAS-Bench-201: each query trains the cell on CIFAR-10 (CPU proxy or NB-201's 200 epochs); "
    "cost = measured seconds",
    _how_to_get("train-nb201"),
    files=_files("train-nb201"),
)
def _load_train_nb201(data_dir: str | os.PathLike[str] | None = None) -> LiveBenchmark:
    return live_benchmark("train-nb201", data_dir)


@register(
    "train-nb101",
    "Live NAS-Bench-101 (the 30k-subset space): each query trains the cell on CIFAR-10 (CPU proxy or "
    "NB-101's 108 epochs); cost = measured seconds",
    _how_to_get("train-nb101"),
    files=_files("train-nb101"),
)
def _load_train_nb101(data_dir: str | os.PathLike[str] | None = None) -> LiveBenchmark:
    return live_benchmark("train-nb101", data_dir)


__all__ = [
    "LiveBenchmark",
    "LiveConfig",
    "LiveOracle",
    "LiveTrainingError",
    "LiveTruth",
    "live_benchmark",
    "live_config",
    "load_data",
    "parse_overrides",
]

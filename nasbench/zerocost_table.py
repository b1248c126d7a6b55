"""Proxy tables: every zero-cost proxy (:mod:`nasbench.zerocost`) for a list of NB-201 cells.

:func:`compute_table` scores cells in chunks of ``chunk`` cells; each finished chunk is a CSV
written atomically under ``<cache>/zerocost/<config key>-<data checksum>/`` (``$NASARENA_CACHE``,
see :func:`nasbench.data.cache_dir`), so an interrupted run resumes from its finished chunks and
a run with another config, seed or data file never reads them. After every chunk the merged table
(one row per finished cell, in index order: ``index``, ``arch`` as the benchmark writes it, one
column per proxy of :data:`~nasbench.zerocost.PROXIES`) is rewritten atomically to ``out``, with
``<out stem>.json`` beside it: the config, the data file and checksum, the cells requested and
done, and the mean seconds per cell of each jitted proxy group (measured, compile excluded).

Cells: all 15,625, or a uniform sample without replacement (``jax.random.choice`` with key
``seed``), sorted by index. Run as ``python -m nasbench.zerocost_table --sample 3000`` (``--help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from nasbench.data import atomic_write_text, cache_dir, source_checksum
from nasbench.spaces.nb201 import N_ARCHS, arch_string, index_to_genotype
from nasbench.train import cifar, nb201
from nasbench.train.live import cifar_source
from nasbench.zerocost import (
    GROUPS,
    PASS_PROXIES,
    ZeroCostConfig,
    draw_batch,
    finish_scores,
    nb201_scorer,
    params_flops,
)

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("results") / "zero-cost" / "nb201-cifar10.csv"
#: the NB-201 benchmarks a table can be computed for: (classes, image side) of their network
BENCHMARKS: dict[str, tuple[int, int]] = {"nb201-cifar10": (10, 32), "nb201-cifar100": (100, 32),
                                          "nb201-imagenet16": (120, 16)}
#: groups that use no data batch (synflow's input is all ones): computable without the images
DATA_FREE = ("synflow",)


def config_for(benchmark: str, seed: int = 0, supernet: bool = True) -> ZeroCostConfig:
    """The proxy network of ``benchmark``: NB-201's, with its classes and image size."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"no proxy network for {benchmark!r}; known: {', '.join(BENCHMARKS)}")
    classes, side = BENCHMARKS[benchmark]
    return ZeroCostConfig(num_classes=classes, image_size=side, seed=seed, supernet=supernet)


def sample_cells(n: int | None, seed: int = 0) -> np.ndarray:
    """``n`` NB-201 cells drawn uniformly without replacement (all of them when ``None``), in the
    order drawn: the table is computed in this order, so the cells finished when a run stops are
    themselves a uniform sample (in index order they would be the cells of the first operations)."""
    n = N_ARCHS if n is None or n >= N_ARCHS else n
    if n < 1:
        raise ValueError(f"a sample needs at least one cell, got {n}")
    return np.asarray(jax.random.permutation(jax.random.key(seed), N_ARCHS)[:n])


def _groups_tag(groups: Sequence[str]) -> str:
    """``""`` for every group of :data:`GROUPS`, else ``"-synflow"``, ``"-loss+jacov"``, ..."""
    return "" if tuple(groups) == tuple(GROUPS) else "-" + "+".join(groups)


def check_groups(groups: Sequence[str] | None) -> tuple[str, ...]:
    """``groups`` in :data:`GROUPS` order (all when ``None``); ``ValueError`` names an unknown one."""
    if groups is None:
        return tuple(GROUPS)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown or not groups:
        raise ValueError(f"unknown proxy groups {unknown or '(none given)'}; known: {', '.join(GROUPS)}")
    return tuple(g for g in GROUPS if g in groups)


def pass_proxies(groups: Sequence[str]) -> list[str]:
    """The pass proxies ``groups`` yield, in :data:`~nasbench.zerocost.PASS_PROXIES` order."""
    return [p for p in PASS_PROXIES if any(p in GROUPS[g] for g in groups)]


def chunk_folder(config: ZeroCostConfig, data_checksum: str, groups: Sequence[str] = tuple(GROUPS)) -> Path:
    """Where the chunks of ``config`` (and ``groups``) on the data file with ``data_checksum`` live."""
    return cache_dir() / "zerocost" / f"{config.key()}{_groups_tag(groups)}-{data_checksum[:16]}"


def default_out(groups: Sequence[str] = tuple(GROUPS), benchmark: str = "nb201-cifar10") -> Path:
    """``results/zero-cost/<benchmark>.csv``, or ``<benchmark>-synflow.csv`` for a subset of groups."""
    return DEFAULT_OUT.with_name(f"{benchmark}{_groups_tag(groups)}.csv")


def cell_keys(seed: int, index: int) -> tuple[jax.Array, jax.Array]:
    """``(init key, batch key)`` of cell ``index``: ``fold_in`` of the seed's two streams."""
    root = jax.random.key(seed)
    return jax.random.fold_in(jax.random.fold_in(root, 0), index), jax.random.fold_in(
        jax.random.fold_in(root, 1), index
    )


def score_cells(
    indices: Sequence[int] | np.ndarray, config: ZeroCostConfig, images: jax.Array, labels: jax.Array,
    scorer: Callable | None = None, groups: Sequence[str] = tuple(GROUPS),
) -> pd.DataFrame:
    """The pass proxies of ``groups`` and their per-group seconds for ``indices`` (one row each)."""
    score = scorer or nb201_scorer(config)
    rows = []
    for i in indices:
        g = index_to_genotype(int(i))[0]
        k_init, k_data = cell_keys(config.seed, int(i))
        x, y = draw_batch(k_data, images, labels, config.batch_size, config.augment)
        raw: dict[str, Any] = {}
        row: dict[str, Any] = {"index": int(i), "arch": arch_string(g)}
        for group in groups:
            t = time.perf_counter()
            raw.update(jax.block_until_ready(score(group, k_init, x, y, nb201.onehot(g))))
            row[f"sec_{group}"] = time.perf_counter() - t
        row.update(finish_scores(raw))
        rows.append(row)
    return pd.DataFrame(rows, columns=["index", "arch", *pass_proxies(groups), *(f"sec_{g}" for g in groups)])


def _read_chunk(path: Path, expected: np.ndarray) -> pd.DataFrame | None:
    if not path.exists():
        return None
    df = pd.read_csv(path)
    if not np.array_equal(np.sort(df["index"].to_numpy()), np.sort(expected)):
        log.warning("%s: holds other cells than expected; recomputing it", path)
        return None
    return df


def recovered(out: Path, config: ZeroCostConfig, checksum: str, groups: Sequence[str]) -> pd.DataFrame | None:
    """The finished cells of an existing table ``out`` made with the same config, groups and data
    (its ``.json`` says so), as chunk rows: its proxies, and each group's seconds set to the table's
    mean (the table keeps no per-cell times). A run resumes from them when its chunk cache is gone (a
    fresh machine with the committed table). ``None`` when there is no such table."""
    meta_path = out.with_suffix(".json")
    if not (out.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    if (meta.get("config_key") != config.key() or meta.get("data", {}).get("sha256") != checksum
            or list(meta.get("groups", {})) != list(groups)):
        return None
    table = pd.read_csv(out)
    rows = table[["index", "arch", *pass_proxies(groups)]].copy()
    for g in groups:
        rows[f"sec_{g}"] = float(meta.get("seconds_per_cell", {}).get(g, float("nan")))
    return rows


def _to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.10g")
    return buf.getvalue()


def compute_table(
    indices: Sequence[int] | np.ndarray,
    config: ZeroCostConfig = ZeroCostConfig(),
    out: str | os.PathLike[str] | None = None,
    chunk: int = 20,
    data_dir: str | os.PathLike[str] | None = None,
    warmup: bool = True,
    progress: Callable[[str], None] = print,
    groups: Sequence[str] | None = None,
    benchmark: str = "nb201-cifar10",
) -> pd.DataFrame:
    """Every proxy of ``groups`` (default: all of :data:`GROUPS`) of the NB-201 cells ``indices`` of
    ``benchmark`` (see the module docstring), plus ``params`` and ``flops``; returns the table of the
    finished cells (all of them unless interrupted). Only CIFAR-10's images are at hand: on the
    other benchmarks only the :data:`DATA_FREE` groups can be computed."""
    groups = check_groups(groups)
    out = Path(out) if out is not None else default_out(groups, benchmark)  # never the full table's file for a subset
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if benchmark != "nb201-cifar10" and any(g not in DATA_FREE for g in groups):
        raise ValueError(f"{benchmark}: only the groups that use no images ({', '.join(DATA_FREE)}) can be computed; "
                         "the data folder holds CIFAR-10's images only")
    # CIFAR-10's tables name the image file even for a data-free group (the committed ones were made so,
    # and a run resumes from them only where the checksums agree)
    needs_data = benchmark == "nb201-cifar10"
    idx = np.asarray(list(dict.fromkeys(int(i) for i in indices)), np.int64)  # in the given order
    source = cifar_source(data_dir) if needs_data else None
    checksum = source_checksum(source) if source is not None else "no-data"
    folder = chunk_folder(config, checksum, groups)
    parts: list[pd.DataFrame] = []
    todo: list[tuple[Path, np.ndarray]] = []
    before = recovered(out, config, checksum, groups)
    for c in range(0, len(idx), chunk):
        cells = idx[c : c + chunk]
        path = folder / f"chunk-{hashlib.sha256(cells.tobytes()).hexdigest()[:16]}.csv"  # named by its cells
        done = _read_chunk(path, cells)
        if done is None and before is not None and np.isin(cells, before["index"]).all():
            done = before[before["index"].isin(cells)].set_index("index").loc[cells].reset_index()
            atomic_write_text(path, _to_csv(done))  # the cache holds it from now on
        if done is None:
            todo.append((path, cells))
        else:
            parts.append(done)
    progress(f"zero-cost {config.key()}{_groups_tag(groups)}: {len(idx)} cells, {sum(len(p) for p in parts)} done, chunks in {folder}")
    if todo:
        if source is not None:
            data = cifar.load_cifar10(data_dir)
            images, labels = jnp.asarray(data["train_x"]), jnp.asarray(data["train_y"])
        else:  # a data-free group reads the batch's shape only
            side = config.image_size
            images, labels = jnp.zeros((config.batch_size, side, side, 3)), jnp.zeros(config.batch_size, jnp.int32)
        scorer = nb201_scorer(config)
        if warmup:  # compile every group once, outside the timings
            t = time.perf_counter()
            score_cells(todo[0][1][:1], config, images, labels, scorer, groups)
            progress(f"compiled in {time.perf_counter() - t:.0f} s")
        t0, n0 = time.perf_counter(), 0
        for path, cells in todo:
            df = score_cells(cells, config, images, labels, scorer, groups)
            atomic_write_text(path, _to_csv(df))
            parts.append(df)
            n0 += len(cells)
            rate = (time.perf_counter() - t0) / n0
            left = len(idx) - sum(len(p) for p in parts)
            progress(f"{len(idx) - left}/{len(idx)} cells, {rate:.1f} s/cell, ETA {left * rate / 3600:.1f} h")
            _write(out, parts, config, source, checksum, idx, groups, benchmark)
    return _write(out, parts, config, source, checksum, idx, groups, benchmark)


def _write(
    out: Path, parts: list[pd.DataFrame], config: ZeroCostConfig, source: Path | None, checksum: str, idx: np.ndarray,
    groups: Sequence[str] = tuple(GROUPS), benchmark: str = "nb201-cifar10",
) -> pd.DataFrame:
    df = pd.concat(parts, ignore_index=True).sort_values("index", ignore_index=True)
    p, f = params_flops(index_to_genotype(df["index"].to_numpy()), config)
    df["params"], df["flops"] = p, f
    atomic_write_text(out, _to_csv(df[["index", "arch", *pass_proxies(groups), "params", "flops"]]))
    meta = {
        "benchmark": benchmark,
        "config": dataclasses.asdict(config),
        "config_key": config.key(),
        "data": {"file": source.name if source is not None else None, "sha256": checksum},
        "cells_requested": int(len(idx)),
        "cells_done": int(len(df)),
        "seconds_per_cell": {g: float(df[f"sec_{g}"].mean()) for g in groups},
        "groups": {g: list(GROUPS[g]) for g in groups},
        "device": jax.devices()[0].device_kind,
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    return df


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nasbench.zerocost_table", description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark", default="nb201-cifar10", help=f"one of {', '.join(BENCHMARKS)}")
    ap.add_argument("--sample", type=int, default=None, help="a uniform sample of this many cells (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="sample, initialisation and batch seed")
    ap.add_argument("--chunk", type=int, default=20, help="cells per chunk file")
    ap.add_argument("--out", default=None, help="default: results/zero-cost/nb201-cifar10[-GROUPS].csv")
    ap.add_argument("--groups", nargs="+", choices=list(GROUPS), default=None, help="only these proxy groups")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--per-arch", action="store_true", help="one compile per cell instead of the switched supernet")
    a = ap.parse_args(argv)
    config = config_for(a.benchmark, seed=a.seed, supernet=not a.per_arch)
    compute_table(
        sample_cells(a.sample, a.seed), config, a.out, a.chunk, a.data_dir,
        progress=lambda s: print(s, flush=True), groups=a.groups, benchmark=a.benchmark,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""NAS-Bench-101 tables: the official TFRecord files and the real 30,001-cell subset.

Benchmarks (all over :class:`~nasbench.spaces.nb101.NB101Space`; metric values are fractions):

* ``nb101-30k``: the 30,001 cells of ``nasbench101-subset/nb101_subset_30k.csv.gz`` (real
  NAS-Bench-101 results, one training run each; see that folder's README). Space = those cells
  (a mutation that leaves them is ``OUT_OF_TABLE``); metric ``val_acc_108``, the CIFAR-10
  validation accuracy after 108 epochs of the single recorded run (``R = 1``); ground truth the
  same value (optimum 0.9491, hash ``096f593e0f12d65f6220bf8565b764a9``); cost ``train_time_108``
  (seconds on a TPU v2). The file's sha256 is checked when it is converted.
* ``nb101-30k-v6``: the cells of that subset with at most 6 vertices (4,627; AlphaX's default
  space), a benchmark of its own (optimum 0.94902).
* ``nb101``: the whole space (423,624 cells) from ``nasbench_only108.tfrecord`` or
  ``nasbench_full.tfrecord``: metric ``val_acc_108``, one of the 3 training repeats per query
  (the ``"sample"`` noise model, as the official API's ``query``; ``"mean"`` gives the repeat
  mean); ground truth the 3-repeat mean validation accuracy (published optimum 0.9505542); cost
  the mean training time of the 3 repeats.
* ``nb101-test``: the same with test accuracy (ground truth the 3-repeat mean test accuracy,
  optimum 0.9431758, LaNAS's objective). Ying et al. select on validation; use ``nb101`` unless you
  are reproducing a paper that searched on test accuracy.

Compact columnar form of the official files (one ``.npz`` in the table cache, built once):
``hash [n, 16] uint8`` (cells sorted by hash), ``genotype [n, 26]``, ``params [n]``, ``epochs [E]``
(``[108]`` or ``[4, 12, 36, 108]``), and ``val``, ``test``, ``train``, ``time`` ``[n, E, 3]``
float64: validation / test / train accuracy and training time (seconds) of each repeat at the end
of training (``evaluation_data[2]``, the final evaluation; ``[1]`` is the halfway one), NaN where
a repeat is missing; plus the space's ``neighbors [n, 31]``. :func:`full_table` returns them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from nasbench.benchmark import Benchmark, GroundTruth
from nasbench.data import CorruptData, DataFile, cached_arrays, find_file, how_to_get, source_checksum
from nasbench.registry import register
from nasbench.spaces import nb101 as S
from nasbench.tables.tfrecord import decode_model_metrics, iter_records

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ the subset
SUBSET_FILE = DataFile(
    "nb101_subset_30k.csv.gz",
    ("nasbench101-subset/nb101_subset_30k.csv.gz", "nb101_subset_30k.csv.gz"),
    "https://github.com/tiga1231/nasbench-vis (static/data/data-20k.json and data-10k.json)",
    commit="ebe5e5c19c168ef07027ed21c477146755b39259",
    sha256="34e79c31414d1a8e32889f82e39a0389aa16019b06bc3c86faf55856e02b23ae",
    note="the CSV joins those metrics to the NAS-Bench-101 cells: see nasbench101-subset/README.md of the shared data",
)
SUBSET_CANDIDATES = list(SUBSET_FILE.candidates)
SUBSET_SHA256 = SUBSET_FILE.sha256
SUBSET_HOW_TO_GET = SUBSET_FILE.how_to_get()
SUBSET_COLUMNS = (
    "hash", "n_vertices", "matrix", "ops", "val_acc_4", "val_acc_12", "val_acc_36", "val_acc_108",
    "train_time_108", "params",
)
SUBSET_VERSION = 1
METRIC = "val_acc_108"

# --------------------------------------------------------------------------- the full data
_FULL_NOTE = "the NAS-Bench-101 authors' release, github.com/google-research/nasbench"
FULL_FILES = (
    DataFile("nasbench_only108.tfrecord", ("nasbench101/nasbench_only108.tfrecord", "nasbench_only108.tfrecord"),
             "https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord", note=f"499 MB; {_FULL_NOTE}",
             group="nb101-official", optional=True),
    DataFile("nasbench_full.tfrecord", ("nasbench101/nasbench_full.tfrecord", "nasbench_full.tfrecord"),
             "https://storage.googleapis.com/nasbench/nasbench_full.tfrecord",
             note=f"2 GB, adds the 4/12/36-epoch budgets; {_FULL_NOTE}", group="nb101-official", optional=True),
)
FULL_CANDIDATES = [rel for f in FULL_FILES for rel in f.candidates]
FULL_HOW_TO_GET = how_to_get(FULL_FILES)
FULL_VERSION = 1
N_REPEATS = 3
N_FULL_SPACE = 423_624
# how many cells of a converted table get their hash recomputed as a check of the conversion
_HASH_CHECKS = 200


def _hex_to_bytes(hashes: list[str], source: Path) -> np.ndarray:
    try:
        raw = bytes.fromhex("".join(hashes))
    except ValueError:
        raise CorruptData(f"{source}: a module hash is not hexadecimal") from None
    if len(raw) != 16 * len(hashes):
        raise CorruptData(f"{source}: every module hash must have 32 hex digits")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 16).copy()


def _genotypes_of_cells(
    n_vertices: np.ndarray, matrices: list[str], ops: list[str], source: Path
) -> np.ndarray:
    """Embedded genotypes of pruned cells given as digit strings and comma-separated labels."""
    n = len(matrices)
    g = np.zeros((n, S.GENOTYPE_LEN), dtype=np.int8)
    op_index = {op: k for k, op in enumerate(S.OPS)}
    edge_index = {e: k for k, e in enumerate(S.EDGE_POSITIONS)}
    for nv in np.unique(n_vertices):
        v = int(nv)
        if not 2 <= v <= S.MAX_VERTICES:
            raise CorruptData(f"{source}: a cell has {v} vertices (must be 2..{S.MAX_VERTICES})")
        rows = np.flatnonzero(n_vertices == v)
        strings = [matrices[r] for r in rows]
        if any(len(s) != v * v for s in strings):
            raise CorruptData(f"{source}: a {v}-vertex cell's matrix does not have {v * v} digits")
        digits = (np.frombuffer("".join(strings).encode(), dtype=np.uint8) - ord("0")).reshape(-1, v, v)
        if (digits > 1).any():
            raise CorruptData(f"{source}: a matrix has a digit other than 0/1")
        pos = list(range(v - 1)) + [S.MAX_VERTICES - 1]
        for i in range(v):
            for j in range(v):
                if j <= i:
                    if digits[:, i, j].any():
                        raise CorruptData(f"{source}: a {v}-vertex matrix is not upper-triangular")
                    continue
                g[rows, edge_index[(pos[i], pos[j])]] = digits[:, i, j]
        for r in rows:
            labels = ops[r].split(",")
            if len(labels) != v or labels[0] != S.INPUT or labels[-1] != S.OUTPUT:
                raise CorruptData(f"{source}: cell {r} has labels {ops[r]!r} for {v} vertices")
            try:
                g[r, S.N_EDGE_BITS : S.N_EDGE_BITS + v - 2] = [op_index[o] for o in labels[1:-1]]
            except KeyError as exc:
                raise CorruptData(f"{source}: cell {r} has an unknown op {exc}") from None
    batch = S.prune_batch(g)
    bad = np.flatnonzero(~batch.valid | (batch.n_vertices != n_vertices))
    if bad.size:
        first = int(bad[0])
        raise CorruptData(f"{source}: cell {first} ({matrices[first]}, {ops[first]}) is not a valid pruned NB101 cell")
    return g


def _check_hashes(genotypes: np.ndarray, hashes: np.ndarray, source: Path) -> None:
    """Recompute the official hash of a spread of cells: the conversion must reproduce it."""
    n = len(genotypes)
    for i in np.unique(np.linspace(0, n - 1, min(n, _HASH_CHECKS)).astype(int)):
        m, ops = S.genotype_to_cell(genotypes[i])
        got = S.module_hash(m, ops)
        want = hashes[i].tobytes().hex()
        if got != want:
            raise CorruptData(f"{source}: cell {i} hashes to {got}, but the file says {want}")


def convert_subset(path: Path) -> dict[str, np.ndarray]:
    """Columnar arrays of the subset CSV (file order, which is hash order) plus ``neighbors``."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"hash": str, "matrix": str, "ops": str})
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged file
        raise CorruptData(f"{path}: cannot read as CSV ({exc})") from None
    missing = [c for c in SUBSET_COLUMNS if c not in df.columns]
    if missing:
        raise CorruptData(f"{path}: missing columns {missing}")
    n_vertices = df["n_vertices"].to_numpy(dtype=np.int64)
    genotypes = _genotypes_of_cells(n_vertices, df["matrix"].tolist(), df["ops"].tolist(), path)
    hashes = _hex_to_bytes(df["hash"].tolist(), path)
    _check_hashes(genotypes, hashes, path)
    log.info("computing the mutation neighbours of %d cells", len(genotypes))
    arrays = {
        "hash": hashes,
        "genotype": genotypes,
        "neighbors": S.neighbor_table(genotypes),
        "params": df["params"].to_numpy(dtype=np.int64),
        "train_time_108": df["train_time_108"].to_numpy(dtype=np.float64),
    }
    for e in (4, 12, 36, 108):
        arrays[f"val_acc_{e}"] = df[f"val_acc_{e}"].to_numpy(dtype=np.float64)
    return arrays


def _space(arrays: dict[str, np.ndarray], name: str) -> S.NB101Space:
    return S.NB101Space.from_arrays(arrays["genotype"], arrays["hash"], arrays["neighbors"], name=name)


def subset_table(data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, dict[str, np.ndarray]]:
    """The subset's path and columnar arrays (harness use: they include every metric)."""
    path = find_file(SUBSET_FILE, data_dir, "the NAS-Bench-101 30k subset")
    arrays = cached_arrays("nb101-30k", path, convert_subset, version=SUBSET_VERSION, expected_sha256=SUBSET_SHA256)
    return path, arrays


@register(
    "nb101-30k",
    "NAS-Bench-101, a real 30,001-cell subset: validation accuracy after 108 epochs, one run per cell",
    SUBSET_HOW_TO_GET,
    files=(SUBSET_FILE,),
)
def load_subset(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``nb101-30k`` (see the module docstring)."""
    path, arrays = subset_table(data_dir)
    return _subset_benchmark("nb101-30k", path, arrays, "")


def _subset_benchmark(name: str, path: Path, arrays: dict[str, np.ndarray], which: str) -> Benchmark:
    """A benchmark over (a part of) the subset's cells: metric and truth ``val_acc_108``, cost
    ``train_time_108``; ``which`` names the part in the sources line."""
    val = arrays["val_acc_108"]
    return Benchmark(
        name=name,
        space=_space(arrays, name),
        metric=METRIC,
        values=val[:, None].copy(),
        cost=arrays["train_time_108"],
        truth=GroundTruth(val.copy(), "val_acc_108 of the single recorded run"),
        noise="sample",
        sources=("NAS-Bench-101 (Ying et al., ICML 2019): 30,001-cell subset exported by tiga1231/nasbench-vis "
                 f"(commit ebe5e5c){which}; Apache License 2.0", f"file: {path}"),
        checksums={path.name: source_checksum(path)},
    )


SIX_VERTICES = 6


def _six_vertex_arrays(path: Path) -> dict[str, np.ndarray]:
    """The subset's arrays restricted to cells of at most 6 vertices, neighbours recomputed among them."""
    arrays = convert_subset(path)
    keep = np.flatnonzero(S.prune_batch(arrays["genotype"]).n_vertices <= SIX_VERTICES)
    out = {k: v[keep] for k, v in arrays.items() if k != "neighbors"}
    out["neighbors"] = S.neighbor_table(out["genotype"])
    return out


@register(
    "nb101-30k-v6",
    "NAS-Bench-101, the cells of the 30,001-cell subset with at most 6 vertices (AlphaX's space): 4,627 cells",
    SUBSET_HOW_TO_GET,
    files=(SUBSET_FILE,),
)
def load_subset_six(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``nb101-30k-v6``: the cells of ``nb101-30k`` with at most 6 vertices after pruning
    (4,627 of 30,001; optimum 0.94902), the space AlphaX searches by default
    (linnanwang/AlphaX-NASBench101 ``arch_generator.py:20``: ``MAX_NODES = 6``). A mutation to a
    7-vertex cell, or to one the subset lacks, is ``OUT_OF_TABLE``; metric, truth and cost as
    ``nb101-30k``."""
    path = find_file(SUBSET_FILE, data_dir, "the NAS-Bench-101 30k subset")
    arrays = cached_arrays("nb101-30k-v6", path, _six_vertex_arrays, version=SUBSET_VERSION,
                           expected_sha256=SUBSET_SHA256)
    return _subset_benchmark("nb101-30k-v6", path, arrays, ", cells of at most 6 vertices")


# ------------------------------------------------------------------------ the official files
def parse_record(record: bytes) -> tuple[str, int, str, str, Any]:
    """``(module hash, epochs, adjacency digits, ops string, ModelMetrics)`` of one record."""
    module_hash, epochs, adjacency, ops, metrics = json.loads(record.decode("utf-8"))
    return str(module_hash), int(epochs), str(adjacency), str(ops), decode_model_metrics(base64.b64decode(metrics))


def convert_tfrecord(path: Path) -> dict[str, np.ndarray]:
    """Columnar arrays of an official NAS-Bench-101 TFRecord file (see the module docstring)."""
    index: dict[str, int] = {}
    cells: list[tuple[str, str]] = []
    params: list[int] = []
    rec_cell, rec_epochs = array("i"), array("i")
    cols = {k: array("d") for k in ("val", "test", "train", "time")}
    for k, record in enumerate(iter_records(path)):
        try:
            h, epochs, adjacency, ops, mm = parse_record(record)
        except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
            raise CorruptData(f"{path}: record {k} is not a NAS-Bench-101 record ({exc})") from None
        if len(mm.evaluation_data) < 3:
            raise CorruptData(
                f"{path}: record {k} has {len(mm.evaluation_data)} evaluations; expected 3 "
                "(start, halfway, final)"
            )
        i = index.get(h)
        if i is None:
            i = index[h] = len(cells)
            cells.append((adjacency, ops))
            params.append(mm.trainable_parameters)
        final = mm.evaluation_data[2]
        rec_cell.append(i)
        rec_epochs.append(epochs)
        cols["val"].append(final.validation_accuracy)
        cols["test"].append(final.test_accuracy)
        cols["train"].append(final.train_accuracy)
        cols["time"].append(final.training_time)
        if (k + 1) % 500_000 == 0:
            log.info("%s: %d records read", path.name, k + 1)
    if not cells:
        raise CorruptData(f"{path}: no records")
    hashes_hex = list(index)
    order = np.argsort(np.array(hashes_hex))  # cells sorted by hash
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    ci = rank[np.frombuffer(rec_cell, dtype=np.int32)]
    ep = np.frombuffer(rec_epochs, dtype=np.int32).astype(np.int64)
    epoch_values = np.unique(ep)
    ei = np.searchsorted(epoch_values, ep)
    # repeat number: order of appearance within (cell, epochs), as the official API appends them
    key = ci * len(epoch_values) + ei
    srt = np.argsort(key, kind="stable")
    ks = key[srt]
    first = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
    run_start = np.repeat(first, np.diff(np.r_[first, len(ks)]))
    rep = np.empty(len(key), dtype=np.int64)
    rep[srt] = np.arange(len(ks)) - run_start
    if rep.max() >= N_REPEATS:
        c = int(ci[np.argmax(rep)])
        raise CorruptData(f"{path}: cell {hashes_hex[order[c]]} has more than {N_REPEATS} repeats at one budget")
    n = len(cells)
    out: dict[str, np.ndarray] = {"epochs": epoch_values}
    for name, col in cols.items():
        a = np.full((n, len(epoch_values), N_REPEATS), np.nan)
        a[ci, ei, rep] = np.frombuffer(col, dtype=np.float64)
        out[name] = a
    n_vertices = np.array([int(round(np.sqrt(len(cells[j][0])))) for j in order], dtype=np.int64)
    genotypes = _genotypes_of_cells(
        n_vertices, [cells[j][0] for j in order], [cells[j][1] for j in order], path
    )
    hashes = _hex_to_bytes([hashes_hex[j] for j in order], path)
    _check_hashes(genotypes, hashes, path)
    log.info("computing the mutation neighbours of %d cells", n)
    out.update(
        hash=hashes,
        genotype=genotypes,
        params=np.asarray(params, dtype=np.int64)[order],
        neighbors=S.neighbor_table(genotypes),
    )
    return out


_FULL: dict[str, tuple[Path, dict[str, np.ndarray], S.NB101Space]] = {}


def full_table(data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, dict[str, np.ndarray], S.NB101Space]:
    """Path, columnar arrays and space of the official file (converted once, cached)."""
    path = find_file(FULL_FILES, data_dir, "the official NAS-Bench-101 file")
    key = str(path.resolve())
    if key not in _FULL:
        arrays = cached_arrays(f"nb101-{path.stem}", path, convert_tfrecord, version=FULL_VERSION)
        _FULL.clear()  # keep one full table in memory at most
        _FULL[key] = (path, arrays, _space(arrays, "nb101"))
    return _FULL[key]


def full_benchmark(
    path: Path, arrays: dict[str, np.ndarray], space: S.NB101Space, metric: str = "val", epochs: int = 108
) -> Benchmark:
    """A benchmark over a converted official table: ``metric`` ``"val"`` or ``"test"``."""
    if metric not in ("val", "test"):
        raise ValueError(f"metric must be 'val' or 'test', got {metric!r}")
    ep = arrays["epochs"]
    if epochs not in ep:
        raise ValueError(f"{path.name} has budgets {ep.tolist()} epochs, not {epochs}")
    e = int(np.flatnonzero(ep == epochs)[0])
    values = arrays[metric][:, e, :]
    have = np.isfinite(values).sum(axis=1)
    truth = np.where(have > 0, np.nansum(values, axis=1) / np.maximum(have, 1), np.nan)
    t = arrays["time"][:, e, :]
    t_have = np.isfinite(t).sum(axis=1)
    cost = np.where(t_have > 0, np.nansum(t, axis=1) / np.maximum(t_have, 1), 0.0)
    word = "validation" if metric == "val" else "test"
    name = "nb101" if metric == "val" else "nb101-test"
    return Benchmark(
        name=name if epochs == 108 else f"{name}-{epochs}ep",
        space=space,
        metric=f"{metric}_acc_{epochs}",
        values=values,
        cost=cost,
        truth=GroundTruth(truth, f"mean {word} accuracy over the {N_REPEATS} repeats, {epochs} epochs"),
        noise="sample",
        sources=("NAS-Bench-101 (Ying et al., ICML 2019), official TFRecord; Apache License 2.0", f"file: {path}"),
        checksums={path.name: source_checksum(path)},
    )


@register(
    "nb101",
    "NAS-Bench-101, all 423,624 cells: validation accuracy after 108 epochs, 3 repeats (sampled)",
    FULL_HOW_TO_GET,
    files=FULL_FILES,
)
def load_full(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``nb101`` (needs the official TFRecord file; see the module docstring)."""
    return full_benchmark(*full_table(data_dir), metric="val")


@register(
    "nb101-test",
    "NAS-Bench-101, all 423,624 cells: TEST accuracy after 108 epochs, 3 repeats (LaNAS's objective)",
    FULL_HOW_TO_GET,
    files=FULL_FILES,
)
def load_full_test(data_dir: str | os.PathLike[str] | None = None) -> Benchmark:
    """Benchmark ``nb101-test``: like ``nb101`` but on test accuracy."""
    return full_benchmark(*full_table(data_dir), metric="test")

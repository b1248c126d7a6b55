"""Zero-cost proxy scores as a public feature of a benchmark's architectures.

A zero-cost proxy needs no training (one minibatch of data, or none for synflow), so its score is
public: a strategy may read it as it reads the space's encodings, which is how Abdelfattah et al.
("Zero-Cost Proxies for Lightweight NAS", ICLR 2021, section 5) use synflow to warm up and steer a
search. What a proxy costs to compute is not free, though: :class:`ProxyScores` carries the
measured seconds per cell, and a strategy that scores cells reports them (see
``strategies/models/proxy.py``).

The scores come from the proxy tables committed under ``results/zero-cost/``
(:mod:`nasbench.zerocost_table` computes them): ``<benchmark>.csv`` and ``<benchmark>-<groups>.csv``,
each with its ``.json``. For each proxy the table holding the most cells is used; a cell no table
holds is NaN. Every row's architecture string is checked against the space's own
(:meth:`~nasbench.space.Space.describe`): a table written for another enumeration is refused.
A :class:`CommittedProxies` reads its tables on first use and keeps what it read; a trial's
fingerprint names the scores it read (:attr:`ProxyScores.checksum`, :func:`scores_checksum`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nasbench.data import CorruptData
from nasbench.errors import UnknownName

#: the committed proxy tables (a checkout's ``results/zero-cost``)
TABLES = Path(__file__).resolve().parents[1] / "results" / "zero-cost"
NOT_PROXIES = ("index", "arch")


@dataclass(frozen=True)
class ProxyScores:
    """One proxy's score of every architecture of a benchmark.

    Attributes:
        name: the proxy (``"synflow"``, ...; :data:`nasbench.zerocost.PROXIES`).
        values: ``[n]`` float64 in the space's index order, NaN where no table holds the cell
            (raw: synflow reaches 1e49, beyond float32; ``-inf`` where a proxy is undefined).
        seconds_per_cell: measured mean seconds to score one cell (the table's group time; 0 for
            ``params`` and ``flops``, which are closed forms).
        device: where that time was measured (``"cpu"``, a GPU's name).
        source: the table file the scores come from.
    """

    name: str
    values: np.ndarray
    seconds_per_cell: float
    device: str
    source: str

    @property
    def coverage(self) -> int:
        """Cells with a score."""
        return int((~np.isnan(self.values)).sum())

    @property
    def checksum(self) -> str:
        """:func:`checksum` of these scores: what a trial that reads them carries in its fingerprint."""
        return checksum(self.values, self.seconds_per_cell)


def _seconds_per_cell(meta: Mapping, proxy: str) -> float:
    """The measured seconds per cell of the group that computed ``proxy`` (0 outside any group:
    ``params`` and ``flops`` are closed forms)."""
    group = next((g for g, members in meta.get("groups", {}).items() if proxy in members), None)
    return float(meta.get("seconds_per_cell", {}).get(group, 0.0)) if group else 0.0


def read_table(path: Path, space) -> dict[str, ProxyScores]:
    """Every proxy column of one committed table, checked against ``space``'s architecture strings."""
    meta = json.loads(path.with_suffix(".json").read_text())
    df = _table(path)[0]
    idx = df["index"].to_numpy(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= space.n):
        raise CorruptData(f"{path}: cell index outside the {space.n} cells of {space.name}")
    wrong = [i for i, a in zip(idx, df["arch"]) if space.describe(int(i)) != a]
    if wrong:
        raise CorruptData(f"{path}: cell {wrong[0]} is {space.describe(int(wrong[0]))!r} in {space.name}, "
                          f"the table says {df['arch'][np.flatnonzero(idx == wrong[0])[0]]!r}")
    return {col: ProxyScores(col, _placed(df, col, space.n), _seconds_per_cell(meta, col), str(meta.get("device", "")),
                             path.name) for col in df.columns if col not in NOT_PROXIES}


def _placed(frame: pd.DataFrame, proxy: str, n: int) -> np.ndarray:
    """``[n]`` float64: the table's ``proxy`` score at each cell's index, NaN where it has none."""
    values = np.full(n, np.nan)
    values[frame["index"].to_numpy(np.int64)] = frame[proxy].to_numpy(np.float64)
    return values


class CommittedProxies(Mapping[str, ProxyScores]):
    """The proxies of benchmark ``benchmark`` in the committed tables, read on first use."""

    def __init__(self, benchmark: str, space, folder: Path = TABLES):
        self.benchmark, self._space, self.folder = benchmark, space, folder
        self._scores: dict[str, ProxyScores] | None = None

    def _load(self) -> dict[str, ProxyScores]:
        if self._scores is None:
            tables = {path: read_table(path, self._space) for path in _tables(self.benchmark, self.folder)}
            chosen = sources(self.benchmark, self.folder)
            self._scores = {name: tables[path][name] for name, path in chosen.items()}
        return self._scores

    def __getitem__(self, name: str) -> ProxyScores:
        scores = self._load()
        if name not in scores:
            have = ", ".join(f"{k} ({v.coverage} cells)" for k, v in sorted(scores.items())) or "none"
            raise UnknownName(f"no {name!r} proxy scores for {self.benchmark} in {self.folder} (have: {have}); "
                              f"compute them with: nasarena proxies {self.benchmark} --groups <group> "
                              "(synflow needs no images)")
        return scores[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _tables(benchmark: str, folder: Path) -> list[Path]:
    """The committed tables of ``benchmark`` in ``folder`` (each with its ``.json``), in name order."""
    found = [folder / f"{benchmark}.csv", *sorted(folder.glob(f"{benchmark}-*.csv"))]
    return [p for p in found if p.is_file() and p.with_suffix(".json").is_file()]


def _version(path: Path) -> tuple:
    """A table's version: its inode, size and times (the tables are written atomically, by rename;
    their small ``.json`` is compared by content)."""
    st = path.stat()
    return str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


_PARSED: dict[tuple, tuple[pd.DataFrame, dict[str, int]]] = {}
_CHECKSUMS: dict[tuple, str] = {}


def _table(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """The table at ``path`` and its scored cells per proxy column, parsed once per version of the file."""
    version = _version(path)
    if version not in _PARSED:
        frame = pd.read_csv(path)
        _PARSED[version] = frame, {str(c): int(n) for c, n in frame.drop(columns=list(NOT_PROXIES)).notna().sum().items()}
    return _PARSED[version]


def sources(benchmark: str, folder: Path = TABLES) -> dict[str, Path]:
    """For each proxy, the table of ``benchmark`` that scores the most cells (the first in name
    order on a tie): where :class:`CommittedProxies` reads it from."""
    best: dict[str, tuple[int, Path]] = {}
    for path in _tables(benchmark, folder):
        for col, n in _table(path)[1].items():
            if col not in best or n > best[col][0]:
                best[col] = (n, path)
    return {name: path for name, (_, path) in sorted(best.items())}


def scores_checksum(benchmark: str, proxy: str, folder: Path = TABLES) -> str:
    """:func:`checksum` of what a search reads of ``proxy`` on ``benchmark`` from the committed tables
    (``"absent"`` where none has it), without loading the benchmark: a trial that reads a proxy
    carries it in its fingerprint, so a table that changes the scores (more cells, a recomputation)
    makes its records stale and one that does not leaves them current. Kept per version of the
    benchmark's tables (fingerprints ask for it per trial)."""
    tables = _tables(benchmark, folder)
    key = (proxy, *((_version(t), t.with_suffix(".json").read_text()) for t in tables))
    if key not in _CHECKSUMS:
        path = sources(benchmark, folder).get(proxy)
        if path is None:
            return "absent"
        frame = _table(path)[0]
        seconds = _seconds_per_cell(json.loads(path.with_suffix(".json").read_text()), proxy)
        _CHECKSUMS[key] = checksum(_placed(frame, proxy, int(frame["index"].max()) + 1 if len(frame) else 0), seconds)
    return _CHECKSUMS[key]


def checksum(values: np.ndarray, seconds_per_cell: float) -> str:
    """SHA-256 (16 hex digits) of a proxy's scores (float64 by cell index, NaN where unscored: the
    scored cells and their scores) and the seconds per cell a search is charged."""
    idx = np.flatnonzero(~np.isnan(values))
    h = hashlib.sha256(idx.astype("<i8").tobytes())
    h.update(np.asarray(values, np.float64)[idx].astype("<f8").tobytes())
    h.update(repr(float(seconds_per_cell)).encode())
    return h.hexdigest()[:16]


def require_full(scores: ProxyScores, needed: np.ndarray | None = None) -> np.ndarray:
    """``scores.values``, refusing with one clear line when a needed cell (default: every cell)
    has no score: a search steered by a proxy must not silently treat unscored cells as worst."""
    v = scores.values
    need = np.ones(v.size, bool) if needed is None else np.asarray(needed, bool)
    missing = int((need & np.isnan(v)).sum())  # -inf is a score (jacov, nwot of a dead cell): it ranks last
    if missing:
        raise UnknownName(f"{scores.name} scores ({scores.source}) miss {missing} of the {int(need.sum())} cells "
                          f"a search needs; compute the whole space with: nasarena proxies <benchmark> --groups <group>")
    return v

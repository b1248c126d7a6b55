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
Tables are read on first use, once per process.
"""

from __future__ import annotations

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


def _group_of(proxy: str, groups: Mapping[str, list[str]]) -> str | None:
    return next((g for g, members in groups.items() if proxy in members), None)


def read_table(path: Path, space) -> dict[str, ProxyScores]:
    """Every proxy column of one committed table, checked against ``space``'s architecture strings."""
    meta = json.loads(path.with_suffix(".json").read_text())
    df = pd.read_csv(path)
    idx = df["index"].to_numpy(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= space.n):
        raise CorruptData(f"{path}: cell index outside the {space.n} cells of {space.name}")
    wrong = [i for i, a in zip(idx, df["arch"]) if space.describe(int(i)) != a]
    if wrong:
        raise CorruptData(f"{path}: cell {wrong[0]} is {space.describe(int(wrong[0]))!r} in {space.name}, "
                          f"the table says {df['arch'][np.flatnonzero(idx == wrong[0])[0]]!r}")
    seconds = meta.get("seconds_per_cell", {})
    out = {}
    for col in df.columns:
        if col in NOT_PROXIES:
            continue
        values = np.full(space.n, np.nan)
        values[idx] = df[col].to_numpy(np.float64)
        group = _group_of(col, meta.get("groups", {}))
        out[col] = ProxyScores(col, values, float(seconds.get(group, 0.0)) if group else 0.0,
                               str(meta.get("device", "")), path.name)
    return out


class CommittedProxies(Mapping[str, ProxyScores]):
    """The proxies of benchmark ``benchmark`` in the committed tables, read on first use."""

    def __init__(self, benchmark: str, space, folder: Path = TABLES):
        self.benchmark, self._space, self.folder = benchmark, space, folder
        self._scores: dict[str, ProxyScores] | None = None

    def tables(self) -> list[Path]:
        """The committed tables of this benchmark (with their ``.json``), in name order."""
        found = [self.folder / f"{self.benchmark}.csv", *sorted(self.folder.glob(f"{self.benchmark}-*.csv"))]
        return [p for p in found if p.is_file() and p.with_suffix(".json").is_file()]

    def _load(self) -> dict[str, ProxyScores]:
        if self._scores is None:
            best: dict[str, ProxyScores] = {}
            for path in self.tables():
                for name, s in read_table(path, self._space).items():
                    if name not in best or s.coverage > best[name].coverage:
                        best[name] = s
            self._scores = best
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

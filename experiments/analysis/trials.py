"""A results folder as data: the trial records read into tidy trials, and the analysis the report shows.

Reads what the runner writes (see :mod:`experiments.harness.execute`)::

    DIR/meta.json                                   versions, git revision, suite, seeds
    DIR/benchmarks/<benchmark>.json                 N, optimum, targets {name: {threshold, K}}, sources
    DIR/data/<benchmark>/<strategy>/seed-SSSS.json  one trial: arch, observed, truth, cost, ...

and computes from ``DIR`` alone the gains with bootstrap intervals (:func:`gain_rows`, :func:`summary`),
the paired per-benchmark comparisons (ranks, Friedman, Nemenyi, Wilcoxon against random search) and
the comparison across benchmarks (:func:`analyse`). Bootstrap intervals use a numpy generator seeded
from ``seed`` and the names of the benchmark, strategy and target (:func:`experiments.analysis.survival.rng_for`), so a number does
not change when another strategy is added. :mod:`experiments.studies.report` turns an :class:`Analysis` into
figures, tables and ``README.md``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis import metrics, stats, survival

log = logging.getLogger(__name__)

RANDOM_SEARCH = "random-search"
TRIAL_KEYS = ("benchmark", "strategy", "seed", "arch", "observed", "truth", "cost")
SUMMARY_KEYS = ("benchmark", "strategy", "target", "n_trials", "successes", "art", "gain", "gain_low", "gain_high")


# ----------------------------------------------------------------------------- loading
def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it and rerun the suite to rewrite it") from exc


def _read_trials(root: Path) -> list[dict[str, Any]]:
    data = root / "data"
    files = sorted(data.glob("*/*/seed-*.json")) if data.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"no trial records under {data}/<benchmark>/<strategy>/seed-*.json; "
            f"run a suite first, e.g. `nasarena run smoke --out {root}`"
        )
    records = []
    for path in files:
        rec = _read_json(path)
        missing = [k for k in TRIAL_KEYS if k not in rec]
        if missing:
            raise ValueError(f"trial record {path} lacks {missing}; it was not written by this runner")
        n = len(rec["arch"])
        if any(len(rec[k]) != n for k in ("observed", "truth", "cost")):
            raise ValueError(f"trial record {path}: arch, observed, truth and cost differ in length")
        records.append(rec)
    _check_one_setting_per_row(root, records)
    return records


def _setting(rec: dict[str, Any]) -> str:
    """What determines a record apart from its seed (its fingerprint, or the fields older records have)."""
    fp = rec.get("fingerprint")
    if not isinstance(fp, dict):
        fp = {k: rec.get(k) for k in ("strategy_spec", "config", "budget", "noise", "strategy_version")}
    return json.dumps({k: v for k, v in fp.items() if k != "seed"}, sort_keys=True)


def _check_one_setting_per_row(root: Path, records: list[dict[str, Any]]) -> None:
    """Refuse to put trials of different settings (budget, data, config, version, ...) in one row."""
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for rec in records:
        g = groups.setdefault((rec["benchmark"], rec["strategy"]), {})
        key = _setting(rec)
        g[key] = g.get(key, 0) + 1
    for (bench, strat), settings in sorted(groups.items()):
        if len(settings) > 1:
            parsed = [json.loads(k) for k in settings]
            fields = sorted({f for a in parsed for f in a if any(a.get(f) != b.get(f) for b in parsed)})
            raise ValueError(
                f"{root}/data/{bench}/{strat} mixes trials of {len(settings)} settings (they differ in "
                f"{', '.join(fields)}); rerun the suite into the folder (stale trials are replaced) or "
                "move the odd records out")


def load_benchmarks(root: str | Path, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{name: benchmark summary}`` from ``DIR/benchmarks/*.json`` (only ``names`` if given)."""
    root = Path(root)
    folder = root / "benchmarks"
    if names is None:
        names = sorted(p.stem for p in folder.glob("*.json"))
    out = {}
    for name in names:
        path = folder / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the runner writes it with the benchmark's N, optimum and targets; "
                f"rerun the suite into {root} to rewrite it"
            )
        b = _read_json(path)
        for key in ("n", "optimum", "targets"):
            if key not in b:
                raise ValueError(f"{path} lacks {key!r}")
        if not b.get("maximize", True):
            raise ValueError(f"{path}: only maximised metrics are supported (maximize=false)")
        if b["optimum"] is None:  # strict JSON writes an unknown optimum (a live benchmark) as null
            b["optimum"] = float("nan")
        out[name] = b
    return out


def load_results(root: str | Path) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Tidy trials (one row per evaluation: ``benchmark, strategy, seed, step, arch, observed,
    truth, cost``; ``step`` is 1-based) and the benchmarks' summaries of a results folder."""
    root = Path(root)
    records = _read_trials(root)
    lengths = np.array([len(r["arch"]) for r in records])
    df = pd.DataFrame({
        "benchmark": np.repeat([r["benchmark"] for r in records], lengths),
        "strategy": np.repeat([r["strategy"] for r in records], lengths),
        "seed": np.repeat([int(r["seed"]) for r in records], lengths).astype(np.int64),
        "step": np.concatenate([np.arange(1, n + 1) for n in lengths]).astype(np.int64),
        "arch": np.concatenate([np.asarray(r["arch"], dtype=np.int64) for r in records]),
        "observed": np.concatenate([np.asarray(r["observed"], dtype=np.float64) for r in records]),
        "truth": np.concatenate([np.asarray(r["truth"], dtype=np.float64) for r in records]),
        "cost": np.concatenate([np.asarray(r["cost"], dtype=np.float64) for r in records]),
    })
    # per-trial counters the strategies report (records' "diagnostics"), for the diagnostics table
    df.attrs["diagnostics"] = [
        {"benchmark": r["benchmark"], "strategy": r["strategy"], "seed": int(r["seed"]), **r.get("diagnostics", {})}
        for r in records if r.get("diagnostics")]
    # what each trial ran and how long it took (one entry per record, in file order)
    df.attrs["records"] = [
        {"benchmark": r["benchmark"], "strategy": r["strategy"], "seed": int(r["seed"]),
         "strategy_spec": r.get("strategy_spec", r["strategy"]), "config": r.get("config", {}),
         "strategy_version": int(r.get("strategy_version", 1)), "wall_time": float(r.get("wall_time") or 0.0)}
        for r in records]
    benchmarks = load_benchmarks(root, sorted(df["benchmark"].unique()))
    return df, benchmarks


@dataclass(frozen=True)
class Runs:
    """The trials of one strategy on one benchmark."""

    seeds: np.ndarray  # [S] int, ascending
    truth: np.ndarray  # [S, B] float, NaN-padded on the right
    lengths: np.ndarray  # [S] samples each trial evaluated

    @property
    def best(self) -> np.ndarray:
        return metrics.best_so_far(self.truth)


def trajectories(trials: pd.DataFrame) -> dict[str, dict[str, Runs]]:
    """``{benchmark: {strategy: Runs}}`` from the tidy trials; strategies ordered with random
    search first, then by name."""
    out: dict[str, dict[str, Runs]] = {}
    for (bench, strat), g in trials.groupby(["benchmark", "strategy"], sort=True):
        seeds, inv = np.unique(g["seed"].to_numpy(), return_inverse=True)
        steps = g["step"].to_numpy()
        arr = np.full((seeds.size, int(steps.max())), np.nan)
        arr[inv, steps - 1] = g["truth"].to_numpy()
        out.setdefault(str(bench), {})[str(strat)] = Runs(seeds, arr, np.bincount(inv).astype(np.float64))
    return {b: dict(sorted(s.items(), key=lambda kv: (kv[0] != RANDOM_SEARCH, kv[0]))) for b, s in out.items()}


# ----------------------------------------------------------------------------- analysis
def json_safe(x: Any) -> Any:
    """``inf``/``nan`` -> ``None``; numpy scalars -> Python numbers (recursively)."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x


def gain_rows(
    runs: dict[str, dict[str, Runs]], benchmarks: dict[str, dict[str, Any]], n_boot: int = 2000, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per benchmark x strategy x target (raw floats; ``inf`` aRT when no success)."""
    rows = []
    for bench, by_strat in runs.items():
        b = benchmarks[bench]
        n = int(b["n"])
        for strat, r in by_strat.items():
            for target, t in b["targets"].items():
                k = int(t["K"])
                hits = metrics.samples_to_target(r.truth, float(t["threshold"]))
                art_rs = metrics.art_random_exact(n, k)
                budget = int(r.lengths.max())
                est = stats.bootstrap_gain(hits, r.lengths, art_rs, seed=survival.rng_for(seed, bench, strat, target))
                rows.append({
                    "benchmark": bench, "strategy": strat, "target": target,
                    "n_trials": est.n_trials, "successes": est.successes, "art": est.art,
                    "gain": est.gain, "gain_low": est.gain_low, "gain_high": est.gain_high,
                    "art_low": est.art_low, "art_high": est.art_high,
                    "art_rs": art_rs, "art_rs_budget": metrics.art_random_budget(n, k, budget),
                    "threshold": float(t["threshold"]), "K": k, "N": n, "budget": budget,
                })
    return rows


def summary(root: str | Path, n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """One JSON-safe dict per benchmark x strategy x target with keys :data:`SUMMARY_KEYS`
    (``art`` is ``None`` when no trial reached the target), plus ``art_low``, ``art_high``,
    ``art_rs``, ``art_rs_budget``, ``threshold``, ``K``, ``N`` and ``budget``."""
    trials, benchmarks = load_results(root)
    return [json_safe(r) for r in gain_rows(trajectories(trials), benchmarks, n_boot, seed)]


@dataclass
class BenchmarkAnalysis:
    """Paired comparisons of one benchmark, on the seeds every strategy ran and the budget every
    trial reached (``common_budget``)."""

    name: str
    strategies: list[str]
    seeds: np.ndarray
    common_budget: int
    final: np.ndarray  # [M, S] best-so-far at the common budget
    ranks: np.ndarray  # [M, B] average rank over the budget
    friedman: stats.TestResult | None
    cd: float | None
    wilcoxon: list[dict[str, Any]] = field(default_factory=list)


def analyse_benchmark(name: str, by_strat: dict[str, Runs]) -> BenchmarkAnalysis:
    strategies = list(by_strat)
    seeds = by_strat[strategies[0]].seeds
    for r in by_strat.values():
        seeds = np.intersect1d(seeds, r.seeds)
    dropped = {s: int(r.seeds.size - seeds.size) for s, r in by_strat.items() if r.seeds.size > seeds.size}
    if dropped:
        log.warning("%s: paired statistics use the %d seeds every strategy ran (dropped: %s)", name, seeds.size, dropped)
    budget = int(min(r.lengths[np.isin(r.seeds, seeds)].min() for r in by_strat.values())) if seeds.size else 0
    curves = np.stack([r.best[np.isin(r.seeds, seeds), :budget] for r in by_strat.values()]) if budget else \
        np.zeros((len(strategies), 0, 0))
    final = curves[:, :, -1] if budget else np.zeros((len(strategies), 0))
    ranks = metrics.average_rank(curves) if budget else np.zeros((len(strategies), 0))
    fr, cd = None, None
    if len(strategies) >= 3 and seeds.size >= 2:
        fr = stats.friedman(final.T)
    if len(strategies) >= 2 and seeds.size >= 1:
        cd = stats.nemenyi_cd(len(strategies), int(seeds.size))
    tests: list[dict[str, Any]] = []
    if RANDOM_SEARCH in by_strat and seeds.size:
        rs = final[strategies.index(RANDOM_SEARCH)]
        for i, s in enumerate(strategies):
            if s == RANDOM_SEARCH:
                continue
            w = stats.wilcoxon(final[i], rs)
            tests.append({"benchmark": name, "strategy": s, "n_pairs": w.n,
                          "median_difference": float(np.median(final[i] - rs)), "statistic": w.statistic,
                          "pvalue": w.pvalue})
        for t, p in zip(tests, stats.holm([t["pvalue"] for t in tests])):
            t["pvalue_holm"] = float(p)
    return BenchmarkAnalysis(name, strategies, seeds, budget, final, ranks, fr, cd, tests)


@dataclass
class Analysis:
    """Everything the report shows, computed once from a results folder."""

    root: Path
    benchmarks: dict[str, dict[str, Any]]
    runs: dict[str, dict[str, Runs]]
    gains: list[dict[str, Any]]
    per_benchmark: dict[str, BenchmarkAnalysis]
    across: dict[str, Any] | None  # Friedman + CD over benchmarks as blocks
    meta: dict[str, Any] | None
    skipped: dict[str, Any] | None
    n_boot: int
    seed: int
    trials: pd.DataFrame | None = None  # the tidy trials (load_results)

    @property
    def strategies(self) -> list[str]:
        names = {s for by in self.runs.values() for s in by}
        return sorted(names, key=lambda s: (s != RANDOM_SEARCH, s))


def _across_benchmarks(per: dict[str, BenchmarkAnalysis]) -> dict[str, Any] | None:
    """Blocks = benchmarks where every strategy ran; score = mean best-so-far at the common budget."""
    common = None
    for a in per.values():
        common = set(a.strategies) if common is None else common & set(a.strategies)
    strategies = sorted(common or (), key=lambda s: (s != RANDOM_SEARCH, s))
    blocks = [b for b, a in per.items() if a.final.size]
    if len(blocks) < 2 or len(strategies) < 2:
        return None
    scores = np.array([[per[b].final[per[b].strategies.index(s)].mean() for s in strategies] for b in blocks])
    avg = metrics.ranks(scores).mean(axis=0)
    fr = stats.friedman(scores) if len(strategies) >= 3 else None
    return {"benchmarks": blocks, "strategies": strategies, "scores": scores, "avg_ranks": avg,
            "friedman": fr, "cd": stats.nemenyi_cd(len(strategies), len(blocks))}


def analyse(root: str | Path, n_boot: int = 2000, seed: int = 0) -> Analysis:
    root = Path(root)
    trials, benchmarks = load_results(root)
    runs = trajectories(trials)
    per = {b: analyse_benchmark(b, by) for b, by in runs.items()}
    meta = _read_json(root / "meta.json") if (root / "meta.json").is_file() else None
    skipped = _read_json(root / "skipped.json") if (root / "skipped.json").is_file() else None
    return Analysis(root, benchmarks, runs, gain_rows(runs, benchmarks, n_boot, seed), per,
                    _across_benchmarks(per), meta, skipped, n_boot, seed, trials=trials)

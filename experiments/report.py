"""The report of a results folder: tidy data, the summary, figures, tables and ``README.md``.

Reads what the runner writes (see :mod:`experiments.execute`)::

    DIR/meta.json                                   versions, git revision, suite, seeds
    DIR/benchmarks/<benchmark>.json                 N, optimum, targets {name: {threshold, K}}, sources
    DIR/data/<benchmark>/<strategy>/seed-SSSS.json  one trial: arch, observed, truth, cost, ...

and writes::

    DIR/figures/<benchmark>/*.{pdf,png}   curves, samples-to-target ECDF and boxplots, ranks, CD diagram
    DIR/figures/cd-diagram.{pdf,png}      across benchmarks (when there are at least two)
    DIR/tables/*.{md,tex,csv}             gains, summary, ranks, Wilcoxon, Friedman, reproduction
    DIR/README.md                         all of it, with the definitions and data sources

Every number is computed from ``DIR`` alone; CSV tables hold full precision, Markdown and LaTeX
tables the same numbers rounded. Bootstrap intervals use a numpy generator seeded from ``seed`` and
the names of the benchmark, strategy and target, so a number does not change when another strategy
is added. The README is assembled from one function per section (:func:`readme_sections`), and
callers may append their own sections (``extra_sections``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import metrics, plots, stats
from experiments.metrics import GAIN_DEFINITION

log = logging.getLogger(__name__)

RANDOM_SEARCH = "random-search"
TRIAL_KEYS = ("benchmark", "strategy", "seed", "arch", "observed", "truth", "cost")
SUMMARY_KEYS = ("benchmark", "strategy", "target", "n_trials", "successes", "art", "gain", "gain_low", "gain_high")
RS_BUDGET_NOTE = (
    "Random search's *measured* gain is expected to be 1 only when its trials are long enough to "
    "always reach the target. With a budget B, COCO's aRT charges a failed trial all its B samples, "
    "so random search's measured aRT estimates E[min(T, B)] / P(T <= B) for its first-hit time T "
    "(column *aRT RS @B*, exact, hypergeometric), which exceeds (N+1)/(K+1) when B is small "
    "compared with N/K (up to about twice for the optimum, K = 1). Its measured gain should then be "
    "close to aRT RS / aRT RS @B, not 1."
)


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
         "wall_time": float(r.get("wall_time") or 0.0)}
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
def _rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


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
                est = stats.bootstrap_gain(hits, r.lengths, art_rs, n_boot=n_boot, seed=_rng(seed, bench, strat, target))
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


# ----------------------------------------------------------------------------- tables
def fmt(x: Any) -> str:
    """A number as the Markdown/LaTeX tables print it (CSV keeps full precision)."""
    if x is None:
        return "–"
    if isinstance(x, int | np.integer):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_score(x: Any) -> str:
    """A score (optimum, threshold) with six significant digits: targets differ in small decimals."""
    return "–" if x is None else f"{float(x):.6g}"


def fmt_p(p: Any) -> str:
    return "–" if p is None or not math.isfinite(p) else f"{p:.2g}"


def fmt_ci(low: Any, high: Any) -> str:
    return f"[{fmt(low)}, {fmt(high)}]"


Cell = Callable[[dict[str, Any]], str]


@dataclass
class Table:
    """Rows of raw values (written to CSV as they are) and display columns for Markdown/LaTeX."""

    name: str
    caption: str
    rows: list[dict[str, Any]]
    display: list[tuple[str, Cell]]

    def markdown(self) -> str:
        def cell(s: str) -> str:
            return s.replace("|", "\\|")

        head = "| " + " | ".join(cell(h) for h, _ in self.display) + " |"
        rule = "|" + "|".join("---" for _ in self.display) + "|"
        body = ["| " + " | ".join(cell(f(r)) for _, f in self.display) + " |" for r in self.rows]
        return "\n".join([head, rule, *body])

    def latex(self) -> str:
        cols = "l" * min(2, len(self.display)) + "r" * max(0, len(self.display) - 2)
        head = " & ".join(_tex(h) for h, _ in self.display) + r" \\"
        body = [" & ".join(_tex(f(r)) for _, f in self.display) + r" \\" for r in self.rows]
        return "\n".join([
            r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule", head,
            r"\midrule", *body, r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(self.caption)}}}",
            rf"\label{{tab:{self.name}}}", r"\end{table}", "",
        ])

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        md, tex, csv_path = (folder / f"{self.name}.{e}" for e in ("md", "tex", "csv"))
        md.write_text(f"{self.caption}\n\n{self.markdown()}\n")
        tex.write_text(self.latex())
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        with csv_path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            for r in self.rows:
                w.writerow({k: _csv(v) for k, v in r.items()})
        return [md, tex, csv_path]


def _csv(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return repr(float(v))  # full precision; inf and nan as "inf" / "nan"
    return v


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(s: str) -> str:
    out = "".join(_TEX.get(c, c) for c in s)
    return out.replace("∞", r"$\infty$").replace("–", "--").replace("≤", r"$\le$").replace("≥", r"$\ge$")


def _sources_text(b: dict[str, Any]) -> str:
    items = []
    for s in b.get("sources", []):
        if isinstance(s, dict):
            items.append(", ".join(f"{k}: {v}" for k, v in s.items()))
        else:
            items.append(str(s))
    return "; ".join(items) if items else "not recorded"


def gain_table(a: Analysis, bench: str) -> Table:
    b = a.benchmarks[bench]
    targets = ", ".join(f"{t}: threshold {fmt_score(v['threshold'])}, K = {v['K']}" for t, v in b["targets"].items())
    caption = (
        f"Sample-efficiency gain on {bench} (N = {b['n']}; {targets}), with percentile bootstrap 95% "
        f"intervals over trials ({a.n_boot} resamples). {GAIN_DEFINITION} aRT RS @B is random search's "
        f"exact COCO aRT at the trials' budget B. Data: {_sources_text(b)}."
    )
    rows = [r for r in a.gains if r["benchmark"] == bench]
    return Table(f"gain-{bench}", caption, rows, [
        ("strategy", lambda r: r["strategy"]),
        ("target", lambda r: r["target"]),
        ("trials", lambda r: fmt(r["n_trials"])),
        ("successes", lambda r: fmt(r["successes"])),
        ("aRT", lambda r: fmt(r["art"])),
        ("aRT RS", lambda r: fmt(r["art_rs"])),
        ("aRT RS @B", lambda r: fmt(r["art_rs_budget"])),
        ("gain", lambda r: fmt(r["gain"])),
        ("gain 95% CI", lambda r: fmt_ci(r["gain_low"], r["gain_high"])),
    ])


def summary_table(a: Analysis) -> Table:
    targets = list(dict.fromkeys(r["target"] for r in a.gains))
    rows = []
    for bench, by_strat in a.runs.items():
        ba = a.per_benchmark[bench]
        opt = float(a.benchmarks[bench]["optimum"])
        for strat, r in by_strat.items():
            final = r.best[np.arange(r.seeds.size), r.lengths.astype(int) - 1]
            row: dict[str, Any] = {"benchmark": bench, "strategy": strat, "n_trials": int(r.seeds.size),
                                   "budget": int(r.lengths.max()), "median_final_regret": float(np.median(opt - final))}
            if ba.ranks.size and strat in ba.strategies:
                row["final_rank"] = float(ba.ranks[ba.strategies.index(strat), -1])
            for g in a.gains:
                if g["benchmark"] == bench and g["strategy"] == strat:
                    for key in ("successes", "gain", "gain_low", "gain_high"):
                        row[f"{key}_{g['target']}"] = g[key]
            rows.append(row)
    sources = " ".join(f"{b}: {_sources_text(v)}." for b, v in a.benchmarks.items())
    caption = (
        "Summary across benchmarks: median simple regret of the best architecture found at the end of "
        "the budget, average rank at the common budget (1 = best), and the sample-efficiency gain for "
        f"each target with its bootstrap 95% interval. {GAIN_DEFINITION} Data: {sources}"
    )
    def gain_cell(t: str) -> Cell:
        def cell(r: dict[str, Any]) -> str:
            if r.get(f"successes_{t}") == 0:
                return f"0 (no trial reached it in {r['n_trials']})"
            return f"{fmt(r.get(f'gain_{t}'))} {fmt_ci(r.get(f'gain_low_{t}'), r.get(f'gain_high_{t}'))}"

        return cell

    display: list[tuple[str, Cell]] = [
        ("benchmark", lambda r: r["benchmark"]), ("strategy", lambda r: r["strategy"]),
        ("trials", lambda r: fmt(r["n_trials"])), ("budget", lambda r: fmt(r["budget"])),
        ("median regret", lambda r: fmt(r["median_final_regret"])), ("avg rank", lambda r: fmt(r.get("final_rank"))),
    ]
    display += [(f"gain {t}", gain_cell(t)) for t in targets]
    return Table("summary", caption, rows, display)


GAIN_BUDGETS = (50, 150, 300, 1000)  # budgets of the gain-by-budget table (those a trial reached)


def budget_gain_table(a: Analysis) -> Table:
    """Point gains of every strategy at budgets ``B`` in :data:`GAIN_BUDGETS` (and the trials' own
    budget), from the first ``B`` samples of each trial."""
    targets = [t for t in ("top-0.1%", "top-1%") if any(r["target"] == t for r in a.gains)]
    rows, shown = [], set()
    for bench, by_strat in a.runs.items():
        b = a.benchmarks[bench]
        n = int(b["n"])
        for strat, r in by_strat.items():
            full = int(r.lengths.max())
            budgets = sorted({x for x in GAIN_BUDGETS if x <= full} | {full})
            row: dict[str, Any] = {"benchmark": bench, "strategy": strat, "n_trials": int(r.seeds.size)}
            for t in targets:
                tgt = b["targets"][t]
                hits = metrics.samples_to_target(r.truth, float(tgt["threshold"]))
                art_rs = metrics.art_random_exact(n, int(tgt["K"]))
                for x in budgets:
                    row[f"gain_{t}@{x}"] = metrics.gain(metrics.art_at_budget(hits, r.lengths, x), art_rs)
                    shown.add(x)
            rows.append(row)
    caption = (
        "Sample-efficiency gain by budget: the gain of each strategy's trials cut after their first B "
        "samples (a target reached later counts as a failure; a strategy that plans around its total "
        f"budget might do better when given B). {GAIN_DEFINITION} Intervals for the full budget are in "
        "the per-benchmark gain tables."
    )

    def cell(key: str) -> Cell:
        return lambda r: fmt(r.get(key))

    display: list[tuple[str, Cell]] = [("benchmark", lambda r: r["benchmark"]), ("strategy", lambda r: r["strategy"]),
                                       ("trials", lambda r: fmt(r["n_trials"]))]
    display += [(f"gain {t} @{x}", cell(f"gain_{t}@{x}")) for t in targets for x in sorted(shown)]
    return Table("gain-by-budget", caption, rows, display)


def _checkpoints(budget: int) -> list[int]:
    return sorted({max(1, int(round(budget * f))) for f in (0.1, 0.25, 0.5, 1.0)}) if budget else []


def rank_table(a: Analysis) -> Table:
    rows, steps_all = [], set()
    for bench, ba in a.per_benchmark.items():
        steps = _checkpoints(ba.common_budget)
        steps_all.update(steps)
        for i, s in enumerate(ba.strategies):
            row = {"benchmark": bench, "strategy": s, "seeds": int(ba.seeds.size)}
            row.update({f"rank@{t}": float(ba.ranks[i, t - 1]) for t in steps})
            rows.append(row)
    caption = ("Average rank (1 = best; ties share the average rank) of each strategy's best-so-far "
               "score after t evaluations, over the seeds every strategy ran.")
    def rank_cell(t: int) -> Cell:
        return lambda r: fmt(r.get(f"rank@{t}"))

    display: list[tuple[str, Cell]] = [("benchmark", lambda r: r["benchmark"]), ("strategy", lambda r: r["strategy"]),
                                       ("seeds", lambda r: fmt(r["seeds"]))]
    display += [(f"rank @{t}", rank_cell(t)) for t in sorted(steps_all)]
    return Table("ranks", caption, rows, display)


def wilcoxon_table(a: Analysis) -> Table:
    rows = [t for ba in a.per_benchmark.values() for t in ba.wilcoxon]
    caption = (f"Two-sided Wilcoxon signed-rank test of each strategy against {RANDOM_SEARCH}, paired by "
               "seed (the same seed gives both the same oracle noise), on the best-so-far score at the "
               "common budget; Holm-adjusted p-values within each benchmark. A positive median "
               "difference means the strategy found better architectures.")
    return Table("wilcoxon", caption, rows, [
        ("benchmark", lambda r: r["benchmark"]), ("strategy", lambda r: r["strategy"]),
        ("pairs", lambda r: fmt(r["n_pairs"])), ("median diff.", lambda r: fmt(r["median_difference"])),
        ("p", lambda r: fmt_p(r["pvalue"])), ("p (Holm)", lambda r: fmt_p(r["pvalue_holm"])),
    ])


def friedman_table(a: Analysis) -> Table:
    rows = []
    for bench, ba in a.per_benchmark.items():
        rows.append({"blocks": f"seeds of {bench}", "n_blocks": int(ba.seeds.size), "k": len(ba.strategies),
                     "statistic": ba.friedman.statistic if ba.friedman else None,
                     "pvalue": ba.friedman.pvalue if ba.friedman else None, "cd": ba.cd})
    if a.across is not None:
        fr = a.across["friedman"]
        rows.append({"blocks": "benchmarks", "n_blocks": len(a.across["benchmarks"]), "k": len(a.across["strategies"]),
                     "statistic": fr.statistic if fr else None, "pvalue": fr.pvalue if fr else None,
                     "cd": a.across["cd"]})
    caption = ("Friedman test of the strategies' best-so-far scores at the common budget (blocks: the seeds "
               "of one benchmark, or the benchmarks with the mean over seeds), and the Nemenyi critical "
               "difference of average ranks at alpha = 0.05: CD = q_alpha sqrt(k (k+1) / (6 N)). "
               "The test needs k >= 3 strategies.")
    return Table("friedman", caption, rows, [
        ("blocks", lambda r: r["blocks"]), ("N", lambda r: fmt(r["n_blocks"])), ("k", lambda r: fmt(r["k"])),
        ("chi2", lambda r: fmt(r["statistic"])), ("p", lambda r: fmt_p(r["pvalue"])), ("CD", lambda r: fmt(r["cd"])),
    ])


# ----------------------------------------------------------------------------- figures
def curve_steps(budget: int, max_points: int = 300) -> np.ndarray:
    """1-based steps at which curves are drawn: every step up to ``max_points``, else a log- and
    linearly-spaced grid (best-so-far is a step function; this keeps bootstraps cheap)."""
    if budget <= max_points:
        return np.arange(1, budget + 1)
    grid = np.concatenate([np.geomspace(1, budget, max_points // 2), np.linspace(1, budget, max_points // 2)])
    return np.unique(np.round(grid).astype(np.int64))
def write_figures(a: Analysis, logx: bool = True) -> dict[str, dict[str, Path]]:
    """``{benchmark: {figure name: png path}}``; PDFs are written next to the PNGs."""
    colors = plots.palette(a.strategies)
    out: dict[str, dict[str, Path]] = {}
    for bench, by_strat in a.runs.items():
        b = a.benchmarks[bench]
        folder = a.root / "figures" / bench
        opt = float(b["optimum"])
        figs: dict[str, Any] = {}
        budget = max(int(r.lengths.max()) for r in by_strat.values())
        steps = curve_steps(budget)
        bands = {s: stats.median_band(r.best[:, steps[steps <= r.best.shape[1]] - 1], n_boot=min(a.n_boot, 1000),
                                      seed=_rng(a.seed, bench, s, "curve"))
                 for s, r in by_strat.items()}
        metric = b.get("metric", "score")
        figs["best-so-far"] = plots.curves_figure(
            bands, f"best {metric} so far (truth)", f"{bench}: best-so-far, median and 95% band", logx=logx,
            colors=colors, steps=steps)
        if np.isfinite(opt):  # a live benchmark (no table) has no known optimum, so no regret
            regret = {s: (opt - m, opt - hi, opt - lo) for s, (m, lo, hi) in bands.items()}
            figs["regret"] = plots.curves_figure(
                regret, "simple regret", f"{bench}: simple regret, median and 95% band", logx=logx, logy=True,
                colors=colors, steps=steps)
        if b["targets"]:  # ... and no targets
            hits = {t: {s: metrics.samples_to_target(r.truth, float(v["threshold"])) for s, r in by_strat.items()}
                    for t, v in b["targets"].items()}
            figs["ecdf"] = plots.ecdf_figure(hits, budget, f"{bench}: samples to target", logx=logx, colors=colors)
            figs["samples-to-target"] = plots.boxplot_figure(hits, budget, f"{bench}: samples to target",
                                                             colors=colors)
        ba = a.per_benchmark[bench]
        if ba.ranks.size:
            figs["average-rank"] = plots.rank_figure(
                dict(zip(ba.strategies, ba.ranks)), f"{bench}: average rank over the budget", logx=logx, colors=colors)
        if ba.cd is not None and ba.ranks.size:
            figs["cd-diagram"] = plots.cd_figure(
                dict(zip(ba.strategies, ba.ranks[:, -1])), ba.cd,
                f"{bench}: average rank at {ba.common_budget} evaluations ({ba.seeds.size} seeds)")
        out[bench] = {}
        for name, fig in figs.items():
            out[bench][name] = plots.save(fig, folder / name)[1]
    if a.across is not None:
        fig = plots.cd_figure(dict(zip(a.across["strategies"], a.across["avg_ranks"])), a.across["cd"],
                              f"average rank over {len(a.across['benchmarks'])} benchmarks")
        out[""] = {"cd-diagram": plots.save(fig, a.root / "figures" / "cd-diagram")[1]}
    return out


# ----------------------------------------------------------------------------- README
@dataclass
class ReportContext:
    analysis: Analysis
    tables: dict[str, Table]
    figures: dict[str, dict[str, Path]]

    def rel(self, path: Path) -> str:
        return path.relative_to(self.analysis.root).as_posix()


def _table_md(ctx: ReportContext, name: str) -> str:
    t = ctx.tables[name]
    return f"{t.markdown()}\n\n*{t.caption}* (files: `tables/{name}.md`, `.tex`, `.csv`)"


def section_title(ctx: ReportContext) -> str:
    a = ctx.analysis
    n_trials = sum(r.seeds.size for by in a.runs.values() for r in by.values())
    lines = [
        "# nasarena results",
        "",
        "Generated by `experiments.report.write_report` from the trial records in `data/`; do not edit by "
        "hand: rerun `nasarena report DIR` instead. Every number below is computed from this folder.",
        "",
        f"- Benchmarks: {', '.join(a.runs)}",
        f"- Strategies: {', '.join(a.strategies)}",
        f"- Trials: {n_trials}",
        f"- Bootstrap: {a.n_boot} resamples, seed {a.seed}",
    ]
    if a.skipped:
        lines.append(f"- Skipped (data not found): {', '.join(sorted(a.skipped))}")
    return "\n".join(lines)


def section_definitions(ctx: ReportContext) -> str:
    return "\n".join([
        "## Definitions",
        "",
        "- **Best-so-far**: the ground-truth score of the best architecture evaluated so far; **simple "
        "regret** = optimum - best-so-far. Curves show the median over seeds and a percentile bootstrap "
        "95% band.",
        "- **Targets**: the optimum, and the score of the ceil(q N)-th best architecture for q = 0.1% and "
        "1% (K counts the architectures at or above it, ties included). **Samples to target**: the first "
        "evaluation reaching it.",
        f"- **Sample-efficiency gain**: {GAIN_DEFINITION}",
        f"- {RS_BUDGET_NOTE}",
        "- **Average rank**: at each step and seed, the strategies are ranked by best-so-far (1 = best, "
        "ties averaged), then averaged over seeds. **CD diagram**: strategies joined by a bar are not "
        "significantly different (Nemenyi, alpha = 0.05).",
    ])


def section_summary(ctx: ReportContext) -> str:
    parts = ["## Summary across benchmarks", "", _table_md(ctx, "summary")]
    if "" in ctx.figures:
        parts += ["", f"![critical-difference diagram across benchmarks]({ctx.rel(ctx.figures['']['cd-diagram'])})"]
    parts += ["", "### Statistical tests", "", _table_md(ctx, "friedman")]
    if ctx.tables["wilcoxon"].rows:
        parts += ["", _table_md(ctx, "wilcoxon")]
    parts += ["", "### Gain by budget", "", _table_md(ctx, "gain-by-budget")]
    parts += ["", "### Average rank over the budget", "", _table_md(ctx, "ranks")]
    if ctx.tables["diagnostics"].rows:
        parts += ["", "### Diagnostics: what each strategy did", "", _table_md(ctx, "diagnostics")]
    return "\n".join(parts)


FIGURE_CAPTIONS = {
    "best-so-far": "Best-so-far score (median over seeds, bootstrap 95% band)",
    "regret": "Simple regret (median over seeds, bootstrap 95% band; symmetric-log axis)",
    "ecdf": "Fraction of trials that reached each target within x evaluations",
    "samples-to-target": "Samples to target of the successful trials (successes/trials at the right)",
    "average-rank": "Average rank over the budget (1 = best)",
    "cd-diagram": "Critical-difference diagram at the common budget (Nemenyi, alpha = 0.05)",
}


def section_benchmark(ctx: ReportContext, bench: str) -> str:
    a = ctx.analysis
    b = a.benchmarks[bench]
    ba = a.per_benchmark[bench]
    lines = [f"## {bench}", "",
             f"N = {b['n']} architectures with a score; metric: {b.get('metric', 'score')}; optimum "
             f"{fmt_score(b['optimum'])}; paired statistics over {ba.seeds.size} seeds at {ba.common_budget} "
             "evaluations.", ""]
    if ba.friedman is not None:
        lines += [f"Friedman test over seeds: chi2 = {fmt(ba.friedman.statistic)}, p = {fmt_p(ba.friedman.pvalue)}; "
                  f"Nemenyi CD = {fmt(ba.cd)}.", ""]
    for name, path in ctx.figures.get(bench, {}).items():
        lines += [f"![{FIGURE_CAPTIONS.get(name, name)}]({ctx.rel(path)})", "",
                  f"*{FIGURE_CAPTIONS.get(name, name)}.* (`{ctx.rel(path.with_suffix('.pdf'))}`)", ""]
    lines += ["### Sample-efficiency gain", "", _table_md(ctx, f"gain-{bench}")]
    return "\n".join(lines)


def section_sources(ctx: ReportContext) -> str:
    lines = ["## Data sources", ""]
    for bench, b in ctx.analysis.benchmarks.items():
        lines.append(f"- **{bench}**:")
        srcs = b.get("sources", [])
        for s in srcs:
            lines.append(f"  - {', '.join(f'{k}: {v}' for k, v in s.items()) if isinstance(s, dict) else s}")
        if not srcs:
            lines.append("  - not recorded")
    return "\n".join(lines)


def section_provenance(ctx: ReportContext) -> str:
    meta = ctx.analysis.meta
    if meta is None:
        return "## Provenance\n\n`meta.json` is missing from this folder."
    return "\n".join(["## Provenance", "", "Copied from `meta.json` (versions, git revision, suite, seeds, data checksums):",
                      "", "```json", json.dumps(meta, indent=2, sort_keys=True), "```"])


def section_reproduction(ctx: ReportContext) -> str:
    """Published claims of the seed papers next to this folder's numbers (:mod:`experiments.reproduction`)."""
    from experiments import reproduction

    return reproduction.section(ctx.tables["reproduction"])


def readme_sections(ctx: ReportContext, extra_sections: Sequence[str] = ()) -> list[str]:
    """The README's sections in order, each a Markdown string; ``extra_sections`` go before the data
    sources and provenance."""
    a = ctx.analysis
    return [section_title(ctx), section_definitions(ctx), section_summary(ctx),
            *(section_benchmark(ctx, b) for b in a.runs), section_reproduction(ctx), *extra_sections,
            section_sources(ctx), section_provenance(ctx)]


def reproduction_table(a: Analysis) -> Table:
    from experiments import reproduction

    finals = reproduction.final_regret_rows(a.trials, a.benchmarks) if a.trials is not None else []
    return reproduction.reproduction_table(a.gains, finals)


def diagnostics_table(a: Analysis) -> Table:
    """Mean per trial of every counter a strategy reports in its records, per benchmark."""
    rows_in = a.trials.attrs.get("diagnostics", []) if a.trials is not None else []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows_in:
        groups.setdefault((r["benchmark"], r["strategy"]), []).append(r)
    rows = []
    for (bench, strat), recs in sorted(groups.items()):
        names = sorted({k for r in recs for k in r if k not in ("benchmark", "strategy", "seed")})
        means = {k: float(np.mean([r.get(k, 0.0) for r in recs])) for k in names}
        rows.append({"benchmark": bench, "strategy": strat, "trials": len(recs), **means,
                     "counters": "; ".join(f"{k} {fmt(v)}" for k, v in means.items())})
    return Table(
        "diagnostics",
        "What the strategies did, as they count it in each trial record (mean per trial): fallbacks, "
        "projections onto the table, random fill, the official evaluation counters. A strategy that "
        "reports nothing has no row.",
        rows,
        [("benchmark", lambda r: r["benchmark"]), ("strategy", lambda r: r["strategy"]),
         ("trials", lambda r: str(r["trials"])), ("mean per trial", lambda r: r["counters"])],
    )


def build_tables(a: Analysis) -> dict[str, Table]:
    tables = {f"gain-{b}": gain_table(a, b) for b in a.runs}
    for t in (summary_table(a), budget_gain_table(a), rank_table(a), wilcoxon_table(a), friedman_table(a),
              reproduction_table(a), diagnostics_table(a)):
        tables[t.name] = t
    return tables


def write_report(
    root: str | Path, extra_sections: Sequence[str] = (), n_boot: int = 2000, seed: int = 0, logx: bool = True,
    figures: bool = True,
) -> Path:
    """Write ``DIR/figures`` (unless ``figures=False``: about a second per figure), ``DIR/tables`` and
    ``DIR/README.md``; returns the README's path. ``extra_sections`` (Markdown strings) are added
    before the data sources."""
    a = analyse(root, n_boot=n_boot, seed=seed)
    tables = build_tables(a)
    for t in tables.values():
        t.write(a.root / "tables")
    ctx = ReportContext(a, tables, write_figures(a, logx=logx) if figures else {})
    readme = a.root / "README.md"
    readme.write_text("\n\n".join(readme_sections(ctx, extra_sections)) + "\n")
    log.info("report written to %s", readme)
    return readme

"""The report of a results folder: figures, tables and ``README.md``, from :func:`experiments.analysis.trials.analyse`.

Writes::

    DIR/figures/<benchmark>/*.{pdf,png}   curves, samples-to-target ECDF and boxplots, ranks, CD diagram
    DIR/figures/cd-diagram.{pdf,png}      across benchmarks (when there are at least two)
    DIR/tables/*.{md,tex,csv}             gains, summary, ranks, Wilcoxon, Friedman, reproduction
    DIR/README.md                         all of it, with the definitions and data sources

Every number is computed from ``DIR`` alone (:mod:`experiments.analysis.trials` reads it); CSV tables hold
full precision, Markdown and LaTeX tables the same numbers rounded (:mod:`experiments.analysis.tables`). The
README is assembled from one function per section (:func:`readme_sections`), and callers may append
their own sections (``extra_sections``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.analysis import metrics, plots, stats, survival
from experiments.analysis.metrics import GAIN_DEFINITION
from experiments.analysis.survival import rng_for
from experiments.analysis.tables import Cell, Table, fmt, fmt_ci, fmt_p, fmt_score
from experiments.analysis.trials import RANDOM_SEARCH, Analysis, analyse
from experiments.studies import reproduction
from nasbench.data import atomic_write_text

log = logging.getLogger(__name__)

RS_BUDGET_NOTE = (
    "Random search's *measured* gain is expected to be 1 only when its trials are long enough to "
    "always reach the target. With a budget B, COCO's aRT charges a failed trial all its B samples, "
    "so random search's measured aRT estimates E[min(T, B)] / P(T <= B) for its first-hit time T "
    "(column *aRT RS @B*, exact, hypergeometric), which exceeds (N+1)/(K+1) when B is small "
    "compared with N/K (up to about twice for the optimum, K = 1). Its measured gain should then be "
    "close to aRT RS / aRT RS @B, not 1."
)



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
        f"Sample-efficiency gain on {bench} (N = {b['n']}; {targets}), with BCa bootstrap 95% "
        f"intervals over trials ({survival.N_RESAMPLES:,} resamples). {GAIN_DEFINITION} aRT RS @B is random search's "
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


LEADERBOARD_TARGET = "top-0.1%"  # the headline target: reached often enough at 150 queries to rank strategies


def _leaderboard_order(a: Analysis) -> list[str]:
    """Strategies by their average rank across benchmarks (the Friedman blocks), else by name."""
    if a.across:
        ranks = dict(zip(a.across["strategies"], a.across["avg_ranks"]))
        return sorted(a.strategies, key=lambda s: (ranks.get(s, float("inf")), s))
    return list(a.strategies)


def leaderboard_table(a: Analysis) -> Table:
    """One row per strategy, one column per benchmark: the gain at :data:`LEADERBOARD_TARGET` with
    its interval, and the average rank across benchmarks."""
    by = {(g["strategy"], g["benchmark"]): g for g in a.gains if g["target"] == LEADERBOARD_TARGET}
    ranks = dict(zip(a.across["strategies"], a.across["avg_ranks"])) if a.across else {}
    rows = [{"strategy": s, "avg_rank": ranks.get(s),
             **{b: by.get((s, b)) for b in a.runs}} for s in _leaderboard_order(a)]
    budgets = sorted({int(r.lengths.max()) for by_s in a.runs.values() for r in by_s.values()})

    def cell(b: str) -> Cell:
        def f(r: dict[str, Any]) -> str:
            g = r[b]
            return "–" if g is None else f"{fmt(g['gain'])} {fmt_ci(g['gain_low'], g['gain_high'])}"

        return f

    caption = (
        f"Leaderboard: sample-efficiency gain over random search at the {LEADERBOARD_TARGET} target after "
        f"{', '.join(map(str, budgets))} queries (bootstrap 95% interval; > 1: fewer samples than random search), "
        "strategies ordered by their average rank across benchmarks (*avg rank*, 1 = best). "
        f"{GAIN_DEFINITION}"
    )
    display: list[tuple[str, Cell]] = [("strategy", lambda r: r["strategy"]),
                                       ("avg rank", lambda r: fmt(r["avg_rank"]))]
    display += [(b, cell(b)) for b in a.runs]
    return Table("leaderboard", caption, rows, display)


def leaderboard_figure(a: Analysis):
    rows, cols = _leaderboard_order(a), list(a.runs)
    by = {(g["strategy"], g["benchmark"]): g for g in a.gains if g["target"] == LEADERBOARD_TARGET}
    grid = {k: np.full((len(rows), len(cols)), np.nan) for k in ("gain", "gain_low", "gain_high")}
    for i, s in enumerate(rows):
        for j, b in enumerate(cols):
            if (s, b) in by:
                for k in grid:
                    grid[k][i, j] = by[s, b][k]
    return plots.leaderboard_figure(grid["gain"], grid["gain_low"], grid["gain_high"], rows, cols,
                                    f"gain over random search at the {LEADERBOARD_TARGET} target")


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
                                      seed=rng_for(a.seed, bench, s, "curve"))
                 for s, r in by_strat.items()}
        metric = b.get("metric", "score")
        figs["best-so-far"] = plots.curves_figure(
            bands, "best-so-far (true score)", f"{bench}: best-so-far, median and 95% band\n{metric}", logx=logx,
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
    out[""] = {}
    if any(g["target"] == LEADERBOARD_TARGET for g in a.gains):
        out[""]["leaderboard"] = plots.save(leaderboard_figure(a), a.root / "figures" / "leaderboard")[1]
    if a.across is not None and len(a.across["strategies"]) >= 3:  # Friedman/Nemenyi need k >= 3
        fig = plots.cd_figure(dict(zip(a.across["strategies"], a.across["avg_ranks"])), a.across["cd"],
                              f"average rank over {len(a.across['benchmarks'])} benchmarks")
        out[""]["cd-diagram"] = plots.save(fig, a.root / "figures" / "cd-diagram")[1]
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
        "Generated by `experiments.studies.report.write_report` from the trial records in `data/`; do not edit by "
        "hand: rerun `nasarena report DIR` instead. Every number below is computed from this folder.",
        "",
        f"- Benchmarks: {', '.join(a.runs)}",
        f"- Strategies: {', '.join(a.strategies)}",
        f"- Trials: {n_trials}",
        f"- Bootstrap: gains BCa with {survival.N_RESAMPLES:,} resamples, curves percentile with {a.n_boot}; seed {a.seed}",
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


def labels_table(a: Analysis) -> Table:
    """What each label ran: strategy, preset, config overrides and version (from the records)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in (a.trials.attrs.get("records", []) if a.trials is not None else []):
        seen.setdefault(r["strategy"], r)
    rows = []
    for label in a.strategies:
        r = seen.get(label, {})
        name, _, preset = str(r.get("strategy_spec", label)).partition(":")
        rows.append({"label": label, "strategy": name, "preset": preset, "version": r.get("strategy_version"),
                     "config": ", ".join(f"{k}={v}" for k, v in sorted(r.get("config", {}).items()))})
    return Table("labels", "The labels of this report: the registered strategy each runs, its named preset "
                 "(none: the official code's behaviour), config overrides and strategy version.", rows, [
        ("label", lambda r: r["label"]), ("strategy", lambda r: r["strategy"]),
        ("preset", lambda r: r["preset"] or "–"), ("config", lambda r: r["config"] or "–"),
        ("version", lambda r: fmt(r["version"])),
    ])


def section_leaderboard(ctx: ReportContext) -> str:
    parts = ["## Leaderboard", ""]
    if "leaderboard" in ctx.figures.get("", {}):
        parts += [f"![leaderboard]({ctx.rel(ctx.figures['']['leaderboard'])})", ""]
    return "\n".join(parts + [_table_md(ctx, "leaderboard"), "", _table_md(ctx, "labels")])


def section_summary(ctx: ReportContext) -> str:
    parts = ["## Summary across benchmarks", "", _table_md(ctx, "summary")]
    if "cd-diagram" in ctx.figures.get("", {}):
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


def section_cite(ctx: ReportContext) -> str:
    meta = ctx.analysis.meta or {}
    env = meta.get("environment", {})
    version = env.get("versions", {}).get("nasarena", "unknown")
    return "\n".join([
        "## How to cite",
        "",
        f"Cite nasarena {version} (`CITATION.cff`), the git revision above ({env.get('git_revision', 'unknown')}), "
        "and the row of the CSV you quote (every table of this page is also a CSV under `tables/`, at full "
        "precision), e.g. `tables/leaderboard.csv`, row `regularized-evolution`. Cite the benchmarks' and the "
        "strategies' papers as well (table captions and `nasarena strategies` name them).",
    ])


def section_reproduction(ctx: ReportContext) -> str:
    """Published claims of the seed papers next to this folder's numbers (:mod:`experiments.studies.reproduction`)."""
    return reproduction.section(ctx.tables["reproduction"])


def readme_sections(ctx: ReportContext, extra_sections: Sequence[str] = ()) -> list[str]:
    """The README's sections in order, each a Markdown string; ``extra_sections`` go before the data
    sources and provenance."""
    a = ctx.analysis
    sections = [section_title(ctx), section_leaderboard(ctx), section_definitions(ctx), section_summary(ctx),
            *(section_benchmark(ctx, b) for b in a.runs), section_reproduction(ctx), *extra_sections,
            section_sources(ctx), section_provenance(ctx), section_cite(ctx)]
    return [sec for sec in sections if sec]


def reproduction_table(a: Analysis) -> Table:
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
    for t in (leaderboard_table(a), labels_table(a), summary_table(a), budget_gain_table(a), rank_table(a), wilcoxon_table(a), friedman_table(a),
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
    atomic_write_text(readme, "\n\n".join(readme_sections(ctx, extra_sections)) + "\n")
    log.info("report written to %s", readme)
    return readme

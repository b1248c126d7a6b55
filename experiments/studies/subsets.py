"""The subset-sampling experiment: a test of Mauch et al.'s claims 2 and 3, computed from the records.

Mauch, Tiedemann, Garcia, Cong, Yoshiyama, Cardinaux, Kemp, "Efficient Sampling for Predictor-Based
Neural Architecture Search" (arXiv:2011.12043, 2020; only the abstract is available to us) claim
(2) predictor-based NAS loses sample efficiency sharply when its predictor scores only a random
subset of the space, and (3) a smartly chosen subset regains the efficiency of scoring it all.
Reads one or more results folders of ``nasarena run subsets`` (trials of ``predictor-subsets``
under several labels; each record's resolved config says its candidate kind, subset size ``M``
and acquisition: labels are never parsed) and writes::

    OUT/figures/subsets.{pdf,png}   gain vs M (% of the space), one line per candidate kind, 95%
                                    bootstrap intervals, a dotted line where M*K/N = 1; one panel
                                    per benchmark x acquisition x target
    OUT/tables/subsets.{md,tex,csv} per benchmark x target x label: M, M*K/N, the measured M, hits,
                                    the share of trials whose candidates ever held a target, aRT,
                                    gain, the paired test against the full space, seconds per trial
    OUT/tables/subsets-verdicts.*   a verdict per claim x benchmark x target x acquisition
    OUT/subsets.md                  caption, figure, verdicts, table and the suite's CPU time

**M*K/N** is the expected number of target architectures (``K`` of the ``N``) in one round's
random subset of ``M``. Below 1 a random subset usually holds no target at all, and a search that
scores it cannot find one however good its predictor: a *trivial* loss. The records separate the
two causes: each round's candidate set is counted by the runner (``offered_<target>``: whether any
round's candidates held a target; ``experiments.harness.records.offer_diagnostics``), so "offered" is the
share of trials that ever had a target among their candidates and "found | offered" the share of
those that evaluated one.

**Tests.** Each subset label is paired by seed with the full space of the same acquisition: a
two-sided Wilcoxon signed-rank test on the samples to the target, a trial that never reaches it
counted as ``budget + 1`` (failures tie with each other), Holm-adjusted over the subset labels of
one benchmark x target x acquisition. Each smart label is also tested against the random subset of
the same ``M`` (Holm over the smart labels of the family). "Worse" / "better" is the sign of the
mean paired difference in samples to the target.

**Verdicts** (:func:`verdicts`), per benchmark x target x acquisition, at level
:data:`ALPHA` after adjustment:

* claim 2: *holds* when a random subset with ``M*K/N >= 1`` is significantly worse than the full
  space (the predictor misses targets its subset holds); *holds trivially* when the only
  significant losses are at ``M*K/N < 1`` (subsets that rarely hold a target); *does not hold*
  when no random subset is significantly worse (the reason says when one is significantly better:
  the claim reversed); *inconclusive* when neither the full space nor any random subset reached
  the target in :data:`MIN_HITS` trials.
* claim 3: at each ``M`` where the random subset lost, a smart subset *regains* the efficiency when
  it is not significantly worse than the full space *and* significantly better than the random
  subset of that ``M``. *Holds* when some smart subset regains at some such ``M``; *does not
  hold* when smart subsets were run at such an ``M`` and none regains; *inconclusive* when no
  random subset lost (nothing to regain) or no smart subset was run where one did.

The gain is nasarena's (docs/statistics.md, :data:`experiments.analysis.metrics.GAIN_DEFINITION`): Mauch et al.
define their own sample-efficiency gain, but its formula is not available to us.

Usage: ``python -m experiments.studies.subsets RESULTS_DIR [RESULTS_DIR ...] [--out FOLDER]``.
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from experiments.analysis import metrics, plots, stats
from experiments.analysis.metrics import GAIN_DEFINITION
from experiments.analysis.tables import Table, fmt, fmt_p
from experiments.analysis.trials import gain_rows, load_results, trajectories
from nasbench.data import atomic_write_text
from strategies.predictor_subsets import PredictorSubsetsConfig, subset_size
from strategies.registry import resolve

log = logging.getLogger(__name__)

STRATEGY = "predictor-subsets"
SMART = ("bananas", "bananas-evolution", "prefilter", "mutation", "evolution")
KINDS = ("random", *SMART)
TARGETS = ("optimum", "top-0.1%", "top-1%")
ALPHA = 0.05
MIN_HITS = 5

CAPTION = (
    "Sample-efficiency gain of predictor-based search (BANANAS' predictor: an ensemble of 5 MLPs, "
    "10 initial + 10 per round) when its predictor scores, each round, a subset of M unevaluated "
    "architectures instead of the whole space: a uniform random subset (random) or a smart one built "
    "from what the search knows (bananas: BANANAS' mutations of the 5 best architectures, kept to "
    "the table; bananas-evolution: a pool evolved on the predictor with those mutations, at equal "
    "predictor cost; prefilter: the top M of a random pool of 10 M ranked by a ridge regression). "
    "M*K/N: the expected number of target architectures in one round's random subset. offered: "
    "trials whose candidates ever held a target; found: those of them that evaluated one. "
    "p vs full: paired two-sided Wilcoxon test by seed on samples to the target (a failure counts "
    "as budget + 1), Holm-adjusted within benchmark x target x acquisition. Intervals: 95% "
    "percentile bootstrap over trials. " + GAIN_DEFINITION
)


def kind_and_size(record: dict[str, Any], n: int) -> tuple[str, float, str] | None:
    """``(candidate kind, M as a fraction of the space, acquisition)`` of a predictor-subsets
    trial record (from its resolved config), ``None`` for another strategy."""
    if record.get("strategy_spec", "").partition(":")[0] != STRATEGY:
        return None

    _, values = resolve(record["strategy_spec"], record.get("config", {}))
    cfg = PredictorSubsetsConfig(**values)
    if cfg.candidates == "full":
        return "full", 1.0, cfg.acquisition
    return cfg.candidates, subset_size(cfg.subset, n) / n, cfg.acquisition


def _per_seed(values: dict[int, float], seeds: Sequence[int]) -> np.ndarray:
    return np.array([values[s] for s in seeds], dtype=np.float64)


def _paired(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, int]:
    """``(p, mean difference a - b, pairs)`` of a Wilcoxon test over the seeds both ran."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return float("nan"), float("nan"), 0
    x, y = _per_seed(a, seeds), _per_seed(b, seeds)
    return stats.wilcoxon(x, y).pvalue, float(np.mean(x - y)), len(seeds)


def subset_rows(roots: Sequence[str | Path], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per benchmark x label x target: kind, M, M*K/N, acquisition, hits, offered, aRT
    and gain with intervals, seconds per trial, and the paired tests (``p_full`` against the full
    space, ``p_random`` of a smart label against the random subset of the same M; ``*_adj``
    Holm-adjusted; ``d_*`` the mean paired difference in samples to the target, > 0: this label
    needed more)."""
    rows: list[dict[str, Any]] = []
    for root in map(Path, roots):
        trials, benchmarks = load_results(root)
        runs = trajectories(trials)
        meta: dict[tuple[str, str], dict[str, Any]] = {}
        walls: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in trials.attrs["records"]:
            meta.setdefault((r["benchmark"], r["strategy"]), r)
            walls[r["benchmark"], r["strategy"]].append(r["wall_time"])
        diag: dict[tuple[str, str], dict[int, dict[str, float]]] = defaultdict(dict)
        for d in trials.attrs["diagnostics"]:
            diag[d["benchmark"], d["strategy"]][d["seed"]] = d
        for r in gain_rows(runs, benchmarks, n_boot=n_boot, seed=seed):
            if r["target"] not in TARGETS:
                continue
            key = (r["benchmark"], r["strategy"])
            n = int(r["N"])
            ks = kind_and_size(meta[key], n)
            run = runs[r["benchmark"]][r["strategy"]]
            hit_steps = metrics.samples_to_target(run.truth, r["threshold"])
            steps = {int(s): (float(h) if np.isfinite(h) else float(r["budget"] + 1))
                     for s, h in zip(run.seeds, hit_steps)}
            d = diag.get(key, {})
            offered_key = f"offered_{r['target']}"
            offered = [int(s) for s in run.seeds if d.get(int(s), {}).get(offered_key, 0) > 0]
            has_offers = bool(d) and all(offered_key in d.get(int(s), {}) for s in run.seeds)
            m_frac = ks[1] if ks else float("nan")
            scored = [x.get("candidates_scored", np.nan) / max(x.get("rounds", 0), 1) for x in d.values()]
            rows.append({
                **r,
                "label": r["strategy"],
                "kind": ks[0] if ks else "reference",
                "m_fraction": m_frac,
                "m_count": int(round(m_frac * n)) if ks else 0,
                "mkn": m_frac * int(r["K"]) if ks else float("nan"),  # M * K / N
                "m_measured": float(np.nanmean(scored)) if ks and scored and np.isfinite(scored).any() else float("nan"),
                "acquisition": ks[2] if ks else "",
                "offered": len(offered) if has_offers else None,
                "found_offered": sum(steps[s] <= r["budget"] for s in offered) if has_offers else None,
                "steps": steps,
                "sec_per_trial_mean": float(np.mean(walls[key])),
                "sec_per_trial_median": float(np.median(walls[key])),
                "cpu_s": float(np.sum(walls[key])),
            })
    _add_tests(rows)
    order = {k: i for i, k in enumerate(("full", *KINDS, "reference"))}
    rows.sort(key=lambda r: (r["benchmark"], TARGETS.index(r["target"]), r["acquisition"] != "thompson",
                             r["acquisition"], order.get(r["kind"], 99),
                             r["m_fraction"] if np.isfinite(r["m_fraction"]) else 2.0, r["label"]))
    return rows


def _add_tests(rows: list[dict[str, Any]]) -> None:
    """The paired tests of each family (benchmark x target x acquisition), Holm-adjusted."""
    for r in rows:
        r.update(p_full=float("nan"), d_full=float("nan"), p_full_adj=float("nan"),
                 p_random=float("nan"), d_random=float("nan"), p_random_adj=float("nan"), random_label="")
    fams: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] != "reference":
            fams[r["benchmark"], r["target"], r["acquisition"]].append(r)
    for fam in fams.values():
        full = next((r for r in fam if r["kind"] == "full"), None)
        subs = [r for r in fam if r["kind"] != "full"]
        if full is not None and subs:
            for r in subs:
                r["p_full"], r["d_full"], _ = _paired(r["steps"], full["steps"])
            for r, p in zip(subs, stats.holm([r["p_full"] for r in subs])):
                r["p_full_adj"] = float(p)
        random_at = {round(r["m_fraction"], 12): r for r in subs if r["kind"] == "random"}
        smart = [r for r in subs if r["kind"] in SMART and round(r["m_fraction"], 12) in random_at]
        for r in smart:
            base = random_at[round(r["m_fraction"], 12)]
            r["p_random"], r["d_random"], _ = _paired(r["steps"], base["steps"])
            r["random_label"] = base["label"]
        for r, p in zip(smart, stats.holm([r["p_random"] for r in smart])):
            r["p_random_adj"] = float(p)


def _significant(p: float) -> bool:
    return bool(np.isfinite(p) and p < ALPHA)


def _pct(x: float) -> str:
    return f"{100 * x:.2g}%" if x < 1 else "100%"


def _at(rs: Sequence[dict[str, Any]], full: dict[str, Any]) -> str:
    return ", ".join(f"M = {_pct(r['m_fraction'])} (M*K/N = {r['mkn']:.2g}, "
                     f"{r['successes']}/{r['n_trials']} vs {full['successes']}/{full['n_trials']}, "
                     f"p = {fmt_p(r['p_full_adj'])})" for r in rs)


def verdicts(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per claim (2, 3) x benchmark x target x acquisition, with its reason (the rules
    are in the module docstring)."""
    fams: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] != "reference":
            fams[r["benchmark"], r["target"], r["acquisition"]].append(r)
    out = []
    for (bench, target, acq), fam in fams.items():
        full = next((r for r in fam if r["kind"] == "full"), None)
        rand = sorted((r for r in fam if r["kind"] == "random"), key=lambda r: r["m_fraction"])
        if full is None or not rand:
            continue
        worse = [r for r in rand if _significant(r["p_full_adj"]) and r["d_full"] > 0]
        better = [r for r in rand if _significant(r["p_full_adj"]) and r["d_full"] < 0]
        few = full["successes"] < MIN_HITS and all(r["successes"] < MIN_HITS for r in rand)

        real = [r for r in worse if r["mkn"] >= 1]
        if real:
            v2, why2 = "holds", f"random subsets lose where they hold targets: {_at(real, full)}"
        elif worse:
            offered = [f"{r['offered']}/{r['n_trials']}" for r in worse if r["offered"] is not None]
            v2 = "holds trivially"
            why2 = (f"losses only where M*K/N < 1: {_at(worse, full)}"
                    + (f"; trials whose subsets ever held a target: {', '.join(offered)}" if offered else ""))
        elif few:
            v2, why2 = "inconclusive", f"fewer than {MIN_HITS} hits for the full space and every random subset"
        else:
            v2 = "does not hold"
            why2 = "no random subset is significantly worse than the full space"
            if better:
                why2 += f"; reversed, random subsets beat it: {_at(better, full)}"
        out.append({"claim": 2, "benchmark": bench, "target": target, "acquisition": acq, "verdict": v2, "reason": why2})

        smart = [r for r in fam if r["kind"] in SMART]
        lost_at = {round(r["m_fraction"], 12): r for r in worse}
        tried = [r for r in smart if round(r["m_fraction"], 12) in lost_at]
        regains = [r for r in tried if not _significant(r["p_full_adj"]) and _significant(r["p_random_adj"]) and r["d_random"] < 0]
        if not worse:
            v3, why3 = "inconclusive", "no random subset lost to the full space: nothing to regain"
        elif not tried:
            v3 = "inconclusive"
            why3 = f"random subsets lost at M = {', '.join(_pct(r['m_fraction']) for r in worse)}, where no smart subset ran"
        elif regains:
            v3 = "holds"
            why3 = "regained (not worse than the full space, better than the random subset): " + ", ".join(
                f"{r['kind']} at M = {_pct(r['m_fraction'])} ({r['successes']}/{r['n_trials']}; p vs full "
                f"{fmt_p(r['p_full_adj'])}, vs random {fmt_p(r['p_random_adj'])})" for r in regains)
        else:
            v3 = "does not hold"
            why3 = "no smart subset regains where random subsets lost: " + ", ".join(
                f"{r['kind']} at M = {_pct(r['m_fraction'])} ({r['successes']}/{r['n_trials']}; p vs full "
                f"{fmt_p(r['p_full_adj'])}, vs random {fmt_p(r['p_random_adj'])})" for r in tried)
        out.append({"claim": 3, "benchmark": bench, "target": target, "acquisition": acq, "verdict": v3, "reason": why3})
    out.sort(key=lambda v: (v["claim"], v["benchmark"], TARGETS.index(v["target"]), v["acquisition"] != "thompson"))
    return out


def _ylim(sel: Sequence[dict[str, Any]]) -> tuple[float, float]:
    vals = [v for r in sel for v in (r["gain"], r["gain_low"], r["gain_high"]) if v > 0 and np.isfinite(v)]
    if not vals:
        return 0.1, 10.0
    return min(vals) / 2, max(vals) * 2


def subsets_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """Gain vs M: one panel per benchmark (columns) and acquisition x target (rows); one line per
    candidate kind, the full space as a dashed line (its interval as a band) and a black square
    at 100%, a dotted vertical line where M*K/N = 1. A gain of 0 (no trial reached the target) is
    an open triangle at the bottom; an interval reaching 0 runs to the bottom of the panel."""
    benches = sorted({r["benchmark"] for r in rows})
    acqs = sorted({r["acquisition"] for r in rows if r["acquisition"]}, key=lambda a: (a != "thompson", a))
    panels = [(a, t) for a in acqs for t in TARGETS if any(r["target"] == t for r in rows)]
    colors = plots.palette(list(KINDS))
    fig = plots._figure(3.3 * len(benches), 2.4 * len(panels) + 0.5)
    axes = fig.subplots(len(panels), len(benches), squeeze=False)
    for i, (acq, target) in enumerate(panels):
        for j, bench in enumerate(benches):
            ax = axes[i, j]
            sel = [r for r in rows if r["benchmark"] == bench and r["target"] == target and r["acquisition"] == acq]
            lo_lim, hi_lim = _ylim(sel)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(lo_lim, hi_lim)
            if sel:  # M*K/N = 1 at M = N/K, i.e. 100/K percent
                x1 = 100.0 / sel[0]["K"]
                if 0.05 < x1 < 100:
                    ax.axvline(x1, color="grey", ls=":", lw=1, label="M*K/N = 1")
            full = [r for r in sel if r["kind"] == "full"]
            if full:
                f = full[0]
                ax.axhline(f["gain"] if f["gain"] > 0 else lo_lim, color="black", ls="--", lw=1, label="full space")
                ax.axhspan(max(f["gain_low"], lo_lim), max(f["gain_high"], lo_lim), color="black", alpha=0.08)
                if f["gain"] > 0:
                    ax.errorbar([100.0], [f["gain"]], yerr=[[f["gain"] - max(f["gain_low"], lo_lim)],
                                                            [f["gain_high"] - f["gain"]]],
                                color="black", marker="s", ms=4, capsize=2)
                else:
                    ax.plot([100.0], [lo_lim * 1.15], ls="none", marker="v", color="black", ms=5, mfc="none")
            for k, kind in enumerate(KINDS):
                pts = sorted((r for r in sel if r["kind"] == kind), key=lambda r: r["m_fraction"])
                if not pts:
                    continue
                x = 100 * np.array([r["m_fraction"] for r in pts]) * (1 + 0.05 * (k - 1.5))  # dodge
                g = np.array([r["gain"] for r in pts])
                lo = np.maximum(np.array([r["gain_low"] for r in pts]), lo_lim)
                hi = np.array([r["gain_high"] for r in pts])
                ok = g > 0  # a gain of 0 (no success) cannot be drawn on a log axis
                ax.plot(x, np.where(ok, g, np.nan), color=colors[kind], lw=1.2, label=kind)
                if ok.any():
                    ax.errorbar(x[ok], g[ok], yerr=[g[ok] - lo[ok], hi[ok] - g[ok]], ls="none",
                                color=colors[kind], marker="o", ms=3.5, capsize=2)
                if (~ok).any():
                    ax.plot(x[~ok], np.full((~ok).sum(), lo_lim * 1.15), ls="none", marker="v",
                            color=colors[kind], ms=5, mfc="none")
            ax.yaxis.set_minor_formatter(NullFormatter())  # label decades only
            ax.set_xticks([0.1, 1, 10, 100], labels=["0.1", "1", "10", "100"])
            ax.set_xlim(0.07, 140)
            ax.set_xlabel("subset size M (% of the space)")
            ax.set_title(f"{bench}: {target}, {acq}", fontsize=9)
            if j == 0:
                ax.set_ylabel("gain = aRT(RS) / aRT")
    seen: dict[str, Any] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=min(len(seen), 2 * len(benches)))
    return fig


def _m_cell(r: dict[str, Any]) -> str:
    if r["kind"] == "reference":
        return "–"
    return f"{_pct(r['m_fraction'])} ({r['m_count']})"


def subsets_table(rows: Sequence[dict[str, Any]]) -> Table:
    def offered(r: dict[str, Any]) -> str:
        if r["offered"] is None:
            return "–"
        return f"{r['offered']}/{r['n_trials']} ({r['found_offered']})"

    def test(r: dict[str, Any]) -> str:
        if not np.isfinite(r["p_full_adj"]):
            return "–"
        side = "worse" if r["d_full"] > 0 else "better" if r["d_full"] < 0 else "same"
        return f"{fmt_p(r['p_full_adj'])} ({side})"

    return Table(
        name="subsets",
        caption=CAPTION,
        rows=[{k: v for k, v in r.items() if k != "steps"} for r in rows],  # per-seed steps: not for the CSV
        display=[
            ("benchmark", lambda r: r["benchmark"]),
            ("target", lambda r: r["target"]),
            ("acquisition", lambda r: r["acquisition"] or "–"),
            ("candidates", lambda r: r["kind"] if r["kind"] != "reference" else r["label"]),
            ("M", _m_cell),
            ("M*K/N", lambda r: fmt(r["mkn"]) if np.isfinite(r["mkn"]) else "–"),
            ("M scored", lambda r: f"{r['m_measured']:.0f}" if np.isfinite(r["m_measured"]) else "–"),
            ("hits", lambda r: f"{r['successes']}/{r['n_trials']}"),
            ("offered (found)", offered),
            ("aRT", lambda r: fmt(r["art"])),
            ("gain [95% CI]", lambda r: f"{fmt(r['gain'])} [{fmt(r['gain_low'])}, {fmt(r['gain_high'])}]"),
            ("p vs full (Holm)", test),
            ("s/trial", lambda r: f"{r['sec_per_trial_median']:.1f}"),
        ],
    )


def verdict_table(vs: Sequence[dict[str, Any]]) -> Table:
    return Table(
        name="subsets-verdicts",
        caption=(f"Mauch et al.'s claims 2 (a random subset loses) and 3 (a smart subset regains), per "
                 f"benchmark, target and acquisition; level {ALPHA} after Holm's adjustment "
                 "(rules: experiments/studies/subsets.py)."),
        rows=list(vs),
        display=[
            ("claim", lambda v: str(v["claim"])),
            ("benchmark", lambda v: v["benchmark"]),
            ("target", lambda v: v["target"]),
            ("acquisition", lambda v: v["acquisition"]),
            ("verdict", lambda v: f"**{v['verdict']}**"),
            ("reason", lambda v: v["reason"]),
        ],
    )


def write(roots: Sequence[str | Path], out: str | Path, n_boot: int = 2000, seed: int = 0) -> list[Path]:
    """Figure, tables and a Markdown note of the results folders ``roots`` into ``out``."""
    out = Path(out)
    rows = subset_rows(roots, n_boot=n_boot, seed=seed)
    if not any(r["kind"] != "reference" for r in rows):
        raise ValueError(f"no {STRATEGY} trials with targets {TARGETS} under {list(map(str, roots))}")
    paths = plots.save(subsets_figure(rows), out / "figures" / "subsets")
    table, vtable = subsets_table(rows), verdict_table(verdicts(rows))
    paths += table.write(out / "tables") + vtable.write(out / "tables")
    per_trial = {(r["benchmark"], r["label"]): r["cpu_s"] for r in rows}
    n_trials = {(r["benchmark"], r["label"]): r["n_trials"] for r in rows}
    cpu_h = sum(per_trial.values()) / 3600
    note = out / "subsets.md"
    atomic_write_text(note,
        "# Does a predictor that scores a subset lose, and does a smart subset regain?\n\n"
        "Mauch et al. (2020), claims 2 and 3, tested on our benchmarks with BANANAS' predictor "
        "(`nasarena run subsets`; this page: `python -m experiments.studies.subsets`).\n\n"
        "![gain vs subset size](figures/subsets.png)\n\n"
        f"{CAPTION}\n\nTriangles at the bottom of a panel mark a gain of 0 (no trial reached the "
        "target within the budget).\n\n## Verdicts\n\n"
        f"{vtable.markdown()}\n\n"
        "*holds trivially*: the loss appears only where M*K/N < 1, where most random subsets hold "
        "no target at all, so no predictor could find one; *holds*: random subsets lose even where "
        "they hold targets; *reversed*: random subsets do significantly better than the full space. "
        "Under Thompson sampling (independent draws, one per candidate, from the ensemble's "
        "predictive distribution, as BANANAS) the reversal is the rule: the best of tens of thousands "
        "of independent draws goes to candidates whose draw is high by chance more than to those "
        "predicted best, so scoring more candidates makes each choice more random. That is our "
        "reading, not tested separately; BANANAS itself scores about 100 mutations a round, where "
        "it does not arise. Ranking by the ensemble mean has no such effect. The verdicts are "
        "computed from the numbers below by `experiments.studies.subsets.verdicts`.\n\n## All rows\n\n"
        f"{table.markdown()}\n\n"
        f"Cost: {sum(n_trials.values())} trials, {cpu_h:.1f} CPU hours (the trials' own wall times, "
        "one CPU core each).\n"
    )
    return [*paths, note]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.studies.subsets", description=__doc__.split("\n")[0])
    p.add_argument("dirs", nargs="+", help="results folders of the subsets suite")
    p.add_argument("--out", default=None, help="where to write (default: the first folder)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for path in write(args.dirs, args.out or args.dirs[0], n_boot=args.boot):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

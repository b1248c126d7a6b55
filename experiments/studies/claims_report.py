"""The claims report rendered: Markdown, the glance table, the ECDF and forest figures, and
``write_report``; the numbers are :mod:`experiments.studies.claims`' (compute apart from rendering)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from experiments.analysis import plots, survival
from experiments.harness.records import dumps
from experiments.studies.claims import (
    ALPHA,
    BASELINES,
    MIN_SUCCESSES,
    ClaimsReport,
    analyse,
    claims_csv,
    load_trials,
    rs_ecdf,
    samples,
    trials_csv,
)
from nasbench.data import atomic_write_text


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return "∞"
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _ratio(d: dict[str, Any], unit: str = "") -> str:
    """``ratio [low, high]`` of a verdict or a paired ratio; "–" where no ratio exists (neither side
    ever reached the optimum on their common seeds, or they have none)."""
    if isinstance(d["ratio"], float) and math.isnan(d["ratio"]):
        return "–"
    return f"{_fmt(d['ratio'])}{unit} [{_fmt(d['low'])}, {_fmt(d['high'])}]"


def glance(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    """The verdicts as one table: a row per claim (in :data:`CLAIMS`' order), a column per benchmark,
    each cell the ratio at the common horizon, its interval and the verdict (* where a side has fewer
    than :data:`MIN_SUCCESSES` successes within the horizon)."""
    benches = sorted({v["benchmark"] for v in verdicts})
    claims_: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}
    for v in verdicts:
        claims_.setdefault((v["claim"], v["published"]), {})[v["benchmark"]] = v
    lines = ["| claim | published | " + " | ".join(benches) + " |", "|---|---|" + "---|" * len(benches)]
    for (name, pub), cells in claims_.items():
        row = [f"{_ratio(c, 'x')}{'*' if c['few'] else ''} **{c['verdict']}**"
               if (c := cells.get(b)) else "–" for b in benches]
        lines.append(f"| {name} | {pub}x | " + " | ".join(row) + " |")
    return lines


def _definitions(family: int) -> str:
    return (f"Verdicts, from the one-sided log-rank tests at the common horizon, Holm-adjusted over the family of "
            f"both one-sided tests of every claim cell in this report ({family} tests), at a family-wise level of "
            f"{ALPHA}: *reversed*: the opposite direction is significant (adjusted p < {ALPHA}); *not shown*: "
            "neither direction is; *direction shown, size not estimable*: the paper's direction is significant, but "
            f"a side has fewer than {MIN_SUCCESSES} successes within the horizon, too few to estimate the ratio; "
            "*smaller than published*: significant, and the interval's upper end lies below the published ratio; "
            "*consistent with published*: significant, and the interval contains it; *larger than published*: "
            "significant, and its lower end lies above it. Ratios are aRT(baseline, h) / aRT(strategy, h) with COCO's "
            "aRT at the horizon h, sum of min(T, h) over the trials divided by the successes within h; h is the "
            "smaller of the two caps (against random search, the strategy's cap, and random search's aRT at h is "
            "exact: E[min(T, h)] / P(T <= h)). Intervals: BCa bootstrap, 95%, "
            f"{survival.N_RESAMPLES:,} resamples ({survival.N_RESAMPLES_FINE:,} where an end lies within "
            f"{survival.NEAR:.0%} of the published ratio, so that no verdict hangs on the resampling), paired by seed against a measured baseline, the strategy alone "
            "against random search; an end at 0 or ∞ reaches resamples in which a side never succeeds. Tests: "
            "scipy's two-sample log-rank against a measured baseline on the common seeds; against random search the "
            "one-sample log-rank statistic O − E (hits within h minus those random search's exact hazard "
            f"K / (N − x + 1) predicts over each trial's samples), its p-value simulated from {survival.N_NULL:,} "
            "samples of random search's exact law. What a horizon cannot say: a claim about searches longer than h "
            "(the effect beyond h samples is not estimable here), so a cell whose horizon is far below the "
            "published aRT tests only the early part of the search.")


def markdown(a: ClaimsReport) -> str:
    ties = [f"{b}: {i['k']}" for b, i in a.benchmarks.items() if i["k"] > 1]
    lines = ["# Samples to the optimum: the seed papers' protocol", "",
             "Each trial ends at the first evaluation of the benchmark's optimum or is censored at its cap: samples to "
             "the optimum are censored time-to-event data. Every comparison censors both sides at a common horizon h "
             "(the smaller cap) and reports the ratio of COCO's aRT at h, a BCa interval and one-sided log-rank "
             "tests, Holm-adjusted over all claims (definitions below the claims table). Random search is its exact "
             "law, with K the architectures that share the optimum's true score "
             f"(1{', except where they tie: ' + ', '.join(ties) if ties else ''}).", ""]
    if a.verdicts:
        lines += ["## The claims at a glance", "",
                  "Measured ratio at the common horizon [BCa 95%] and verdict, per claim and benchmark; * marks fewer "
                  f"than {MIN_SUCCESSES} successes on a side within the horizon. The claims table below gives each "
                  "cell's horizon, successes, aRTs and p-values (also in `tables/claims.csv`).",
                  "", *glance(a.verdicts), ""]
    lines += ["## The benchmarks", "",
              "How each differs from the papers' full NAS-Bench-101 (423,624 cells; LaNAS and AlphaX search on "
              "the mean test accuracy of its 3 runs and stop at its maximum; SemiNAS searches on the validation "
              "accuracy of one sampled run): its size N, the cells K tied at the optimum, what a search sees and "
              "what the optimum is judged by.", "",
              "| benchmark | N | K | the search sees | the optimum by |", "|---|---|---|---|---|",
              *(f"| {b} | {i['n']:,} | {i['k']} | {i['metric']} | {i['truth_metric']} |"
                for b, i in a.benchmarks.items()), ""]
    lines += ["## Samples to the optimum", "",
              "Each row at its own cap: aRT with its BCa 95% interval, the median where more than half succeeded, "
              "random search's exact aRT without a cap and at this cap, and the ratio of the latter to the row's aRT.", "",
              "| benchmark | strategy | successes | cap | mean (aRT) [95%] | median | RS exact (N+1)/(K+1) | RS aRT at cap | ratio to RS at cap [95%] | random picks | s per trial |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in a.rows:
        lines.append(f"| {r['benchmark']} | {r['strategy']} | {r['successes']}/{r['trials']} | {r['cap']} | "
                     f"{_fmt(r['art'])} [{_fmt(r['art_low'])}, {_fmt(r['art_high'])}] | {_fmt(r['median'])} | "
                     f"{_fmt(r['rs_exact'])} | {_fmt(r['rs_at_cap'])} | "
                     f"{_fmt(r['ratio_rs'])} [{_fmt(r['ratio_rs_low'])}, {_fmt(r['ratio_rs_high'])}] | {r['random_share']:.1%} | "
                     f"{_fmt(r['s_per_trial'])} |")
    low: dict[tuple[str, int], list[str]] = {}  # rows capped below the benchmark's N/2 (the protocol's default cap), by strategy and cap
    for r in a.rows:
        if r["cap"] < a.sizes[r["benchmark"]] // 2:
            low.setdefault((r["strategy"], r["cap"]), []).append(r["benchmark"])
    if low:
        lines += ["", "Capped below N/2, what this machine affords (a censored trial is a failure charged its cap, so "
                  "such a row's successes and ratios are bounded by its cap): " + "; ".join(
                      f"{s} at {c:,} ({', '.join(bs)})" for (s, c), bs in sorted(low.items())) + "."]
    if a.not_run:
        lines += ["", "Not (fully) run here, of the suite in `meta.json`: " + "; ".join(
            f"{m['strategy']} on {m['benchmark']} ({m['trials']} of {m['of']} trials)" for m in a.not_run)
                  + ". Claims against them are left out or rest on the trials shown."]
    if a.baseline_ratios:
        bases = [x for x in BASELINES if any(r["baseline"] == x for r in a.baseline_ratios)]
        cell = {(r["benchmark"], r["strategy"], r["baseline"]): r for r in a.baseline_ratios}
        lines += ["", "## Ratios to the measured baselines", "",
                  "aRT(baseline, h) / aRT(strategy, h) on their common seeds at the common horizon h (given in "
                  "parentheses), BCa 95% paired by seed; above 1 the strategy is faster. * marks fewer than "
                  f"{MIN_SUCCESSES} successes on a side within h.", "",
                  "| benchmark | strategy | " + " | ".join(f"vs {x}" for x in bases) + " |",
                  "|---|---|" + "---|" * len(bases)]
        for b, s in sorted({(r["benchmark"], r["strategy"]) for r in a.baseline_ratios}):
            cells = []
            for x in bases:
                c = cell.get((b, s, x))
                few = c is not None and min(c["successes"], c["base_successes"]) < MIN_SUCCESSES
                cells.append("–" if c is None else f"{_ratio(c)}{'*' if few else ''} (h {c['horizon']:,})")
            lines.append(f"| {b} | {s} | " + " | ".join(cells) + " |")
    lines += ["", "## The claims", "",
              "| claim | benchmark | published | horizon | successes (strategy, baseline) | aRT at h (strategy, baseline) "
              "| ratio [95%] | p paper, opposite | Holm p | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for v in a.verdicts:
        note = f" ({v['note']})" if v["note"] else ""
        base = "exact" if v["successes_baseline"] is None else f"{v['successes_baseline']}/{v['seeds']}"
        lines.append(f"| {v['claim']}{note} | {v['benchmark']} | {v['published']}x | {v['horizon']:,} | "
                     f"{v['successes_strategy']}/{v['seeds']}, {base} | {_fmt(v['art_strategy'])}, {_fmt(v['art_baseline'])} | "
                     f"{_ratio(v, 'x')} | {v['p_paper']:.2g}, {v['p_opposite']:.2g} | {v['p_holm']:.2g} | **{v['verdict']}** |")
    few = [v for v in a.verdicts if v["verdict"] == "direction shown, size not estimable"]
    if few:
        lines += ["", "Not estimable at these caps (fewer than "
                  f"{MIN_SUCCESSES} successes within the horizon on a side): " + "; ".join(
                      f"{v['claim']} on {v['benchmark']} (h {v['horizon']:,}: "
                      f"{v['successes_strategy']} and {'exact' if v['successes_baseline'] is None else v['successes_baseline']} successes)"
                      for v in few) + ". A higher cap on the side with few successes (and on the other, where its "
                  "cap sets the horizon) would make the size estimable."]
    lines += ["", _definitions(a.family),
              "", "The papers' benchmark is the full NAS-Bench-101; ours differ (the benchmarks table above), so "
              "the published ratios are a reference, not the same experiment. Seconds per "
              "trial: the mean wall time of a trial on the machine that ran it (see `meta.json`). Random picks: the share "
              "of the row's samples the strategy took uniformly at random because its own mechanism proposed "
              "nothing new (AlphaX's fallback once its tree runs dry, NAO's random fill, BANANAS' top-up of a round "
              "whose mutations found fewer unseen cells than its batch; the records' diagnostics "
              "`random_picks`, counted over a trial's asks with its last batch whole, so a batch strategy's share "
              "can be slightly high); such samples are random search, not the strategy.", ""]
    return "\n".join(lines)


def write_report(root: str | Path, figures: bool = True) -> Path:
    """Write ``README.md``, ``tables/`` and ``figures/`` from the folder's records (or, without
    records, from its ``tables/trials.csv``)."""
    root = Path(root)
    trials = load_trials(root)
    a = analyse(root, trials=trials)
    (root / "tables").mkdir(exist_ok=True)
    atomic_write_text(root / "tables" / "claims.json", dumps(dataclasses.asdict(a), indent=2, sort_keys=True) + "\n")
    atomic_write_text(root / "tables" / "claims.csv", claims_csv(a.verdicts))
    atomic_write_text(root / "tables" / "glance.md", "\n".join(glance(a.verdicts)) + "\n")  # the README's copy
    # one line per trial: what every number above is computed from, small enough to commit
    atomic_write_text(root / "tables" / "trials.csv", trials_csv(trials))
    text = markdown(a)
    if figures:
        text += "\n" + "\n".join(f"![samples to the optimum on {b}](figures/ecdf-{b}.png)" for b in _figures(root, a, samples(trials))) + "\n"
        if a.verdicts:
            text += "\n![published against measured ratios](figures/claims-forest.png)\n"
    readme = root / "README.md"
    atomic_write_text(readme, text)
    return readme


def _figures(root: Path, a: ClaimsReport, recs: dict[tuple[str, str], dict[int, tuple[int, bool]]]) -> list[str]:

    out = root / "figures"
    out.mkdir(exist_ok=True)
    names = []
    for b, n in sorted(a.sizes.items()):
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        x = np.unique(np.geomspace(1, n, 200).astype(int))
        ax.plot(x, rs_ecdf(n, x, a.benchmarks[b]["k"]), "k--", label="random search (exact)")
        for (bb, s), trials in sorted(recs.items()):
            if bb != b:
                continue
            hits = np.sort([t[0] for t in trials.values() if t[1]])
            ax.step(np.concatenate([[1], hits]), np.arange(hits.size + 1) / len(trials), where="post", label=s)
        ax.set(xscale="log", xlabel="samples", ylabel="fraction of trials with the optimum", title=b)
        ax.legend(fontsize=7)
        fig.tight_layout()
        plots.write_figure(fig, out / f"ecdf-{b}.png", dpi=110, metadata={"Software": None})
        names.append(b)
    if a.verdicts:
        _forest(a.verdicts, out / "claims-forest.png")
    return names


VERDICT_COLOURS = {"reversed": "#b2182b", "not shown": "#888888", "direction shown, size not estimable": "#92c5de",
                   "smaller than published": "#f4a582", "consistent with published": "#1a9850",
                   "larger than published": "#2166ac"}


def _forest(verdicts: Sequence[dict[str, Any]], path: Path) -> None:
    """The claims as a grid: one panel per claim, one line per benchmark (the ratio at the common
    horizon, its BCa interval, coloured by verdict), the published ratio as a red dashed line and 1 as
    a black one; an interval open at 0 or infinity ends in an arrowhead at the panel's edge."""

    names = list(dict.fromkeys(v["claim"] for v in verdicts))
    benches = sorted({v["benchmark"] for v in verdicts})
    cols = 4
    rows = math.ceil(len(names) / cols)
    finite = [x for v in verdicts for x in (v["low"], v["high"], v["ratio"], v["published"]) if 0 < x < math.inf]
    edge_lo, edge_hi = 10 ** math.floor(math.log10(min(finite + [0.1]))), 10 ** math.ceil(math.log10(max(finite + [10.0])))
    fig = Figure(figsize=(3.2 * cols, 0.28 * len(benches) * rows + 0.9 * rows + 0.6))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        cells = {v["benchmark"]: v for v in verdicts if v["claim"] == name}
        for y, b in enumerate(benches):
            v = cells.get(b)
            if v is None or math.isnan(v["ratio"]):
                continue
            colour = VERDICT_COLOURS[v["verdict"]]
            lo, hi = max(v["low"], edge_lo), min(v["high"], edge_hi)
            ax.plot([lo, max(hi, lo)], [y, y], "-", color=colour, lw=2)
            ax.plot([min(max(v["ratio"], edge_lo), edge_hi)], [y], "o", color=colour, ms=4)
            if v["low"] < edge_lo:
                ax.plot([edge_lo], [y], "<", color=colour, ms=5)
            if v["high"] > edge_hi:
                ax.plot([edge_hi], [y], ">", color=colour, ms=5)
        pub = next(iter(cells.values()))["published"]
        ax.axvline(pub, color="red", ls="--", lw=1)
        ax.axvline(1, color="k", lw=0.6)
        title = name.replace(" vs ", " vs\n", 1)  # two lines: the long pairs overflow a column
        ax.set_title(f"{title}\n(published {pub}x)", fontsize=8)
        ax.set_yticks(range(len(benches)), benches, fontsize=7)
        ax.set_ylim(-0.6, len(benches) - 0.4)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(edge_lo / 1.5, edge_hi * 1.5)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles = [Line2D([], [], color=c, lw=2, marker="o", ms=4) for c in VERDICT_COLOURS.values()]
    fig.legend(handles, list(VERDICT_COLOURS), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.supxlabel("aRT(baseline, h) / aRT(strategy, h), BCa 95% (red dashed: published; h: the common horizon)",
                  fontsize=8, y=0.06)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    plots.write_figure(fig, path, dpi=110, metadata={"Software": None})

"""The time-protocol study: time-aRT (COCO's aRT in simulated seconds) per benchmark x label x
target from the records of timed trials (:mod:`experiments.harness.timed`), ratios to random search
with the same workers, speed-ups from the fewest workers, and regret against simulated time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from experiments.analysis import plots, stats
from experiments.analysis.metrics import TARGETS
from experiments.analysis.tables import fmt
from experiments.harness.records import dumps
from experiments.harness.timed import time_art, time_to_target
from nasbench.data import atomic_write_text


def _label_workers(label: str) -> tuple[str, int | None]:
    """``"lanas-w8"`` -> ``("lanas", 8)``; a label without the suffix -> ``(label, None)``."""
    head, sep, tail = label.rpartition("-w")
    return (head, int(tail)) if sep and tail.isdigit() else (label, None)


def analyse(root) -> dict[str, Any]:
    """Time-aRT per benchmark x label x target, ratios to random search with the same workers and
    speed-ups from the fewest workers to each count (a pure function of the records)."""
    root = Path(root)
    recs = [json.loads(p.read_text()) for p in sorted((root / "data").glob("*/*/seed-*.json"))]
    if not recs or any("time_budget" not in r for r in recs):
        raise ValueError(f"{root}: not a folder of timed trials (a suite with a time budget)")
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault((r["benchmark"], r["strategy"]), []).append(r)
    for (bench, label), rs in sorted(groups.items()):
        summary = json.loads((root / "benchmarks" / f"{bench}.json").read_text())
        budget = float(rs[0]["time_budget"])
        for target in TARGETS:
            if target not in summary["targets"]:
                continue
            thr = float(summary["targets"][target]["threshold"])
            times = np.array([time_to_target(np.array(r["finish"]), np.array(r["truth"]), thr) for r in rs])
            strat, w = _label_workers(label)
            rows.append({"benchmark": bench, "label": label, "strategy": strat, "workers": w or rs[0]["workers_sim"],
                         "target": target, "trials": len(rs), "successes": int(np.isfinite(times).sum()),
                         "time_budget": budget, "time_art": time_art(times, budget),
                         "mean_costs": rs[0].get("fingerprint", {}).get("time_budget_mean_costs"),
                         "evaluations": float(np.mean([len(r["arch"]) for r in rs])),
                         "cut": float(np.mean([len(r["cut"]) for r in rs])),
                         # the start cap (the suite's budget) and the trials it ended before the time budget
                         "start_cap": int(rs[0]["budget"]),
                         "capped": sum(len(r["arch"]) + len(r["cut"]) >= int(r["budget"]) for r in rs),
                         "sec_per_trial": float(np.median([r["wall_time"] for r in rs]))})
    by = {(r["benchmark"], r["strategy"], r["workers"], r["target"]): r for r in rows}
    for r in rows:
        rs_row = by.get((r["benchmark"], "random-search", r["workers"], r["target"]))
        # a ratio needs both aRTs finite: "-" where random search (or the strategy) never reached it
        r["ratio_to_rs"] = (rs_row["time_art"] / r["time_art"]
                            if rs_row and np.isfinite(rs_row["time_art"]) and np.isfinite(r["time_art"]) else None)
        fewest = min(k[2] for k in by if k[:2] == (r["benchmark"], r["strategy"]) and k[3] == r["target"])
        base = by[(r["benchmark"], r["strategy"], fewest, r["target"])]
        r["speedup"] = (base["time_art"] / r["time_art"]
                        if np.isfinite(r["time_art"]) and np.isfinite(base["time_art"]) and r["time_art"] > 0 else None)
        r["speedup_from"] = fewest
    return {"rows": rows, "records": groups}


def write_report(root, figures: bool = True):
    """``README.md``, ``tables/time-art.json`` and (``figures``) regret against simulated time."""
    root = Path(root)
    a = analyse(root)

    def f(x):
        return "–" if x is None else fmt(x)

    lines = ["# Budgets in simulated training time", "",
             "Each trial is an event simulation: every worker trains one architecture for its recorded cost, the "
             "strategy is told a result when its worker finishes and asked for the next while the others run. An "
             "evaluation still running at the time budget is cut: never shown to the strategy or the metrics. "
             "Time-aRT (COCO, in simulated seconds): the time of every trial, a failure charged the whole budget, "
             "over the successes. *vs RS*: random search's time-aRT with the same workers over the strategy's; "
             "*speed-up*: the strategy's time-aRT with its fewest workers over this one; it exceeds the worker count "
             "where the fewer workers mostly fail within the time budget (each failure is charged the whole budget, "
             "while k workers evaluate about k times as many architectures in it), so read it beside the successes. *capped*: trials that "
             "reached the suite's cap on started evaluations (*cap*) before the time budget (a strategy too costly "
             "for this machine at the evaluations its workers could start); their failures are charged the whole "
             "time budget like any other. *s/trial*: median wall time of a trial on one CPU core. *–*: no ratio, "
             "one side never reached the target.", "",
             "Time budgets: " + "; ".join(
                 f"{b} {f(t)} s" + (f" ({m:g} mean training costs)" if m else "")
                 for b, t, m in sorted({(r["benchmark"], r["time_budget"], r["mean_costs"]) for r in a["rows"]})) + ".", "",
             "| benchmark | strategy | workers | target | successes | time-aRT (s) | vs RS | speed-up | evaluations | cut "
             "| cap | capped | s/trial |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in a["rows"]:
        lines.append(f"| {r['benchmark']} | {r['strategy']} | {r['workers']} | {r['target']} | {r['successes']}/{r['trials']} | "
                     f"{f(r['time_art'])} | {f(r['ratio_to_rs'])} | {f(r['speedup'])} (from {r['speedup_from']}) | "
                     f"{r['evaluations']:.1f} | {r['cut']:.1f} | {r['start_cap']} | {r['capped']}/{r['trials']} | "
                     f"{r['sec_per_trial']:.1f} |")
    (root / "tables").mkdir(exist_ok=True)
    atomic_write_text(root / "tables" / "time-art.json", dumps(a["rows"], indent=2, sort_keys=True) + "\n")
    if figures:
        lines += ["", *(f"![regret against simulated time on {b}](figures/time-regret-{b}.png)" for b in _figures(root, a))]
    atomic_write_text(root / "README.md", "\n".join(lines) + "\n")
    return root / "README.md"


def _figures(root, a) -> list[str]:
    """Per benchmark: median simple regret against simulated time with a 95% bootstrap band over
    seeds (before a trial's first evaluation finishes it has no regret: left out), one colour per
    strategy, solid for the fewest workers and dashed for more; ``figures/time-regret-<b>.{pdf,png}``."""
    benches = sorted({b for b, _ in a["records"]})
    for b in benches:
        opt = float(json.loads((root / "benchmarks" / f"{b}.json").read_text())["optimum"])
        labels = sorted(label for bb, label in a["records"] if bb == b)
        strategies = sorted({_label_workers(label)[0] for label in labels})
        colors = plots.palette(strategies)
        fewest = min((_label_workers(label)[1] or 1) for label in labels)
        drawn = []
        fig = plots._figure(6.4, 4.2)
        ax = fig.subplots()
        for label in labels:
            rs = a["records"][b, label]
            strat, w = _label_workers(label)
            grid = np.linspace(0, float(rs[0]["time_budget"]), 200)
            curves = []
            for r in rs:
                fin = np.array(r["finish"], dtype=np.float64)
                best = np.maximum.accumulate(np.array(r["truth"], dtype=np.float64)) if r["truth"] else np.zeros(0)
                k = np.searchsorted(fin, grid, side="right") - 1
                curves.append(np.where(k >= 0, opt - best[np.clip(k, 0, None)], np.nan) if best.size
                              else np.full(grid.size, np.nan))
            c = np.array(curves)
            keep = ~np.isnan(c).all(axis=0)  # times before any trial has a result
            med, lo, hi = stats.median_band(c[:, keep], n_boot=500, seed=0)
            ls = "-" if (w or 1) == fewest else "--"
            ax.plot(grid[keep], med, color=colors[strat], ls=ls, lw=1.3, label=label)
            ax.fill_between(grid[keep], lo, hi, color=colors[strat], alpha=0.12, lw=0)
            drawn += [med, lo, hi]
        plots.symlog_from_zero(ax, drawn)
        ax.set(xlabel="simulated training time (s)", ylabel="simple regret (median, 95% band)",
               title=f"{b}: regret against simulated time")
        ax.legend(fontsize=7, ncol=2)
        plots.save(fig, root / "figures" / f"time-regret-{b}")
    return benches

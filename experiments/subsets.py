"""The subset-sampling experiment's figure and table: sample-efficiency gain vs predictor subset size.

Reads one or more results folders written by ``nasarena run subsets`` (trials of the
``predictor-subsets`` strategy under several labels, each with its own ``candidates`` kind and
subset size ``M``) and writes::

    OUT/figures/subsets.{pdf,png}   gain vs M (% of the space), one line per candidate kind,
                                    95% bootstrap intervals; one panel per benchmark x target
    OUT/tables/subsets.{md,tex,csv} the same numbers, with successes, aRT and seconds per trial
    OUT/subsets.md                  caption, table and what the figure shows

Each trial record's ``config`` says which kind and ``M`` it ran (``candidates`` and ``subset``; a
float ``subset`` is a fraction of the space, an int a count). ``"full"`` (the predictor scores the
whole space) is ``M = 100%``; every kind coincides there, so it is drawn as a shared reference.
Other strategies in the folder (e.g. ``random-search``) are listed in the table only.

The gain is nasarena's (DESIGN.md, :data:`experiments.metrics.GAIN_DEFINITION`): Mauch et al.
(2020) define their own sample-efficiency gain, but its formula is not available to us.

Usage: ``python -m experiments.subsets RESULTS_DIR [RESULTS_DIR ...] [--out FOLDER]``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from experiments import plots
from experiments.metrics import GAIN_DEFINITION
from experiments.report import Table, fmt, gain_rows, load_results, trajectories

log = logging.getLogger(__name__)

STRATEGY = "predictor-subsets"
KINDS = ("random", "mutation", "evolution", "prefilter")
TARGETS = ("optimum", "top-0.1%")

CAPTION = (
    "Sample-efficiency gain of predictor-based search (predictor-subsets: an ensemble of 5 MLPs, "
    "10 initial + 10 per round) when its predictor scores, each round, a subset "
    "of M unevaluated architectures instead of the whole space: a uniform random subset "
    "(random) or a smart one (mutation: the mutation ball around the best architectures; "
    "evolution: a pool evolved on the predictor at the same number of predictor calls; "
    "prefilter: the top M of a random pool of 10 M ranked by a ridge regression). Candidates are "
    "ranked by independent Thompson sampling (BANANAS) or by the ensemble mean. The dashed "
    "line is the full space (M = 100%). Bars and bands: 95% percentile bootstrap intervals over "
    "trials. " + GAIN_DEFINITION
)


def _first_record(root: Path, bench: str, label: str) -> dict[str, Any] | None:
    files = sorted((root / "data" / bench / label).glob("seed-*.json"))
    return json.loads(files[0].read_text()) if files else None


def kind_and_size(record: dict[str, Any], n: int) -> tuple[str, float, str] | None:
    """``(candidate kind, M as a fraction of the space, acquisition)`` of a predictor-subsets
    trial record, ``None`` for another strategy."""
    if record.get("strategy_spec", "").partition(":")[0] != STRATEGY:
        return None
    from strategies.predictor_subsets import PredictorSubsetsConfig, subset_size
    from strategies.registry import resolve

    _, values = resolve(record["strategy_spec"], record.get("config", {}))
    cfg = PredictorSubsetsConfig(**values)
    if cfg.candidates == "full":
        return "full", 1.0, cfg.acquisition
    return cfg.candidates, subset_size(cfg.subset, n) / n, cfg.acquisition


def subset_rows(roots: Sequence[str | Path], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per benchmark x label x target: kind, M, acquisition, successes, aRT and gain with
    intervals, and seconds per trial (mean and median wall time of the trials)."""
    rows: list[dict[str, Any]] = []
    for root in map(Path, roots):
        trials, benchmarks = load_results(root)
        runs = trajectories(trials)
        for r in gain_rows(runs, benchmarks, n_boot=n_boot, seed=seed):
            if r["target"] not in TARGETS:
                continue
            rec = _first_record(root, r["benchmark"], r["strategy"])
            ks = kind_and_size(rec, int(r["N"])) if rec else None
            walls = [json.loads(p.read_text())["wall_time"]
                     for p in sorted((root / "data" / r["benchmark"] / r["strategy"]).glob("seed-*.json"))]
            rows.append({
                **r,
                "label": r["strategy"],
                "kind": ks[0] if ks else "reference",
                "m_fraction": ks[1] if ks else float("nan"),
                "m_count": int(round(ks[1] * int(r["N"]))) if ks else 0,
                "acquisition": ks[2] if ks else "",
                "sec_per_trial_mean": float(np.mean(walls)),
                "sec_per_trial_median": float(np.median(walls)),
            })
    order = {k: i for i, k in enumerate(("full", *KINDS, "reference"))}
    rows.sort(key=lambda r: (r["benchmark"], TARGETS.index(r["target"]), r["acquisition"] != "thompson",
                             r["acquisition"], order.get(r["kind"], 99),
                             r["m_fraction"] if np.isfinite(r["m_fraction"]) else 2.0, r["label"]))
    return rows


def _ylim(sel: Sequence[dict[str, Any]]) -> tuple[float, float]:
    vals = [v for r in sel for v in (r["gain"], r["gain_low"], r["gain_high"]) if v > 0 and np.isfinite(v)]
    if not vals:
        return 0.1, 10.0
    return min(vals) / 2, max(vals) * 2


def subsets_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """Gain vs M: one panel per benchmark (columns) and acquisition x target (rows); one line per
    candidate kind, the full space as a dashed line (with its interval as a band) and a black
    point at 100%. A gain of 0 (no trial reached the target) is an open triangle at the bottom;
    an interval reaching 0 runs to the bottom of the panel."""
    benches = sorted({r["benchmark"] for r in rows})
    acqs = sorted({r["acquisition"] for r in rows if r["acquisition"]}, key=lambda a: (a != "thompson", a))
    panels = [(a, t) for a in acqs for t in TARGETS]
    colors = plots.palette(list(KINDS))
    fig = plots._figure(3.3 * len(benches), 2.6 * len(panels) + 0.4)
    axes = fig.subplots(len(panels), len(benches), squeeze=False)
    for i, (acq, target) in enumerate(panels):
        for j, bench in enumerate(benches):
            ax = axes[i, j]
            sel = [r for r in rows if r["benchmark"] == bench and r["target"] == target and r["acquisition"] == acq]
            lo_lim, hi_lim = _ylim(sel)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(lo_lim, hi_lim)
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
            ax.set_xticks([1, 5, 20, 100], labels=["1", "5", "20", "100"])
            ax.set_xlim(0.7, 140)
            ax.set_xlabel("subset size M (% of the space)")
            ax.set_title(f"{bench}: {target}, {acq}", fontsize=9)
            if j == 0:
                ax.set_ylabel("gain = aRT(RS) / aRT")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


def subsets_table(rows: Sequence[dict[str, Any]]) -> Table:
    def m_cell(r: dict[str, Any]) -> str:
        if r["kind"] == "reference":
            return "–"
        return f"{100 * r['m_fraction']:.0f}% ({r['m_count']})"

    return Table(
        name="subsets",
        caption=CAPTION,
        rows=list(rows),
        display=[
            ("benchmark", lambda r: r["benchmark"]),
            ("target", lambda r: r["target"]),
            ("candidates", lambda r: r["kind"] if r["kind"] != "reference" else r["label"]),
            ("M", m_cell),
            ("acquisition", lambda r: r["acquisition"] or "–"),
            ("hits", lambda r: f"{r['successes']}/{r['n_trials']}"),
            ("aRT", lambda r: fmt(r["art"])),
            ("gain", lambda r: fmt(r["gain"])),
            ("95% CI", lambda r: f"[{fmt(r['gain_low'])}, {fmt(r['gain_high'])}]"),
            ("s/trial", lambda r: f"{r['sec_per_trial_median']:.1f}"),
        ],
    )


def write(roots: Sequence[str | Path], out: str | Path, n_boot: int = 2000, seed: int = 0) -> list[Path]:
    """Figure, table and a Markdown note of the results folders ``roots`` into ``out``."""
    out = Path(out)
    rows = subset_rows(roots, n_boot=n_boot, seed=seed)
    if not rows:
        raise ValueError(f"no {STRATEGY} trials with targets {TARGETS} under {list(map(str, roots))}")
    paths = plots.save(subsets_figure(rows), out / "figures" / "subsets")
    table = subsets_table(rows)
    paths += table.write(out / "tables")
    note = out / "subsets.md"
    note.write_text(
        "# Gain vs predictor subset size\n\n![gain vs subset size](figures/subsets.png)\n\n"
        f"{CAPTION}\n\nResults: {', '.join(map(str, roots))}. Triangles at the bottom of a panel mark a "
        "gain of 0 (no trial reached the target within the budget).\n\n"
        f"{table.markdown()}\n"
    )
    return [*paths, note]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.subsets", description=__doc__.split("\n")[0])
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

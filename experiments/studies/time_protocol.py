"""The time-protocol study: simulated time to each target as censored data, compared at the time budget.

Each trial of a timed suite (:mod:`experiments.harness.timed`) is, for each target, the simulated
time at which its first evaluation reaching the target finished, or censored at the time budget
``h`` (a trial that stopped earlier at the suite's cap on started evaluations never reaches the
target later: it is censored at ``h`` too, the cost of the capped algorithm). Every strategy of a
benchmark has the same ``h``, so every comparison is at a common horizon. With
:mod:`experiments.analysis.survival`:

* **time-aRT** ``sum_i min(T_i, h) / #{T_i <= h}`` (COCO's aRT in simulated seconds) with a BCa 95%
  interval;
* **vs random search** (the same number of workers): ``time-aRT_RS / time-aRT_S``, BCa 95% paired by
  seed, and the one-sided log-rank tests in both directions;
* **speed-up** from the fewest workers ``w0`` to ``w``: ``time-aRT_{S,w0} / time-aRT_{S,w}``, the same way,
  read against the linear speed-up ``w / w0``;
* **Holm** over the family of every one-sided test of the report; a verdict per comparison
  (:data:`VERDICTS`): a direction is *shown* when its Holm-adjusted p-value is below :data:`ALPHA`, and
  its size is *not estimable* when a side has fewer than :data:`MIN_SUCCESSES` successes.

The per-trial table ``tables/time-trials.csv`` (one line per trial: its time to every target) is
what every number is computed from; it is committed, so the report regenerates without the records
(``results/*/data`` is not). Compute (:func:`analyse`) is apart from rendering (:func:`markdown`,
:func:`_figure`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats as sps

from experiments.analysis import plots, survival
from experiments.analysis.metrics import TARGETS
from experiments.analysis.survival import ALPHA, MIN_SUCCESSES
from experiments.analysis.tables import csv_number, fmt, fmt_ci, read_csv_number
from experiments.harness.records import dumps, record_paths, records_or_table, short_hash
from experiments.harness.timed import time_to_target
from nasbench.data import atomic_write_text

#: the verdicts on one comparison of A with B (A: the strategy against random search; more workers against fewest)
VERDICTS = survival.DIRECTIONS
TRIALS_CSV = "time-trials.csv"


def _label_workers(label: str) -> tuple[str, int | None]:
    """``"lanas-w8"`` -> ``("lanas", 8)``; a label without the suffix -> ``(label, None)``."""
    head, sep, tail = label.rpartition("-w")
    return (head, int(tail)) if sep and tail.isdigit() else (label, None)


@dataclass(frozen=True)
class TimedTrial:
    """One timed trial: all the time report reads of its record."""

    benchmark: str
    label: str
    seed: int
    workers: int
    time_budget: float
    times: tuple[float, ...]  # per target of TARGETS: simulated seconds to the first finished hit (inf: never; nan: no such target)
    evaluations: int  # finished within the time budget
    cut: int  # still running at the time budget
    cap: int  # the suite's cap on started evaluations
    wall_s: float
    strategy_version: int
    config_hash: str

    @property
    def capped(self) -> bool:
        """The trial reached the cap on started evaluations before the time budget."""
        return self.evaluations + self.cut >= self.cap


CSV_HEADER = ",".join(["benchmark", "label", "seed", "workers", "time_budget", *(f"t_{t}" for t in TARGETS),
                       "evaluations", "cut", "cap", "wall_s", "strategy_version", "config_hash"])


def _order(trials: Iterable[TimedTrial]) -> list[TimedTrial]:
    return sorted(trials, key=lambda t: (t.benchmark, t.label, t.seed))


def trials_of(root: Path) -> list[TimedTrial]:
    """The trials of the folder's records (``ValueError`` unless every one is timed)."""
    recs = [json.loads(p.read_text()) for p in record_paths(root)]
    if not recs or any(r.get("time_budget") is None for r in recs):
        raise ValueError(f"{root}: not a folder of timed trials (a suite with a time budget)")
    out = []
    for r in recs:
        targets = json.loads((root / "benchmarks" / f"{r['benchmark']}.json").read_text())["targets"]
        times = tuple(time_to_target(np.array(r["finish"]), np.array(r["truth"]), float(targets[t]["threshold"]))
                      if t in targets else math.nan for t in TARGETS)
        out.append(TimedTrial(r["benchmark"], r["strategy"], int(r["seed"]), int(r["workers_sim"]),
                              float(r["time_budget"]), times, len(r["arch"]), len(r["cut"]), int(r["budget"]),
                              round(float(r["wall_time"]), 2), int(r["fingerprint"]["strategy_version"]),
                              short_hash(r["fingerprint"]["config"])))
    return _order(out)


def trials_csv(trials: Iterable[TimedTrial]) -> str:
    """``tables/time-trials.csv``: one line per trial (times as Python's shortest exact repr)."""
    return "\n".join([CSV_HEADER] + [
        ",".join([r.benchmark, r.label, str(r.seed), str(r.workers), repr(r.time_budget), *(csv_number(x) for x in r.times),
                  str(r.evaluations), str(r.cut), str(r.cap), f"{r.wall_s:.2f}", str(r.strategy_version), r.config_hash])
        for r in _order(trials)]) + "\n"


def read_trials_csv(path: Path) -> list[TimedTrial]:
    lines = path.read_text().splitlines()
    if not lines or lines[0] != CSV_HEADER:
        raise ValueError(f"{path}: not a time trials table (its first line must be {CSV_HEADER!r})")
    k = len(TARGETS)
    out = []
    for n, line in enumerate(lines[1:], start=2):
        f = line.split(",")
        if len(f) != 11 + k:
            raise ValueError(f"{path}:{n}: expected {11 + k} comma-separated fields, got {len(f)}")
        times = tuple(read_csv_number(x) for x in f[5:5 + k])
        out.append(TimedTrial(f[0], f[1], int(f[2]), int(f[3]), float(f[4]), times, int(f[5 + k]), int(f[6 + k]),
                              int(f[7 + k]), float(f[8 + k]), int(f[9 + k]), f[10 + k]))
    return _order(out)


def load_trials(root: Path) -> list[TimedTrial]:
    """The folder's trials: from its records, or, where it has none, from ``tables/time-trials.csv``."""
    return records_or_table(root, TRIALS_CSV, read_trials_csv, trials_of)


# ------------------------------------------------------------------------------------------ compute
def censored(trials: Sequence[TimedTrial], target: int) -> survival.Censored:
    """Time to target number ``target`` of ``trials``, censored at the time budget."""
    t = np.array([r.times[target] for r in trials], np.float64)
    h = np.array([r.time_budget for r in trials], np.float64)
    hit = np.isfinite(t) & (t <= h)
    return survival.Censored(np.where(hit, t, h), hit, np.array([r.seed for r in trials], np.int64))


@dataclass(frozen=True)
class TimeReport:
    """What :func:`analyse` computes: one row per benchmark x label x target (its time-aRT, its
    comparison with random search and its speed-up, each a dict with the verdict), the number of
    tests Holm adjusted over, the bootstrap seed and the time budget of each benchmark."""

    rows: list[dict[str, Any]]
    family: int
    seed: int
    budgets: list[tuple[str, float]]


def analyse(trials: Sequence[TimedTrial], seed: int = 0) -> TimeReport:
    """Every row (benchmark x label x target) with its time-aRT, its comparison with random search at
    the same workers and its speed-up from the fewest workers, the verdicts after Holm over every test."""
    groups: dict[tuple[str, str], list[TimedTrial]] = {}
    for t in trials:
        groups.setdefault((t.benchmark, t.label), []).append(t)
    for (b, label), ts in groups.items():
        if len({t.time_budget for t in ts}) > 1 or len({t.seed for t in ts}) < len(ts):
            raise ValueError(f"{label} on {b}: trials of different time budgets or a repeated seed")
    rows: list[dict[str, Any]] = []
    cens: dict[tuple[str, str, int], survival.Censored] = {}
    for (b, label), ts in sorted(groups.items()):
        strat, w = _label_workers(label)
        for k, target in enumerate(TARGETS):
            if math.isnan(ts[0].times[k]):
                continue
            c = cens[(b, label, k)] = censored(ts, k)
            lo, hi = survival.art_interval(c, survival.rng_for(seed, b, label, target))
            rows.append({"benchmark": b, "label": label, "strategy": strat, "workers": w or ts[0].workers,
                         "target": target, "trials": len(ts), "successes": int(c.events.sum()),
                         "time_budget": ts[0].time_budget, "time_art": survival.art(c), "art_low": lo, "art_high": hi,
                         "evaluations": float(np.mean([t.evaluations for t in ts])),
                         "cut": float(np.mean([t.cut for t in ts])), "cap": ts[0].cap,
                         "capped": sum(t.capped for t in ts),
                         "sec_per_trial": float(np.median([t.wall_s for t in ts])), "vs_rs": None, "speedup": None})
    labels = {(r["benchmark"], r["strategy"], r["workers"]): r["label"] for r in rows}
    comparisons = []
    for r in rows:
        b, s, w, target = r["benchmark"], r["strategy"], r["workers"], r["target"]
        k, h = list(TARGETS).index(target), r["time_budget"]
        a = cens[(b, r["label"], k)]
        rs = labels.get((b, "random-search", w))
        if s != "random-search" and rs is not None:
            r["vs_rs"] = survival.compare(a, cens[(b, rs, k)], h, survival.rng_for(seed, b, r["label"], rs, target))
            comparisons.append(r["vs_rs"])
        fewest = min(ww for (bb, ss, ww) in labels if (bb, ss) == (b, s))
        if w != fewest:
            r["speedup"] = survival.compare(a, cens[(b, labels[(b, s, fewest)], k)], h,
                                            survival.rng_for(seed, b, r["label"], str(fewest), target))
            r["speedup"].update(base=fewest, linear=w / fewest)
            comparisons.append(r["speedup"])
    adjusted = survival.holm([c["p_sooner"] for c in comparisons] + [c["p_later"] for c in comparisons])
    for c, pf, ps in zip(comparisons, adjusted[:len(comparisons)], adjusted[len(comparisons):]):
        c["verdict"] = survival.direction(pf, ps, c["few"])
        c["p_holm"] = survival.round_p(ps if c["verdict"].startswith("slower") else pf)
    for r in rows:
        sp = r["speedup"]
        if sp is not None:
            sp["vs_linear"] = ("–" if sp["few"] or not math.isfinite(sp["high"]) else "below" if sp["high"] < sp["linear"]
                               else "above" if sp["low"] > sp["linear"] else "consistent")
    return TimeReport(rows, 2 * len(comparisons), seed, sorted({(r["benchmark"], r["time_budget"]) for r in rows}))


def km_curves(trials: Sequence[TimedTrial], target: int, grid: np.ndarray) -> np.ndarray:
    """Kaplan-Meier estimate (``scipy.stats.ecdf``) of the fraction of trials that reached the target
    by each simulated time of ``grid`` (within the time budget)."""
    c = censored(trials, target)
    if not c.events.any():
        return np.zeros(grid.size)
    return np.asarray(sps.ecdf(c.censored_data()).cdf.evaluate(grid))


# ------------------------------------------------------------------------------------------ render
def _ratio(c: dict[str, Any] | None) -> str:
    return "–" if c is None else f"{fmt(c['ratio'])} {fmt_ci(c['low'], c['high'])}"


def glance(a: TimeReport) -> list[str]:
    """How many comparisons got each verdict, against random search and from the fewest workers."""
    lines = ["| comparison | " + " | ".join(VERDICTS) + " |", "|---|" + "---|" * len(VERDICTS)]
    for name, key in (("strategy vs random search (same workers)", "vs_rs"), ("more workers vs fewest", "speedup")):
        got = [r[key]["verdict"] for r in a.rows if r[key] is not None]
        lines.append(f"| {name} | " + " | ".join(str(got.count(v)) for v in VERDICTS) + " |")
    return lines


def markdown(a: TimeReport) -> str:
    budgets = "; ".join(f"{b} {fmt(h)} s" for b, h in a.budgets)
    lines = [
        "# Budgets in simulated training time", "",
        "Each trial is an event simulation: every worker trains one architecture for its recorded cost, the strategy "
        "is told a result when its worker finishes and asked for the next while the others run. An evaluation still "
        "running at the time budget is cut: never shown to the strategy or the metrics.", "",
        "**Method.** For each target, a trial's simulated time to its first finished evaluation reaching it is an event "
        "time, censored at the time budget *h* when it never does (a trial that stopped earlier at the suite's cap on "
        "started evaluations, *capped*, is censored at *h* too: the capped algorithm never reaches the target). Every "
        "strategy of a benchmark shares *h*, so every comparison is at a common horizon. *time-aRT*: COCO's aRT at *h*, "
        "sum of min(T, h) over the successes, with its BCa 95% interval (scipy.stats.bootstrap, "
        f"{survival.N_RESAMPLES:,} resamples). *vs RS*: random search's time-aRT with the same workers over the "
        "strategy's (> 1: the strategy reaches the target sooner), BCa 95% paired by seed. *speed-up*: the strategy's "
        "time-aRT with its fewest workers over this row's, the same way, beside the linear speed-up (the worker ratio). "
        "Tests: one-sided log-rank at *h* in both directions (scipy.stats.logrank), Holm-adjusted over the family of "
        f"every test of this report ({a.family} tests). The intervals are not adjusted for multiplicity, the "
        "verdicts are: an interval that excludes 1 beside *no difference shown* is a difference the family-wise "
        "test does not confirm.", "",
        "**Verdicts.** *faster* / *slower*: that direction's Holm-adjusted p-value is below "
        f"{ALPHA:g}, with at least {MIN_SUCCESSES} successes within *h* on both sides; *faster, size not estimable* / "
        f"*slower, size not estimable*: significant, but a side has fewer than {MIN_SUCCESSES} successes, so the "
        "ratio's interval is not informative; *no difference shown*: neither direction significant (not evidence of "
        "equality). A speed-up's *vs linear* says whether its interval lies below, around or above the linear speed-up "
        "(– where not estimable).", "",
        f"Time budgets (*h*): {budgets}.", "",
        *glance(a), "",
        "| benchmark | strategy | workers | target | successes | time-aRT (s) [95%] | vs RS [95%] | verdict vs RS "
        "| p (Holm) | speed-up [95%] | verdict | vs linear | evaluations | cut | capped | s/trial |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in a.rows:
        vs, sp = r["vs_rs"], r["speedup"]
        verdict_rs, p_rs = ("–", "–") if vs is None else (vs["verdict"], f"{vs['p_holm']:.2g}")
        speedup = "–" if sp is None else f"{_ratio(sp)} (from {sp['base']})"
        verdict_sp, linear = ("–", "–") if sp is None else (sp["verdict"], sp["vs_linear"])
        lines.append(
            f"| {r['benchmark']} | {r['strategy']} | {r['workers']} | {r['target']} | {r['successes']}/{r['trials']} | "
            f"{fmt(r['time_art'])} {fmt_ci(r['art_low'], r['art_high'])} | {_ratio(vs)} | {verdict_rs} | {p_rs} | "
            f"{speedup} | {verdict_sp} | {linear} | {r['evaluations']:.1f} | {r['cut']:.1f} | "
            f"{r['capped']}/{r['trials']} (cap {r['cap']:,}) | {r['sec_per_trial']:.1f} |")
    lines += ["", "*s/trial*: median wall time of a trial on one CPU core. Every number above is computed from "
              f"`tables/{TRIALS_CSV}` (one line per trial)."]
    return "\n".join(lines) + "\n"


def _figure(trials: Sequence[TimedTrial], bench: str, path: Path) -> None:
    """One panel per target: the Kaplan-Meier fraction of trials that reached it against simulated
    time, one colour per strategy, solid for the fewest workers and dashed for more."""
    ts = [t for t in trials if t.benchmark == bench]
    labels = sorted({t.label for t in ts})
    strategies = sorted({_label_workers(label)[0] for label in labels})
    colours = plots.palette(strategies)
    fewest = min(t.workers for t in ts)
    h = ts[0].time_budget
    grid = np.linspace(0.0, h, 400)
    targets = [k for k, _ in enumerate(TARGETS) if not math.isnan(ts[0].times[k])]
    fig = Figure(figsize=(3.4 * len(targets), 3.4), layout="constrained")
    axes = fig.subplots(1, len(targets), sharey=True, squeeze=False)[0]
    for ax, k in zip(axes, targets):
        for label in labels:
            s, w = _label_workers(label)
            f = km_curves([t for t in ts if t.label == label], k, grid)
            ax.step(grid / 3600, f, where="post", color=colours[s], ls="-" if (w or fewest) == fewest else "--", lw=1.2)
        ax.set(title=f"{bench}: {list(TARGETS)[k]}", xlabel="simulated training time (hours)", xlim=(0, h / 3600),
               ylim=(0, 1.02))
    axes[0].set_ylabel("fraction of trials that reached it")
    workers = sorted({t.workers for t in ts})
    handles = [Line2D([], [], color=colours[s], lw=1.5) for s in strategies]
    handles += [Line2D([], [], color="k", ls="-" if w == fewest else "--", lw=1.2) for w in workers]
    fig.legend(handles, strategies + [f"{w} worker{'s' * (w > 1)}" for w in workers], loc="outside right center",
               fontsize=7, frameon=False)
    plots.save(fig, path)


def write_report(root: str | Path, figures: bool = True) -> Path:
    """``README.md``, ``tables/time-trials.csv``, ``tables/time-art.json`` and (``figures``) the
    Kaplan-Meier curves of time to each target, from the folder's records (or, without records, from
    its ``tables/time-trials.csv``)."""
    root = Path(root)
    trials = load_trials(root)
    a = analyse(trials)
    (root / "tables").mkdir(exist_ok=True)
    atomic_write_text(root / "tables" / TRIALS_CSV, trials_csv(trials))
    atomic_write_text(root / "tables" / "time-art.json", dumps(a.rows, indent=2, sort_keys=True) + "\n")
    text = markdown(a)
    if figures:
        benches = sorted({t.benchmark for t in trials})
        for b in benches:
            _figure(trials, b, root / "figures" / f"time-to-target-{b}")
        text += "\n" + "\n".join(f"![time to each target on {b}](figures/time-to-target-{b}.png)" for b in benches) + "\n"
    readme = root / "README.md"
    atomic_write_text(readme, text)
    return readme

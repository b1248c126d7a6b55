"""Budgets in simulated training time, with parallel asynchronous workers.

NATS-Bench gives a search a budget of simulated training seconds, nas_benchmarks plots regret
against cumulative training time, and a lab runs several GPUs at once (Syne Tune simulates exactly
this). A timed trial (``time_budget`` seconds, ``workers_sim`` simulated GPUs) is an event
simulation over the benchmark's recorded training costs (``bench.cost``: NB-201's 200-epoch and
NB-101's 108-epoch training seconds; 1 where a table records none):

* every free worker takes the next proposal of the strategy and trains it for its recorded cost;
  the oracle's answer is held until the worker finishes;
* when a worker finishes, the strategy is told that result, and the worker asks for the next
  architecture while the others are still running. Before each ``ask`` the strategy is told which
  architectures are pending (:meth:`strategies.base.Strategy.set_pending`); a strategy that
  proposes a pending one anyway is simply asked again (after ``max_idle_asks`` in a row, a uniformly
  random unevaluated architecture is taken, counted as ``sim_random_fallbacks``). A batch a
  strategy asks for is queued and handed to the next free workers before it is asked again;
* an evaluation counts only if it finishes within the budget. One still running at the budget is
  *cut*: recorded as cut, never told to the strategy, never in the metrics. ``budget`` stays a cap
  on the architectures started.

With one worker this is the sequential loop in time units. Events are processed in order of
finish time (ties: the earlier start first), so the same seed gives the same simulation, bit for
bit. The record holds, per evaluation in the order the strategy saw them, its simulated ``start``
and ``finish`` time and its ``worker``, and the ``cut`` evaluations.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Any

import numpy as np

from experiments.runner import StrategyError, TrialSpec, _record, make_strategy, trial_keys
from nasbench.benchmark import Benchmark, Status
from nasbench.data import atomic_write_text
from strategies.base import JaxStrategy


def time_budget_of(bench: Benchmark, seconds: float | None, mean_costs: float | None) -> float:
    """A time budget in seconds: given, or as ``mean_costs`` mean training costs of the table."""
    if seconds is not None:
        return float(seconds)
    cost = np.asarray(bench.cost, dtype=np.float64)[np.asarray(bench.in_table)]
    return float(mean_costs * cost.mean())


def run_trial_timed(spec: TrialSpec, bench: Benchmark, max_idle_asks: int = 100) -> dict[str, Any]:
    """Run one trial as an event simulation with ``spec.workers_sim`` workers until
    ``spec.time_budget`` simulated seconds (see the module docstring); returns its record."""
    T = time_budget_of(bench, spec.time_budget, spec.time_budget_mean_costs)
    if not T > 0:
        raise ValueError(f"a timed trial needs a positive time budget, got {T}")
    workers = int(spec.workers_sim or 1)
    if workers < 1:
        raise ValueError(f"workers_sim must be at least 1, got {workers}")
    cap = min(spec.budget, bench.n_table)
    strategy = make_strategy(spec, bench)
    k_strategy, k_noise = trial_keys(spec.seed)
    oracle = bench.oracle(k_noise)
    rng = np.random.default_rng(spec.seed)
    t0 = time.perf_counter()
    state = strategy.init(k_strategy, budget=cap) if isinstance(strategy, JaxStrategy) else strategy.init(k_strategy)
    cost = np.asarray(bench.cost, dtype=np.float64)
    running: list[tuple[float, int, int, int, float, float]] = []  # (finish, start seq, worker, idx, value, start)
    free = list(range(workers))
    queue: deque[int] = deque()
    pending: set[int] = set()
    done: list[tuple[int, float, float, float, int]] = []  # (idx, value, start, finish, worker)
    cut: list[dict[str, Any]] = []
    starts = asks = fallbacks = 0
    now = 0.0

    def propose() -> int | None:
        nonlocal state, asks, fallbacks
        idle = 0
        while True:
            while queue:
                i = queue.popleft()
                if i not in pending and oracle.charges([i])[0]:
                    return i
            if idle >= max_idle_asks:  # the strategy keeps proposing what is running: random
                free_idx = np.flatnonzero(np.asarray(bench.in_table) & ~_known(oracle, pending, bench.n_space))
                if free_idx.size == 0:
                    return None
                fallbacks += 1
                return int(free_idx[rng.integers(free_idx.size)])
            state = strategy.set_pending(state, np.asarray(sorted(pending), dtype=np.int64))
            state, asked = strategy.ask(state, max(1, cap - starts))
            asks += 1
            idx = [int(i) for i in np.asarray(asked, dtype=np.int64).reshape(-1)]
            if not idx:
                raise StrategyError(f"{spec.strategy} asked for nothing with {cap - starts} starts left")
            new = oracle.charges(idx)
            # repeats, invalid and out-of-table answers are free and immediate, as in the sequential loop
            free_now = [i for i, n in zip(idx, new) if not n and i not in pending]
            if free_now:
                res = oracle.query(free_now)
                state = strategy.tell(state, np.asarray(free_now), res.values, res.status)
            fresh = [i for i, n in zip(idx, new) if n and i not in pending]
            queue.extend(dict.fromkeys(fresh))
            idle = 0 if fresh else idle + 1

    while True:
        while free and now < T and starts < cap:
            i = propose()
            if i is None:
                break
            res = oracle.query([i])
            assert res.status[0] == Status.NEW
            worker = free.pop(0)
            finish = now + float(cost[i])
            starts += 1
            if finish > T:  # still running at the budget: cut, never told, never counted
                cut.append({"arch": i, "start": now, "worker": worker})
                continue
            pending.add(i)
            heapq.heappush(running, (finish, starts, worker, i, float(res.values[0]), now))
        if not running:
            break
        finish, _, worker, i, value, start = heapq.heappop(running)
        now = finish
        pending.discard(i)
        state = strategy.tell(state, np.asarray([i]), np.asarray([value]), np.asarray([Status.NEW], np.int8))
        done.append((i, value, start, finish, worker))
        free.append(worker)
        free.sort()
    wall = time.perf_counter() - t0
    arch = np.asarray([d[0] for d in done], dtype=np.int64)
    rec = _record(spec, bench, arch, np.asarray([d[1] for d in done]), wall, asks, strategy, state)
    rec["diagnostics"]["sim_random_fallbacks"] = float(fallbacks)
    rec.update({
        "time_budget": T, "workers_sim": workers,
        "start": [d[2] for d in done], "finish": [d[3] for d in done], "worker": [d[4] for d in done],
        "cut": cut,
    })
    return rec


def _known(oracle, pending: set[int], n: int) -> np.ndarray:
    known = np.zeros(n, bool)
    known[np.asarray(oracle.evaluated, dtype=np.int64)] = True
    known[np.asarray(sorted(pending), dtype=np.int64)] = True
    return known


def time_to_target(finish: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    """Simulated time at which a trial's first evaluation reaching ``threshold`` finished (``inf``)."""
    hit = np.flatnonzero(np.asarray(truth) >= threshold)
    return float(np.asarray(finish)[hit[0]]) if hit.size else float("inf")


def time_art(times: np.ndarray, budget: float) -> float:
    """COCO's aRT in simulated seconds: the time of every trial (a failure charged the whole
    budget) over the successes (``inf`` without one)."""
    times = np.asarray(times, dtype=np.float64)
    ok = np.isfinite(times)
    return float(np.where(ok, times, budget).sum() / ok.sum()) if ok.any() else float("inf")


# ----------------------------------------------------------------------------- the report
def _label_workers(label: str) -> tuple[str, int | None]:
    """``"lanas-w8"`` -> ``("lanas", 8)``; a label without the suffix -> ``(label, None)``."""
    head, sep, tail = label.rpartition("-w")
    return (head, int(tail)) if sep and tail.isdigit() else (label, None)


def analyse(root) -> dict[str, Any]:
    """Time-aRT per benchmark x label x target, ratios to random search with the same workers and
    speed-ups from the fewest workers to each count (a pure function of the records)."""
    import json
    from pathlib import Path

    from experiments.metrics import TARGETS

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
    from pathlib import Path

    from experiments.records import dumps

    root = Path(root)
    a = analyse(root)

    from experiments.tables import fmt

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
    import json

    from experiments import plots, stats

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

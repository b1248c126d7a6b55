"""The subset-sampling study: a test of Mauch et al.'s claims 2 and 3 on censored samples to a target.

Mauch, Tiedemann, Garcia, Cong, Yoshiyama, Cardinaux, Kemp, "Efficient Sampling for Predictor-Based
Neural Architecture Search" (arXiv:2011.12043, 2020; only the abstract is available to us) claim
(2) predictor-based NAS loses sample efficiency sharply when its predictor scores only a random
subset of the space, and (3) a smartly chosen subset regains the efficiency of scoring it all.
Reads the results folder of ``nasarena run subsets`` (trials of ``predictor-subsets`` under several
labels; each record's resolved config says its candidate kind, subset size ``M`` and acquisition:
labels are never parsed) and writes::

    README.md                      the page: method, verdicts, every row, cost
    tables/subsets-trials.csv      one line per trial: what every number is computed from (committed;
                                   the page regenerates from it without the records)
    tables/subsets.{md,tex,csv}    per benchmark x target x label
    tables/subsets-verdicts.*      a verdict per claim x benchmark x target x acquisition
    figures/subsets.{pdf,png}      aRT(full) / aRT(label) against M, with BCa intervals

**Method** (:mod:`experiments.analysis.survival`). Each trial's samples to a target are an event
time censored at the budget ``h`` (200, every label's: a common horizon). Per label: aRT at ``h``
with a BCa 95% interval, and the share of trials whose candidates ever held a target (``offered``,
counted by the runner: ``experiments.harness.records.offer_diagnostics``). Comparisons, paired by
seed: each subset label against the full space of the same acquisition (ratio ``aRT_full / aRT_label``,
BCa 95%, one-sided log-rank tests both ways), each smart label against the random subset of the same
``M`` (ratio ``aRT_random / aRT_smart``, log-rank both ways). Holm over the family of every log-rank
test of the report. Non-inferiority of a smart subset to the full space: the lower end of the
one-sided ``1 - 0.05 / m`` BCa interval of ``aRT_full / aRT_smart`` at least ``1 / MARGIN`` (its aRT at most
:data:`MARGIN` times the full space's), Bonferroni over the ``m`` smart labels of its family.

**Verdicts** (:func:`verdicts`), per benchmark x target x acquisition, at level :data:`ALPHA`:

* claim 2: *holds* when a random subset is significantly slower than the full space at a size where
  at least half its trials were offered a target (its predictor passed targets over); *holds
  trivially* when the only significant losses are where fewer than half were (the subset rarely
  held a target: no predictor could have found one); *reversed* when no random subset is slower and
  one is significantly faster; *not shown* when none differs significantly; *not estimable* when
  the full space and every random subset have fewer than :data:`MIN_SUCCESSES` successes.
* claim 3, at each ``M`` where a random subset lost: a smart subset *regains* when it is
  non-inferior to the full space *and* significantly faster than the random subset of that ``M``.
  *Holds* when some smart subset regains; *not shown* when smart subsets ran there and none
  regains (each row says which part failed); *nothing to regain* when no random subset lost;
  *not run* when no smart subset ran at a size that lost.

Usage: ``nasarena report results/subsets`` (or ``python -m experiments.studies.subsets FOLDER``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from experiments.analysis import plots, survival
from experiments.analysis.metrics import TARGETS
from experiments.analysis.survival import ALPHA, MIN_SUCCESSES
from experiments.analysis.tables import Table, csv_number, fmt, fmt_ci, fmt_p, read_csv_number
from experiments.harness.records import record_paths, records_or_table, short_hash
from nasbench.data import atomic_write_text
from strategies.predictor_subsets import PredictorSubsetsConfig, subset_size
from strategies.registry import resolve

log = logging.getLogger(__name__)

STRATEGY = "predictor-subsets"
SMART = ("bananas", "bananas-evolution", "prefilter", "zc-prefilter", "mutation", "evolution")
KINDS = ("random", *SMART)
MARGIN = 1.25  # non-inferiority: a smart subset's aRT at most this many times the full space's
OFFERED_SHARE = 0.5  # a loss is trivial where fewer than this share of trials were ever offered a target
TRIALS_CSV = "subsets-trials.csv"


def kind_and_size(spec: str, config: dict[str, Any], n: int) -> tuple[str, float, str] | None:
    """``(candidate kind, M as a fraction of the space, acquisition)`` of a predictor-subsets trial
    (from its resolved config), ``None`` for another strategy."""
    if spec.partition(":")[0] != STRATEGY:
        return None
    _, values = resolve(spec, config)
    cfg = PredictorSubsetsConfig(**values)
    if cfg.candidates == "full":
        return "full", 1.0, cfg.acquisition
    return cfg.candidates, subset_size(cfg.subset, n) / n, cfg.acquisition


@dataclass(frozen=True)
class SubsetTrial:
    """One trial: all the subsets report reads of its record."""

    benchmark: str
    label: str
    seed: int
    kind: str  # "full", a kind of KINDS, or "reference" (another strategy)
    m_fraction: float  # M / N (1 for the full space, nan for a reference)
    acquisition: str
    budget: int
    samples: tuple[float, ...]  # per target of TARGETS: samples to the first hit (inf: never; nan: no such target)
    offered: tuple[float, ...]  # per target: 1 when a round's candidates held one, 0 when none did (nan: not counted)
    scored: float  # candidates scored per round (nan: not counted)
    wall_s: float
    strategy_version: int
    config_hash: str


CSV_HEADER = ",".join(["benchmark", "label", "seed", "kind", "m_fraction", "acquisition", "budget",
                       *(f"samples_{t}" for t in TARGETS), *(f"offered_{t}" for t in TARGETS),
                       "scored", "wall_s", "strategy_version", "config_hash"])


def _order(trials: Iterable[SubsetTrial]) -> list[SubsetTrial]:
    return sorted(trials, key=lambda t: (t.benchmark, t.label, t.seed))


def trials_of(root: Path) -> list[SubsetTrial]:
    """The trials of the folder's records."""
    paths = record_paths(root)
    if not paths:
        raise FileNotFoundError(f"no trial records under {root / 'data'} and no tables/{TRIALS_CSV}; "
                                "run `nasarena run subsets` first")
    out, summaries = [], {}
    for p in paths:
        r = json.loads(p.read_text())
        b = r["benchmark"]
        if b not in summaries:
            summaries[b] = json.loads((root / "benchmarks" / f"{b}.json").read_text())
        n, targets = int(summaries[b]["n"]), summaries[b]["targets"]
        truth = np.asarray(r["truth"], np.float64)
        samples = []
        for t in TARGETS:
            if t not in targets:
                samples.append(math.nan)
                continue
            hit = np.flatnonzero(truth >= float(targets[t]["threshold"]))
            samples.append(float(hit[0] + 1) if hit.size else math.inf)
        d = r.get("diagnostics", {})
        ks = kind_and_size(r.get("strategy_spec", r["strategy"]), r.get("config", {}), n)
        rounds = d.get("rounds", 0)
        out.append(SubsetTrial(
            b, r["strategy"], int(r["seed"]), ks[0] if ks else "reference", ks[1] if ks else math.nan,
            ks[2] if ks else "", int(r["budget"]), tuple(samples),
            tuple(float(d.get(f"offered_{t}", math.nan)) for t in TARGETS),
            float(d["candidates_scored"]) / rounds if rounds and "candidates_scored" in d else math.nan,
            round(float(r["wall_time"]), 2), int(r["fingerprint"]["strategy_version"]),
            short_hash(r["fingerprint"]["config"])))
    return _order(out)


def trials_csv(trials: Iterable[SubsetTrial]) -> str:
    """``tables/subsets-trials.csv``: one line per trial (numbers as Python's shortest exact repr)."""
    return "\n".join([CSV_HEADER] + [
        ",".join([t.benchmark, t.label, str(t.seed), t.kind, csv_number(t.m_fraction), t.acquisition, str(t.budget),
                  *(csv_number(x) for x in t.samples), *(csv_number(x) for x in t.offered), csv_number(t.scored),
                  f"{t.wall_s:.2f}", str(t.strategy_version), t.config_hash])
        for t in _order(trials)]) + "\n"


def read_trials_csv(path: Path) -> list[SubsetTrial]:
    lines = path.read_text().splitlines()
    if not lines or lines[0] != CSV_HEADER:
        raise ValueError(f"{path}: not a subsets trials table (its first line must be {CSV_HEADER!r})")
    k = len(TARGETS)

    out = []
    for n, line in enumerate(lines[1:], start=2):
        f = line.split(",")
        if len(f) != 11 + 2 * k:
            raise ValueError(f"{path}:{n}: expected {11 + 2 * k} comma-separated fields, got {len(f)}")
        out.append(SubsetTrial(f[0], f[1], int(f[2]), f[3], read_csv_number(f[4]), f[5], int(f[6]),
                               tuple(read_csv_number(x) for x in f[7:7 + k]), tuple(read_csv_number(x) for x in f[7 + k:7 + 2 * k]),
                               read_csv_number(f[7 + 2 * k]), float(f[8 + 2 * k]), int(f[9 + 2 * k]), f[10 + 2 * k]))
    return _order(out)


def load_trials(root: Path) -> list[SubsetTrial]:
    """The folder's trials: from its records, or, where it has none, from ``tables/subsets-trials.csv``."""
    return records_or_table(root, TRIALS_CSV, read_trials_csv, trials_of)


# ------------------------------------------------------------------------------------------ compute
def censored(trials: Sequence[SubsetTrial], target: int) -> survival.Censored:
    """Samples to target number ``target``, censored at each trial's budget."""
    s = np.array([t.samples[target] for t in trials], np.float64)
    h = np.array([t.budget for t in trials], np.int64)
    hit = np.isfinite(s) & (s <= h)
    return survival.Censored(np.where(hit, s, h).astype(np.int64), hit, np.array([t.seed for t in trials], np.int64))


@dataclass(frozen=True)
class SubsetsReport:
    """What :func:`analyse` computes: one row per benchmark x target x label (its aRT, offers,
    comparisons and non-inferiority bound), the number of tests Holm adjusted over, the verdicts and
    the bootstrap seed."""

    rows: list[dict[str, Any]]
    family: int
    verdicts: list[dict[str, Any]]
    seed: int


def analyse(trials: Sequence[SubsetTrial], benchmarks: dict[str, dict[str, Any]], seed: int = 0) -> SubsetsReport:
    """Every row (benchmark x target x label) with its aRT, offers and comparisons; Holm over every
    log-rank test; the non-inferiority bounds; the verdicts."""
    groups: dict[tuple[str, str], list[SubsetTrial]] = defaultdict(list)
    for t in trials:
        groups[(t.benchmark, t.label)].append(t)
    rows: list[dict[str, Any]] = []
    cens: dict[tuple[str, str, str], survival.Censored] = {}
    for (b, label), ts in sorted(groups.items()):
        if len({t.budget for t in ts}) > 1 or len({t.seed for t in ts}) < len(ts):
            raise ValueError(f"{label} on {b}: trials of different budgets or a repeated seed")
        first = ts[0]
        for k, target in enumerate(TARGETS):
            if math.isnan(first.samples[k]):
                continue
            c = cens[(b, label, target)] = censored(ts, k)
            lo, hi = survival.art_interval(c, survival.rng_for(seed, b, label, target))
            offers = [t.offered[k] for t in ts]
            counted = not any(math.isnan(x) for x in offers)
            n, kk = int(benchmarks[b]["n"]), int(benchmarks[b]["targets"][target]["K"])
            scored = [t.scored for t in ts if not math.isnan(t.scored)]
            rows.append({
                "benchmark": b, "target": target, "label": label, "kind": first.kind, "acquisition": first.acquisition,
                "m_fraction": first.m_fraction, "m_count": int(round(first.m_fraction * n)) if first.kind != "reference" else 0,
                "N": n, "K": kk, "mkn": first.m_fraction * kk, "m_scored": float(np.mean(scored)) if scored else math.nan,
                "horizon": first.budget, "trials": len(ts), "successes": int(c.events.sum()),
                "art": survival.art(c), "art_low": lo, "art_high": hi,
                "offered": int(sum(offers)) if counted else None,
                "found_offered": int(sum(e for e, o in zip(c.events, offers) if o > 0)) if counted else None,
                "sec_per_trial": float(np.median([t.wall_s for t in ts])), "cpu_s": float(sum(t.wall_s for t in ts)),
                "vs_full": None, "vs_random": None, "random_label": "", "ni_low": None})
    fams: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] != "reference":
            fams[(r["benchmark"], r["target"], r["acquisition"])].append(r)
    tests: list[dict[str, Any]] = []
    for (b, target, _), fam in fams.items():
        full = next((r for r in fam if r["kind"] == "full"), None)
        if full is None:
            continue
        fc = cens[(b, full["label"], target)]
        random_at = {round(r["m_fraction"], 12): r for r in fam if r["kind"] == "random"}
        smart = [r for r in fam if r["kind"] in SMART]
        for r in fam:
            if r is full:
                continue
            c = cens[(b, r["label"], target)]
            r["vs_full"] = survival.compare(c, fc, full["horizon"], survival.rng_for(seed, b, r["label"], "full", target))
            tests.append(r["vs_full"])
            base = random_at.get(round(r["m_fraction"], 12))
            if r["kind"] in SMART and base is not None:
                r["random_label"] = base["label"]
                r["vs_random"] = survival.compare(c, cens[(b, base["label"], target)], r["horizon"],
                                                  survival.rng_for(seed, b, r["label"], base["label"], target))
                tests.append(r["vs_random"])
        level = 1 - 2 * ALPHA / max(len(smart), 1)  # a two-sided interval whose lower end is one-sided 1 - alpha / m
        for r in smart:
            c = cens[(b, r["label"], target)]
            common = np.intersect1d(c.seeds, fc.seeds)
            if min(int(c.only(common).events.sum()), int(fc.only(common).events.sum())) >= MIN_SUCCESSES:
                r["ni_low"] = survival.ratio_paired(c.only(common), fc.only(common), r["horizon"],
                                                    survival.rng_for(seed, b, r["label"], "ni", target),
                                                    confidence=level)[1]
    adjusted = survival.holm([t["p_sooner"] for t in tests] + [t["p_later"] for t in tests])
    for test, ps, pl in zip(tests, adjusted[:len(tests)], adjusted[len(tests):]):
        test["p_sooner_holm"], test["p_later_holm"] = survival.round_p(ps), survival.round_p(pl)
    order = {k: i for i, k in enumerate(("full", *KINDS, "reference"))}
    rows.sort(key=lambda r: (r["benchmark"], list(TARGETS).index(r["target"]), r["acquisition"] != "thompson",
                             r["acquisition"], order.get(r["kind"], 99),
                             r["m_fraction"] if np.isfinite(r["m_fraction"]) else 2.0, r["label"]))
    return SubsetsReport(rows, 2 * len(tests), verdicts(rows), seed)


def _shown(c: dict[str, Any] | None, side: str) -> bool:
    return c is not None and c[f"p_{side}_holm"] < ALPHA


def _non_trivial(r: dict[str, Any]) -> bool:
    """At least :data:`OFFERED_SHARE` of the label's trials were offered a target (unknown counts as offered)."""
    return r["offered"] is None or r["offered"] >= OFFERED_SHARE * r["trials"]


def _pct(x: float) -> str:
    return f"{100 * x:.2g}%" if x < 1 else "100%"


def _at(rs: Sequence[dict[str, Any]], full: dict[str, Any]) -> str:
    def one(r: dict[str, Any]) -> str:
        off = "" if r["offered"] is None else f", offered {r['offered']}/{r['trials']}"
        return (f"M = {_pct(r['m_fraction'])} ({r['successes']}/{r['trials']} vs {full['successes']}/{full['trials']}"
                f"{off}, aRT ratio {fmt(r['vs_full']['ratio'])})")
    return ", ".join(one(r) for r in rs)


def verdicts(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per claim (2, 3) x benchmark x target x acquisition, with its reason (the rules are
    in the module docstring)."""
    fams: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] != "reference":
            fams[(r["benchmark"], r["target"], r["acquisition"])].append(r)
    out = []
    for (bench, target, acq), fam in fams.items():
        full = next((r for r in fam if r["kind"] == "full"), None)
        rand = sorted((r for r in fam if r["kind"] == "random"), key=lambda r: r["m_fraction"])
        if full is None or not rand:
            continue
        lost = [r for r in rand if _shown(r["vs_full"], "later")]
        won = [r for r in rand if _shown(r["vs_full"], "sooner")]
        real = [r for r in lost if _non_trivial(r)]
        if real:
            v2, why2 = "holds", f"random subsets are slower where their candidates held targets: {_at(real, full)}"
        elif lost:
            v2, why2 = "holds trivially", f"slower only where most subsets never held a target: {_at(lost, full)}"
        elif won:
            v2, why2 = "reversed", f"random subsets are faster than the full space: {_at(won, full)}"
        elif full["successes"] < MIN_SUCCESSES and all(r["successes"] < MIN_SUCCESSES for r in rand):
            v2, why2 = "not estimable", f"fewer than {MIN_SUCCESSES} successes within the horizon everywhere"
        else:
            v2, why2 = "not shown", "no random subset differs significantly from the full space"
        out.append({"claim": 2, "benchmark": bench, "target": target, "acquisition": acq, "verdict": v2, "reason": why2})

        sizes = {round(r["m_fraction"], 12) for r in lost}
        tried = [r for r in fam if r["kind"] in SMART and round(r["m_fraction"], 12) in sizes]
        regains = [r for r in tried if r["ni_low"] is not None and r["ni_low"] >= 1 / MARGIN
                   and _shown(r["vs_random"], "sooner")]

        def why(r: dict[str, Any]) -> str:
            ni = ("not estimable" if r["ni_low"] is None else
                  f"{'non-inferior' if r['ni_low'] >= 1 / MARGIN else 'non-inferiority not shown'} (bound {fmt(r['ni_low'])})")
            vr = r["vs_random"]
            faster = "–" if vr is None else f"{fmt(vr['ratio'])}x the random subset's speed, p {fmt_p(vr['p_sooner_holm'])}"
            return f"{r['kind']} at M = {_pct(r['m_fraction'])}: {ni}; {faster}"

        if not lost:
            v3, why3 = "nothing to regain", "no random subset is significantly slower than the full space"
        elif not tried:
            v3, why3 = "not run", f"random subsets lost at M = {', '.join(sorted(_pct(s) for s in sizes))}, where no smart subset ran"
        elif regains:
            v3, why3 = "holds", "regained: " + "; ".join(why(r) for r in regains)
        else:
            v3, why3 = "not shown", "; ".join(why(r) for r in tried)
        out.append({"claim": 3, "benchmark": bench, "target": target, "acquisition": acq, "verdict": v3, "reason": why3})
    out.sort(key=lambda v: (v["claim"], v["benchmark"], list(TARGETS).index(str(v["target"])), v["acquisition"] != "thompson"))
    return out


# ------------------------------------------------------------------------------------------ render
def _ratio(c: dict[str, Any] | None) -> str:
    return "–" if c is None else f"{fmt(c['ratio'])} {fmt_ci(c['low'], c['high'])}"


def _p(c: dict[str, Any] | None, side: str) -> str:
    return "–" if c is None else fmt_p(c[f"p_{side}_holm"])


def subsets_table(rows: Sequence[dict[str, Any]]) -> Table:
    """Every row: the CSV holds the raw values (comparisons spread into columns), Markdown and LaTeX
    the display columns."""
    flat = _flat(rows)
    by_id = {id(f): r for f, r in zip(flat, rows)}

    def src(f: dict[str, Any]) -> dict[str, Any]:
        return by_id[id(f)]

    def offered(f: dict[str, Any]) -> str:
        return "–" if f["offered"] is None else f"{f['offered']}/{f['trials']} ({f['found_offered']})"

    return Table(
        name="subsets",
        caption=("Predictor-based search (BANANAS' predictor) scoring a subset of M architectures per round against "
                 "scoring them all; samples to the target censored at the budget (the common horizon). aRT with its "
                 "BCa 95% interval; *vs full*: aRT(full) / aRT(label) (< 1: slower than the full space), BCa 95% "
                 "paired by seed; *p slower*: Holm-adjusted one-sided log-rank p that the label finds the target "
                 "later; *vs random*: aRT(random subset of the same M) / aRT(smart), *p faster* likewise; *NI bound*: "
                 "the lower end of the one-sided Bonferroni interval of aRT(full) / aRT(smart), non-inferior at "
                 f"{1 / MARGIN:g} or more; *offered (found)*: trials whose candidates ever held a target (of them, "
                 "those that found one)."),
        rows=flat,
        display=[
            ("benchmark", lambda f: f["benchmark"]),
            ("target", lambda f: f["target"]),
            ("acquisition", lambda f: f["acquisition"] or "–"),
            ("candidates", lambda f: f["kind"] if f["kind"] != "reference" else f["label"]),
            ("M", lambda f: "–" if f["kind"] == "reference" else f"{_pct(f['m_fraction'])} ({f['m_count']})"),
            ("M*K/N", lambda f: fmt(f["mkn"]) if np.isfinite(f["mkn"]) else "–"),
            ("M scored", lambda f: f"{f['m_scored']:.0f}" if np.isfinite(f["m_scored"]) else "–"),
            ("hits", lambda f: f"{f['successes']}/{f['trials']}"),
            ("offered (found)", offered),
            ("aRT [95%]", lambda f: f"{fmt(f['art'])} {fmt_ci(f['art_low'], f['art_high'])}"),
            ("vs full [95%]", lambda f: _ratio(src(f)["vs_full"])),
            ("p slower", lambda f: _p(src(f)["vs_full"], "later")),
            ("vs random [95%]", lambda f: _ratio(src(f)["vs_random"])),
            ("p faster", lambda f: _p(src(f)["vs_random"], "sooner")),
            ("NI bound", lambda f: "–" if f["ni_low"] is None else fmt(f["ni_low"])),
            ("s/trial", lambda f: f"{f['sec_per_trial']:.1f}"),
        ],
    )


def verdict_table(vs: Sequence[dict[str, Any]]) -> Table:
    return Table(
        name="subsets-verdicts",
        caption=(f"Mauch et al.'s claims 2 (a random subset loses) and 3 (a smart subset regains), per benchmark, "
                 f"target and acquisition; level {ALPHA} after Holm's adjustment, non-inferiority margin {MARGIN:g} "
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


def subsets_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """aRT(full) / aRT(label) against M: one panel per benchmark (columns) and acquisition x target
    (rows), one line per candidate kind with BCa 95% intervals, 1 (the full space) as a black line,
    the non-inferiority bound 1 / MARGIN dotted. A ratio of 0 (no success) is an open triangle at
    the bottom; an interval reaching 0 or infinity runs to the panel's edge."""
    benches = sorted({r["benchmark"] for r in rows})
    acqs = sorted({r["acquisition"] for r in rows if r["acquisition"]}, key=lambda a: (a != "thompson", a))
    panels = [(a, t) for a in acqs for t in TARGETS if any(r["target"] == t for r in rows)]
    colours = plots.palette(list(KINDS))
    lo_lim, hi_lim = 0.02, 50.0
    fig = plots._figure(3.3 * len(benches), 2.4 * len(panels) + 0.5)
    axes = fig.subplots(len(panels), len(benches), squeeze=False)
    for i, (acq, target) in enumerate(panels):
        for j, bench in enumerate(benches):
            ax = axes[i, j]
            sel = [r for r in rows if (r["benchmark"], r["target"], r["acquisition"]) == (bench, target, acq)]
            ax.set(xscale="log", yscale="log", ylim=(lo_lim, hi_lim), xlim=(0.07, 140))
            ax.axhline(1.0, color="black", lw=1, label="full space")
            ax.axhline(1 / MARGIN, color="black", ls=":", lw=1, label=f"non-inferiority bound (1/{MARGIN:g})")
            for k, kind in enumerate(KINDS):
                pts = sorted((r for r in sel if r["kind"] == kind and r["vs_full"] is not None), key=lambda r: r["m_fraction"])
                if not pts:
                    continue
                x = 100 * np.array([r["m_fraction"] for r in pts]) * (1 + 0.05 * (k - 1.5))  # dodge
                g = np.array([r["vs_full"]["ratio"] for r in pts])
                lo = np.clip([r["vs_full"]["low"] for r in pts], lo_lim, hi_lim)
                hi = np.clip([r["vs_full"]["high"] for r in pts], lo_lim, hi_lim)
                ok = (g > 0) & np.isfinite(g)
                ax.plot(x, np.where(ok, g, np.nan), color=colours[kind], lw=1.2, label=kind)
                if ok.any():
                    # a BCa interval need not hold its point, and the clip to the panel can cut it
                    ax.errorbar(x[ok], g[ok], yerr=[np.maximum(g[ok] - lo[ok], 0), np.maximum(hi[ok] - g[ok], 0)], ls="none",
                                color=colours[kind], marker="o", ms=3.5, capsize=2)
                if (~ok).any():
                    ax.plot(x[~ok], np.full((~ok).sum(), lo_lim * 1.15), ls="none", marker="v",
                            color=colours[kind], ms=5, mfc="none")
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks([0.1, 1, 10, 100], labels=["0.1", "1", "10", "100"])
            ax.set_xlabel("subset size M (% of the space)")
            ax.set_title(f"{bench}: {target}, {acq}", fontsize=9)
            if j == 0:
                ax.set_ylabel("aRT(full) / aRT(label)")
    seen: dict[str, Any] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                   ncol=min(len(seen), max(1, 2 * len(benches) - 1)))
    return fig


def markdown(a: SubsetsReport, table: Table, vtable: Table, figure: bool) -> str:
    cpu_h = sum({(r["benchmark"], r["label"]): r["cpu_s"] for r in a.rows}.values()) / 3600
    n_trials = sum({(r["benchmark"], r["label"]): r["trials"] for r in a.rows}.values())
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for v in a.verdicts:
        counts[(v["claim"], v["verdict"])] += 1
    glance = "; ".join(f"claim {c}: " + ", ".join(f"{v} {n}" for (cc, v), n in sorted(counts.items()) if cc == c)
                       for c in (2, 3))
    return "\n".join([
        "# Does a predictor that scores a subset lose, and does a smart subset regain?", "",
        "Mauch et al. (2020), claims 2 and 3, tested on our benchmarks with BANANAS' predictor (`nasarena run "
        "subsets`; this page: `nasarena report results/subsets`).", "",
        "**Method.** A trial's samples to a target are an event time censored at the budget (200 for every label: a "
        "common horizon). Each subset label is compared with the full space of the same acquisition, and each smart "
        "subset with the random subset of the same M, paired by seed: the ratio of aRTs at the horizon with its BCa "
        f"95% interval ({survival.N_RESAMPLES:,} resamples) and one-sided log-rank tests in both directions, "
        f"Holm-adjusted over the family of every test of this page ({a.family} tests). A smart subset is "
        f"*non-inferior* to the full space when its aRT is at most {MARGIN:g} times the full space's at one-sided "
        f"95% (Bonferroni over the smart subsets of its benchmark, target and acquisition), which needs at least "
        f"{MIN_SUCCESSES} successes on both sides.", "",
        "**Verdicts.** Claim 2 *holds* when a random subset is significantly slower than the full space where at "
        f"least {OFFERED_SHARE:.0%} of its trials were offered a target (the predictor passed targets over), *holds "
        "trivially* when the only significant losses are where fewer were (the subset rarely held a target), is "
        "*reversed* when random subsets are only ever significantly faster, *not shown* when none differs, *not "
        f"estimable* with fewer than {MIN_SUCCESSES} successes everywhere. Claim 3 *holds* where a random subset "
        "lost and a smart subset of that size is both non-inferior to the full space and significantly faster than "
        "the random subset; *not shown* when smart subsets ran there and none is both (the reason says which part "
        "failed); *nothing to regain* when no random subset lost; *not run* when no smart subset ran at a size "
        "that lost. Not significant is not evidence of equality.", "",
        f"At a glance: {glance}.", "",
        *(["![aRT ratio to the full space against subset size](figures/subsets.png)", ""] if figure else []),
        "## Verdicts", "", vtable.markdown(), "",
        "## All rows", "", table.caption, "", table.markdown(), "",
        f"Cost: {n_trials} trials, {cpu_h:.1f} CPU hours (the trials' own wall times, one CPU core each). Every "
        f"number on this page is computed from `tables/{TRIALS_CSV}` (one line per trial).", ""])


def benchmark_summaries(root: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {b: json.loads((root / "benchmarks" / f"{b}.json").read_text()) for b in sorted(set(names))}


def write_report(root: str | Path, figures: bool = True) -> Path:
    """``README.md``, ``tables/`` and (``figures``) ``figures/subsets.*`` of the folder, from its
    records (or, without records, from its ``tables/subsets-trials.csv``)."""
    root = Path(root)
    trials = load_trials(root)
    if not any(t.kind != "reference" for t in trials):
        raise ValueError(f"{root}: no {STRATEGY} trials")
    a = analyse(trials, benchmark_summaries(root, (t.benchmark for t in trials)))
    (root / "tables").mkdir(exist_ok=True)
    atomic_write_text(root / "tables" / TRIALS_CSV, trials_csv(trials))
    table, vtable = subsets_table(a.rows), verdict_table(a.verdicts)
    table.write(root / "tables")
    vtable.write(root / "tables")
    if figures:
        plots.save(subsets_figure(a.rows), root / "figures" / "subsets")
    readme = root / "README.md"
    atomic_write_text(readme, markdown(a, table, vtable, figures))
    return readme


def _flat(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their comparisons spread into columns (``vs_full_ratio``, ...), for the CSV."""
    out = []
    for r in rows:
        f = {k: v for k, v in r.items() if k not in ("vs_full", "vs_random")}
        for key in ("vs_full", "vs_random"):
            for k, v in (r[key] or {}).items():
                f[f"{key}_{k}"] = v
        out.append(f)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.studies.subsets", description=__doc__.split("\n")[0])
    p.add_argument("folder", help="the results folder of the subsets suite")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(write_report(args.folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

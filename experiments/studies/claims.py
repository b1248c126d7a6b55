"""The seed papers' claims on their own protocol: samples until the optimum is found.

LaNAS (Wang et al., arXiv 1906.06832) and AlphaX (Wang et al., AAAI 2020) count the samples a
search needs until it finds NAS-Bench-101's global optimum, with no budget, and publish ratios of
those means against random search, regularised evolution, MCTS (AlphaX), NAO and BO; SemiNAS one
against evolution. The numbers are in :mod:`experiments.studies.published`. A suite with ``stop = "optimum"`` runs that
protocol (:mod:`experiments.harness.runner`): each trial ends at the first evaluation of the optimum, or is
censored at its cap.

This module turns such a folder into the claims report (pure functions of the trials):

* per benchmark and strategy, at the row's own cap: trials, successes, COCO's aRT (all samples over
  successes, a censored trial charged its cap) with a BCa interval, the median (``None`` unless more
  than half succeeded), and the ratio to random search's exact aRT at the same cap;
* each claim on each benchmark compared at a common horizon, the smaller of the two caps
  (:mod:`experiments.analysis.survival`): the ratio of aRTs at the horizon with a BCa interval (paired by
  seed against a measured baseline; random search is its exact law, K the architectures tied at the
  optimum: 1, or 2 on NAS-Bench-Macro), one-sided log-rank tests both ways (one-sample against
  random search), Holm-adjusted over both tests of every claim cell, and one of six verdicts
  (:data:`VERDICTS`, :func:`verdict`): *reversed*, *not shown*, *direction shown, size not
  estimable* (fewer than :data:`MIN_SUCCESSES` successes within the horizon on a side), *smaller
  than*, *consistent with* and *larger than published*;
* every strategy against each measured baseline of :data:`BASELINES`, the same way;
* figures: the ECDF of samples to the optimum (log axis) with random search's exact curve from
  the hypergeometric law, per benchmark; and the claims as a grid of panels (one per claim).

Everything is computed from one line per trial (benchmark, strategy, seed, samples, reached the
optimum, cap, seconds, random picks, strategy version, config hash), written to
``tables/trials.csv``; the claim cells go to ``tables/claims.csv``. A folder without its records
(a committed ``results/reproduction/``, whose records mostly are not) is rebuilt from that file: the
same bytes. No verdict depends on the bootstrap's seed (``tests/test_claims.py`` checks two).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from experiments.analysis import metrics, plots, survival
from experiments.harness.records import dumps, short_hash
from experiments.harness.suite import runs_on, seeds_for
from experiments.studies.published import ALPHAX_VS, LANAS_VS, SEMINAS_VS
from nasbench.data import atomic_write_text

# every strategy's aRT is also compared, paired by seed, with these measured baselines (the seed
# papers' comparisons: evolution, AlphaX in both settings, NAO, BO)
BASELINES = ("regularized-evolution", "alphax", "alphax-six-vertices", "nao", "bayesian-optimization")
MIN_SUCCESSES = 5  # fewer successes than this within the horizon on a side: the ratio's size is not estimable
ALPHA = 0.05  # family-wise level of the Holm-adjusted one-sided tests


@dataclass(frozen=True)
class Claim:
    paper: str
    strategy: str  # our label
    baseline: str  # "random-search" (the exact expectation) or a label
    published: float  # their ratio aRT(baseline) / aRT(strategy)
    note: str = ""

    @property
    def name(self) -> str:
        """``LaNAS: lanas vs random-search``: the claim's row in the tables."""
        return f"{self.paper.split(' (')[0]}: {self.strategy} vs {self.baseline}"


LANAS = "LaNAS (Wang et al., arXiv 1906.06832), NAS-Bench-101, 41 runs"
ALPHAX = "AlphaX (Wang et al., AAAI 2020), NAS-Bench-101"
SEMINAS = "NAO/SemiNAS (Luo et al., NeurIPS 2020), NAS-Bench-101"
CLAIMS: tuple[Claim, ...] = (
    *(Claim(LANAS, "lanas", base, r) for base, r in LANAS_VS.items()),
    # the same claims for our converged-fit variant, to separate the algorithm from the official trainer
    *(Claim(LANAS, "lanas-exact-fit", base, LANAS_VS[base], "lanas:exact-fit, our closed-form variant of the official trainer")
      for base in ("random-search", "regularized-evolution", "bayesian-optimization")),
    *(Claim(ALPHAX, "alphax", base, r) for base, r in ALPHAX_VS.items()),
    # AlphaX as its code runs by default (MAX_NODES = 6, arch_generator.py:20), the space of its claim
    *(Claim(ALPHAX, "alphax-six-vertices", base, r, "alphax:six-vertices, the official MAX_NODES = 6")
      for base, r in ALPHAX_VS.items()),
    Claim(LANAS, "lanas", "alphax-six-vertices", LANAS_VS["alphax"], "against alphax:six-vertices"),
    Claim(SEMINAS, "nao", "regularized-evolution", SEMINAS_VS["regularized-evolution"],
          "their target is a top-0.01% cell after about 300 evaluations; tested here at the optimum"),
)


@dataclass(frozen=True)
class Trial:
    """One trial of a search to the optimum: all the claims report reads of its record."""

    benchmark: str
    strategy: str
    seed: int
    samples: int
    reached: bool
    cap: int
    wall_s: float
    random_picks: int = 0  # queries taken at random for want of the strategy's own (diagnostics "random_picks")
    strategy_version: int = 0  # the version of the strategy that ran it (its record's fingerprint)
    config_hash: str = ""  # experiments.harness.records.short_hash of its resolved config


CSV_HEADER = "benchmark,strategy,seed,samples,reached_optimum,cap,wall_s,random_picks,strategy_version,config_hash"


def stopped_records(root: Path) -> list[dict[str, Any]]:
    """The trial records under ``root/data``, all run with ``stop = "optimum"`` (else ``ValueError``)."""
    recs = [json.loads(p.read_text()) for p in sorted((root / "data").glob("*/*/seed-*.json"))]
    if not recs:
        raise FileNotFoundError(f"no trial records under {root / 'data'}; run a suite with stop = \"optimum\" first")
    bad = sorted({r["strategy"] for r in recs if r.get("stop") != "optimum"})
    if bad:
        raise ValueError(f"{root}: records of {bad} were not run with stop = \"optimum\"; the claims report needs them")
    return recs


def trials_of(recs: Sequence[dict[str, Any]]) -> list[Trial]:
    """The trials of ``recs`` (stopped records), sorted by benchmark, strategy and seed."""
    return _in_order(Trial(r["benchmark"], r["strategy"], int(r["seed"]), len(r["arch"]), bool(r["stopped"]),
                           int(r["budget"]), round(float(r["wall_time"]), 2),
                           int(r.get("diagnostics", {}).get("random_picks", 0)),
                           int(r["fingerprint"]["strategy_version"]), short_hash(r["fingerprint"]["config"]))
                       for r in recs)


def _in_order(trials: Iterable[Trial]) -> list[Trial]:
    return sorted(trials, key=lambda t: (t.benchmark, t.strategy, t.seed))


def trials_csv(trials: Iterable[Trial]) -> str:
    """``tables/trials.csv``: one line per trial, by benchmark, strategy and seed."""
    return "\n".join([CSV_HEADER] + [f"{t.benchmark},{t.strategy},{t.seed},{t.samples},{int(t.reached)},{t.cap},"
                                     f"{t.wall_s:.2f},{t.random_picks},{t.strategy_version},{t.config_hash}"
                                     for t in _in_order(trials)]) + "\n"


def read_trials_csv(path: Path) -> list[Trial]:
    lines = path.read_text().splitlines()
    if not lines or lines[0] != CSV_HEADER:
        raise ValueError(f"{path}: not a claims trials table (its first line must be {CSV_HEADER!r})")
    out = []
    for k, line in enumerate(lines[1:], start=2):
        f = line.split(",")
        if len(f) != 10:
            raise ValueError(f"{path}:{k}: expected 10 comma-separated fields, got {len(f)}")
        out.append(Trial(f[0], f[1], int(f[2]), int(f[3]), f[4] == "1", int(f[5]), float(f[6]), int(f[7]), int(f[8]), f[9]))
    return _in_order(out)


def load_trials(root: Path) -> list[Trial]:
    """The folder's trials: from its records, or, where it has none, from ``tables/trials.csv``."""
    table = root / "tables" / "trials.csv"
    if not any((root / "data").glob("*/*/seed-*.json")) and table.is_file():
        return read_trials_csv(table)
    return trials_of(stopped_records(root))


def one_setting(bench: str, strat: str, trials: Sequence[Trial]) -> None:
    """Raise ``ValueError`` unless the row's trials share one cap and each seed appears once: a row
    of mixed caps has no single aRT (a trial censored at 400 beside ones run to 2,313), and a
    repeated seed would be counted twice. A merged ``trials.csv`` is where either could creep in."""
    caps = sorted({t.cap for t in trials})
    if len(caps) > 1:
        counts = ", ".join(f"{sum(t.cap == c for t in trials)} at {c:,}" for c in caps)
        raise ValueError(f"{strat} on {bench}: trials of different caps ({counts}); a row needs one cap: "
                         f"rerun the others at one cap, or keep only one setting's trials")
    twice = sorted(s for s, k in Counter(t.seed for t in trials).items() if k > 1)
    if twice:
        raise ValueError(f"{strat} on {bench}: seeds {twice} appear more than once; keep one trial per seed")


def samples(trials: Sequence[Trial]) -> dict[tuple[str, str], dict[int, tuple[int, bool]]]:
    """``{(benchmark, strategy): {seed: (samples, reached the optimum)}}``."""
    out: dict[tuple[str, str], dict[int, tuple[int, bool]]] = {}
    for t in trials:
        out.setdefault((t.benchmark, t.strategy), {})[t.seed] = (t.samples, t.reached)
    return out


def strategy_row(bench: str, strat: str, trials: dict[int, tuple[int, bool]], n: int, cap: int,
                 seed: int = 0, k: int = 1) -> dict[str, Any]:
    """One row of the samples table at the row's own cap: aRT with its BCa interval, the median
    (``None`` unless more than half succeeded), random search's exact aRT without a cap and at this
    cap, and the ratio to the latter (:func:`experiments.analysis.survival.ratio_to_random`, ``k`` the
    architectures tied at the optimum)."""
    c = survival.Censored.of(trials)
    hits = c.events
    med = float(np.median(np.where(hits, c.times, np.inf))) if hits.mean() > 0.5 else None
    a = survival.art(c)
    lo, hi = survival.art_interval(c, survival.rng_for(seed, bench, strat))
    ratio, rlo, rhi = survival.ratio_to_random(c, n, k, cap, survival.rng_for(seed, bench, strat, "random-search"))
    return {
        "benchmark": bench, "strategy": strat, "trials": len(c.seeds), "successes": int(hits.sum()), "cap": cap,
        "art": a, "art_low": lo, "art_high": hi, "median": med,
        "rs_exact": metrics.art_random_exact(n, k), "rs_at_cap": metrics.art_random_budget(n, k, cap),
        "ratio_rs": ratio, "ratio_rs_low": rlo, "ratio_rs_high": rhi,
    }


def _round_p(p: float) -> float:
    """A p-value to 6 significant digits: the report's bytes do not hang on a library's last ulp."""
    return float(f"{float(p):.6g}")


#: the verdicts, in the order the report defines them
VERDICTS = ("reversed", "not shown", "direction shown, size not estimable", "smaller than published",
            "consistent with published", "larger than published")


def verdict(p_paper: float, p_opposite: float, lo: float, hi: float, published: float, few: bool) -> str:
    """The verdict on one claim cell from its Holm-adjusted one-sided p-values (the paper's direction
    and the opposite one), its ratio's interval and whether a side has fewer than
    :data:`MIN_SUCCESSES` successes within the horizon (:data:`VERDICTS`)."""
    if p_opposite < ALPHA:
        return "reversed"
    if p_paper >= ALPHA:
        return "not shown"
    if few:
        return "direction shown, size not estimable"
    if hi < published:
        return "smaller than published"
    if lo > published:
        return "larger than published"
    return "consistent with published"


def claim_cell(c: Claim, bench: str, a: survival.Censored, cap_a: int, b: survival.Censored | None, cap_b: int | None,
               n: int, k: int, seed: int) -> dict[str, Any]:
    """One claim on one benchmark at the common horizon ``min(cap_a, cap_b)`` (A's cap against random
    search): ratio, BCa interval, both one-sided tests (unadjusted), successes and aRTs within it."""
    names = (bench, c.strategy, c.baseline)
    if b is None:
        h = cap_a
        ratio, lo, hi = survival.ratio_to_random(a, n, k, h, survival.rng_for(seed, *names), c.published)
        p_paper, p_opp, _, _ = survival.logrank_random(a, n, k, h, survival.rng_for(0, "logrank", *names))
        art_b, succ_b = metrics.art_random_budget(n, k, h), None
    else:
        h = min(cap_a, cap_b or cap_a)
        common = np.intersect1d(a.seeds, b.seeds)
        a, b = a.only(common), b.only(common)
        ratio, lo, hi = survival.ratio_paired(a, b, h, survival.rng_for(seed, *names), c.published)
        p_paper, p_opp = survival.logrank(a, b, h)
        art_b, succ_b = survival.art(b.at(h)), int(b.at(h).events.sum())
    succ_a = int(a.at(h).events.sum())
    few = min(succ_a, MIN_SUCCESSES if succ_b is None else succ_b) < MIN_SUCCESSES
    return {"paper": c.paper, "claim": c.name, "benchmark": bench, "strategy": c.strategy, "baseline": c.baseline,
            "published": c.published, "horizon": h, "seeds": int(a.seeds.size),
            "successes_strategy": succ_a, "successes_baseline": succ_b,
            "art_strategy": survival.art(a.at(h)), "art_baseline": art_b,
            "ratio": ratio, "low": lo, "high": hi, "p_paper": _round_p(p_paper), "p_opposite": _round_p(p_opp),
            "few": few, "note": c.note}


def _benchmark_info(root: Path, benches: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{benchmark: {"n", "k", "metric", "truth_metric"}}`` from the folder's ``benchmarks/*.json``
    (``k``: the architectures tied at the optimum)."""
    out = {}
    for b in sorted(set(benches)):
        i = json.loads((root / "benchmarks" / f"{b}.json").read_text())
        out[b] = {"n": int(i["n"]), "k": int(i.get("targets", {}).get("optimum", {}).get("K", 1)),
                  "metric": i.get("metric", "–"), "truth_metric": i.get("truth_metric", "–")}
    return out


def claim_cells(root: Path, trials: Sequence[Trial], seed: int = 0) -> list[dict[str, Any]]:
    """Every claim of :data:`CLAIMS` on every benchmark where both sides ran, with its verdict:
    :func:`claim_cell`, then Holm over the family of both one-sided tests of every cell."""
    by = samples(trials)
    cap = {(t.benchmark, t.strategy): t.cap for t in trials}
    info = _benchmark_info(Path(root), (b for b, _ in by))
    cens = {key: survival.Censored.of(t) for key, t in by.items()}
    cells = []
    for c in CLAIMS:
        for b in sorted(info):
            if (b, c.strategy) not in by or (c.baseline != "random-search" and (b, c.baseline) not in by):
                continue
            base = None if c.baseline == "random-search" else cens[(b, c.baseline)]
            cells.append(claim_cell(c, b, cens[(b, c.strategy)], cap[(b, c.strategy)], base,
                                    cap.get((b, c.baseline)), info[b]["n"], info[b]["k"], seed))
    adjusted = survival.holm([v["p_paper"] for v in cells] + [v["p_opposite"] for v in cells])
    for v, pp, po in zip(cells, adjusted[:len(cells)], adjusted[len(cells):]):
        v["verdict"] = verdict(pp, po, v["low"], v["high"], v["published"], v["few"])
        v["p_holm"] = _round_p(po if v["verdict"] == "reversed" else pp)
    return cells


def analyse(root: str | Path, seed: int = 0, trials: Sequence[Trial] | None = None) -> dict[str, Any]:
    """The claims report's numbers (``trials``: the folder's trials, when already read; ``seed``: the
    bootstrap's, which no verdict may depend on)."""
    root = Path(root)
    trials = load_trials(root) if trials is None else trials
    by = samples(trials)
    group: dict[tuple[str, str], list[Trial]] = {}
    for t in trials:
        group.setdefault((t.benchmark, t.strategy), []).append(t)
    for (b, s), ts in group.items():
        one_setting(b, s, ts)
    info = _benchmark_info(root, (b for b, _ in by))
    cap = {key: ts[0].cap for key, ts in group.items()}
    rows = [strategy_row(b, s, t, info[b]["n"], cap[(b, s)], seed, info[b]["k"])
            | {"s_per_trial": round(float(np.mean([g.wall_s for g in group[(b, s)]])), 1),
               "random_share": sum(g.random_picks for g in group[(b, s)]) / sum(g.samples for g in group[(b, s)])}
            for (b, s), t in sorted(by.items())]
    verdicts = claim_cells(root, trials, seed)
    cens = {key: survival.Censored.of(t) for key, t in by.items()}
    ratios = []
    for base in BASELINES:
        for (b, s) in sorted(by):
            if s == base or (b, base) not in by:
                continue
            common = np.intersect1d(cens[(b, s)].seeds, cens[(b, base)].seeds)
            h = min(cap[(b, s)], cap[(b, base)])
            x, y = cens[(b, s)].only(common), cens[(b, base)].only(common)
            r, lo, hi = survival.ratio_paired(x, y, h, survival.rng_for(seed, b, s, base))
            ratios.append({"benchmark": b, "strategy": s, "baseline": base, "horizon": h, "ratio": r, "low": lo,
                           "high": hi, "seeds": int(common.size), "successes": int(x.at(h).events.sum()),
                           "base_successes": int(y.at(h).events.sum())})
    return {"rows": rows, "verdicts": verdicts, "baseline_ratios": ratios, "sizes": {b: i["n"] for b, i in info.items()},
            "benchmarks": info, "not_run": not_run(root, by), "family": 2 * len(verdicts)}


CLAIMS_CSV = ("claim", "benchmark", "strategy", "baseline", "published", "horizon", "successes_strategy",
              "successes_baseline", "art_strategy", "art_baseline", "ratio", "lo", "hi", "p_paper", "p_opposite",
              "p_holm", "verdict")


def claims_csv(verdicts: Sequence[dict[str, Any]]) -> str:
    """``tables/claims.csv``: one row per claim cell, the columns of :data:`CLAIMS_CSV` (numbers to 6
    significant digits, ``inf`` where an aRT or an interval end is unbounded, empty where the
    baseline is random search's exact law and has no successes to count)."""
    def cell(x: Any) -> str:
        if x is None:
            return ""
        if isinstance(x, float):
            return "inf" if math.isinf(x) else ("nan" if math.isnan(x) else f"{x:.6g}")
        text = str(x)
        return f'"{text}"' if "," in text else text

    rows = [",".join(cell(v[k if k not in ("lo", "hi") else {"lo": "low", "hi": "high"}[k]]) for k in CLAIMS_CSV)
            for v in verdicts]
    return "\n".join([",".join(CLAIMS_CSV), *rows]) + "\n"


def not_run(root: Path, by: dict[tuple[str, str], dict[int, tuple[int, bool]]]) -> list[dict[str, Any]]:
    """The suite's (``meta.json``) benchmark x label pairs with fewer trials here than it asks for."""
    meta = root / "meta.json"
    if not meta.is_file():
        return []
    suite = json.loads(meta.read_text()).get("suite", {})
    only, label_seeds = suite.get("only", {}), suite.get("label_seeds", {})
    out = []
    for b in suite.get("benchmarks", []):
        for label in suite.get("strategies", []):
            if not runs_on(only, label, b):
                continue
            seeds = seeds_for(suite.get("seeds", []), label_seeds, label, b)
            have = len(set(by.get((b, label), {})) & set(seeds))
            if have < len(seeds):
                out.append({"benchmark": b, "strategy": label, "trials": have, "of": len(seeds)})
    return out


def rs_ecdf(n: int, x: np.ndarray, k: int = 1) -> np.ndarray:
    """P(random search without replacement has found one of the ``k`` optima among ``n`` within x
    samples) = 1 - C(n - x, k) / C(n, k) (the hypergeometric law; x / n for one optimum), computed
    exactly in integers."""
    x = np.clip(np.asarray(x, dtype=np.int64), 0, n)
    return np.array([float(1 - Fraction(math.comb(n - int(v), k), math.comb(n, k))) for v in x.ravel()]).reshape(x.shape)


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


def markdown(a: dict[str, Any]) -> str:
    ties = [f"{b}: {i['k']}" for b, i in a["benchmarks"].items() if i["k"] > 1]
    lines = ["# Samples to the optimum: the seed papers' protocol", "",
             "Each trial ends at the first evaluation of the benchmark's optimum or is censored at its cap: samples to "
             "the optimum are censored time-to-event data. Every comparison censors both sides at a common horizon h "
             "(the smaller cap) and reports the ratio of COCO's aRT at h, a BCa interval and one-sided log-rank "
             "tests, Holm-adjusted over all claims (definitions below the claims table). Random search is its exact "
             "law, with K the architectures that share the optimum's true score "
             f"(1{', except where they tie: ' + ', '.join(ties) if ties else ''}).", ""]
    if a["verdicts"]:
        lines += ["## The claims at a glance", "",
                  "Measured ratio at the common horizon [BCa 95%] and verdict, per claim and benchmark; * marks fewer "
                  f"than {MIN_SUCCESSES} successes on a side within the horizon. The claims table below gives each "
                  "cell's horizon, successes, aRTs and p-values (also in `tables/claims.csv`).",
                  "", *glance(a["verdicts"]), ""]
    lines += ["## The benchmarks", "",
              "How each differs from the papers' full NAS-Bench-101 (423,624 cells; LaNAS and AlphaX search on "
              "the mean test accuracy of its 3 runs and stop at its maximum; SemiNAS searches on the validation "
              "accuracy of one sampled run): its size N, the cells K tied at the optimum, what a search sees and "
              "what the optimum is judged by.", "",
              "| benchmark | N | K | the search sees | the optimum by |", "|---|---|---|---|---|",
              *(f"| {b} | {i['n']:,} | {i['k']} | {i['metric']} | {i['truth_metric']} |"
                for b, i in a["benchmarks"].items()), ""]
    lines += ["## Samples to the optimum", "",
              "Each row at its own cap: aRT with its BCa 95% interval, the median where more than half succeeded, "
              "random search's exact aRT without a cap and at this cap, and the ratio of the latter to the row's aRT.", "",
              "| benchmark | strategy | successes | cap | mean (aRT) [95%] | median | RS exact (N+1)/(K+1) | RS aRT at cap | ratio to RS at cap [95%] | random picks | s per trial |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in a["rows"]:
        lines.append(f"| {r['benchmark']} | {r['strategy']} | {r['successes']}/{r['trials']} | {r['cap']} | "
                     f"{_fmt(r['art'])} [{_fmt(r['art_low'])}, {_fmt(r['art_high'])}] | {_fmt(r['median'])} | "
                     f"{_fmt(r['rs_exact'])} | {_fmt(r['rs_at_cap'])} | "
                     f"{_fmt(r['ratio_rs'])} [{_fmt(r['ratio_rs_low'])}, {_fmt(r['ratio_rs_high'])}] | {r['random_share']:.1%} | "
                     f"{_fmt(r['s_per_trial'])} |")
    low: dict[tuple[str, int], list[str]] = {}  # rows capped below the benchmark's N/2 (the protocol's default cap), by strategy and cap
    for r in a["rows"]:
        if r["cap"] < a["sizes"][r["benchmark"]] // 2:
            low.setdefault((r["strategy"], r["cap"]), []).append(r["benchmark"])
    if low:
        lines += ["", "Capped below N/2, what this machine affords (a censored trial is a failure charged its cap, so "
                  "such a row's successes and ratios are bounded by its cap): " + "; ".join(
                      f"{s} at {c:,} ({', '.join(bs)})" for (s, c), bs in sorted(low.items())) + "."]
    if a.get("not_run"):
        lines += ["", "Not (fully) run here, of the suite in `meta.json`: " + "; ".join(
            f"{m['strategy']} on {m['benchmark']} ({m['trials']} of {m['of']} trials)" for m in a["not_run"])
                  + ". Claims against them are left out or rest on the trials shown."]
    if a.get("baseline_ratios"):
        bases = [x for x in BASELINES if any(r["baseline"] == x for r in a["baseline_ratios"])]
        cell = {(r["benchmark"], r["strategy"], r["baseline"]): r for r in a["baseline_ratios"]}
        lines += ["", "## Ratios to the measured baselines", "",
                  "aRT(baseline, h) / aRT(strategy, h) on their common seeds at the common horizon h (given in "
                  "parentheses), BCa 95% paired by seed; above 1 the strategy is faster. * marks fewer than "
                  f"{MIN_SUCCESSES} successes on a side within h.", "",
                  "| benchmark | strategy | " + " | ".join(f"vs {x}" for x in bases) + " |",
                  "|---|---|" + "---|" * len(bases)]
        for b, s in sorted({(r["benchmark"], r["strategy"]) for r in a["baseline_ratios"]}):
            cells = []
            for x in bases:
                r = cell.get((b, s, x))
                few = r is not None and min(r["successes"], r["base_successes"]) < MIN_SUCCESSES
                cells.append("–" if r is None else f"{_ratio(r)}{'*' if few else ''} (h {r['horizon']:,})")
            lines.append(f"| {b} | {s} | " + " | ".join(cells) + " |")
    lines += ["", "## The claims", "",
              "| claim | benchmark | published | horizon | successes (strategy, baseline) | aRT at h (strategy, baseline) "
              "| ratio [95%] | p paper, opposite | Holm p | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for v in a["verdicts"]:
        note = f" ({v['note']})" if v["note"] else ""
        base = "exact" if v["successes_baseline"] is None else f"{v['successes_baseline']}/{v['seeds']}"
        lines.append(f"| {v['claim']}{note} | {v['benchmark']} | {v['published']}x | {v['horizon']:,} | "
                     f"{v['successes_strategy']}/{v['seeds']}, {base} | {_fmt(v['art_strategy'])}, {_fmt(v['art_baseline'])} | "
                     f"{_ratio(v, 'x')} | {v['p_paper']:.2g}, {v['p_opposite']:.2g} | {v['p_holm']:.2g} | **{v['verdict']}** |")
    few = [v for v in a["verdicts"] if v["verdict"] == "direction shown, size not estimable"]
    if few:
        lines += ["", "Not estimable at these caps (fewer than "
                  f"{MIN_SUCCESSES} successes within the horizon on a side): " + "; ".join(
                      f"{v['claim']} on {v['benchmark']} (h {v['horizon']:,}: "
                      f"{v['successes_strategy']} and {'exact' if v['successes_baseline'] is None else v['successes_baseline']} successes)"
                      for v in few) + ". A higher cap on the side with few successes (and on the other, where its "
                  "cap sets the horizon) would make the size estimable."]
    lines += ["", _definitions(a["family"]),
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
    atomic_write_text(root / "tables" / "claims.json", dumps(a, indent=2, sort_keys=True) + "\n")
    atomic_write_text(root / "tables" / "claims.csv", claims_csv(a["verdicts"]))
    atomic_write_text(root / "tables" / "glance.md", "\n".join(glance(a["verdicts"])) + "\n")  # the README's copy
    # one line per trial: what every number above is computed from, small enough to commit
    atomic_write_text(root / "tables" / "trials.csv", trials_csv(trials))
    text = markdown(a)
    if figures:
        text += "\n" + "\n".join(f"![samples to the optimum on {b}](figures/ecdf-{b}.png)" for b in _figures(root, a, samples(trials))) + "\n"
        if a["verdicts"]:
            text += "\n![published against measured ratios](figures/claims-forest.png)\n"
    readme = root / "README.md"
    atomic_write_text(readme, text)
    return readme


def _figures(root: Path, a: dict[str, Any], recs: dict[tuple[str, str], dict[int, tuple[int, bool]]]) -> list[str]:

    out = root / "figures"
    out.mkdir(exist_ok=True)
    names = []
    for b, n in sorted(a["sizes"].items()):
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        x = np.unique(np.geomspace(1, n, 200).astype(int))
        ax.plot(x, rs_ecdf(n, x, a["benchmarks"][b]["k"]), "k--", label="random search (exact)")
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
    if a["verdicts"]:
        _forest(a["verdicts"], out / "claims-forest.png")
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

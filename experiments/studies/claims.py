"""The seed papers' claims on their own protocol: samples until the optimum is found.

LaNAS (Wang et al., arXiv 1906.06832) and AlphaX (Wang et al., AAAI 2020) count the samples a
search needs until it finds NAS-Bench-101's global optimum, with no budget, and publish ratios of
those means against random search, regularised evolution, MCTS (AlphaX), NAO and BO; SemiNAS one
against evolution. The numbers are in :mod:`experiments.studies.published`. A suite with ``stop = "optimum"`` runs that
protocol (:mod:`experiments.harness.runner`): each trial ends at the first evaluation of the optimum, or is
censored at its cap.

This module computes the claims report from such a folder (pure functions of the trials;
:mod:`experiments.studies.claims_report` renders it):

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

from experiments.analysis import metrics, survival
from experiments.analysis.survival import ALPHA, MIN_SUCCESSES
from experiments.harness.records import record_paths, records_or_table, short_hash
from experiments.harness.suite import runs_on, seeds_for
from experiments.studies.published import ALPHAX_VS, LANAS_VS, SEMINAS_VS

# every strategy's aRT is also compared, paired by seed, with these measured baselines (the seed
# papers' comparisons: evolution, AlphaX in both settings, NAO, BO)
BASELINES = ("regularized-evolution", "alphax", "alphax-six-vertices", "nao", "bayesian-optimization")


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
    recs = [json.loads(p.read_text()) for p in record_paths(root)]
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
    return records_or_table(root, "trials.csv", read_trials_csv, lambda r: trials_of(stopped_records(r)))


def one_setting(bench: str, strat: str, trials: Sequence[Trial | Any]) -> None:
    """Raise ``ValueError`` unless the row's trials (anything with a ``cap`` and a ``seed``) share one
    cap and each seed appears once: a row
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
        cmp = survival.compare(a, b, h, survival.rng_for(seed, *names), c.published)
        ratio, lo, hi, p_paper, p_opp = (cmp[key] for key in ("ratio", "low", "high", "p_sooner", "p_later"))
        art_b, succ_b = survival.art(b.at(h)), int(b.at(h).events.sum())
    succ_a = int(a.at(h).events.sum())
    few = min(succ_a, MIN_SUCCESSES if succ_b is None else succ_b) < MIN_SUCCESSES
    return {"paper": c.paper, "claim": c.name, "benchmark": bench, "strategy": c.strategy, "baseline": c.baseline,
            "published": c.published, "horizon": h, "seeds": int(a.seeds.size),
            "successes_strategy": succ_a, "successes_baseline": succ_b,
            "art_strategy": survival.art(a.at(h)), "art_baseline": art_b,
            "ratio": ratio, "low": lo, "high": hi, "p_paper": survival.round_p(p_paper), "p_opposite": survival.round_p(p_opp),
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
        v["p_holm"] = survival.round_p(po if v["verdict"] == "reversed" else pp)
    return cells


@dataclass(frozen=True)
class ClaimsReport:
    """What :func:`analyse` computes and :mod:`experiments.studies.claims_report` renders: the rows of
    the samples table (:func:`strategy_row`), the claim cells with their verdicts (:func:`claim_cell`),
    every strategy against each measured baseline, N and the ties at the optimum of each benchmark,
    the suite's rows the folder lacks, and the number of tests Holm adjusted over."""

    rows: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    baseline_ratios: list[dict[str, Any]]
    sizes: dict[str, int]
    benchmarks: dict[str, dict[str, Any]]
    not_run: list[dict[str, Any]]
    family: int


def analyse(root: str | Path, seed: int = 0, trials: Sequence[Trial] | None = None) -> ClaimsReport:
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
    return ClaimsReport(rows=rows, verdicts=verdicts, baseline_ratios=ratios, sizes={b: i["n"] for b, i in info.items()},
                        benchmarks=info, not_run=not_run(root, by), family=2 * len(verdicts))


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

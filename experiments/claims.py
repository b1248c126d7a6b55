"""The seed papers' claims on their own protocol: samples until the optimum is found.

LaNAS (Wang et al., arXiv 1906.06832) and AlphaX (Wang et al., AAAI 2020) count the samples a
search needs until it finds NAS-Bench-101's global optimum, with no budget: LaNAS 2,274 on average
(41 released runs), 22x, 14.6x, 12.4x, 6.8x and 16.5x fewer than random search, regularised
evolution, MCTS (AlphaX), NAO and BO; AlphaX about 3.1x fewer than random search and 2.85x fewer than
evolution (``shared/notes/seed-algorithms.md``). A suite with ``stop = "optimum"`` runs that
protocol (:mod:`experiments.runner`): each trial ends at the first evaluation of the optimum, or is
censored at its cap.

This module turns such a folder into the claims report (pure functions of the records):

* per benchmark and strategy: trials, successes, mean samples to the optimum (COCO's aRT: all
  samples over successes, a censored trial charged its cap) and the median (``None`` unless more
  than half succeeded), each with a bootstrap 95% interval over seeds;
* each strategy's ratio to random search's exact expectation, ``(N+1)/(K+1)`` without a cap (K
  the architectures that tie at the optimum's true score: 1, or 2 on NAS-Bench-Macro)
  (:func:`experiments.metrics.art_random_budget` at the cap, printed beside it), and to the measured
  aRT of each baseline of :data:`BASELINES` (evolution, AlphaX, NAO, BO), paired by seed (the
  bootstrap resamples the common seeds of both);
* a verdict per claim and benchmark: *holds* (the interval lies above 1 and reaches the published
  ratio), *weaker* (above 1, below the published ratio), *does not hold* (the interval contains 1
  or lies below it), *inconclusive* (fewer than :data:`MIN_SUCCESSES` successes on either side: too
  few to estimate the ratio), unless an exact one-sided test at the smaller cap (:func:`fewer_hits`)
  finds that the strategy reaches the optimum less often than its baseline: then *does not hold*
  (a strategy capped low can show that it is slower without showing by how much); the report
  gives that test's p-value both ways, the other (more hits) showing the paper's side of 1 only;
* figures: the ECDF of samples to the optimum (log axis) with random search's exact curve from
  the hypergeometric law, per benchmark; and the published against the measured ratios (a forest plot).

Everything is computed from one line per trial (benchmark, strategy, seed, samples, reached the
optimum, cap, seconds, random picks), written to ``tables/trials.csv``. A folder without its records
(a committed ``results/reproduction/``, whose records mostly are not) is rebuilt from that file: the
same bytes.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from experiments import metrics
from experiments.records import dumps
from experiments.suite import runs_on, seeds_for
from nasbench.data import atomic_write_text

# every strategy's aRT is also compared, paired by seed, with these measured baselines (the seed
# papers' comparisons: evolution, AlphaX in both settings, NAO, BO)
BASELINES = ("regularized-evolution", "alphax", "alphax-six-vertices", "nao", "bayesian-optimization")
MIN_SUCCESSES = 5  # fewer successes than this on either side of a ratio: inconclusive (unless fewer_hits rejects)
ALPHA = 0.05  # level of the exact test of fewer successes (fewer_hits)
N_BOOT = 2000


@dataclass(frozen=True)
class Claim:
    paper: str
    strategy: str  # our label
    baseline: str  # "random-search" (the exact expectation) or a label
    published: float  # their ratio aRT(baseline) / aRT(strategy)
    note: str = ""


LANAS = "LaNAS (Wang et al., arXiv 1906.06832), NAS-Bench-101, 41 runs"
ALPHAX = "AlphaX (Wang et al., AAAI 2020), NAS-Bench-101"
SEMINAS = "NAO/SemiNAS (Luo et al., NeurIPS 2020), NAS-Bench-101"
CLAIMS: tuple[Claim, ...] = (
    Claim(LANAS, "lanas", "random-search", 22.0),
    Claim(LANAS, "lanas", "regularized-evolution", 14.6),
    Claim(LANAS, "lanas", "alphax", 12.4),
    Claim(LANAS, "lanas", "nao", 6.8),
    Claim(LANAS, "lanas", "bayesian-optimization", 16.5),
    # the same claims for our converged-fit variant, to separate the algorithm from the official trainer
    *(Claim(LANAS, "lanas-exact-fit", base, r, "lanas:exact-fit, our closed-form variant of the official trainer")
      for base, r in (("random-search", 22.0), ("regularized-evolution", 14.6), ("bayesian-optimization", 16.5))),
    Claim(ALPHAX, "alphax", "random-search", 3.1),
    Claim(ALPHAX, "alphax", "regularized-evolution", 2.85),
    # AlphaX as its code runs by default (MAX_NODES = 6, arch_generator.py:20), the space of its claim
    *(Claim(ALPHAX, "alphax-six-vertices", base, r, "alphax:six-vertices, the official MAX_NODES = 6")
      for base, r in (("random-search", 3.1), ("regularized-evolution", 2.85))),
    Claim(LANAS, "lanas", "alphax-six-vertices", 12.4, "against alphax:six-vertices"),
    Claim(SEMINAS, "nao", "regularized-evolution", 7.0,
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


CSV_HEADER = "benchmark,strategy,seed,samples,reached_optimum,cap,wall_s,random_picks"


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
                           int(r.get("diagnostics", {}).get("random_picks", 0))) for r in recs)


def _in_order(trials: Iterable[Trial]) -> list[Trial]:
    return sorted(trials, key=lambda t: (t.benchmark, t.strategy, t.seed))


def trials_csv(trials: Iterable[Trial]) -> str:
    """``tables/trials.csv``: one line per trial, by benchmark, strategy and seed."""
    return "\n".join([CSV_HEADER] + [f"{t.benchmark},{t.strategy},{t.seed},{t.samples},{int(t.reached)},{t.cap},"
                                     f"{t.wall_s:.2f},{t.random_picks}" for t in _in_order(trials)]) + "\n"


def read_trials_csv(path: Path) -> list[Trial]:
    lines = path.read_text().splitlines()
    if not lines or lines[0] != CSV_HEADER:
        raise ValueError(f"{path}: not a claims trials table (its first line must be {CSV_HEADER!r})")
    out = []
    for k, line in enumerate(lines[1:], start=2):
        f = line.split(",")
        if len(f) != 8:
            raise ValueError(f"{path}:{k}: expected 8 comma-separated fields, got {len(f)}")
        out.append(Trial(f[0], f[1], int(f[2]), int(f[3]), f[4] == "1", int(f[5]), float(f[6]), int(f[7])))
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


def art(lengths: np.ndarray, hits: np.ndarray) -> float:
    """COCO's aRT: all samples over successes (``inf`` without one)."""
    s = int(hits.sum())
    return float(lengths.sum() / s) if s else math.inf


def quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile`` (linear) of non-negative values that may be ``inf`` (a resample without a
    success): where the interpolation reaches an infinite value the quantile is ``inf`` (numpy
    gives NaN there, as inf - inf)."""
    with np.errstate(invalid="ignore"):
        v = float(np.quantile(values, q))
    return math.inf if math.isnan(v) else v


def _rng(seed: int, *names: str) -> np.random.Generator:
    """The bootstrap's generator for one row or claim: seeded by its names, so a row's interval
    does not change when other rows are added to the folder."""
    return np.random.default_rng([seed, zlib.crc32("|".join(names).encode())])


def _boot(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    return rng.integers(0, n, size=(n_boot, n))


def strategy_row(bench: str, strat: str, trials: dict[int, tuple[int, bool]], n: int, cap: int,
                 rng: np.random.Generator, n_boot: int = N_BOOT, k: int = 1) -> dict[str, Any]:
    """One row of the samples table; ``k``: the architectures at the optimum (ties: 2 on Macro), which
    set random search's exact aRT, ``(n + 1) / (k + 1)``, and its aRT at the cap."""
    seeds = sorted(trials)
    lengths = np.array([trials[s][0] for s in seeds], float)
    hits = np.array([trials[s][1] for s in seeds], bool)
    idx = _boot(rng, len(seeds), n_boot)
    arts = np.array([art(lengths[i], hits[i]) for i in idx])
    med = float(np.median(np.where(hits, lengths, np.inf))) if hits.mean() > 0.5 else None
    with np.errstate(invalid="ignore"):  # medians of resamples with more failures than successes are inf
        meds = np.array([np.median(np.where(hits[i], lengths[i], np.inf)) for i in idx])
    rs = metrics.art_random_exact(n, k)
    a = art(lengths, hits)
    return {
        "benchmark": bench, "strategy": strat, "trials": len(seeds), "successes": int(hits.sum()), "cap": cap,
        "art": a, "art_low": quantile(arts, 0.025), "art_high": quantile(arts, 0.975),
        "median": med, "median_low": quantile(meds, 0.025), "median_high": quantile(meds, 0.975),
        "rs_exact": rs, "rs_at_cap": metrics.art_random_budget(n, k, cap),
        "ratio_rs": rs / a if a > 0 else math.inf,
        "ratio_rs_low": rs / quantile(arts, 0.975), "ratio_rs_high": rs / quantile(arts, 0.025),
    }


def paired_ratio(base: dict[int, tuple[int, bool]], strat: dict[int, tuple[int, bool]], rng: np.random.Generator,
                 n_boot: int = N_BOOT) -> tuple[float, float, float, int, int, int]:
    """``aRT(base) / aRT(strat)`` on their common seeds, with a paired bootstrap 95% interval;
    also the common seeds and both success counts."""
    seeds = sorted(set(base) & set(strat))
    lb = np.array([base[s][0] for s in seeds], float)
    hb = np.array([base[s][1] for s in seeds], bool)
    ls = np.array([strat[s][0] for s in seeds], float)
    hs = np.array([strat[s][1] for s in seeds], bool)
    ratio = art(lb, hb) / art(ls, hs) if seeds else math.nan
    if not seeds:
        return math.nan, math.nan, math.nan, 0, 0, 0
    boots = np.array([art(lb[i], hb[i]) / art(ls[i], hs[i]) for i in _boot(rng, len(seeds), n_boot)])
    boots = np.where(np.isnan(boots), 0.0, boots)  # both without a success: no evidence for the strategy
    return ratio, quantile(boots, 0.025), quantile(boots, 0.975), len(seeds), int(hb.sum()), int(hs.sum())


def fewer_hits(strat: dict[int, tuple[int, bool]], cap: int, base: dict[int, tuple[int, bool]] | None = None,
               n_space: int = 0, k_opt: int = 1) -> dict[str, Any]:
    """Does the strategy reach the optimum within ``cap`` samples less often than its baseline?

    Against random search (``base`` None) the baseline is exact: each trial finds one of the
    ``k_opt`` optima of ``n_space`` within ``cap`` samples with probability ``rs_ecdf(n_space, cap,
    k_opt)`` (``cap / n_space`` for one optimum), so the p-value is the binomial ``P(X <= hits)``.
    Against a measured baseline, on their common seeds, it is Fisher's exact test (one-sided: the
    strategy's odds of a hit lower). ``cap`` is the smaller of the two caps, so both sides had the
    same chance to hit. Returns ``{"cap", "hits", "of", "base_hits"
    (None for random search), "base_rate" (random search's chance within ``cap``, else None), "p",
    "p_more"}``: ``p_more`` is the same test the other way (the strategy hits *more* often), which
    shows the paper's side without estimating the ratio, so no verdict rests on it."""
    seeds = sorted(strat) if base is None else sorted(set(strat) & set(base))

    def hits(trials: dict[int, tuple[int, bool]]) -> int:
        return sum(1 for s in seeds if trials[s][1] and trials[s][0] <= cap)

    k, n = hits(strat), len(seeds)
    if base is None:
        rate = float(rs_ecdf(n_space, np.array([cap]), k_opt)[0])
        return {"cap": cap, "hits": k, "of": n, "base_hits": None, "base_rate": rate, "p": _sig(sps.binom.cdf(k, n, rate)),
                "p_more": _sig(sps.binom.sf(k - 1, n, rate))}
    kb = hits(base)
    p, p_more = (float(sps.fisher_exact([[k, n - k], [kb, n - kb]], alternative=alt).pvalue) if n else 1.0
                 for alt in ("less", "greater"))
    return {"cap": cap, "hits": k, "of": n, "base_hits": kb, "base_rate": None, "p": _sig(p), "p_more": _sig(p_more)}


def _sig(p: float) -> float:
    """A p-value to 6 significant digits: the report's bytes do not hang on a library's last ulp."""
    return float(f"{float(p):.6g}")


def verdict(low: float, high: float, published: float, successes: Sequence[int], p_fewer: float = 1.0) -> str:
    """The verdict on a claim from its ratio's interval; with too few successes to estimate the ratio,
    *does not hold* only where the exact test of fewer hits (:func:`fewer_hits`) rejects at :data:`ALPHA`."""
    if min(successes) < MIN_SUCCESSES:
        return "does not hold" if p_fewer < ALPHA else "inconclusive"
    if low > 1:
        return "holds" if high >= published else "weaker"
    return "does not hold"


def analyse(root: str | Path, seed: int = 0, n_boot: int = N_BOOT,
            trials: Sequence[Trial] | None = None) -> dict[str, Any]:
    """The claims report's numbers (``trials``: the folder's trials, when already read)."""
    root = Path(root)
    trials = load_trials(root) if trials is None else trials
    by = samples(trials)
    group: dict[tuple[str, str], list[Trial]] = {}
    for t in trials:
        group.setdefault((t.benchmark, t.strategy), []).append(t)
    for (b, s), ts in group.items():
        one_setting(b, s, ts)
    info = {b: json.loads((root / "benchmarks" / f"{b}.json").read_text()) for b, _ in by}
    sizes = {b: int(i["n"]) for b, i in info.items()}
    optima = {b: int(i.get("targets", {}).get("optimum", {}).get("K", 1)) for b, i in info.items()}  # ties at the top
    rows = [strategy_row(b, s, t, sizes[b], group[(b, s)][0].cap, _rng(seed, b, s), n_boot, optima[b])
            | {"s_per_trial": round(float(np.mean([g.wall_s for g in group[(b, s)]])), 1),
               "random_share": sum(g.random_picks for g in group[(b, s)]) / sum(g.samples for g in group[(b, s)])}
            for (b, s), t in sorted(by.items())]
    pairs: dict[tuple[str, str, str], tuple] = {}

    def pair(b: str, s: str, base: str) -> tuple:
        """``paired_ratio`` of ``s`` against ``base`` on ``b``, computed once per report."""
        if (b, s, base) not in pairs:
            pairs[(b, s, base)] = paired_ratio(by[(b, base)], by[(b, s)], _rng(seed, b, s, base), n_boot)
        return pairs[(b, s, base)]

    verdicts = []
    for c in CLAIMS:
        for b in sorted(sizes):
            if (b, c.strategy) not in by or (c.baseline != "random-search" and (b, c.baseline) not in by):
                continue
            cap = group[(b, c.strategy)][0].cap
            if c.baseline == "random-search":
                row = next(r for r in rows if r["benchmark"] == b and r["strategy"] == c.strategy)
                ratio, low, high = row["ratio_rs"], row["ratio_rs_low"], row["ratio_rs_high"]
                succ, common = [row["successes"], MIN_SUCCESSES], row["trials"]
                test = fewer_hits(by[(b, c.strategy)], cap, n_space=sizes[b], k_opt=optima[b])
            else:
                ratio, low, high, common, sb, ss = pair(b, c.strategy, c.baseline)
                succ = [sb, ss]
                test = fewer_hits(by[(b, c.strategy)], min(cap, group[(b, c.baseline)][0].cap), by[(b, c.baseline)])
            verdicts.append({"paper": c.paper, "benchmark": b, "strategy": c.strategy, "baseline": c.baseline,
                             "published": c.published, "ratio": ratio, "low": low, "high": high, "seeds": common,
                             "verdict": verdict(low, high, c.published, succ, test["p"]), "note": c.note,
                             "few": min(succ) < MIN_SUCCESSES, "hits_test": test})
    ratios = [dict(zip(("ratio", "low", "high", "seeds", "base_successes", "successes"), pair(b, s, base)),
                   benchmark=b, strategy=s, baseline=base)
              for base in BASELINES for (b, s) in sorted(by) if s != base and (b, base) in by]
    benchmarks = {b: {"n": sizes[b], "k": optima[b], "metric": i.get("metric", "–"),
                      "truth_metric": i.get("truth_metric", "–")} for b, i in sorted(info.items())}
    return {"rows": rows, "verdicts": verdicts, "baseline_ratios": ratios, "sizes": sizes, "benchmarks": benchmarks,
            "not_run": not_run(root, by)}


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


def _test_note(v: dict[str, Any]) -> str:
    """The exact test behind a verdict with too few successes for the ratio."""
    t = v["hits_test"]
    base = f"{t['base_hits']}/{t['of']}" if t["base_hits"] is not None else f"random search's {t['base_rate']:.1%}"
    return (f" (hits within {t['cap']:,}: {t['hits']}/{t['of']} against {base}; exact one-sided p = {t['p']:.2g} "
            f"that it hits less often, {t['p_more']:.2g} more often)")


def glance(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    """The verdicts as one table: a row per claim (in :data:`CLAIMS`' order), a column per benchmark,
    each cell the measured ratio, its interval (* where a side has too few successes to estimate it)
    and the verdict (details in the claims table)."""
    benches = sorted({v["benchmark"] for v in verdicts})
    claims_: dict[tuple[str, str, str, float], dict[str, dict[str, Any]]] = {}
    for v in verdicts:
        claims_.setdefault((v["paper"], v["strategy"], v["baseline"], v["published"]), {})[v["benchmark"]] = v
    lines = ["| claim | published | " + " | ".join(benches) + " |", "|---|---|" + "---|" * len(benches)]
    for (paper, s, base, pub), cells in claims_.items():
        row = [f"{_ratio(c, 'x')}{'*' if c['few'] else ''} **{c['verdict']}**"
               if (c := cells.get(b)) else "–" for b in benches]
        lines.append(f"| {paper.split(' (')[0]}: {s} vs {base} | {pub}x | " + " | ".join(row) + " |")
    return lines


def markdown(a: dict[str, Any]) -> str:
    ties = [f"{b}: {i['k']}" for b, i in a["benchmarks"].items() if i["k"] > 1]
    lines = ["# Samples to the optimum: the seed papers' protocol", "",
             "Each trial ends at the first evaluation of the benchmark's optimum or is censored at its cap "
             "(aRT charges a censored trial its cap). Ratios are aRT(baseline) / aRT(strategy); random search's "
             "is its exact expectation (N+1)/(K+1), K the architectures that share the optimum's true score "
             f"(1{', except where they tie: ' + ', '.join(ties) if ties else ''}). Intervals: bootstrap 95% over "
             "seeds (paired for two strategies).", ""]
    if a["verdicts"]:
        lines += ["## The claims at a glance", "",
                  "Measured ratio [95%] and verdict per claim and benchmark; * marks fewer than "
                  f"{MIN_SUCCESSES} successes on a side, where the ratio is not estimated well: the verdict is "
                  "then *inconclusive* unless an exact test of hits decides it. The claims table below gives the "
                  "seeds, those tests and the verdicts' definitions.",
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
             "| benchmark | strategy | successes | cap | mean (aRT) [95%] | median [95%] | RS exact (N+1)/(K+1) | RS aRT at cap | ratio to RS [95%] | random picks | s per trial |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in a["rows"]:
        lines.append(f"| {r['benchmark']} | {r['strategy']} | {r['successes']}/{r['trials']} | {r['cap']} | "
                     f"{_fmt(r['art'])} [{_fmt(r['art_low'])}, {_fmt(r['art_high'])}] | {_fmt(r['median'])} "
                     f"[{_fmt(r['median_low'])}, {_fmt(r['median_high'])}] | {_fmt(r['rs_exact'])} | {_fmt(r['rs_at_cap'])} | "
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
                  "aRT(baseline) / aRT(strategy) on their common seeds, bootstrap 95% (paired); above 1 the "
                  f"strategy is faster. * marks fewer than {MIN_SUCCESSES} successes on a side (the ratio is "
                  "then not estimated well; see the claims' exact test).", "",
                  "| benchmark | strategy | " + " | ".join(f"vs {x}" for x in bases) + " |",
                  "|---|---|" + "---|" * len(bases)]
        for b, s in sorted({(r["benchmark"], r["strategy"]) for r in a["baseline_ratios"]}):
            cells = []
            for x in bases:
                r = cell.get((b, s, x))
                few = r is not None and min(r["successes"], r["base_successes"]) < MIN_SUCCESSES
                cells.append("–" if r is None else
                             f"{_ratio(r)}{'*' if few else ''}")
            lines.append(f"| {b} | {s} | " + " | ".join(cells) + " |")
    lines += ["", "## The claims", "", "| paper | benchmark | claim | published | measured [95%] | seeds | verdict |",
              "|---|---|---|---|---|---|---|"]
    for v in a["verdicts"]:
        note = f" ({v['note']})" if v["note"] else ""
        lines.append(f"| {v['paper']} | {v['benchmark']} | {v['strategy']} vs {v['baseline']}{note} | {v['published']}x | "
                     f"{_ratio(v, 'x')} | {v['seeds']} | **{v['verdict']}**"
                     f"{_test_note(v) if v['few'] else ''} |")
    lines += ["", "Verdicts: *holds* — the interval lies above 1 and reaches the published ratio; *weaker* — above 1 "
              "but below it; *does not hold* — the interval contains 1 or lies below; *inconclusive* — fewer than "
              f"{MIN_SUCCESSES} successes on a side, too few to estimate the ratio, unless an exact one-sided test "
              "at the smaller cap finds that the strategy reaches the optimum less often than its baseline "
              f"(p < {ALPHA}; Fisher's exact test on the common seeds, or against random search the binomial law "
              "with its exact chance cap / N): then *does not hold*. A verdict with too few successes gives "
              "the hits within that cap and the test's one-sided p-values that the strategy hits less often (which "
              "alone can decide a verdict) and more often (which shows the paper's side of 1, not the ratio's size). "
              "The papers' benchmark is the full NAS-Bench-101; ours differ (the benchmarks table above), so "
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = root / "figures"
    out.mkdir(exist_ok=True)
    names = []
    for b, n in sorted(a["sizes"].items()):
        fig, ax = plt.subplots(figsize=(6, 4))
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
        fig.savefig(out / f"ecdf-{b}.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        names.append(b)
    if a["verdicts"]:
        fig, ax = plt.subplots(figsize=(7.5, 0.3 * len(a["verdicts"]) + 1.2))
        # an interval open at 0 or at infinity (a resample without a success) runs to the axis'
        # edge, marked with an arrowhead there
        edge_lo = 1e-3
        finite = [x for v in a["verdicts"] for x in (v["high"], v["ratio"], v["published"]) if math.isfinite(x)]
        edge_hi = 10 ** math.ceil(math.log10(max(finite + [10.0]) * 2))
        for k, v in enumerate(a["verdicts"]):
            lo, hi = max(v["low"], edge_lo), min(v["high"], edge_hi)
            ax.plot([lo, max(hi, lo)], [k, k], "b-")
            if v["low"] < edge_lo:
                ax.plot([edge_lo], [k], "b<", ms=4)
            if v["high"] > edge_hi:
                ax.plot([edge_hi], [k], "b>", ms=4)
            ax.plot([min(max(v["ratio"], edge_lo), edge_hi)], [k], "bo")
            ax.plot([v["published"]], [k], "r*")
        ax.set_xlim(edge_lo / 1.5, edge_hi * 1.5)
        ax.axvline(1, color="k", lw=0.5)
        ax.set_yticks(range(len(a["verdicts"])),
                      [f"{v['strategy']} vs {v['baseline']} ({v['benchmark']})" for v in a["verdicts"]], fontsize=7)
        ax.set(xscale="log", xlabel="aRT ratio\n(blue: measured, 95%; arrowhead: open-ended; red: published)")
        fig.tight_layout()
        fig.savefig(out / "claims-forest.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
    return names

"""Reproduction: what the seed papers reported, next to what nasarena measures on the closest benchmark.

:data:`CLAIMS` quotes the papers' published numbers (:mod:`experiments.studies.published`, and,
for the 150-query comparison, Table 1 of White et al.'s BANANAS). :func:`reproduction_rows` puts next to each claim the value this report's results give
for the same quantity on the closest benchmark that was run (NAS-Bench-101 claims: ``nb101``, else
the 30,001-cell ``nb101-30k`` subset), and a sentence on why the two differ, filled in with the
results' own N, K, budget and trial counts. A claim whose strategy or benchmark is absent from the
results says "not run in this report"; nothing is ever filled in from elsewhere.

Quantities (``Claim.quantity``):

* ``"gain"``: nasarena's sample-efficiency gain (:data:`experiments.analysis.metrics.GAIN_DEFINITION`) of
  ``strategy`` over random search, with its bootstrap interval: the ``gain`` of the report's
  summary row, unchanged. With ``baseline`` set, the ratio of measured aRTs
  ``aRT(baseline) / aRT(strategy)`` instead (= the ratio of the two gains).
* ``"art"``: the measured aRT (COCO: samples over all trials / successes) to the target.
* ``"regret"``: mean simple regret, in percentage points, of the incumbent (the architecture with
  the best *observed* score) at the end of the trials' budget (:func:`final_regret_rows`).
* ``"gains"``: the gains of several labels at once (the subset-sampling claim of Mauch et al.).

Pure functions over the report's rows: :mod:`experiments.studies.report` calls :func:`section` when it
writes ``README.md``, and the table to ``tables/reproduction.{md,tex,csv}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis import metrics
from experiments.analysis.metrics import GAIN_DEFINITION
from experiments.analysis.tables import Table, fmt
from experiments.studies.published import ALPHAX_SAMPLES, ALPHAX_VS, LANAS_ART, LANAS_VS, SEMINAS_ART_TOP, SEMINAS_VS

NOT_RUN = "not run in this report"
NB101 = ("nb101", "nb101-30k")  # the full table first, then the subset
NB101_SIZE = "423,624"
NB101_TEST_OPTIMUM = 5.6824247042338016  # best mean test error (%) of NAS-Bench-101 (nas_benchmarks)

LANAS = "Wang et al., LaNAS, arXiv:1906.06832"
ALPHAX = "Wang et al., AlphaX, arXiv:1903.11059 (AAAI 2020)"
SEMINAS = "Luo et al., SemiNAS (NAO on NB-101), NeurIPS 2020"
BANANAS = "White, Neiswanger & Savani, BANANAS, AAAI 2021"
MAUCH = "Mauch et al., Efficient Sampling for Predictor-Based NAS, arXiv:2011.12043"


@dataclass(frozen=True)
class Claim:
    """One published number (or qualitative finding) and how to measure its counterpart here."""

    paper: str  # short citation
    claim: str  # what was claimed, in words
    their_benchmark: str
    published: str  # their number as they state it
    quantity: str  # "gain" | "art" | "regret" | "gains"
    strategies: tuple[str, ...]  # our labels, first one present wins ("gains": every one present)
    target: str = "optimum"  # our target for "gain", "art", "gains"
    baseline: str | None = None  # "gain" only: ratio of measured aRTs against this label
    their_target: str = ""  # their target in words, where it differs from ours
    benchmarks: tuple[str, ...] = NB101  # closest benchmarks we have, closest first
    value: float | None = None  # their number as a float, where there is one
    why: str = ""  # format string; fields: see _fields


_GAIN_VS_RATIO = (
    "Theirs is a ratio of mean samples to {their_target} on {their_space}, without a budget cap; ours is "
    "nasarena's gain (exact random-search aRT (N+1)/(K+1) = {art_rs} over the measured COCO aRT) on "
    "{benchmark} (N = {N}), where a trial that misses the target is charged all {budget} samples of its "
    "budget ({successes}/{n_trials} trials reached it)."
)
_RATIO_OF_ARTS = (
    "Theirs is a ratio of mean samples to {their_target} on {their_space}, searched until found; ours is "
    "the ratio of measured aRTs on {benchmark} (N = {N}, K = {K}) at a budget of {budget} samples "
    "({successes}/{n_trials} trials of {strategy} and {base_successes}/{base_trials} of {baseline} reached "
    "it), so it rests on few successes where the budget is far below N/K."
)
_REGRET_150 = (
    "Theirs: test error of the architecture picked by validation accuracy on the full {nb101} cells, "
    "mean of 200 trials at 150 queries, regret against the best mean test error {opt}%; ours: "
    "validation-accuracy regret of the incumbent on {benchmark} (N = {N}), {n_trials} trials at "
    "{budget} queries; in a smaller space the same number of queries covers a larger fraction of it."
)


def _lanas_vs(label: str, name: str, value: float) -> Claim:
    return Claim(
        LANAS,
        f"LaNAS needs {value:g}x fewer samples than {name} to find the optimum",
        "NAS-Bench-101",
        f"{value:g}x (ICLR 2020 submission abstract)",
        "gain",
        ("lanas",),
        baseline=label,
        value=value,
        why=_RATIO_OF_ARTS,
    )


def _bananas_150(labels: str | tuple[str, ...], name: str, err: float) -> Claim:
    return Claim(
        BANANAS,
        f"{name}: test error of the best architecture after 150 queries",
        "NAS-Bench-101",
        f"{err:.3f}% (regret {err - NB101_TEST_OPTIMUM:.3f} pp), Table 1",
        "regret",
        (labels,) if isinstance(labels, str) else labels,
        value=err - NB101_TEST_OPTIMUM,
        why=_REGRET_150,
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        LANAS,
        "LaNAS: mean samples to reach the global optimum (41 released runs)",
        "NAS-Bench-101, mean test acc.",
        f"{LANAS_ART:,.0f} (median 2,056; range 568-4,846)",
        "art",
        ("lanas",),
        value=LANAS_ART,
        why="Theirs: mean test-accuracy optimum of {nb101} cells, each run searched until it found it; ours: "
        "the validation optimum of {benchmark} (N = {N}), a failure charged all {budget} samples of the "
        "budget ({successes}/{n_trials} trials reached it).",
    ),
    Claim(
        LANAS,
        "LaNAS: sample-efficiency gain over random search",
        "NAS-Bench-101",
        f"{LANAS_VS['random-search']:g}x (ICLR 2020 submission abstract)",
        "gain",
        ("lanas",),
        value=LANAS_VS["random-search"],
        why=_GAIN_VS_RATIO,
    ),
    _lanas_vs("regularized-evolution", "regularised evolution", LANAS_VS["regularized-evolution"]),
    _lanas_vs("alphax", "MCTS (AlphaX)", LANAS_VS["alphax"]),
    _lanas_vs("nao", "NAO", LANAS_VS["nao"]),
    _lanas_vs("bayesian-optimization", "Bayesian optimisation", LANAS_VS["bayesian-optimization"]),
    Claim(
        ALPHAX,
        "AlphaX: sample-efficiency gain over random search (mean samples to the optimum, 114 runs)",
        "NAS-Bench-101 (apparently the <= 6-node subspace, ~64k cells)",
        f"{ALPHAX_VS['random-search']:g}x (~10.4k vs ~32.3k; boxplot, digitised)",
        "gain",
        ("alphax",),
        value=ALPHAX_VS["random-search"],
        why=_GAIN_VS_RATIO,
    ),
    Claim(
        ALPHAX,
        "AlphaX needs fewer samples than regularised evolution to find the optimum",
        "NAS-Bench-101 (apparently the <= 6-node subspace)",
        f"{ALPHAX_VS['regularized-evolution']:g}x (~10.4k vs ~29.7k; boxplot, digitised)",
        "gain",
        ("alphax",),
        baseline="regularized-evolution",
        value=ALPHAX_VS["regularized-evolution"],
        why=_RATIO_OF_ARTS,
    ),
    Claim(
        ALPHAX,
        "Regularised evolution: gain over random search, as measured in the AlphaX paper",
        "NAS-Bench-101 (apparently the <= 6-node subspace)",
        "1.09x (~29.7k vs ~32.3k; boxplot, digitised)",
        "gain",
        ("regularized-evolution",),
        value=ALPHAX_SAMPLES["random-search"] / ALPHAX_SAMPLES["regularized-evolution"],
        why=_GAIN_VS_RATIO,
    ),
    Claim(
        SEMINAS,
        "NAO/SemiNAS reaches a top-0.01% architecture after about 300 evaluations",
        "NAS-Bench-101",
        "~300 samples",
        "art",
        ("nao",),
        target="top-0.1%",
        value=SEMINAS_ART_TOP,
        why="Theirs: the top 0.01% of {nb101} cells (about 42), a single search; ours: aRT to the top 0.1% of "
        "{benchmark} (K = {K} of N = {N}, the nearest target we compute), {successes}/{n_trials} trials "
        "reaching it within {budget} samples.",
    ),
    Claim(
        SEMINAS,
        "NAO/SemiNAS needs 1/7 of regularised evolution's samples to reach a top-0.01% architecture",
        "NAS-Bench-101",
        f"{SEMINAS_VS['regularized-evolution']:g}x",
        "gain",
        ("nao",),
        target="top-0.1%",
        baseline="regularized-evolution",
        their_target="a top-0.01% architecture (ours: the top 0.1%)",
        value=SEMINAS_VS["regularized-evolution"],
        why=_RATIO_OF_ARTS,
    ),
    Claim(
        BANANAS,
        "BANANAS is over 100x more sample-efficient than random search (target not stated)",
        "NAS-Bench-101",
        ">100x (abstract, README)",
        "gain",
        ("bananas", "predictor-subsets", "ts-full"),
        value=100.0,
        why=_GAIN_VS_RATIO,
    ),
    _bananas_150(("bananas", "predictor-subsets"), "BANANAS (ours: predictor-subsets:bananas)", 5.923),
    _bananas_150("regularized-evolution", "Regularised evolution", 6.109),
    _bananas_150("alphax", "AlphaX", 6.233),
    _bananas_150("bayesian-optimization", "BO with a GP", 6.267),
    _bananas_150("random-search", "Random search", 6.341),
    _bananas_150("optuna-tpe", "TPE", 6.415),
    Claim(
        MAUCH,
        "Predictor-based NAS loses efficiency when the predictor scores only a random subset of the "
        "space; a smartly chosen subset regains the full-space efficiency",
        "not stated in the abstract",
        "qualitative (abstract only)",
        "gains",
        ("ts-full", "ts-random-0.3pct", "ts-bananas-0.3pct", "ts-random-1pct", "ts-bananas-1pct",
         "ts-evolved-1pct", "ts-prefilter-1pct"),
        target="top-0.1%",
        benchmarks=(*NB101, "nb201-cifar10", "graph-cora"),
        why="Labels of suite `subsets` (BANANAS' predictor scores the full space, or a random or smart subset "
        "of 0.3% or 1% of it each round) on {benchmark} (N = {N}, K = {K}), {n_trials} trials of {budget} "
        "samples each; the paper's own gain formula is not available, so only the direction can be compared. "
        "The subsets report (`nasarena report results/subsets`) tests both claims on censored samples to each target, with verdicts.",
    ),
)


# ----------------------------------------------------------------------------- measured values
def final_regret_rows(trials: pd.DataFrame, benchmarks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per benchmark x strategy: ``mean_final_regret`` = mean over trials of optimum minus the
    true score of the incumbent (best *observed*) at the trial's last evaluation, in the benchmark's
    unit, and ``scale`` (100 when the metric is a fraction, so ``regret * scale`` is in percentage
    points). ``trials`` is the tidy frame of :func:`experiments.analysis.trials.load_results`."""
    rows = []
    for (bench, strat), g in trials.groupby(["benchmark", "strategy"], sort=True):
        seeds, inv = np.unique(g["seed"].to_numpy(), return_inverse=True)
        steps = g["step"].to_numpy()
        obs = np.full((seeds.size, int(steps.max())), np.nan)
        tru = obs.copy()
        obs[inv, steps - 1] = g["observed"].to_numpy()
        tru[inv, steps - 1] = g["truth"].to_numpy()
        lengths = np.bincount(inv)
        inc = metrics.incumbent_truth(obs, tru)[np.arange(seeds.size), lengths - 1]
        opt = float(benchmarks[str(bench)]["optimum"])
        rows.append(
            {
                "benchmark": str(bench),
                "strategy": str(strat),
                "n_trials": int(seeds.size),
                "budget": int(lengths.max()),
                "mean_final_regret": float(np.mean(opt - inc)),
                "scale": 100.0 if opt <= 1.0 else 1.0,
            }
        )
    return rows


def _index(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in rows}


def _successes_text(r: dict[str, Any], target: str) -> str:
    return f"{r['successes']}/{r['n_trials']} trials reached {target} within {fmt(r['budget'])} samples"


def _fields(claim: Claim, r: dict[str, Any], **more: Any) -> dict[str, str]:
    f = {
        "benchmark": f"`{r['benchmark']}`",
        "strategy": claim.strategies[0],
        "their_target": claim.their_target
        or ("the optimum" if claim.target == "optimum" else f"the {claim.target} target"),
        "their_space": "NAS-Bench-101",
        "nb101": NB101_SIZE,
        "opt": f"{NB101_TEST_OPTIMUM:.2f}",
    }
    for key in ("N", "K", "budget", "n_trials", "successes", "art_rs"):
        if key in r:
            f[key] = f"{r[key]:,}" if isinstance(r[key], int) else fmt(r[key])
    f.update({k: str(v) for k, v in more.items()})
    return f


def _row(claim: Claim, **measured: Any) -> dict[str, Any]:
    base = {
        "paper": claim.paper,
        "claim": claim.claim,
        "their_benchmark": claim.their_benchmark,
        "published": claim.published,
        "published_value": claim.value,
        "quantity": claim.quantity,
        "target": claim.target,
        "closest": " or ".join(claim.benchmarks),
        "benchmark": None,
        "strategy": ", ".join(claim.strategies),
        "baseline": claim.baseline,
        "value": None,
        "measured": NOT_RUN,
        "n_trials": None,
        "why": "",
    }
    base.update(measured)
    return base


def _pick(claim: Claim, available: set[tuple[str, str]]) -> tuple[str, str] | None:
    for bench in claim.benchmarks:
        for strat in claim.strategies:
            if (bench, strat) in available:
                return bench, strat
    return None


def _measure_gain(claim: Claim, gains: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
    pick = _pick(claim, {(b, s) for b, s, t in gains if t == claim.target})
    if pick is None:
        return _row(claim)
    bench, strat = pick
    r = gains[bench, strat, claim.target]
    out = {"benchmark": bench, "strategy": strat, "n_trials": r["n_trials"]}
    if claim.baseline is None:
        if r["successes"] == 0:
            measured = f"0 ({_successes_text(r, claim.target)})"
        else:
            measured = f"{fmt(r['gain'])} {_ci(r)}"
        fields = _fields(replace_strategies(claim, strat), r)
        return _row(claim, **out, value=r["gain"], measured=measured, why=claim.why.format(**fields))
    b = gains.get((bench, claim.baseline, claim.target))
    if b is None:
        return _row(claim, **out, measured=f"{claim.baseline} {NOT_RUN} on {bench}")
    fields = _fields(
        replace_strategies(claim, strat),
        r,
        baseline=claim.baseline,
        base_successes=b["successes"],
        base_trials=b["n_trials"],
    )
    why = claim.why.format(**fields)
    if r["successes"] == 0:
        return _row(
            claim, **out, measured=f"no trial of {strat} reached it ({_successes_text(r, claim.target)})", why=why
        )
    if b["successes"] == 0:
        return _row(
            claim,
            **out,
            measured=f"no trial of {claim.baseline} reached {claim.target} "
            f"({_successes_text(b, claim.target)}); aRT of {strat} {fmt(r['art'])}",
            why=why,
        )
    value = float(b["art"]) / float(r["art"])
    return _row(claim, **out, value=value, why=why, measured=f"{fmt(value)} (aRT {fmt(b['art'])} vs {fmt(r['art'])})")


def replace_strategies(claim: Claim, strat: str) -> Claim:
    """``claim`` with the label that was found first, for the sentences."""
    return replace(claim, strategies=(strat,))


def _ci(r: dict[str, Any]) -> str:
    return f"[{fmt(r.get('gain_low'))}, {fmt(r.get('gain_high'))}]"


def _measure_art(claim: Claim, gains: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
    pick = _pick(claim, {(b, s) for b, s, t in gains if t == claim.target})
    if pick is None:
        return _row(claim)
    bench, strat = pick
    r = gains[bench, strat, claim.target]
    measured = (
        f"aRT {fmt(r['art'])} [{fmt(r.get('art_low'))}, {fmt(r.get('art_high'))}] ({_successes_text(r, claim.target)})"
        if r["successes"]
        else f"aRT ∞ ({_successes_text(r, claim.target)})"
    )
    return _row(
        claim,
        benchmark=bench,
        strategy=strat,
        n_trials=r["n_trials"],
        value=r["art"],
        measured=measured,
        why=claim.why.format(**_fields(replace_strategies(claim, strat), r)),
    )


def _measure_regret(
    claim: Claim, finals: dict[tuple[Any, ...], dict[str, Any]], gains: dict[tuple[Any, ...], dict[str, Any]]
) -> dict[str, Any]:
    pick = _pick(claim, set(finals))
    if pick is None:
        return _row(claim)
    bench, strat = pick
    f = finals[bench, strat]
    value = f["mean_final_regret"] * f["scale"]
    info = dict(f)
    n_rows = [g for (b, _s, _t), g in gains.items() if b == bench]
    if n_rows:
        info["N"] = n_rows[0]["N"]
    unit = " pp" if f["scale"] == 100.0 else ""
    return _row(
        claim,
        benchmark=bench,
        strategy=strat,
        n_trials=f["n_trials"],
        value=value,
        measured=f"{fmt(value)}{unit} (mean of {f['n_trials']} trials at {fmt(f['budget'])} queries)",
        why=claim.why.format(**_fields(replace_strategies(claim, strat), info)),
    )


def _measure_gains(claim: Claim, gains: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
    for bench in claim.benchmarks:
        found = [gains[bench, s, claim.target] for s in claim.strategies if (bench, s, claim.target) in gains]
        if found:
            parts = [f"{r['strategy']} {fmt(r['gain'])} {_ci(r)} ({r['successes']}/{r['n_trials']})" for r in found]
            return _row(
                claim,
                benchmark=bench,
                strategy=", ".join(r["strategy"] for r in found),
                n_trials=found[0]["n_trials"],
                value=None,
                measured="; ".join(parts),
                why=claim.why.format(**_fields(claim, found[0])),
            )
    return _row(claim)


def reproduction_rows(
    gains: Sequence[dict[str, Any]], finals: Sequence[dict[str, Any]] = (), claims: Sequence[Claim] = CLAIMS
) -> list[dict[str, Any]]:
    """One row per claim: the paper's number and ours. ``gains`` are the report's summary rows (one
    per benchmark x strategy x target, :func:`experiments.analysis.trials.summary`); ``finals`` the rows of
    :func:`final_regret_rows` (needed for ``"regret"`` claims). ``value`` is the measured number
    (``None`` where there is none) and ``measured`` how the report prints it."""
    g = _index(gains, "benchmark", "strategy", "target")
    f = _index(finals, "benchmark", "strategy")
    rows = []
    for c in claims:
        if c.quantity == "gain":
            rows.append(_measure_gain(c, g))
        elif c.quantity == "art":
            rows.append(_measure_art(c, g))
        elif c.quantity == "regret":
            rows.append(_measure_regret(c, f, g))
        elif c.quantity == "gains":
            rows.append(_measure_gains(c, g))
        else:
            raise ValueError(f"claim {c.claim!r}: unknown quantity {c.quantity!r} (gain, art, regret or gains)")
    return rows


# ----------------------------------------------------------------------------- table and section
CAPTION = (
    "Published claims of the seed papers next to what nasarena measures on the closest benchmark in this "
    "report. Published numbers are quoted from the papers (LaNAS: the 41 released runs and the ICLR 2020 "
    "submission abstract; AlphaX: digitised from its boxplot; BANANAS: Table 1 and the abstract; Mauch et "
    "al.: abstract only); every measured number is computed from this folder's trials, and 'not run in this "
    "report' means the strategy or benchmark is absent from it. Gains and aRT: targets of the benchmark as "
    "in the gain tables, 95% bootstrap intervals in brackets; regret: mean over trials of the optimum minus "
    f"the true score of the incumbent at the end of the budget, in percentage points. {GAIN_DEFINITION}"
)


def reproduction_table(gains: Sequence[dict[str, Any]], finals: Sequence[dict[str, Any]] = ()) -> Table:
    rows = reproduction_rows(gains, finals)
    return Table(
        "reproduction",
        CAPTION,
        rows,
        [
            ("paper", lambda r: r["paper"]),
            ("claim", lambda r: r["claim"]),
            ("their benchmark", lambda r: r["their_benchmark"]),
            ("published", lambda r: r["published"]),
            ("ours: benchmark (strategy)", lambda r: f"{r['benchmark'] or r['closest']} ({r['strategy']})"),
            ("measured", lambda r: r["measured"]),
            ("why they differ", lambda r: r["why"] or "–"),
        ],
    )


INTRO = (
    "What the seed papers reported, next to what this implementation measures on the closest benchmark "
    "we have. The papers searched the full NAS-Bench-101 (423,624 cells, three training repeats, or a "
    "subspace of it) until they found the target; nasarena's closest NAS-Bench-101 benchmark may be the "
    "30,001-cell subset with a single recorded run, trials stop at a fixed budget and a failure counts "
    "all of it (COCO aRT), and the gain's numerator is random search's exact aRT rather than a measured "
    "mean. Agreement is therefore expected in direction and ordering, not in the numbers themselves."
)


def section(t: Table) -> str:
    """The README's "Reproduction" section (Markdown) around :func:`reproduction_table`'s table: the
    claims this folder's strategies ran for (the table file keeps every claim); empty when none ran."""
    ran = [r for r in t.rows if NOT_RUN not in r["measured"]]  # neither side missing
    if not ran:
        return ""
    shown = Table(t.name, t.caption, ran, t.display)
    return "\n".join(
        [
            "## Reproduction of published results",
            "",
            INTRO + " The claims themselves are tested on the papers' own protocol, searching until the optimum, "
            "in the claims report (`results/reproduction/`, `nasarena run reproduction-cpu`).",
            "",
            shown.markdown(),
            "",
            f"*{t.caption}* (files: `tables/reproduction.md`, `.tex`, `.csv`, which also list the claims not run here)",
        ]
    )

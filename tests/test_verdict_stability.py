"""No committed verdict of the subsets and time-protocol studies depends on the bootstrap seed
(issue 41: a verdict that changes with the resampling is the method's bug, not a footnote). The
claims report has its own such test in tests/test_claims.py. Both read the committed per-trial
tables only, so they run on a fresh clone without data."""

from __future__ import annotations

from pathlib import Path

from experiments.studies import subsets, time_protocol

RESULTS = Path(__file__).resolve().parent.parent / "results"


def test_no_subsets_verdict_depends_on_the_bootstrap_seed():
    root = RESULTS / "subsets"
    trials = subsets.read_trials_csv(root / "tables" / subsets.TRIALS_CSV)
    bench = subsets.benchmark_summaries(root, {t.benchmark for t in trials})

    def verdicts(seed: int) -> list[tuple[str, ...]]:
        a = subsets.analyse(trials, bench, seed)  # the reasons quote interval ends: compare the verdicts
        return [tuple(str(v) for k, v in row.items() if k != "reason") for row in a.verdicts]

    assert verdicts(0) == verdicts(1)


def test_no_time_protocol_verdict_depends_on_the_bootstrap_seed():
    root = RESULTS / "time-protocol"
    trials = time_protocol.read_trials_csv(root / "tables" / time_protocol.TRIALS_CSV)

    def verdicts(seed: int) -> list[tuple[str, str, str, str, str]]:
        a = time_protocol.analyse(trials, seed)
        return [(r["benchmark"], r["label"], r["target"], *(str((r[k] or {}).get(v)) for k, v in
                 (("vs_rs", "verdict"), ("speedup", "vs_linear"))))
                for r in a.rows]

    assert verdicts(0) == verdicts(1)

"""Merge run folders into a claims folder that keeps only its trials table.

A committed claims folder (``results/reproduction/``) keeps ``tables/trials.csv``, one line per
trial, not its records. Rows are rerun or added in folders of their own (a suite file naming the
same suite, run with ``--out``); :func:`merge` then folds their stopped records into the table:

* every merged trial must be one the suite asks for: its benchmark, label and seed, its cap equal
  to the suite's budget for that label there, and its strategy version and resolved config today's
  (so a folder never mixes settings, nor keeps a row today's code would not compute);
* a run's trial replaces the table's trial of the same benchmark, label and seed;
* after the merge every trial in the table must match the suite (a row whose cap the suite has
  changed is refused until all its seeds are rerun at the new one);
* ``tables/trials.csv`` and ``meta.json`` (its ``suite``) are written atomically, then the report.

``nasarena merge INTO RUN [RUN ...] --suite NAME`` calls it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from experiments.harness.records import dumps, has_records, resolved_config, short_hash
from experiments.harness.suite import Suite, runs_on
from experiments.studies import claims, claims_report
from nasbench.data import atomic_write_text


def mismatch(t: claims.Trial, suite: Suite) -> str | None:
    """Why ``t`` is not a trial of ``suite`` (``None`` if it is)."""
    if t.benchmark not in suite.benchmarks or t.strategy not in suite.strategies:
        return f"{t.strategy} on {t.benchmark} is not in suite {suite.name}"
    if not runs_on(suite.only, t.strategy, t.benchmark):
        return f"suite {suite.name} does not run {t.strategy} on {t.benchmark} (see its [only])"
    if t.seed not in suite.seeds_for(t.benchmark, t.strategy):
        return f"seed {t.seed} of {t.strategy} on {t.benchmark} is not among suite {suite.name}'s seeds"
    cap = suite.budget_for(t.benchmark, t.strategy)
    if t.cap != cap:
        return (f"{t.strategy} on {t.benchmark} seed {t.seed} ran to a cap of {t.cap:,}; suite {suite.name} "
                f"asks for {cap:,}")
    config, version = resolved_config(suite.labels.get(t.strategy, t.strategy), suite.config.get(t.strategy, {}))
    if (t.strategy_version, t.config_hash) != (version, short_hash(config)):
        return (f"{t.strategy} on {t.benchmark} seed {t.seed} was run by version {t.strategy_version} with config "
                f"{t.config_hash}; today's code is version {version} with config {short_hash(config)}")
    return None


def merge(into: str | Path, runs: Sequence[str | Path], suite: Suite) -> dict[str, Any]:
    """Fold the stopped records of ``runs`` into ``into``'s ``tables/trials.csv`` and rebuild its
    report. Returns the counts: trials before, merged, replaced (a different result for the same
    trial: samples, success, cap or random picks; its wall time aside), after. Raises ``ValueError`` (nothing written) where a trial does not match ``suite``."""
    into = Path(into)
    table = into / "tables" / "trials.csv"
    if has_records(into):
        raise ValueError(f"{into} holds its records under data/: run the suite into it instead of merging")
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found: merge adds to a claims folder's trials table")
    old = {(t.benchmark, t.strategy, t.seed): t for t in claims.read_trials_csv(table)}
    new: dict[tuple[str, str, int], claims.Trial] = {}
    for run in runs:
        for t in claims.trials_of(claims.stopped_records(Path(run))):
            if (why := mismatch(t, suite)) is not None:
                raise ValueError(f"{run}: {why}; fix the run's suite file or pass the suite it belongs to")
            new[(t.benchmark, t.strategy, t.seed)] = t
    merged = {**old, **new}
    # the new trials match the suite (checked above); the old ones kept beside them must too
    stale = Counter((t.benchmark, t.strategy) for k, t in old.items() if k not in new and mismatch(t, suite))
    if stale:
        rows = "; ".join(f"{s} on {b} ({n})" for (b, s), n in sorted(stale.items()))
        raise ValueError(f"after the merge, trials that suite {suite.name} no longer asks for would remain: {rows}; "
                         "rerun those rows' seeds at the suite's cap and merge them too")
    atomic_write_text(table, claims.trials_csv(merged.values()))
    meta_path = into / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    atomic_write_text(meta_path, dumps({**meta, "suite": suite.as_dict()}, indent=2) + "\n")
    claims_report.write_report(into)
    return {"before": len(old), "merged": len(new), "after": len(merged),
            "replaced": sum(k in old and replace(old[k], wall_s=0) != replace(t, wall_s=0) for k, t in new.items())}

"""Merge run folders into a results folder that keeps only its trials table.

A committed claims folder (``results/reproduction/``) keeps ``tables/trials.csv``, one line per
trial, not its records; so do the subsets folder (``tables/subsets-trials.csv``) and the zero-cost
search folder (``tables/zc-trials.csv``), beside their ``fingerprints.csv`` (:data:`KEPT` says how
each study keeps its trials). Rows are rerun or added in folders of their own (a suite file naming
the same suite, run with ``--out``); :func:`merge` then folds their records into the table:

* every merged trial must be one the suite asks for: its benchmark, label and seed, its cap equal
  to the suite's budget for that label there, and its strategy version and resolved config today's
  (so a folder never mixes settings, nor keeps a row today's code would not compute);
* a run's trial replaces the table's trial of the same benchmark, label and seed;
* after the merge every trial in the table must match the suite (a row whose cap the suite has
  changed is refused until all its seeds are rerun at the new one);
* the trials table, ``fingerprints.csv`` where the folder keeps one (the run's rows replace the
  folder's) and ``meta.json`` (its ``suite``) are written atomically, then the report.

``nasarena merge INTO RUN [RUN ...] --suite NAME`` calls it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from experiments.harness.records import (
    MANIFEST,
    dumps,
    has_records,
    manifest_text,
    read_manifest,
    resolved_config,
    short_hash,
)
from experiments.harness.suite import Suite, runs_on
from experiments.studies import claims, claims_report, subsets, zero_cost_search
from experiments.studies.reports import study_of
from nasbench.data import atomic_write_text


@dataclass(frozen=True)
class Kept:
    """How a study keeps its trials in one table: what a merge needs of it."""

    table: str  # the file under tables/
    read: Callable[[Path], list[Any]]  # the table's trials
    of_run: Callable[[Path], list[Any]]  # a run folder's trials, from its records
    write: Callable[[Iterable[Any]], str]  # the table's text
    report: Callable[[Path], Path]  # writes the folder's report
    label: Callable[[Any], str]
    cap: Callable[[Any], int]
    manifest: bool  # the folder keeps fingerprints.csv beside its table


KEPT: dict[str, Kept] = {
    "claims": Kept("trials.csv", claims.read_trials_csv, lambda r: claims.trials_of(claims.stopped_records(r)),
                   claims.trials_csv, claims_report.write_report, lambda t: t.strategy, lambda t: t.cap, False),
    "subsets": Kept(subsets.TRIALS_CSV, subsets.read_trials_csv, subsets.trials_of, subsets.trials_csv,
                    subsets.write_report, lambda t: t.label, lambda t: t.budget, True),
    "zero-cost-search": Kept(zero_cost_search.TRIALS_CSV, zero_cost_search.read_trials_csv, zero_cost_search.trials_of,
                             zero_cost_search.trials_csv, zero_cost_search.write_report, lambda t: t.label,
                             lambda t: t.cap, True),
}


def kept_of(suite: Suite) -> Kept:
    """How the folder of ``suite`` keeps its trials (``ValueError`` for a study that keeps records)."""
    study = study_of(suite)
    if study not in KEPT:
        raise ValueError(f"suite {suite.name} keeps its records, not a trials table: run it into its folder instead")
    return KEPT[study]


def mismatch(t: Any, suite: Suite, kept: Kept = KEPT["claims"]) -> str | None:
    """Why ``t`` is not a trial of ``suite`` (``None`` if it is)."""
    label, cap_t = kept.label(t), kept.cap(t)
    if t.benchmark not in suite.benchmarks or label not in suite.strategies:
        return f"{label} on {t.benchmark} is not in suite {suite.name}"
    if not runs_on(suite.only, label, t.benchmark):
        return f"suite {suite.name} does not run {label} on {t.benchmark} (see its [only])"
    if t.seed not in suite.seeds_for(t.benchmark, label):
        return f"seed {t.seed} of {label} on {t.benchmark} is not among suite {suite.name}'s seeds"
    cap = suite.budget_for(t.benchmark, label)
    if cap_t != cap:
        return (f"{label} on {t.benchmark} seed {t.seed} ran to a cap of {cap_t:,}; suite {suite.name} "
                f"asks for {cap:,}")
    config, version = resolved_config(suite.labels.get(label, label), suite.config.get(label, {}))
    if (t.strategy_version, t.config_hash) != (version, short_hash(config)):
        return (f"{label} on {t.benchmark} seed {t.seed} was run by version {t.strategy_version} with config "
                f"{t.config_hash}; today's code is version {version} with config {short_hash(config)}")
    return None


def _manifest_key(row: dict[str, str]) -> tuple[str, str, int]:
    return row["benchmark"], row["label"], int(row["seed"])


def merge(into: str | Path, runs: Sequence[str | Path], suite: Suite) -> dict[str, Any]:
    """Fold the records of ``runs`` into ``into``'s trials table (and ``fingerprints.csv``) and
    rebuild its report. Returns the counts: trials before, merged, replaced (a different result for
    the same trial; its wall time aside), after. Raises ``ValueError`` (nothing written) where a
    trial does not match ``suite``."""
    into = Path(into)
    kept = kept_of(suite)
    table = into / "tables" / kept.table
    if has_records(into):
        raise ValueError(f"{into} holds its records under data/: run the suite into it instead of merging")
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found: merge adds to a folder's trials table")
    old = {(t.benchmark, kept.label(t), t.seed): t for t in kept.read(table)}
    new: dict[tuple[str, str, int], Any] = {}
    rows = {_manifest_key(r): r for r in read_manifest(into / MANIFEST)} if kept.manifest else {}
    for run in runs:
        if kept.manifest and not (Path(run) / MANIFEST).is_file():
            raise ValueError(f"{run}: no {MANIFEST}; merge folds only runs the runner finished")
        run_rows = {_manifest_key(r): r for r in read_manifest(Path(run) / MANIFEST)} if kept.manifest else {}
        for t in kept.of_run(Path(run)):
            if (why := mismatch(t, suite, kept)) is not None:
                raise ValueError(f"{run}: {why}; fix the run's suite file or pass the suite it belongs to")
            key = (t.benchmark, kept.label(t), t.seed)
            new[key] = t
            if kept.manifest:
                if key not in run_rows:
                    raise ValueError(f"{run}: {key[1]} on {key[0]} seed {key[2]} has a record but no row in its "
                                     f"{MANIFEST} (a failed or stale trial): rerun it before merging")
                rows[key] = run_rows[key]
    merged = {**old, **new}
    # the new trials match the suite (checked above); the old ones kept beside them must too
    stale = Counter((t.benchmark, kept.label(t)) for k, t in old.items() if k not in new and mismatch(t, suite, kept))
    if stale:
        listed = "; ".join(f"{s} on {b} ({n})" for (b, s), n in sorted(stale.items()))
        raise ValueError(f"after the merge, trials that suite {suite.name} no longer asks for would remain: {listed}; "
                         "rerun those rows' seeds at the suite's cap and merge them too")
    atomic_write_text(table, kept.write(merged.values()))
    if kept.manifest:
        atomic_write_text(into / MANIFEST, manifest_text(list(rows.values())))
    meta_path = into / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    atomic_write_text(meta_path, dumps({**meta, "suite": suite.as_dict()}, indent=2) + "\n")
    kept.report(into)
    return {"before": len(old), "merged": len(new), "after": len(merged),
            "replaced": sum(k in old and replace(old[k], wall_s=0) != replace(t, wall_s=0) for k, t in new.items())}

"""Which study reports a results folder: the suite it ran says (``meta.json``). A suite that
searches until the optimum is the seed papers' protocol (:mod:`experiments.studies.claims`), one
with a time budget the time protocol (:mod:`experiments.studies.time_protocol`), the ``subsets``
suite the subset-sampling study (:mod:`experiments.studies.subsets`), the ``zero-cost-search`` suite
the zero-cost-aided search study (:mod:`experiments.studies.zero_cost_search`), any other the default report
(:mod:`experiments.studies.report`). Without ``meta.json``, the per-trial table a study keeps says."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.harness.records import record_paths
from experiments.harness.suite import Suite
from experiments.studies import claims_report, report, subsets, time_protocol, zero_cost_search


def study_of(suite: Suite) -> str:
    """``"zero-cost-search"``, ``"claims"``, ``"time-protocol"``, ``"subsets"`` or ``"default"``."""
    if suite.name == zero_cost_search.SUITE:
        return "zero-cost-search"
    if suite.stop == "optimum":
        return "claims"
    if suite.name == "subsets":
        return "subsets"
    return "time-protocol" if suite.timed else "default"


def _study_from_files(folder: Path) -> str:
    """A folder without ``meta.json`` (records or a trials table copied by hand): a claims trials
    table without records, or the first record's protocol, says which study it is."""
    if (folder / "tables" / zero_cost_search.TRIALS_CSV).is_file():  # its records stop at the optimum too
        return "zero-cost-search"
    first = next(iter(record_paths(folder)), None)
    if first is None:
        for study, table in (("claims", "trials.csv"), ("time-protocol", time_protocol.TRIALS_CSV),
                             ("subsets", subsets.TRIALS_CSV)):
            if (folder / "tables" / table).is_file():
                return study
        return "default"
    head = json.loads(first.read_text())
    if head.get("stop") == "optimum":
        return "claims"
    return "time-protocol" if head.get("time_budget") is not None else "default"


def write_report(folder: str | Path) -> Path:
    """Write the report of ``folder`` with the study its suite calls for; returns the README's path."""
    folder = Path(folder)
    meta = folder / "meta.json"
    study = study_of(Suite.from_dict(json.loads(meta.read_text())["suite"])) if meta.is_file() \
        else _study_from_files(folder)
    if study == "claims":
        return claims_report.write_report(folder)
    if study == "time-protocol":
        return time_protocol.write_report(folder)
    if study == "subsets":
        return subsets.write_report(folder)
    if study == "zero-cost-search":
        return zero_cost_search.write_report(folder)
    return report.write_report(folder)

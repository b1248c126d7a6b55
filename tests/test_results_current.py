"""The committed results are what today's code computes (issue 40).

Every results folder (a ``meta.json`` under ``results/``) names its suite. For every trial of that
suite, today's code determines a fingerprint (:func:`experiments.harness.records.fingerprint`: strategy
version, resolved config, budget, stop rule, noise model, record format, data checksums). A
committed trial is *current* when what it recorded equals that fingerprint:

* a committed record (``results/data/...``) carries its whole fingerprint;
* a folder whose records are not committed keeps ``fingerprints.csv`` (one row per trial: version,
  config hash, hash of the whole fingerprint without the data checksums);
* a claims folder keeps ``tables/trials.csv``, whose rows carry the version and config hash.

The data checksums come from the folder's ``benchmarks/<name>.json`` (what the run that had the data
recorded); ``test_recorded_checksums_match_the_data`` checks those against the data wherever it is
present. None of these tests needs the data, and together they run in seconds: a strategy whose
behaviour changes (a version bump) or a suite file edited without rerunning its rows fails here
until the rows are regenerated.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from experiments.harness.records import MANIFEST, fingerprint, manifest_row, read_manifest, resolved_config, short_hash
from experiments.harness.spec import TrialSpec
from experiments.harness.suite import Suite, load_suite
from experiments.studies import readme
from experiments.studies.claims import read_trials_csv
from nasbench.data import DataNotFound
from nasbench.registry import get_benchmark

RESULTS = Path(__file__).resolve().parents[1] / "results"
FOLDERS = sorted(p.parent for p in RESULTS.glob("**/meta.json") if "runs" not in p.relative_to(RESULTS).parts)
IDS = [str(f.relative_to(RESULTS.parent)) for f in FOLDERS]


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _suite(folder: Path) -> Suite:
    return Suite.from_dict(_json(folder / "meta.json")["suite"])


def _expected(folder: Path) -> dict[tuple[str, str, int], tuple[TrialSpec, dict[str, Any]]]:
    """(benchmark, label, seed) -> (the trial's spec, the fingerprint today's code gives it)."""
    suite = _suite(folder)
    out = {}
    for s in suite.trials():
        summary = _json(folder / "benchmarks" / f"{s.benchmark}.json")
        out[(s.benchmark, s.name, s.seed)] = (s, fingerprint(s, summary["checksums"], summary["noise"]))
    return out


def test_every_results_folder_is_checked():
    names = {str(f.relative_to(RESULTS)) for f in FOLDERS}
    assert {".", "reproduction", "subsets", "time-protocol", "alphax-large"} <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_suite_is_the_named_suite_today(folder):
    """The suite a folder ran is its suite file as it reads today (a suite edited without
    rerunning its rows would leave the folder describing settings nobody can run)."""
    ran = _suite(folder).as_dict()
    today = load_suite(ran["name"]).as_dict()
    changed = sorted(k for k in ran if k != "source" and ran[k] != today[k])
    assert not changed, f"{folder}: suite {ran['name']} changed since its run in {changed}; rerun its rows"


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_committed_records_are_current(folder):
    records = sorted((folder / "data").glob("*/*/seed-*.json"))
    if not records:
        pytest.skip(f"{folder} commits no records")
    expected = _expected(folder)
    stale: dict[str, list[str]] = {}
    for path in records:
        rec = _json(path)
        key = (rec["benchmark"], rec["strategy"], int(rec["seed"]))
        assert key in expected, f"{path}: a trial suite {_suite(folder).name} does not ask for"
        got, want = rec["fingerprint"], expected[key][1]
        diff = [k for k in want if got.get(k) != want[k]]
        if diff:
            stale.setdefault(f"{key[1]} on {key[0]}", []).append(",".join(diff))
    assert not stale, f"stale records in {folder}: " + "; ".join(f"{k} ({len(v)}: {v[0]})" for k, v in stale.items())
    assert len(records) == len(expected), f"{folder}: {len(expected) - len(records)} trials of the suite have no record"


@pytest.mark.parametrize("folder", [f for f in FOLDERS if not (f / "tables" / "trials.csv").is_file()],
                         ids=[i for f, i in zip(FOLDERS, IDS) if not (f / "tables" / "trials.csv").is_file()])
def test_manifest_is_current(folder):
    """``fingerprints.csv`` lists exactly the suite's trials, each with today's fingerprint."""
    rows = {(r["benchmark"], r["label"], int(r["seed"])): r for r in read_manifest(folder / MANIFEST)}
    expected = _expected(folder)
    missing = sorted(set(expected) - set(rows))
    extra = sorted(set(rows) - set(expected))
    assert not missing and not extra, f"{folder}: {len(missing)} trials without a row (first {missing[:1]}), " \
                                      f"{len(extra)} rows the suite does not ask for (first {extra[:1]})"
    stale: dict[str, int] = {}
    for key, (spec, fp) in expected.items():
        want = manifest_row(spec.name, fp)
        diff = [c for c in want if rows[key][c] != want[c]]
        if diff:
            k = f"{spec.name} on {spec.benchmark}: {', '.join(diff)} ({rows[key]['strategy_version']} -> {want['strategy_version']})"
            stale[k] = stale.get(k, 0) + 1
    assert not stale, f"stale trials in {folder}: " + "; ".join(f"{k} x{n}" for k, n in stale.items())


@pytest.mark.parametrize("folder", [f for f in FOLDERS if (f / "tables" / "trials.csv").is_file()],
                         ids=[i for f, i in zip(FOLDERS, IDS) if (f / "tables" / "trials.csv").is_file()])
def test_claims_trials_are_current(folder):
    """Each row of a claims folder's ``tables/trials.csv`` carries the version and config hash
    today's code gives its trial (its cap and seeds are checked in ``test_merge``/``test_claims``)."""
    expected = _expected(folder)
    stale: dict[str, int] = {}
    for t in read_trials_csv(folder / "tables" / "trials.csv"):
        spec, fp = expected[(t.benchmark, t.strategy, t.seed)]
        want = (fp["strategy_version"], short_hash(fp["config"]))
        if (t.strategy_version, t.config_hash) != want:
            k = f"{t.strategy} on {t.benchmark}: version {t.strategy_version} -> {want[0]}, config {t.config_hash} -> {want[1]}"
            stale[k] = stale.get(k, 0) + 1
    assert not stale, f"stale trials in {folder}: " + "; ".join(f"{k} x{n}" for k, n in stale.items())


def test_a_version_bump_is_caught(tmp_path):
    """The check fails for a record made by an older version of its strategy (the AlphaX 2 -> 3 case)."""
    spec = TrialSpec("nb201-cifar10", "alphax", 0, 150, label="alphax")
    fp = fingerprint(spec, {"x": "0"}, None)
    old = {**fp, "strategy_version": fp["strategy_version"] - 1}
    assert manifest_row("alphax", old) != manifest_row("alphax", fp)
    assert manifest_row("alphax", old)["config_hash"] == manifest_row("alphax", fp)["config_hash"]
    config, _ = resolved_config("alphax", {"cp": 0.5})
    assert short_hash(config) != manifest_row("alphax", fp)["config_hash"]


@cache
def _loaded_checksums(name: str) -> dict[str, str] | None:
    try:
        return get_benchmark(name).checksums
    except DataNotFound:
        return None


SUMMARIES = sorted(RESULTS.glob("**/benchmarks/*.json"))


@pytest.mark.parametrize("summary", SUMMARIES, ids=[str(p.relative_to(RESULTS)) for p in SUMMARIES])
def test_recorded_checksums_match_the_data(summary):
    """Where a benchmark's data is present, the checksums a folder recorded are the data's."""
    rec = _json(summary)
    sums = _loaded_checksums(rec["name"])
    if sums is None:
        pytest.skip(f"{rec['name']}: data not found here (`nasarena data` says where to get it)")
    assert rec["checksums"] == sums


@pytest.mark.parametrize("name", sorted(readme.BLOCKS))
def test_readme_blocks_are_the_reports(name):
    """The README's leaderboard, claims and strategies tables are copies of what the reports (and the
    registry) hold today: `nasarena readme` rewrites them, nobody types them."""
    root = RESULTS.parent
    held = readme.current((root / "README.md").read_text(), name)
    assert held is not None, f"README.md lost its generated:{name} block"
    assert held == readme.block(root, name), f"README.md's {name} block is stale: run `nasarena readme`"

"""Merging run folders into a claims folder that keeps only its trials table."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from experiments.cli import main
from experiments.harness.execute import run_suite
from experiments.harness.suite import load_suite
from experiments.studies import claims, claims_report
from experiments.studies.merge import merge
from nasbench.synthetic import synthetic_benchmark

SUITE = ('name = "toy-claims"\nbenchmarks = ["synthetic"]\nstrategies = ["random-search", "regularized-evolution"]\n'
         'seeds = 3\nbudget = 200\nstop = "optimum"\n')


@pytest.fixture()
def toy():
    return synthetic_benchmark(positions=4, choices=4, repeats=1, noise_sd=0.0, seed=0, name="synthetic")


def _run(tmp_path, name: str, text: str):
    """Run the suite ``text`` into ``tmp_path/name`` with its claims report; return (folder, suite)."""
    (tmp_path / f"{name}.toml").write_text(text)
    suite = load_suite(str(tmp_path / f"{name}.toml"))
    out = tmp_path / name
    run_suite(suite, out, progress=False)
    claims_report.write_report(out, figures=False)
    return out, suite


def _committed(folder):
    """A claims folder as committed: its tables and report, not its records."""
    shutil.rmtree(folder / "data")
    return folder


def test_merged_folder_holds_what_one_folder_running_everything_holds(tmp_path, toy, register):
    """Three seeds committed, two more random-search seeds run apart: the merge gives the trials
    (their wall times aside) and the verdict rows of one folder that ran all of them."""
    register(toy)
    more = SUITE + "[label_seeds]\nrandom-search = 5\n"
    into = _committed(_run(tmp_path, "into", SUITE)[0])
    whole, suite = _run(tmp_path, "whole", more)
    run, _ = _run(tmp_path, "run", more)
    n = merge(into, [run], suite)
    assert n == {"before": 6, "merged": 8, "replaced": 0, "after": 8}

    def results(folder):
        return [replace(t, wall_s=0) for t in claims.read_trials_csv(folder / "tables" / "trials.csv")]

    assert results(into) == results(whole) and len(results(into)) == 8
    a, b = (claims.analyse(f) for f in (into, whole))
    assert [{k: v for k, v in r.items() if k != "s_per_trial"} for r in a.rows] == \
        [{k: v for k, v in r.items() if k != "s_per_trial"} for r in b.rows]
    assert a.not_run == [] and '"label_seeds"' in (into / "meta.json").read_text()


def test_a_trial_of_another_setting_is_refused_and_nothing_is_written(tmp_path, toy, register):
    register(toy)
    into = _committed(_run(tmp_path, "into", SUITE)[0])
    before = {p.name: p.read_bytes() for p in (into / "tables").iterdir()}
    lower, _ = _run(tmp_path, "lower", SUITE.replace("budget = 200", "budget = 100"))
    with pytest.raises(ValueError, match="ran to a cap of 100; suite toy-claims asks for 200"):
        merge(into, [lower], load_suite(str(tmp_path / "into.toml")))
    # the suite's cap changed, but only evolution was rerun at it: random search's old trials would remain
    (tmp_path / "evo.toml").write_text(SUITE.replace("budget = 200", "budget = 100")
                                       .replace('"random-search", ', ""))
    run_suite(load_suite(str(tmp_path / "evo.toml")), tmp_path / "evo", progress=False)
    with pytest.raises(ValueError, match=r"no longer asks for would remain: random-search on synthetic \(3\)"):
        merge(into, [tmp_path / "evo"], load_suite(str(tmp_path / "lower.toml")))
    assert {p.name: p.read_bytes() for p in (into / "tables").iterdir()} == before


def test_merge_command_says_what_is_wrong_in_one_line(tmp_path, toy, register, capsys):
    register(toy)
    into, _ = _run(tmp_path, "into", SUITE)
    code = main(["merge", str(into), str(into), "--suite", str(tmp_path / "into.toml")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "holds its records under data/" in err
    _committed(into)
    run, _ = _run(tmp_path, "run", SUITE)
    assert main(["merge", str(into), str(run), "--suite", str(tmp_path / "into.toml")]) == 0
    assert "6 trials, 6 merged (0 with a different result), 6 now" in capsys.readouterr().out


def test_committed_reproduction_folder_holds_only_trials_of_its_suite():
    """results/reproduction/ is reproduction-cpu as it stands: its meta.json holds that suite, and
    its table holds exactly the trials the suite asks for (benchmark, label, seed, cap). Changing a
    cap in the suite file without rerunning the row fails here."""
    import json
    from pathlib import Path

    from experiments.studies.merge import mismatch

    root = Path(__file__).resolve().parents[1] / "results" / "reproduction"
    suite = load_suite("reproduction-cpu")
    assert json.loads((root / "meta.json").read_text())["suite"] == json.loads(json.dumps(suite.as_dict()))
    trials = claims.read_trials_csv(root / "tables" / "trials.csv")
    assert [why for t in trials if (why := mismatch(t, suite))] == []
    # and it holds every trial the suite asks for, once
    assert sorted((t.benchmark, t.strategy, t.seed) for t in trials) == \
        sorted((s.benchmark, s.label, s.seed) for s in suite.trials())


ZC_SUITE = ('name = "zero-cost-search"\nbenchmarks = ["synthetic"]\n'
            'strategies = ["random-search", "random-search-zc-warmup"]\nseeds = 3\nbudget = 200\nstop = "optimum"\n'
            '[labels]\n"random-search-zc-warmup" = "random-search:zc-warmup"\n')


def test_a_zero_cost_search_folder_merges_its_table_and_its_fingerprints(tmp_path, toy, register):
    """A folder that keeps a study's table and fingerprints.csv (not the claims table): the merged
    folder holds the trials and manifest rows of one folder that ran everything."""
    import numpy as np

    from experiments.harness.records import MANIFEST, read_manifest
    from experiments.studies import zero_cost_search as zcs
    from nasbench.proxy_scores import ProxyScores

    toy.space.proxies = {"synflow": ProxyScores("synflow", np.asarray(toy.truth.truth), 0.5, "cpu", "test")}
    register(toy)
    more = ZC_SUITE.replace("[labels]", "[label_seeds]\n\"random-search-zc-warmup\" = 5\n[labels]")
    suites = {}
    for name, text in (("into", ZC_SUITE), ("whole", more), ("run", more)):
        (tmp_path / f"{name}.toml").write_text(text)
        suites[name] = load_suite(str(tmp_path / f"{name}.toml"))
        run_suite(suites[name], tmp_path / name, progress=False)
        zcs.write_report(tmp_path / name, figures=False)
    into = tmp_path / "into"
    shutil.rmtree(into / "data")
    n = merge(into, [tmp_path / "run"], suites["whole"])
    assert n["before"] == 6 and n["after"] == 8

    def trials(folder):
        return [replace(t, wall_s=0) for t in zcs.read_trials_csv(folder / "tables" / zcs.TRIALS_CSV)]

    assert trials(into) == trials(tmp_path / "whole")
    assert read_manifest(into / MANIFEST) == read_manifest(tmp_path / "whole" / MANIFEST)
    glance = "tables/glance.md"  # the comparisons (no wall times): the one-folder run's
    assert (into / glance).read_text() == (tmp_path / "whole" / glance).read_text() and "synthetic" in (into / glance).read_text()
    with pytest.raises(ValueError, match="is not in suite"):  # a run of a label the suite lacks
        merge(into, [tmp_path / "run"], suites["into"].__class__.from_dict(
            {**suites["into"].as_dict(), "strategies": ["random-search"]}))

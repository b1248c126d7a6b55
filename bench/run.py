"""Run every speed/memory benchmark and write bench/results.json (atomically).

    python -m bench.run [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import sys
import time
from pathlib import Path

from nasbench.data import atomic_write_text

SUITES = ["bench_nb101", "bench_tables", "bench_strategies", "bench_long", "bench_timed", "bench_train", "bench_executors",
          "bench_main_job"]
OUT = Path(__file__).parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    import jax

    results["machine"] = {"platform": platform.platform(), "python": sys.version.split()[0],
                          "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    for name in args.only or SUITES:
        try:
            mod = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"{name}: not available ({exc})", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        try:
            res = mod.run()
        except Exception as exc:  # one failing benchmark must not lose the others
            res = {"error": f"{type(exc).__name__}: {exc}"}
        res["_wall_s"] = round(time.perf_counter() - t0, 2)
        res["_date"] = time.strftime("%Y-%m-%d %H:%M")
        results[name] = res
        print(f"{name}: {json.dumps(res, indent=1)}")
        atomic_write_text(out, json.dumps(results, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

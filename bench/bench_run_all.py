"""What `just run-all` costs from scratch (issue 44): the default suite with no records.

``run()`` copies nothing: it runs ``nasarena run default`` into an empty folder with the process
executor (one worker per core, as ``just run-all`` does) and, unless ``NASARENA_BENCH_WARM=1``, an
empty ``NASARENA_CACHE`` (cold caches: the parsed tables and JAX's persistent compilation cache are
rebuilt, as on a fresh machine). It reports:

* the wall time of the whole run and the CPU time of its processes (driver and workers);
* per strategy label, the sum of its trials' wall times in minutes (a worker has one core, so this
  is close to the CPU minutes the label costs) and the slowest trial;
* whether every trajectory (architectures and observed values) equals the committed record's in
  ``results/data``: a from-scratch run must reproduce the committed rows exactly.

It needs every benchmark of the default suite (the data folder and the NB-201 / NAS-Bench-Graph
packages); without them the suite runs fewer trials and the figure is not the one the README
quotes. It takes over an hour on 2 cores, so ``just bench`` leaves it out: ``just bench-run-all``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from experiments.harness.records import record_paths

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results"


def summarize(out: Path, wall_s: float, cpu_s: float, committed: Path = COMMITTED) -> dict[str, Any]:
    """The entry for a finished from-scratch run in ``out`` (wall and CPU seconds as measured)."""
    minutes: dict[str, float] = defaultdict(float)
    slowest: dict[str, float] = defaultdict(float)
    same, differ, absent = 0, [], 0
    paths = record_paths(out)
    for path in paths:
        rec = json.loads(path.read_text())
        label = path.parent.name
        minutes[label] += rec["wall_time"] / 60
        slowest[label] = max(slowest[label], rec["wall_time"])
        ref = committed / path.relative_to(out)
        if not ref.is_file():
            absent += 1
            continue
        old = json.loads(ref.read_text())
        if (rec["arch"], rec["observed"]) == (old["arch"], old["observed"]):
            same += 1
        else:
            differ.append(str(path.relative_to(out / "data")))
    order = sorted(minutes, key=lambda k: -minutes[k])
    return {
        "trials": len(paths),
        "wall_min": round(wall_s / 60, 1),
        "cpu_min": round(cpu_s / 60, 1),
        "trial_minutes_by_label": {k: round(minutes[k], 1) for k in order},
        "slowest_trial_s_by_label": {k: round(slowest[k], 1) for k in order},
        "trial_minutes_total": round(sum(minutes.values()), 1),
        "trajectories_equal_committed": same,
        "trajectories_differing": len(differ),
        "trajectories_differing_first": differ[:10],
        "records_without_committed": absent,
    }


def run() -> dict[str, Any]:
    warm = os.environ.get("NASARENA_BENCH_WARM") == "1"
    with tempfile.TemporaryDirectory(prefix="nasarena-run-all-") as tmp:
        out, env = Path(tmp) / "results", dict(os.environ)
        if not warm:
            env["NASARENA_CACHE"] = str(Path(tmp) / "cache")
            env.pop("JAX_COMPILATION_CACHE_DIR", None)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "experiments.cli", "run", "default", "--out", str(out),
                        "--executor", "process"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        res = summarize(out, wall, cpu)
    res["caches"] = "warm" if warm else "cold (empty NASARENA_CACHE: tables parsed, every program compiled)"
    res["cores"] = os.cpu_count()
    return res

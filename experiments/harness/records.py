"""Trial records on disk: where they live, what determines them, and whether one is still valid.

A record is ``OUT/data/<benchmark>/<label>/seed-SSSS.json``. Its ``fingerprint`` names everything
that determines the trial (:func:`fingerprint`): the record format, the benchmark and the checksums
of its data files, the strategy spec, its *resolved* config (preset and overrides, every field) and
the strategy's ``version`` (bumped by a module when its behaviour changes), the seed, the budget,
the stop rule and the noise model. On resume a record whose fingerprint differs from the trial the
suite asks for is *stale*: it is rerun and replaced (and the run says how many and why), or, with
``--keep-stale``, the run refuses. A record that cannot be read (not JSON, not an object, damaged
bytes) is moved aside to ``seed-SSSS.json.damaged`` (never deleted) and rerun.

Files are written atomically with the user's umask (:func:`nasbench.data.atomic_write_text`), and
every JSON written here is strict (non-finite numbers become ``null``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from experiments.analysis.metrics import TARGETS
from experiments.harness.spec import TrialSpec, stop_threshold
from nasbench.benchmark import Benchmark
from nasbench.data import atomic_write_text
from nasbench.proxy_scores import scores_checksum
from strategies.base import Strategy, fingerprint_config, make_config, proxies_used
from strategies.registry import resolve

log = logging.getLogger(__name__)

T = TypeVar("T")

#: bumped when the record layout or the meaning of a field changes
RECORD_FORMAT = 2
#: bumped when what a strategy learns in a timed (event-simulated) trial changes; 2: LaNAS,
#: predictor-subsets, NAO and AlphaX leave pending architectures out (untimed fingerprints carry
#: ``None``, unchanged)
TIMED_PROTOCOL = 2


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """Strict JSON text of ``obj`` (``null`` for NaN and infinities)."""
    return json.dumps(strict(obj), allow_nan=False, **kw)


def _config(strategy_spec: str, overrides: dict[str, Any]) -> tuple[Any, int]:
    """``(the config object after preset and overrides, the strategy's version)``."""
    cls, values = resolve(strategy_spec, overrides)
    return make_config(cls.Config, values), int(cls.version)


def resolved_config(strategy_spec: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``(every config field after preset and overrides, as fingerprinted, the strategy's version)``."""
    cfg, version = _config(strategy_spec, overrides)
    return _fingerprinted(cfg), version


def _fingerprinted(cfg: Any) -> dict[str, Any]:
    """The config's fields as a fingerprint holds them (strict JSON values)."""
    return json.loads(dumps(fingerprint_config(cfg)))


def short_hash(obj: Any) -> str:
    """12 hex digits of the SHA-256 of ``obj``'s canonical strict JSON (sorted keys, no spaces):
    the same value on every machine and Python version."""
    text = json.dumps(strict(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def fingerprint_hash(fp: dict[str, Any]) -> str:
    """:func:`short_hash` of a fingerprint without its data checksums: what today's code alone
    determines (the checksums are checked against the data where it is present)."""
    return short_hash({k: v for k, v in fp.items() if k != "data"})


def fingerprint(spec: Any, checksums: dict[str, str], noise: str | None, proxies: Any = None) -> dict[str, Any]:
    """Everything that determines the trial ``spec`` (a :class:`~experiments.harness.spec.TrialSpec`) on a
    benchmark whose data files have ``checksums`` and whose effective noise model is ``noise``; for a
    search that reads zero-cost proxy scores, their checksums: of the scores the benchmark's space
    holds (``proxies``, ``space.proxies``) where given, else of the committed tables'."""
    cfg, version = _config(spec.strategy, spec.config)
    fp = {
        "format": RECORD_FORMAT,
        "benchmark": spec.benchmark,
        "data": dict(sorted(checksums.items())),
        "strategy": spec.strategy,
        "strategy_version": version,
        "config": _fingerprinted(cfg),
        "seed": spec.seed,
        "budget": spec.budget,
        "stop": getattr(spec, "stop", None),
        "noise": noise,
        # timed trials only (None otherwise, so untimed records keep their fingerprints)
        "time_budget": getattr(spec, "time_budget", None),
        "time_budget_mean_costs": getattr(spec, "time_budget_mean_costs", None),
        "workers_sim": (getattr(spec, "workers_sim", None) or 1) if getattr(spec, "timed", False) else None,
        "timed_protocol": TIMED_PROTOCOL if getattr(spec, "timed", False) else None,
    }
    used = proxies_used(cfg)
    if used:  # a search that reads zero-cost scores depends on them (other fingerprints stay as they were)
        fp["proxy_scores"] = {name: scores_checksum(spec.benchmark, name) if proxies is None
                              else proxies[name].checksum if name in proxies else "absent" for name in used}
    return fp


MANIFEST = "fingerprints.csv"
MANIFEST_HEADER = "benchmark,label,seed,strategy,strategy_version,config_hash,fingerprint"


def manifest_row(label: str, fp: dict[str, Any]) -> dict[str, str]:
    """The manifest's row of the trial labelled ``label`` whose fingerprint is ``fp``."""
    return {"benchmark": fp["benchmark"], "label": label, "seed": str(fp["seed"]), "strategy": fp["strategy"],
            "strategy_version": str(fp["strategy_version"]), "config_hash": short_hash(fp["config"]),
            "fingerprint": fingerprint_hash(fp)}


def write_manifest(out: Path, trials: list[tuple[str, dict[str, Any]]]) -> None:
    """``OUT/fingerprints.csv``: one row per finished trial (label, fingerprint), by benchmark, label
    and seed. A folder whose records are not committed (``results/*/data/`` is ignored) keeps this
    file, so ``tests/test_results_current.py`` can tell, without the records or the data, whether
    today's code would compute the same trials."""
    text = manifest_text([manifest_row(label, fp) for label, fp in trials])
    path = Path(out) / MANIFEST
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)


def manifest_text(rows: list[dict[str, str]]) -> str:
    """A ``fingerprints.csv``'s text: its header, then ``rows`` by benchmark, label and seed."""
    cols = MANIFEST_HEADER.split(",")
    rows = sorted(rows, key=lambda r: (r["benchmark"], r["label"], int(r["seed"])))
    return "\n".join([MANIFEST_HEADER] + [",".join(r[c] for c in cols) for r in rows]) + "\n"


def read_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of a ``fingerprints.csv`` (``ValueError`` if its header is not :data:`MANIFEST_HEADER`)."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] != MANIFEST_HEADER:
        raise ValueError(f"{path}: not a fingerprints manifest (its first line must be {MANIFEST_HEADER!r})")
    cols = MANIFEST_HEADER.split(",")
    return [dict(zip(cols, line.split(","))) for line in lines[1:]]


def record_paths(root: Path) -> list[Path]:
    """The trial records of a results folder, ``root/data/<benchmark>/<label>/seed-*.json``, sorted."""
    return sorted((root / "data").glob("*/*/seed-*.json"))


def has_records(root: Path) -> bool:
    """Whether ``root/data`` holds trial records."""
    return bool(record_paths(root))


def records_or_table(root: Path, table: str, read_table: Callable[[Path], T], read_records: Callable[[Path], T]) -> T:
    """A study's trials: from the folder's records, or, where it has none (``results/*/data`` is not
    committed), from its committed per-trial table ``root/tables/<table>``."""
    path = root / "tables" / table
    if not has_records(root) and path.is_file():
        return read_table(path)
    return read_records(root)


def trial_path(out: Path, spec: Any) -> Path:
    return Path(out) / "data" / spec.benchmark / spec.name / f"seed-{spec.seed:04d}.json"


def write_record(out: Path, spec: Any, record: dict[str, Any]) -> None:
    atomic_write_text(trial_path(out, spec), dumps(record))


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; ``None`` when absent. A damaged one is moved aside, named in the
    log, and ``None`` returned (its trial then runs again)."""
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(rec, dict) or not isinstance(rec.get("arch"), list):
            raise ValueError("not a trial record (a JSON object with an 'arch' list)")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        aside = path.with_name(path.name + ".damaged")
        k = 1
        while aside.exists():
            aside, k = path.with_name(f"{path.name}.damaged-{k}"), k + 1
        os.replace(path, aside)
        log.warning("damaged trial record %s (%s): moved to %s; the trial runs again", path, exc, aside.name)
        return None
    return rec


def differences(expected: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    """Fields in which record ``rec`` differs from the ``expected`` fingerprint (``[]``: valid)."""
    got = rec.get("fingerprint")
    if not isinstance(got, dict):
        return ["fingerprint (the record has none)"]
    diff = [k for k in expected if got.get(k) != expected[k]]
    if len(rec.get("arch", [])) != expected["budget"] and expected.get("stop") is None \
            and expected.get("time_budget") is None and expected.get("time_budget_mean_costs") is None:
        diff.append("length")
    return diff


def upgrade(out: str | os.PathLike[str]) -> dict[str, int]:
    """Give the records of a folder written before fingerprints (format 1) the fingerprint their own
    fields determine: benchmark, strategy spec, config, seed, budget, noise, the strategy version
    they were made with (1 when absent) and the data checksums of the folder's
    ``benchmarks/<benchmark>.json``. A record whose version is not its strategy's current one
    stays stale (its fingerprint says which version made it). Returns counts."""
    out = Path(out)
    counts = {"upgraded": 0, "already": 0}
    sums: dict[str, dict[str, str]] = {}
    for path in record_paths(out):
        rec = read_record(path)
        if rec is None or isinstance(rec.get("fingerprint"), dict):
            counts["already"] += rec is not None
            continue
        b = rec["benchmark"]
        if b not in sums:
            sums[b] = json.loads((out / "benchmarks" / f"{b}.json").read_text())["checksums"]
        spec = TrialSpec(b, rec["strategy_spec"], int(rec["seed"]), int(rec["budget"]), label=rec["strategy"],
                         config=rec.get("config", {}), noise=rec.get("noise"))
        fp = fingerprint(spec, sums[b], rec.get("noise"))
        fp["strategy_version"] = int(rec.get("strategy_version", 1))
        rec = {"fingerprint": fp, **rec, "strategy_version": fp["strategy_version"],
               "stop": rec.get("stop"), "stopped": rec.get("stopped", False)}
        rec.setdefault("diagnostics", {})
        rec.setdefault("settings", {})
        atomic_write_text(path, dumps(rec))
        counts["upgraded"] += 1
    return counts


# ----------------------------------------------------------------------------- building a record
def offer_diagnostics(offers: list[np.ndarray], bench: Benchmark) -> dict[str, float]:
    """Per target of :data:`experiments.analysis.metrics.TARGETS`: ``offered_rounds_<target>`` (rounds whose
    candidate set held an architecture that reaches the target) and ``offered_<target>`` (1 when
    any round did). They separate a search that never had a target among its candidates (a
    subset that holds none) from one whose model passed it over."""
    out: dict[str, float] = {}
    for name, frac in TARGETS.items():
        t = bench.truth.target(frac)
        if t is None:
            continue
        rounds = sum(bool((bench.truth.truth[np.asarray(c, np.int64)] >= t[0]).any()) for c in offers)
        out[f"offered_rounds_{name}"] = float(rounds)
        out[f"offered_{name}"] = float(rounds > 0)
    return out


def build_record(spec: TrialSpec, bench: Benchmark, arch: np.ndarray, observed: np.ndarray,
            wall: float, n_asks: int, strategy: Strategy, state: Any = None,
            diagnostics: dict[str, float] | None = None) -> dict[str, Any]:
    """The record of a finished trial. Its diagnostics are the strategy's of the final ``state``, or
    ``diagnostics`` as given (the vectorised runner, which keeps no state per trial)."""
    arch = np.asarray(arch, dtype=np.int64)
    observed = np.asarray(observed, dtype=np.float64)
    stopped = False
    threshold = stop_threshold(spec, bench)
    if threshold is not None:
        hit = np.flatnonzero(bench.truth.truth[arch] >= threshold)
        if hit.size:  # the trial ends at the first evaluation that reaches the target
            arch, observed, stopped = arch[: hit[0] + 1], observed[: hit[0] + 1], True
    diagnostics = strategy.diagnostics(state) if state is not None else dict(diagnostics or {})
    offers = strategy.offers(state) if state is not None else None
    if offers is not None:
        diagnostics = {**diagnostics, **offer_diagnostics(offers, bench)}
    return {
        "fingerprint": fingerprint(spec, bench.checksums, bench.noise, bench.space.proxies),
        "benchmark": spec.benchmark,
        "strategy": spec.name,
        "strategy_spec": spec.strategy,
        "strategy_version": strategy.version,
        "config": spec.config,
        "seed": spec.seed,
        "budget": spec.budget,
        "noise": bench.noise,
        "arch": arch.tolist(),
        "observed": [float(v) for v in observed],
        "truth": [float(v) for v in bench.truth.truth[arch]],
        "cost": [float(v) for v in bench.cost[arch]],
        "wall_time": wall,
        "n_asks": int(n_asks),
        "stop": spec.stop,
        "stopped": stopped,
        "diagnostics": {k: float(v) for k, v in diagnostics.items()},
        "settings": strategy.settings(state) if state is not None else {},
    }


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "upgrade":
        raise SystemExit("usage: python -m experiments.harness.records upgrade DIR")
    print(upgrade(sys.argv[2]))

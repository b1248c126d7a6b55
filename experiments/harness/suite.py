"""Suites: named configs (TOML) of benchmarks x strategies x seeds x budget.

A suite file looks like::

    name = "smoke"
    description = "..."
    benchmarks = ["nb201-cifar10", "nb101-30k"]
    strategies = ["random-search", "regularized-evolution", "lanas:oneshot"]
    seeds = 5            # seeds 0..4; or an explicit list [0, 1, 7]
    budget = 150         # unique architectures per trial
    noise = "sample"     # optional: the benchmarks' noise model

    [budgets]            # optional per-benchmark budgets
    nb101-30k = 300

    [config.lanas]       # optional settings per strategy label
    cp = 0.5

    [labels]             # optional: run one strategy under several labels with different configs
    "lanas-cp1" = "lanas"

    stop = "optimum"     # optional: end each trial at the first evaluation reaching this target
                         # ("optimum", "top-0.1%", "top-1%"); the budget is then the cap
    [caps]               # optional: a lower budget cap for a strategy (e.g. GP-BO's cubic cost)
    bayesian-optimization = 2000
    bananas = { nb101-30k = 400 }   # or only on some benchmarks
    [label_seeds]        # optional: another seed count (seeds 0..n-1) for a label, e.g. a cheap one
    random-search = 100
    lanas = { nb201-cifar10 = 100 }  # or only on some benchmarks

Named suites live in ``experiments/suites/<name>.toml``; any other path to a TOML file works too.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.analysis.metrics import TARGETS
from experiments.harness.spec import TrialSpec
from nasbench.registry import available_benchmarks
from strategies.base import ConfigError, make_config
from strategies.registry import available_strategies, strategy_class

SUITES_DIR = Path(__file__).resolve().parents[1] / "suites"


class SuiteError(ValueError):
    """A suite file is missing or malformed; the message says what and where."""


@dataclass(frozen=True)
class Suite:
    name: str
    benchmarks: list[str]
    strategies: list[str]  # labels
    seeds: list[int]
    budget: int
    budgets: dict[str, int] = field(default_factory=dict)
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # label -> "name[:preset]"
    noise: str | None = None
    description: str = ""
    source: str = ""
    stop: str | None = None  # stop each trial at the first evaluation reaching this target
    caps: dict[str, int | dict[str, int]] = field(default_factory=dict)  # label -> a lower cap (or {benchmark: cap})
    time_budget: float | None = None  # simulated seconds per trial (experiments.harness.timed)
    time_budgets: dict[str, float] = field(default_factory=dict)  # per benchmark
    time_budget_mean_costs: float | None = None  # or: that many mean training costs of the benchmark
    workers_sim: tuple[int, ...] = ()  # simulated workers; several: one label per count ("lanas-w8")
    only: dict[str, list[str]] = field(default_factory=dict)  # label -> the only benchmarks it runs on
    label_seeds: dict[str, int | dict[str, int]] = field(default_factory=dict)  # label -> seed count (or {benchmark: count})

    @property
    def timed(self) -> bool:
        return self.time_budget is not None or bool(self.time_budgets) or self.time_budget_mean_costs is not None

    def budget_for(self, benchmark: str, label: str | None = None) -> int:
        b = int(self.budgets.get(benchmark, self.budget))
        cap = self.caps.get(label) if label is not None else None
        if isinstance(cap, dict):
            cap = cap.get(benchmark)
        return b if cap is None else min(b, int(cap))

    def seeds_for(self, benchmark: str, label: str) -> list[int]:
        return seeds_for(self.seeds, self.label_seeds, label, benchmark)

    def trials(self, benchmarks: list[str] | None = None) -> list[TrialSpec]:
        out = []
        workers = self.workers_sim or (1,)
        for b in benchmarks if benchmarks is not None else self.benchmarks:
            tb = self.time_budgets.get(b, self.time_budget)
            for label in self.strategies:
                if not runs_on(self.only, label, b):
                    continue
                for w in workers:
                    for seed in self.seeds_for(b, label):
                        out.append(TrialSpec(
                            benchmark=b,
                            strategy=self.labels.get(label, label),
                            seed=seed,
                            budget=self.budget_for(b, label),
                            label=label if len(workers) == 1 else f"{label}-w{w}",
                            config=dict(self.config.get(label, {})),
                            noise=self.noise,
                            stop=self.stop,
                            time_budget=tb if self.timed else None,
                            time_budget_mean_costs=self.time_budget_mean_costs if tb is None else None,
                            workers_sim=w if self.timed else None,
                        ))
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Suite:
        """The suite :meth:`as_dict` wrote (a results folder's ``meta.json`` keeps it)."""
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SuiteError(f"a suite dict with unknown fields {unknown}")
        return cls(**{**d, "workers_sim": tuple(d.get("workers_sim", ()))})

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "benchmarks": self.benchmarks,
            "strategies": self.strategies, "seeds": self.seeds, "budget": self.budget,
            "budgets": self.budgets, "config": self.config, "labels": self.labels,
            "noise": self.noise, "source": self.source, "stop": self.stop, "caps": self.caps,
            "time_budget": self.time_budget, "time_budgets": self.time_budgets,
            "time_budget_mean_costs": self.time_budget_mean_costs, "workers_sim": list(self.workers_sim),
            **({"only": self.only} if self.only else {}),
            **({"label_seeds": self.label_seeds} if self.label_seeds else {}),
        }


def runs_on(only: dict[str, list[str]], label: str, benchmark: str) -> bool:
    """Whether a suite with this ``[only]`` table runs ``label`` on ``benchmark``."""
    return label not in only or benchmark in only[label]


def seeds_for(seeds: list[int], label_seeds: dict[str, Any], label: str, benchmark: str) -> list[int]:
    """The seeds a suite with these ``seeds`` and ``[label_seeds]`` runs ``label`` with on
    ``benchmark``: ``seeds``, or ``0..n-1`` where ``[label_seeds]`` gives that pair ``n``."""
    n = label_seeds.get(label)
    if isinstance(n, dict):
        n = n.get(benchmark)
    return list(seeds) if n is None else list(range(int(n)))


NOISE_MODELS = ("sample", "mean")


def _nearest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(sorted(options))}"


def _check_names(fail, benchmarks: list[str], strategies: list[str], labels: dict[str, str],
                 config: dict[str, dict[str, Any]]) -> None:
    """Every benchmark, strategy, preset and config key exists (before any trial runs)."""

    known = available_benchmarks()
    for b in benchmarks:
        if b not in known:
            raise fail(f"unknown benchmark {b!r}{_nearest(b, known)}")
    registered = available_strategies()
    for label in strategies:
        spec = labels.get(label, label)
        name, _, preset = spec.partition(":")
        if name not in registered:
            raise fail(f"unknown strategy {name!r} (in {label!r}){_nearest(name, registered)}")
        cls = strategy_class(name)
        if preset and preset not in cls.presets:
            raise fail(f"strategy {name!r} has no preset {preset!r}{_nearest(preset, cls.presets)}")
        values = {**(cls.presets.get(preset, {}) if preset else {}), **config.get(label, {})}
        fields = [f.name for f in __import__("dataclasses").fields(cls.Config)]
        for key in config.get(label, {}):
            if key not in fields:
                raise fail(f"[config.{label}] {key!r} is not a setting of {name}{_nearest(key, fields)}")
        try:
            make_config(cls.Config, values)
        except (ConfigError, TypeError, ValueError) as exc:
            raise fail(f"[config.{label}]: {exc}") from None


def available_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """Load a named suite (``experiments/suites/NAME.toml``) or a TOML file path."""
    path = Path(name_or_path)
    if not path.suffix == ".toml" or not path.is_file():
        named = SUITES_DIR / f"{name_or_path}.toml"
        if named.is_file():
            path = named
        elif not path.is_file():
            raise SuiteError(
                f"no suite {name_or_path!r}: not a file, and not one of the named suites "
                f"({', '.join(available_suites())})"
            )
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML: {exc}") from None
    known = {"name", "description", "benchmarks", "strategies", "seeds", "budget", "budgets",
             "config", "labels", "noise", "stop", "caps", "time_budget", "time_budgets",
             "time_budget_mean_costs", "workers_sim", "only", "label_seeds"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SuiteError(f"{path}: unknown key(s) {unknown}; a suite has {sorted(known)}")
    for req in ("benchmarks", "strategies", "seeds", "budget"):
        if req not in raw:
            raise SuiteError(f"{path}: missing required key {req!r}")
    def fail(msg: str) -> SuiteError:
        return SuiteError(f"{path}: {msg}")

    def names(key: str) -> list[str]:
        v = raw[key]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
            raise fail(f"{key} must be a non-empty list of names, e.g. {key} = [\"...\"], got {v!r}")
        if len(set(v)) != len(v):
            raise fail(f"{key} lists {sorted({x for x in v if v.count(x) > 1})} more than once")
        return list(v)

    seeds = raw["seeds"]
    if isinstance(seeds, bool) or not isinstance(seeds, int | list):
        raise fail(f"seeds must be a positive count or a list of non-negative integers, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise fail(f"seeds must be a positive count or a list, got {seeds}")
        seeds = list(range(seeds))
    if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds):
        raise fail(f"seeds must be a count or a non-empty list of non-negative integers, got {raw['seeds']!r}")
    if len(set(seeds)) != len(seeds):
        raise fail(f"seeds lists {sorted({x for x in seeds if seeds.count(x) > 1})} more than once; each seed is one trial")

    def keyed(key: str, allowed: list[str], what: str, check) -> dict[str, Any]:
        """A table whose keys must be ``allowed`` names and whose values pass ``check``."""
        out = {}
        for k, v in raw.get(key, {}).items():
            if k not in allowed:
                raise fail(f"[{key}] names {k!r}, which is not {what}{_nearest(k, allowed)}")
            out[str(k)] = check(f"[{key}] {k}", v)
        return out

    def count(key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise fail(f"{key} must be a positive integer, got {v!r}")
        return int(v)

    def positive(key: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise fail(f"{key} must be a positive number of seconds or costs, got {v!r}")
        return float(v)

    budget = count("budget", raw["budget"])
    benchmarks = names("benchmarks")
    strategies = names("strategies")
    for key in ("budgets", "config", "labels", "caps", "time_budgets", "only", "label_seeds"):
        if not isinstance(raw.get(key, {}), dict):
            raise fail(f"[{key}] must be a table, got {raw[key]!r}")
    budgets = keyed("budgets", benchmarks, "a benchmark of the suite", count)
    labels = {}
    for k, v in raw.get("labels", {}).items():
        if not isinstance(v, str):
            raise fail(f"[labels] {k} must name a strategy (\"name\" or \"name:preset\"), got {v!r}")
        if k not in strategies:
            raise fail(f"[labels] defines {k!r}, which is not in strategies{_nearest(k, strategies)}")
        labels[str(k)] = v
    config = {}
    for k, v in raw.get("config", {}).items():
        if k not in strategies:
            raise fail(f"[config.{k}] is for {k!r}, which is not in strategies{_nearest(k, strategies)}")
        if not isinstance(v, dict):
            raise fail(f"[config.{k}] must be a table of settings, got {v!r}")
        config[str(k)] = dict(v)
    def of_suite(key: str, names: Any) -> None:
        """Every one of ``names`` is a benchmark of the suite."""
        for b in names:
            if b not in benchmarks:
                raise fail(f"{key} names {b!r}, which is not a benchmark of the suite{_nearest(b, benchmarks)}")

    def per_benchmark(key: str, v: Any) -> int | dict[str, int]:
        """One count for every benchmark, or a table of counts for some of the suite's benchmarks."""
        if not isinstance(v, dict):
            return count(key, v)
        of_suite(key, v)
        return {str(b): count(f"{key}.{b}", n) for b, n in v.items()}

    caps = keyed("caps", strategies, "in strategies", per_benchmark)
    label_seeds = keyed("label_seeds", strategies, "in strategies", per_benchmark)

    def some_benchmarks(key: str, v: Any) -> list[str]:
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise fail(f"{key} must be a non-empty list of benchmarks of the suite, e.g. [\"{benchmarks[0]}\"], got {v!r}")
        of_suite(key, v)
        return list(dict.fromkeys(v))

    only = keyed("only", strategies, "in strategies", some_benchmarks)
    time_budget = positive("time_budget", raw["time_budget"]) if "time_budget" in raw else None
    mean_costs = positive("time_budget_mean_costs", raw["time_budget_mean_costs"]) if "time_budget_mean_costs" in raw else None
    if time_budget is not None and mean_costs is not None:
        raise fail("give time_budget or time_budget_mean_costs, not both")
    time_budgets = keyed("time_budgets", benchmarks, "a benchmark of the suite", positive)
    w = raw.get("workers_sim", [])
    w = [w] if isinstance(w, int) and not isinstance(w, bool) else w
    if not isinstance(w, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in w) \
            or len(set(w)) != len(w):
        raise fail(f"workers_sim must be a positive integer or a list of distinct ones, got {raw.get('workers_sim')!r}")
    if w and time_budget is None and mean_costs is None and not time_budgets:
        raise fail("workers_sim needs a time budget (time_budget, [time_budgets] or time_budget_mean_costs)")
    stop = raw.get("stop")

    if stop is not None and stop not in TARGETS:
        raise fail(f"stop must be one of {list(TARGETS)}, got {stop!r}")
    noise = raw.get("noise")
    if noise is not None and noise not in NOISE_MODELS:
        raise fail(f"noise must be one of {list(NOISE_MODELS)}, got {noise!r}")
    _check_names(fail, benchmarks, strategies, labels, config)
    return Suite(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        benchmarks=benchmarks,
        strategies=strategies,
        seeds=seeds,
        budget=budget,
        budgets=budgets,
        config=config,
        labels=labels,
        noise=noise,
        source=_display_path(path),
        stop=stop,
        caps=caps,
        time_budget=time_budget,
        time_budgets=time_budgets,
        time_budget_mean_costs=mean_costs,
        workers_sim=tuple(w),
        only=only,
        label_seeds=label_seeds,
    )


def _display_path(path: Path) -> str:
    """A suite file's name as the report shows it: relative to the package for named suites, the
    bare file name otherwise (never an absolute path of the machine that ran it)."""
    try:
        return str(Path("experiments") / "suites" / path.resolve().relative_to(SUITES_DIR.resolve()))
    except ValueError:
        return path.name

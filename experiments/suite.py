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

Named suites live in ``experiments/suites/<name>.toml``; any other path to a TOML file works too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.runner import TrialSpec

SUITES_DIR = Path(__file__).parent / "suites"


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

    def budget_for(self, benchmark: str) -> int:
        return int(self.budgets.get(benchmark, self.budget))

    def trials(self, benchmarks: list[str] | None = None) -> list[TrialSpec]:
        out = []
        for b in benchmarks if benchmarks is not None else self.benchmarks:
            for label in self.strategies:
                for seed in self.seeds:
                    out.append(TrialSpec(
                        benchmark=b,
                        strategy=self.labels.get(label, label),
                        seed=seed,
                        budget=self.budget_for(b),
                        label=label,
                        config=dict(self.config.get(label, {})),
                        noise=self.noise,
                    ))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "benchmarks": self.benchmarks,
            "strategies": self.strategies, "seeds": self.seeds, "budget": self.budget,
            "budgets": self.budgets, "config": self.config, "labels": self.labels,
            "noise": self.noise, "source": self.source,
        }


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
             "config", "labels", "noise"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SuiteError(f"{path}: unknown key(s) {unknown}; a suite has {sorted(known)}")
    for req in ("benchmarks", "strategies", "seeds", "budget"):
        if req not in raw:
            raise SuiteError(f"{path}: missing required key {req!r}")
    seeds = raw["seeds"]
    if isinstance(seeds, int):
        if seeds < 1:
            raise SuiteError(f"{path}: seeds must be a positive count or a list, got {seeds}")
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise SuiteError(f"{path}: seeds must be a count or a list of non-negative integers")
    budget = raw["budget"]
    if not isinstance(budget, int) or budget < 1:
        raise SuiteError(f"{path}: budget must be a positive integer, got {budget!r}")
    strategies = list(raw["strategies"])
    labels = {str(k): str(v) for k, v in raw.get("labels", {}).items()}
    return Suite(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        benchmarks=list(raw["benchmarks"]),
        strategies=strategies,
        seeds=seeds,
        budget=budget,
        budgets={str(k): int(v) for k, v in raw.get("budgets", {}).items()},
        config={str(k): dict(v) for k, v in raw.get("config", {}).items()},
        labels=labels,
        noise=raw.get("noise"),
        source=str(path),
    )

"""Benchmarks by name.

A table module registers each benchmark it provides with :func:`register`; the registry imports
those modules lazily so that ``available_benchmarks()`` is cheap and a missing data file only
matters for the benchmark that needs it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from nasbench.benchmark import Benchmark
from nasbench.data import DataFile
from nasbench.errors import UnknownName

# Modules that register benchmarks when imported (one per table family).
TABLE_MODULES = (
    "nasbench.tables.nb101",
    "nasbench.tables.nb201",
    "nasbench.tables.macro",
    "nasbench.tables.graph",
    "nasbench.train.live",  # the live benchmarks train-nb201 / train-nb101 (no table: they train)
)


@dataclass(frozen=True)
class Entry:
    name: str
    load: Callable[[str | os.PathLike[str] | None], Benchmark]
    description: str
    how_to_get: str
    files: tuple[DataFile, ...] = ()  # the data files it may read from the search path (``nasarena data``)


_REGISTRY: dict[str, Entry] = {}
_loaded = False
_cache: dict[tuple[str, str, str], Benchmark] = {}


def register(name: str, description: str, how_to_get: str, files: tuple[DataFile, ...] = ()):
    """Decorator: register ``load(data_dir) -> Benchmark`` under ``name``; ``files`` are the data
    files it reads from the data search path (:class:`nasbench.data.DataFile`)."""

    def deco(load: Callable[[str | os.PathLike[str] | None], Benchmark]):
        _REGISTRY[name] = Entry(name, load, description, how_to_get, tuple(files))
        return load

    return deco


def _load_modules() -> None:
    global _loaded
    if _loaded:
        return
    for mod in TABLE_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    _loaded = True


def available_benchmarks() -> list[str]:
    """Names of every registered benchmark (whether or not its data is present)."""
    _load_modules()
    return sorted(_REGISTRY)


def entry(name: str) -> Entry:
    _load_modules()
    if name not in _REGISTRY:
        raise UnknownName(f"unknown benchmark {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def data_files() -> list[tuple[DataFile, list[str]]]:
    """Every data file a registered benchmark reads from the search path, once, with the names of
    the benchmarks that read it."""
    _load_modules()
    users: dict[DataFile, list[str]] = {}
    for name in sorted(_REGISTRY):
        for f in _REGISTRY[name].files:
            users.setdefault(f, []).append(name)
    return list(users.items())


def get_benchmark(
    name: str, data_dir: str | os.PathLike[str] | None = None, noise: str | None = None
) -> Benchmark:
    """Load benchmark ``name`` (cached in memory for the process), with an optional noise model."""
    key = (name, str(data_dir), os.environ.get("NASARENA_DATA", ""))
    if key not in _cache:
        _cache[key] = entry(name).load(data_dir)
    bench = _cache[key]
    return bench if noise is None or noise == bench.noise else bench.with_noise(noise)

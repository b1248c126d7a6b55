"""Strategies by name. Every module in ``strategies/`` (not starting with ``_``) is imported on
first use, so a new file with a ``@register``-ed class is picked up with no other edit."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from nasbench.errors import UnknownName
from strategies.base import Strategy

_REGISTRY: dict[str, type[Strategy]] = {}
_discovered = False


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: register a strategy under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name` to be registered")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} is taken by {_REGISTRY[cls.name].__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    # the modules beside this one (the package's own folder): no import of the package, which imports us
    for mod in pkgutil.iter_modules([str(Path(__file__).resolve().parent)]):
        if not mod.name.startswith("_") and not mod.ispkg:  # subpackages (models) hold no strategies
            importlib.import_module(f"strategies.{mod.name}")
    _discovered = True


def available_strategies() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    _discover()
    if name not in _REGISTRY:
        raise UnknownName(f"unknown strategy {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def resolve(spec: str, config: dict[str, Any] | None = None) -> tuple[type[Strategy], dict[str, Any]]:
    """``"name"`` or ``"name:preset"`` plus overrides -> (class, config dict)."""
    name, _, preset = spec.partition(":")
    cls = strategy_class(name)
    values: dict[str, Any] = {}
    if preset:
        if preset not in cls.presets:
            raise UnknownName(f"strategy {name!r} has no preset {preset!r}; presets: {sorted(cls.presets)}")
        values.update(cls.presets[preset])
    values.update(config or {})
    return cls, values


def describe() -> list[dict[str, Any]]:
    """Name, paper and one-line summary of every registered strategy."""
    return [
        {"name": n, "paper": c.paper, "summary": c.summary, "presets": sorted(c.presets)}
        for n, c in sorted((n, strategy_class(n)) for n in available_strategies())
    ]

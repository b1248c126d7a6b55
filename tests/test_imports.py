"""The code's layering and its references (issue 42).

* ``lint-imports`` (import-linter, contracts in ``pyproject.toml``) keeps every contract: bench >
  experiments > strategies > nasbench, and inside experiments cli > studies > harness > analysis.
  Every import statement counts, those inside functions too, so an import cycle cannot hide in a
  function.
* No import inside a function dodges a cycle: a first-party module imported in a function never
  imports, through module-level imports, the module that imports it (the layers above do not see a
  cycle inside one layer, e.g. a package and its registry).
* Every dotted name a docstring, README or generated report cites in backquotes
  (``experiments.harness.records.fingerprint``, :func:`~nasbench.data.find_file`) exists.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"`~?((?:experiments|nasbench|strategies)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`")


def test_import_contracts_are_kept():
    """``lint-imports`` in a process of its own (it takes over the standard streams)."""
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True)
    assert "Contracts: 4 kept, 0 broken" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]
    assert res.returncode == 0


PACKAGES = ("nasbench", "strategies", "experiments", "nasarena", "bench")


def _imports(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return []


def test_no_function_level_import_dodges_a_cycle():
    modules = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path

    def module_of(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    top: dict[str, set[str]] = {}
    inner: list[tuple[str, str, int]] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:  # module level, if/try blocks included
            for sub in ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node]:
                top.setdefault(name, set()).update(m for t in _imports(sub) if (m := module_of(t)) and m != name)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                inner += [(name, m, sub.lineno) for sub in ast.walk(node) for t in _imports(sub)[:1]
                          if (m := module_of(t)) and m != name]

    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            x = todo.pop()
            if x == b:
                return True
            if x not in seen:
                seen.add(x)
                todo.extend(top.get(x, ()))
        return False

    dodges = [f"{modules[m].relative_to(ROOT)}:{line} imports {t}, which imports {m}" for m, t, line in inner if reaches(t, m)]
    assert inner, "the scan found no function-level import at all: it is broken"
    assert not dodges, "imports inside functions that dodge a cycle: " + "; ".join(dodges)


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _cited() -> dict[str, str]:
    files = subprocess.run(["git", "ls-files", "*.py", "*.md"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    refs: dict[str, str] = {}
    for f in files:
        for m in CITED.finditer((ROOT / f).read_text(errors="ignore")):
            refs.setdefault(m.group(1), f)
    return refs


def test_every_cited_name_exists():
    refs = _cited()
    assert len(refs) > 20  # the pattern finds the references (a pattern that matched nothing would pass)
    missing = sorted(f"{name} (in {where})" for name, where in refs.items() if not _resolves(name))
    assert not missing, "cited but not in the code: " + "; ".join(missing)


@pytest.mark.parametrize("name, ok", [("experiments.harness.records.fingerprint", True),
                                      ("experiments.harness.records.no_such_name", False),
                                      ("experiments.no_such_module", False)])
def test_resolves_knows_a_missing_name(name, ok):
    assert _resolves(name) is ok

"""The code's layering and its references (issue 42).

* ``lint-imports`` (import-linter, contracts in ``pyproject.toml``) keeps every contract: bench >
  experiments > strategies > nasbench, and inside experiments cli > studies > harness > analysis.
  Every import statement counts, those inside functions too, so an import cycle cannot hide in a
  function.
* Every dotted name a docstring, README or generated report cites in backquotes
  (``experiments.harness.records.fingerprint``, :func:`~nasbench.data.find_file`) exists.
"""

from __future__ import annotations

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
    assert "Contracts: 3 kept, 0 broken" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]
    assert res.returncode == 0


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

"""The layers import downwards only: ``nasbench`` (spaces, tables, benchmarks, training, the Ray
runtime) never imports ``strategies`` or ``experiments``, and ``strategies`` never imports
``experiments``. Every import statement counts, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ABOVE = {"nasbench": ("strategies", "experiments"), "strategies": ("experiments",)}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """``(line, top-level package)`` of every absolute import in ``path``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {(node.lineno, a.name.split(".")[0]) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add((node.lineno, node.module.split(".")[0]))
    return out


def test_imported_packages_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("import os\ndef f():\n    from experiments.studies.report import fmt\n    import strategies.lanas\n"
                    "    from . import sibling\n")
    assert imported_packages(path) == {(1, "os"), (3, "experiments"), (4, "strategies")}


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_lower_layers_never_import_upper_ones(layer):
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no modules under {layer}/"
    bad = [f"{f.relative_to(ROOT)}:{line} imports {pkg}" for f in files for line, pkg in sorted(imported_packages(f))
           if pkg in ABOVE[layer]]
    assert not bad, "\n".join(bad)

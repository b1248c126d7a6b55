"""The project README's generated blocks: the leaderboard and the claims at a glance, copied from the
reports that computed them, never typed by hand.

A block sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` and holds the file
:data:`BLOCKS` names (a Markdown table a report wrote), or, for ``strategies``, the table of the
registered strategies (:func:`strategies_table`). ``nasarena readme`` rewrites the blocks;
``tests/test_results_current.py`` fails when a block differs from its file.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from nasbench.data import atomic_write_text
from strategies.registry import describe, strategy_class

# block name -> the report file it copies, relative to the project root
BLOCKS: dict[str, str] = {
    "leaderboard": "results/tables/leaderboard.md",
    "claims": "results/reproduction/tables/glance.md",
    "zero-cost-search": "results/zero-cost-search/tables/glance.md",
    "strategies": "strategies/registry.py",  # computed from the registry, not read from this file
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated:{name} -->\n)(.*?)(<!-- /generated:{name} -->)", re.S)


def strategies_table() -> str:
    """Label, module, paper and named presets of every registered strategy (``test`` presets, which
    only shrink a strategy for the tests, left out)."""
    lines = ["| label | module | paper | named presets |", "|---|---|---|---|"]
    for d in describe():
        module = strategy_class(d["name"]).__module__.replace(".", "/") + ".py"
        presets = ", ".join(f"`{d['name']}:{p}`" for p in d["presets"] if p != "test") or "–"
        lines.append(f"| `{d['name']}` | [`{module}`]({module}) | {d['paper']} | {presets} |")
    return "\n".join(lines) + "\n"


def block(root: Path, name: str) -> str:
    """What block ``name`` must hold: the table of its report file (its caption is in the report),
    or the strategies table."""
    if name == "strategies":
        return strategies_table()
    return "".join(line + "\n" for line in (root / BLOCKS[name]).read_text().splitlines() if line.startswith("|"))


def current(readme_text: str, name: str) -> str | None:
    """What block ``name`` holds in ``readme_text`` (``None``: no such block)."""
    m = _pattern(name).search(readme_text)
    return m.group(2) if m else None


def _splice(m: re.Match[str], text: str) -> str:
    return m.group(1) + text + m.group(3)


def render(readme_text: str, root: Path) -> str:
    """``readme_text`` with every block that it has replaced by its report file."""
    for name in BLOCKS:
        text = block(root, name)
        readme_text = _pattern(name).sub(functools.partial(_splice, text=text), readme_text)
    return readme_text


def update(root: Path) -> bool:
    """Rewrite ``root/README.md``'s blocks; returns whether anything changed."""
    readme = root / "README.md"
    old = readme.read_text()
    new = render(old, root)
    if new != old:
        atomic_write_text(readme, new)
    return new != old

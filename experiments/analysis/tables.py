"""Tables as the reports write them: raw rows (CSV, full precision) and display columns (Markdown, LaTeX).

One :class:`Table` holds the rows and how to show them; :func:`fmt` and its siblings are the one way
a number is printed in every report (the results folders', the reproduction's and the subsets').
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasbench.data import atomic_write_text


def fmt(x: Any) -> str:
    """A number as the Markdown/LaTeX tables print it (CSV keeps full precision)."""
    if x is None:
        return "–"
    if isinstance(x, int | np.integer):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_score(x: Any) -> str:
    """A score (optimum, threshold) with six significant digits: targets differ in small decimals."""
    return "–" if x is None else f"{float(x):.6g}"


def fmt_p(p: Any) -> str:
    return "–" if p is None or not math.isfinite(p) else f"{p:.2g}"


def fmt_ci(low: Any, high: Any) -> str:
    return f"[{fmt(low)}, {fmt(high)}]"


def csv_number(x: float) -> str:
    """A float in a per-trial CSV table: Python's shortest exact repr (it reads back to the same
    float), ``inf`` for infinity and the empty field for NaN (no value)."""
    return "" if math.isnan(x) else "inf" if math.isinf(x) else repr(x)


def read_csv_number(field: str) -> float:
    """The inverse of :func:`csv_number`."""
    return math.nan if field == "" else float(field)


Cell = Callable[[dict[str, Any]], str]


@dataclass
class Table:
    """Rows of raw values (written to CSV as they are) and display columns for Markdown/LaTeX."""

    name: str
    caption: str
    rows: list[dict[str, Any]]
    display: list[tuple[str, Cell]]

    def markdown(self) -> str:
        def cell(s: str) -> str:
            return s.replace("|", "\\|")

        head = "| " + " | ".join(cell(h) for h, _ in self.display) + " |"
        rule = "|" + "|".join("---" for _ in self.display) + "|"
        body = ["| " + " | ".join(cell(f(r)) for _, f in self.display) + " |" for r in self.rows]
        return "\n".join([head, rule, *body])

    def latex(self) -> str:
        cols = "l" * min(2, len(self.display)) + "r" * max(0, len(self.display) - 2)
        head = " & ".join(_tex(h) for h, _ in self.display) + r" \\"
        body = [" & ".join(_tex(f(r)) for _, f in self.display) + r" \\" for r in self.rows]
        return "\n".join([
            r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule", head,
            r"\midrule", *body, r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(self.caption)}}}",
            rf"\label{{tab:{self.name}}}", r"\end{table}", "",
        ])

    def write(self, folder: Path) -> list[Path]:
        """``folder/<name>.{md,tex,csv}``, each written atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        md, tex, csv_path = (folder / f"{self.name}.{e}" for e in ("md", "tex", "csv"))
        atomic_write_text(md, f"{self.caption}\n\n{self.markdown()}\n")
        atomic_write_text(tex, self.latex())
        atomic_write_text(csv_path, self.csv())
        return [md, tex, csv_path]

    def csv(self) -> str:
        """The raw rows, full precision (``inf`` and ``nan`` as such), columns in first-seen order."""
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _csv(v) for k, v in r.items()})
        return buf.getvalue()


def _csv(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return repr(float(v))  # full precision; inf and nan as "inf" / "nan"
    return v


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(s: str) -> str:
    out = "".join(_TEX.get(c, c) for c in s)
    return out.replace("∞", r"$\infty$").replace("–", "--").replace("≤", r"$\le$").replace("≥", r"$\ge$")

"""The progress line of a suite run: trials done and the time left, on stderr."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any


class Progress:
    """Trials done and time left, on stderr (one line, rewritten).

    The estimate of the time left is the sum, over the rows (benchmark x label) still to run, of
    their trials left times the mean wall time of that row's finished trials, divided by the
    ``workers`` running at once. While a row with trials left has none finished, its cost is
    unknown and the line says so (``>= Xs left``: the rows that can be estimated) instead of
    extrapolating another row's speed to it (a GP-BO trial costs a hundred random-search ones)."""

    def __init__(self, todo: list[Any], enabled: bool = True, workers: int = 1):
        self.total, self.done, self.t0 = len(todo), 0, time.perf_counter()
        self.enabled = enabled and self.total > 0
        self.workers = max(1, workers)
        self.left: dict[tuple[str, str], int] = defaultdict(int)
        for s in todo:
            self.left[(s.benchmark, s.name)] += 1
        self.seconds: dict[tuple[str, str], list[float]] = defaultdict(list)

    def eta(self) -> tuple[float, bool]:
        """(seconds left, whether every row with trials left has a finished trial to estimate it)."""
        known, total = True, 0.0
        for row, n in self.left.items():
            if n <= 0:
                continue
            if self.seconds[row]:
                total += n * sum(self.seconds[row]) / len(self.seconds[row])
            else:
                known = False
        return total / self.workers, known

    def update(self, n: int = 1, what: str = "", row: tuple[str, str] | None = None,
               seconds: float | None = None) -> None:
        """``n`` trials of ``row`` finished, taking ``seconds`` of wall time each (their records')."""
        self.done += n
        if row is not None:
            self.left[row] -= n
            if seconds is not None:
                self.seconds[row].extend([seconds] * n)
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        left, known = self.eta()
        eta = f"~{left:6.0f}s left" if known else f">={left:5.0f}s left"
        bar = "#" * int(30 * self.done / self.total)
        sys.stderr.write(f"\r[{bar:<30}] {self.done}/{self.total} trials  {el:6.0f}s elapsed  {eta}  {what[:40]:<40}")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

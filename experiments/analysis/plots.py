"""Figures of the report (matplotlib, object-oriented: no pyplot state, any backend).

Each function takes already-computed numbers (see :mod:`experiments.analysis.metrics` and
:mod:`experiments.analysis.stats`) and returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it
as PDF and PNG. Colours are fixed per strategy through :func:`palette` so that a strategy keeps
its colour across figures.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from experiments.analysis import stats
from nasbench.data import atomic_write_bytes

log = logging.getLogger(__name__)

STYLE = {
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # TrueType in PDFs (editable text, accepted by publishers)
}

# matplotlib 3.10 replaced boxplot's ``vert=False`` by ``orientation="horizontal"``
_HORIZONTAL = {"orientation": "horizontal"} if tuple(int(v) for v in mpl.__version__.split(".")[:2]) >= (3, 10) \
    else {"vert": False}

Band = tuple[np.ndarray, np.ndarray, np.ndarray]  # median, low, high; each [B]


def _style():
    return mpl.rc_context(STYLE)  # type: ignore[arg-type]  # matplotlib types keys as Literal


# Every strategy keeps its colour in every figure of every report (tab10's ten well-separated hues;
# random search, the baseline, in grey; a named preset shares its strategy's hue family).
STRATEGY_COLOURS: dict[str, str] = {
    "random-search": "#7f7f7f",
    "regularized-evolution": "#2ca02c",
    "bayesian-optimization": "#1f77b4",
    "optuna-tpe": "#17becf",
    "bananas": "#ff7f0e",
    "lanas": "#d62728",
    "lanas-exact-fit": "#e377c2",
    "alphax": "#9467bd",
    "nao": "#8c564b",
    "nao-small": "#8c564b",  # the default suite's NAO at a small budget
    "optuna-random": "#bcbd22",
}


def palette(labels: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A colour per label: :data:`STRATEGY_COLOURS` for the strategies it names, the same in every
    figure; other labels take colour-blind-safe colours not used by those, in order."""
    known = {label: mpl.colors.to_rgb(STRATEGY_COLOURS[label]) for label in labels if label in STRATEGY_COLOURS}
    taken = set(known.values())
    spare = [tuple(c) for c in sns.color_palette("colorblind", 10) if tuple(c) not in taken]
    others = [label for label in labels if label not in known]
    return {label: known[label] if label in known else spare[others.index(label) % len(spare)] for label in labels}


def symlog_from_zero(ax, values) -> None:
    """A symlog y axis from 0 whose linear part ends at the smallest positive value drawn (regret
    reaches 0 exactly; a fixed threshold of 1 would make regrets in fractions all linear)."""
    pos = np.concatenate([np.asarray(v, float).ravel() for v in values]) if len(values) else np.array([])
    pos = pos[np.isfinite(pos) & (pos > 0)]
    ax.set_yscale("symlog", linthresh=float(pos.min()) if pos.size else 1.0)
    ax.set_ylim(bottom=0)


def _figure(width: float, height: float) -> Figure:
    with _style():
        return Figure(figsize=(width, height), layout="constrained")


def write_figure(fig: Figure, path: str | Path, **savefig_kw) -> Path:
    """Render ``fig`` in memory in the format of ``path``'s suffix and write it atomically, so an
    interrupted report leaves each figure old or new, never truncated."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix[1:], **savefig_kw)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def save(fig: Figure, stem: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` (parent folders created); returns the two paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    with _style():
        write_figure(fig, paths[0], metadata={"CreationDate": None, "Creator": None, "Producer": None})
        write_figure(fig, paths[1], dpi=dpi, metadata={"Software": None})
    log.debug("wrote %s.{pdf,png}", stem)
    return paths


def _colors(labels, colors):
    return colors if colors is not None else palette(list(labels))


def curves_figure(
    bands: Mapping[str, Band], ylabel: str, title: str = "", logx: bool = False, logy: bool = False,
    colors: Mapping[str, tuple] | None = None, xlabel: str = "architectures evaluated",
    steps: np.ndarray | None = None,
) -> Figure:
    """Median curve and bootstrap band per strategy at ``steps`` (1-based; default 1..B).

    ``logy`` uses a symmetric-log axis, so that a zero regret (optimum found) stays on the plot.
    """
    colors = _colors(bands, colors)
    fig = _figure(5.0, 3.4)
    with _style():
        ax = fig.add_subplot()
        positive = []
        for label, (med, lo, hi) in bands.items():
            x = np.arange(1, len(med) + 1) if steps is None else np.asarray(steps)[: len(med)]
            ax.plot(x, med, color=colors[label], label=label, lw=1.5)
            ax.fill_between(x, lo, hi, color=colors[label], alpha=0.2, lw=0)
            v = np.concatenate([med, lo, hi])
            positive.append(v[np.isfinite(v) & (v > 0)])
        if logx:
            ax.set_xscale("log")
        if logy:
            symlog_from_zero(ax, positive)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(textwrap.fill(ylabel, 38))  # long metric names would be cut off
        if title:
            ax.set_title(title)
        ax.legend(loc="best")
    return fig


def ecdf_figure(
    hits: Mapping[str, Mapping[str, np.ndarray]], budget: int, title: str = "", logx: bool = False,
    colors: Mapping[str, tuple] | None = None,
) -> Figure:
    """One panel per target: the fraction of trials that reached it within ``x`` samples.
    ``hits[target][strategy]`` holds samples-to-target per trial (``inf`` = never)."""
    targets = list(hits)
    labels = list(dict.fromkeys(s for t in targets for s in hits[t]))
    colors = _colors(labels, colors)
    fig = _figure(3.0 * max(len(targets), 1) + 0.5, 3.0)
    with _style():
        axes = fig.subplots(1, max(len(targets), 1), sharey=True, squeeze=False)[0]
        x = np.arange(1, budget + 1)
        for ax, target in zip(axes, targets):
            for label, h in hits[target].items():
                h = np.asarray(h, dtype=np.float64)
                y = np.searchsorted(np.sort(h), x, side="right") / max(h.size, 1)
                ax.step(np.concatenate([[0.5], x]), np.concatenate([[0.0], y]), where="post",
                        color=colors[label], label=label, lw=1.5)
            ax.set_title(f"target: {target}")
            ax.set_xlabel("architectures evaluated")
            ax.set_ylim(-0.02, 1.02)
            if logx:
                ax.set_xscale("log")
        axes[0].set_ylabel("fraction of trials at target")
        axes[-1].legend(loc="best")
        if title:
            fig.suptitle(title)
    return fig


def boxplot_figure(
    hits: Mapping[str, Mapping[str, np.ndarray]], budget: int, title: str = "",
    colors: Mapping[str, tuple] | None = None,
) -> Figure:
    """One panel per target: boxplots of samples-to-target over the successful trials of each
    strategy, annotated with ``successes/trials``."""
    targets = list(hits)
    labels = list(dict.fromkeys(s for t in targets for s in hits[t]))
    colors = _colors(labels, colors)
    fig = _figure(3.2 * max(len(targets), 1) + 0.8, 0.5 + 0.35 * max(len(labels), 2))
    with _style():
        axes = fig.subplots(1, max(len(targets), 1), sharey=True, squeeze=False)[0]
        for ax, target in zip(axes, targets):
            for pos, label in enumerate(labels):
                h = np.asarray(hits[target].get(label, []), dtype=np.float64)
                ok = h[np.isfinite(h)]
                if ok.size:
                    bp = ax.boxplot([ok], positions=[pos], widths=0.6, patch_artist=True, showfliers=True,
                                    **_HORIZONTAL)
                    for box in bp["boxes"]:
                        box.set_facecolor(colors[label])
                        box.set_alpha(0.6)
                    for med in bp["medians"]:
                        med.set_color("black")
                ax.annotate(f"{ok.size}/{h.size}", xy=(1.0, pos), xycoords=("axes fraction", "data"),
                            xytext=(2, 0), textcoords="offset points", va="center", fontsize=7)
            ax.set_yticks(range(len(labels)), labels)
            ax.set_xlim(0, budget * 1.02)
            ax.set_title(f"target: {target}")
            ax.set_xlabel("samples to target (successful trials)")
            ax.invert_yaxis()
        if title:
            fig.suptitle(title)
    return fig


def rank_figure(
    ranks: Mapping[str, np.ndarray], title: str = "", logx: bool = False,
    colors: Mapping[str, tuple] | None = None,
) -> Figure:
    """Average rank (1 = best) of each strategy's best-so-far at every step of the budget."""
    colors = _colors(ranks, colors)
    fig = _figure(5.0, 3.2)
    with _style():
        ax = fig.add_subplot()
        for label, r in ranks.items():
            ax.plot(np.arange(1, len(r) + 1), r, color=colors[label], label=label, lw=1.5)
        ax.set_ylim(len(ranks) + 0.2, 0.8)  # rank 1 on top
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel("architectures evaluated")
        ax.set_ylabel("average rank (1 = best)")
        if title:
            ax.set_title(title)
        ax.legend(loc="best")
    return fig


def cd_figure(avg_ranks: Mapping[str, float], cd: float, title: str = "") -> Figure:
    """Critical-difference diagram (Demšar 2006): an axis of average ranks (1 = best, on the left),
    each strategy joined to its label, and thick bars joining strategies whose average ranks
    differ by at most ``cd`` (not significantly different by the Nemenyi test)."""
    names = sorted(avg_ranks, key=lambda s: (avg_ranks[s], s))
    r = np.array([avg_ranks[s] for s in names], dtype=np.float64)
    k = len(names)
    groups = stats.nonsignificant_groups(r, cd)
    n_left = (k + 1) // 2
    lo, hi = 1.0, float(max(k, 2))
    step, bar_gap = 0.45, 0.22
    label_top = 0.35 + bar_gap * len(groups) + 0.25
    depth = label_top + step * max(n_left, k - n_left)
    fig = _figure(6.0, 0.9 + 0.3 * depth)
    with _style():
        ax = fig.add_subplot()
        ax.set_axis_off()
        span = hi - lo
        ax.set_xlim(lo - 0.45 * span, hi + 0.45 * span)
        ax.set_ylim(-depth - 0.2, 1.5)
        # rank axis with ticks and labels above
        ax.plot([lo, hi], [0, 0], color="black", lw=1)
        for t in np.arange(lo, hi + 1e-9, 0.5):
            major = float(t).is_integer()
            ax.plot([t, t], [0, 0.12 if major else 0.06], color="black", lw=1)
            if major:
                ax.text(t, 0.2, f"{int(t)}", ha="center", va="bottom", fontsize=8)
        # critical difference bar
        cd_end = lo + min(cd, span)
        ax.plot([lo, cd_end], [1.05, 1.05], color="black", lw=1)
        for x in (lo, cd_end):
            ax.plot([x, x], [0.97, 1.13], color="black", lw=1)
        ax.text((lo + cd_end) / 2, 1.18, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
        # strategies: best half to the left (best on top), the rest to the right (worst on top)
        for i, (name, rank) in enumerate(zip(names, r)):
            if i < n_left:
                y, x_end, ha = -(label_top + step * i), lo - 0.1 * span, "right"
            else:
                y, x_end, ha = -(label_top + step * (k - 1 - i)), hi + 0.1 * span, "left"
            ax.plot([rank, rank, x_end], [0, y, y], color="black", lw=0.8)
            ax.text(x_end + (-0.02 if ha == "right" else 0.02) * span, y, f"{name} ({rank:.2f})",
                    ha=ha, va="center", fontsize=8)
        # bars of groups not significantly different
        for g, (i, j) in enumerate(groups):
            y = -(0.35 + bar_gap * g)
            ax.plot([r[i] - 0.03 * span, r[j] + 0.03 * span], [y, y], color="black", lw=3,
                    solid_capstyle="round")
        if title:
            ax.set_title(title)
    return fig


def leaderboard_figure(gains: np.ndarray, low: np.ndarray, high: np.ndarray, rows: Sequence[str],
                       cols: Sequence[str], title: str) -> Figure:
    """A strategies x benchmarks heatmap of gains (colour: log2 of the gain, white at 1, capped at
    16x either way), each cell annotated with the gain and its interval; a missing cell is grey."""
    g = np.asarray(gains, dtype=np.float64)
    with np.errstate(divide="ignore"):
        z = np.clip(np.log2(np.where(g > 0, g, 2.0**-4)), -4, 4)
    z = np.where(np.isnan(g), np.nan, z)
    fig = _figure(1.5 * len(cols) + 2.6, 0.42 * len(rows) + 1.3)
    with _style():
        ax = fig.subplots()
        cmap = mpl.colormaps["RdBu"].copy()
        cmap.set_bad("0.85")
        im = ax.imshow(np.ma.masked_invalid(z), cmap=cmap, vmin=-4, vmax=4, aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isnan(g[i, j]):
                    continue
                text = f"{g[i, j]:.3g}\n[{low[i, j]:.2g}, {high[i, j]:.2g}]"
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                        color="white" if abs(z[i, j]) > 2.5 else "black")
        ax.set_xticks(range(len(cols)), cols, rotation=20, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_title(title, fontsize=9)
        ax.grid(False)
        bar = fig.colorbar(im, ax=ax, ticks=[-4, -2, 0, 2, 4], shrink=0.8)
        bar.ax.set_yticklabels(["1/16", "1/4", "1", "4", "16"])
        bar.set_label("gain over random search")
    return fig

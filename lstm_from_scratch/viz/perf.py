"""Figures of chapter 12 ("Going fast"): where a training step's time goes, and what each
speed-up bought.

* ``plot_breakdown(ax, rows)``: one horizontal bar per implementation, split into the time of its
  matrix products, its element-wise work and the engine's bookkeeping;
* ``plot_times(ax, names, ms)``: one bar per implementation with its time, labelled with the
  speed-up over the first bar.

Colours: ``STAGE_COLORS`` (Paul Tol's muted palette, distinct from the gate colours, which mean
gates everywhere in the book).
"""
from __future__ import annotations

STAGE_COLORS = {"GEMMs": "#332288", "element-wise": "#88CCEE", "engine": "#DDCC77",
                "other": "#BBBBBB"}


def plot_breakdown(ax, rows, unit="ms"):
    """Stacked horizontal bars: ``rows`` maps an implementation's name to {stage: time}, the
    stages being keys of ``STAGE_COLORS``; the first row is drawn at the top."""
    if not rows:
        raise ValueError("plot_breakdown: rows is empty")
    names = list(rows)
    for k, name in enumerate(names):
        left = 0.0
        for stage, value in rows[name].items():
            if stage not in STAGE_COLORS:
                raise ValueError(f"plot_breakdown: unknown stage {stage!r}; expected one of "
                                 f"{sorted(STAGE_COLORS)}")
            ax.barh(k, value, left=left, color=STAGE_COLORS[stage], edgecolor="white",
                    label=stage if k == 0 else None)
            left += value
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"time per training step ({unit})")
    ax.legend(loc="lower right")
    return ax


def plot_times(ax, names, ms, color="#332288", unit="ms"):
    """Bars of ``ms`` (one per name), each labelled with its speed-up over the first."""
    if len(names) != len(ms) or not names:
        raise ValueError(f"plot_times: {len(names)} names for {len(ms)} times")
    bars = ax.bar(range(len(names)), ms, color=color)
    for bar, value in zip(bars, ms):
        ax.annotate(f"{ms[0] / value:.1f}x", (bar.get_x() + bar.get_width() / 2, value),
                    ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(f"time ({unit})")
    return ax

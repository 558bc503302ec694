"""Figures of experiments over seeds: learning curves with a band over the seeds, solve-rate
heatmaps, and the reach of the gradient back in time.

Each function draws on a given matplotlib Axes (a new one when ``ax`` is None), returns it,
and never calls ``plt.show()``. The data come as NumPy arrays or nested lists, one row per
seed where there are seeds.
"""
from __future__ import annotations

import numpy as np


def _axes(ax, figsize=(7.0, 3.6)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_float_array(values, name):
    """Nested lists (None for a missing value) -> float array with nan."""
    a = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float) \
        if len(values) and np.ndim(values[0]) == 1 else np.array(values, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (one row per seed), got shape {a.shape}")
    return a


def seed_band(curves):
    """The median and the range over seeds at each point: curves (S, N) -> three (N,) arrays
    (median, min, max), ignoring missing values (nan)."""
    a = _as_float_array(curves, "curves")
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)    # all-nan columns stay nan
            return np.nanmedian(a, axis=0), np.nanmin(a, axis=0), np.nanmax(a, axis=0)


def plot_seed_band(steps, curves, ax=None, color=None, label=None, logy=True, alpha=0.2,
                   **line_kw):
    """A learning curve over seeds: the median as a line, the range (min to max) as a band.

    Args:
        steps: (N,) x values (training steps).
        curves: (S, N) values, one row per seed (nan or None where a run has no value).
        color, label: of the line; the band has the same colour, lighter.
        logy: logarithmic y axis.
    Returns:
        The Axes (its last line is the median; its last collection the band).
    """
    ax = _axes(ax)
    steps = np.asarray(steps, dtype=float)
    median, low, high = seed_band(curves)
    if median.shape != steps.shape:
        raise ValueError(f"plot_seed_band: {len(steps)} steps but curves of length "
                         f"{median.shape[0]}")
    line, = ax.plot(steps, median, color=color, label=label, **line_kw)
    ax.fill_between(steps, low, high, color=line.get_color(), alpha=alpha, lw=0)
    if logy:
        ax.set_yscale("log")
    return ax


def plot_solve_heatmap(rates, models, lengths, ax=None, counts=None, title=None,
                       cmap="Blues", colorbar=False):
    """Solve rates of models (rows) at task lengths (columns), as coloured cells.

    Args:
        rates: (len(models), len(lengths)) fractions in [0, 1] (nan: not run).
        models, lengths: row and column labels.
        counts: optional matching array of strings written in the cells (e.g. "3/5");
            by default the rate as a percentage.
        colorbar: add a colour bar to the figure.
    Returns:
        The Axes; the image is ``ax.images[0]``.
    """
    ax = _axes(ax, figsize=(3.0, 0.3 * len(models) + 1.2))
    rates = np.asarray(rates, dtype=float)
    if rates.shape != (len(models), len(lengths)):
        raise ValueError(f"plot_solve_heatmap: rates has shape {rates.shape}, expected "
                         f"({len(models)}, {len(lengths)}) for the models and lengths")
    im = ax.imshow(rates, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    for (r, c), v in np.ndenumerate(rates):
        if np.isnan(v):
            text = "-"
        else:
            text = counts[r][c] if counts is not None else f"{100 * v:.0f}%"
        ax.text(c, r, text, ha="center", va="center", fontsize=9,
                color="white" if (not np.isnan(v) and v > 0.6) else "black")
    ax.set_xticks(range(len(lengths)), [str(t) for t in lengths])
    ax.set_yticks(range(len(models)), list(models))
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="solve rate")
    return ax


def plot_gradient_reach_over_seeds(k, norms, ax=None, color=None, label=None,
                                   normalize=True, alpha=0.2, **line_kw):
    """How far back the gradient reaches: ||dL/dh_{T-k}|| against the distance k, median and
    range over seeds, on log-log axes.

    Args:
        k: (K,) distances (>= 1).
        norms: (K, S) norms per distance and seed (as recorded), or (S, K) when
            ``len(k)`` matches the second axis only.
        normalize: divide each seed's curve by its value at the smallest k, so models with
            different output scales compare by how the gradient decays.
    Returns:
        The Axes.
    """
    ax = _axes(ax)
    k = np.asarray(k, dtype=float)
    a = _as_float_array(norms, "norms")
    if a.shape[0] == len(k) and a.shape[1] != len(k):
        a = a.T                                     # -> (S, K)
    elif a.shape[1] != len(k):
        raise ValueError(f"plot_gradient_reach_over_seeds: {len(k)} distances but norms of "
                         f"shape {a.shape}")
    if normalize:
        with np.errstate(all="ignore"):
            a = a / a[:, :1]
    a = np.where(a > 0, a, np.nan)                  # a zero cannot be drawn on a log axis
    plot_seed_band(k, a, ax=ax, color=color, label=label, logy=True, alpha=alpha, **line_kw)
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # 1, 10, 100 rather than 10^0 ...
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    return ax


__all__ = ["plot_gradient_reach_over_seeds", "plot_seed_band", "plot_solve_heatmap", "seed_band"]

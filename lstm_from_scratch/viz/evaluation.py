"""Figures that compare models: a score per step ahead over seeds, and a confusion matrix.

    >>> fig, ax = plt.subplots()
    >>> plot_by_horizon(ax, {"LSTM": mase_per_seed, "ARIMA": arima_mase})   # (S, H) or (H,)
    >>> plot_confusion_matrix(ax, cm, class_names=[str(k) for k in range(9)])
"""
from __future__ import annotations

import numpy as np

from .style import MODEL_COLORS

__all__ = ["plot_by_horizon", "plot_confusion_matrix"]


def plot_by_horizon(ax, scores: dict, colors: dict | None = None, markers: str = "os^vDPX*h",
                    ylabel: str = "MASE"):
    """One line per model of its score against the step ahead h = 1 .. H.

    Args:
        scores: model name -> (H,) (one run) or (S, H) (S seeds: the line is the mean and a
            band spans the lowest to the highest seed).
        colors: model name -> colour; default ``MODEL_COLORS`` where it has the name, else
            matplotlib's cycle.
    Returns:
        ax.
    """
    colors = {**MODEL_COLORS, **(colors or {})}
    for k, (name, values) in enumerate(scores.items()):
        v = np.asarray(values, dtype=np.float64)
        if v.ndim not in (1, 2):
            raise ValueError(f"plot_by_horizon: scores[{name!r}] must be (H,) or (S, H), got "
                             f"shape {v.shape}")
        h = np.arange(1, v.shape[-1] + 1)
        mean = v if v.ndim == 1 else v.mean(axis=0)
        line, = ax.plot(h, mean, marker=markers[k % len(markers)], ms=4, label=name,
                        color=colors.get(name))
        if v.ndim == 2 and v.shape[0] > 1:
            ax.fill_between(h, v.min(axis=0), v.max(axis=0), color=line.get_color(), alpha=0.2,
                            lw=0)
    ax.set(xlabel="steps ahead h", ylabel=ylabel)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def plot_confusion_matrix(ax, cm, class_names=None, normalize: bool = True, cmap="Blues"):
    """A confusion matrix (rows: true class, columns: predicted), each cell annotated.

    With ``normalize`` each row is divided by its total (the recall of that class is on the
    diagonal). Returns the image.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: cm must be square (C, C), got shape {cm.shape}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=1 if normalize else None)
    names = class_names if class_names is not None else [str(k) for k in range(len(cm))]
    ax.set_xticks(range(len(cm)), names)
    ax.set_yticks(range(len(cm)), names)
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.grid(False)
    top = shown.max() if shown.size else 1
    for i in range(len(cm)):
        for j in range(len(cm)):
            if cm[i, j]:
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.6 * top else "black")
    return im

"""How far back the gradient reaches: the size of d log p(x_T | x_<T) / d e_{T-k}, the
gradient of one prediction with respect to the input k steps earlier.

In a trained model this says how much the prediction of a character still depends on (more
precisely: is sensitive to) the characters k steps before it. Chapter 1 measured the same
decay on random networks; here it is measured on the trained character models.
"""
from __future__ import annotations

import numpy as np

from .style import MODEL_COLORS

__all__ = ["gradient_reach", "plot_gradient_reach"]


def gradient_reach(model, windows) -> np.ndarray:
    """Mean norm of the gradient of the last prediction's log-probability with respect to
    each earlier input embedding.

    Args:
        model: a ``lfs.lm.CharLM`` (anything with ``embedding``, ``rnn`` and ``head``).
        windows: (B, T+1) integer ids: the model reads ``windows[:, :T]`` and predicts
            ``windows[:, T]`` from the last step.
    Returns:
        (T,) array: entry k is the mean over the B windows of || d log p(x_T) / d e_{T-1-k} ||,
        the gradient k steps before the last input (k = 0 is the last input itself).
    """
    from ..autograd import Tensor
    from ..functional import log_softmax, tensor
    from ..lm.model import in_eval_mode

    windows = np.asarray(windows, dtype=np.int64)
    if windows.ndim != 2 or windows.shape[1] < 2:
        raise ValueError(f"gradient_reach: windows must be (B, T+1) with T >= 1, got shape "
                         f"{windows.shape}")
    B, T = windows.shape[0], windows.shape[1] - 1
    device = model.head.weight.device
    with in_eval_mode(model):
        emb = model.embedding(tensor(windows[:, :T], device=device))
        e = Tensor(emb.data.copy(), requires_grad=True)            # the inputs, as a leaf
        out, _ = model.rnn(e)                                      # (B, T, H), batch first
        logp = log_softmax(model.head(out[:, T - 1]), axis=-1)     # (B, V)
        target = windows[:, T]
        picked = logp[np.arange(B), target]
        picked.sum().backward()
    g = e.grad.numpy()                                             # (B, T, E)
    norms = np.sqrt((g.astype(np.float64) ** 2).sum(axis=-1)).mean(axis=0)
    return norms[::-1].copy()


def plot_gradient_reach(curves: dict, ax=None, colors=None, styles=None):
    """Plot ``{label: (T,) reach}`` on a log scale against the distance k. Colours come from
    ``colors`` or ``MODEL_COLORS`` (matched on the label's first word, without a trailing
    comma or colon: "LSTM, trained" is drawn in the LSTM's colour). Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for label, reach in curves.items():
        color = (colors or {}).get(label) or MODEL_COLORS.get(label.split()[0].strip(",:;"))
        ax.semilogy(np.arange(len(reach)), reach, label=label, color=color,
                    ls=(styles or {}).get(label, "-"), lw=2)
    ax.set(xlabel="distance k (characters before the prediction)",
           ylabel=r"$\|\partial \log p(x_T) / \partial e_{T-1-k}\|$")
    ax.legend()
    return ax

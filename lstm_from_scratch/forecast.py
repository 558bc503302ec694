"""Forecasting: evaluation windows, accuracy measures, baselines and a quantile loss.

Everything is organised around *forecast origins*. An origin ``o`` is the first index that
is not yet observed: a forecast from origin ``o`` may use ``series[:o]`` and predicts
``series[o : o + horizon]``. Every method evaluated on the same origins faces the same
questions, so its errors are comparable number for number.

    >>> y = np.arange(10.0)
    >>> origins = forecast_origins(len(y), start=7, horizon=2)     # [7, 8]
    >>> naive_forecast(y, origins, 2)                              # last value, repeated
    array([[6., 6.],
           [7., 7.]])

Measures (:func:`mae`, :func:`rmse`, :func:`mase`, :func:`coverage`) work on NumPy arrays
of forecasts ``(N, horizon)``; with ``axis=0`` they return one number per horizon.
:func:`pinball_loss` is the training loss of a quantile forecaster, on Tensors.
"""
from __future__ import annotations

import numpy as np

__all__ = ["LinearAR", "coverage", "difference", "forecast_origins", "mae", "mase",
           "mase_scale", "naive_forecast", "pinball_loss", "recursive_forecast", "rmse",
           "seasonal_naive_forecast", "undifference", "windows_at"]


# -- windows at forecast origins ---------------------------------------------------------------

def _as_series(series, name="series"):
    s = np.asarray(series, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series (T,), got shape {s.shape}")
    return s


def _check_origins(origins, n, lo, horizon, what):
    o = np.asarray(origins)
    if o.ndim != 1 or o.dtype.kind not in "iu":
        raise ValueError(f"{what}: origins must be a 1-D integer array, got shape {o.shape} "
                         f"and dtype {o.dtype}")
    if o.size and (o.min() < lo or o.max() + horizon > n):
        raise ValueError(f"{what}: origins must lie in [{lo}, {n - horizon}] for a series of "
                         f"length {n} (horizon {horizon}), got [{o.min()}, {o.max()}]")
    return o.astype(np.int64)


def forecast_origins(n: int, start: int, horizon: int, stop: int | None = None):
    """Every origin ``o`` in ``[start, stop]`` whose ``horizon`` targets lie before ``stop``
    (default: the end of the series, ``n``): ``np.arange(start, stop - horizon + 1)``."""
    stop = n if stop is None else stop
    if not 0 <= start <= stop <= n or horizon < 1:
        raise ValueError(f"forecast_origins: need 0 <= start <= stop <= n and horizon >= 1, got "
                         f"start={start}, stop={stop}, n={n}, horizon={horizon}")
    return np.arange(start, stop - horizon + 1, dtype=np.int64)


def windows_at(series, origins, window: int, horizon: int):
    """Inputs and targets at the given origins.

    Args:
        series: (T,).
        origins: (N,) integers with ``window <= o <= T - horizon``.
    Returns:
        X (N, window) = ``series[o - window : o]`` and Y (N, horizon) = ``series[o : o + horizon]``.
        The inputs may reach back before an evaluation period: at time ``o`` the past is known.
        What must not happen is a target of the evaluation period inside a training window, which
        choosing training origins whose targets end before the period excludes.
    """
    s = np.asarray(series)
    if s.ndim != 1:
        raise ValueError(f"windows_at: series must be (T,), got shape {s.shape}")
    if window < 1 or horizon < 1:
        raise ValueError(f"windows_at: window and horizon must be positive, got {window}, {horizon}")
    o = _check_origins(origins, len(s), window, horizon, "windows_at")
    X = s[o[:, None] - window + np.arange(window)]
    Y = s[o[:, None] + np.arange(horizon)]
    return X, Y


# -- transforms --------------------------------------------------------------------------------

def difference(series, lag: int = 1):
    """``series[t] - series[t - lag]`` for t >= lag: (T - lag,)."""
    s = _as_series(series)
    if lag < 1 or lag >= len(s):
        raise ValueError(f"difference: lag must be in [1, {len(s) - 1}], got {lag}")
    return s[lag:] - s[:-lag]


def undifference(last_value, diffs):
    """Levels from a forecast of first differences: ``last_value + cumsum(diffs)`` along the
    last axis. ``last_value``: (N,) (or scalar) the last observed level at each origin;
    ``diffs``: (N, horizon) forecast differences."""
    diffs = np.asarray(diffs, dtype=np.float64)
    last = np.asarray(last_value, dtype=np.float64)
    return last[..., None] + np.cumsum(diffs, axis=-1)


# -- accuracy ----------------------------------------------------------------------------------

def _pair(y_true, y_pred, what):
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{what}: y_true has shape {a.shape}, y_pred has shape {b.shape}; they "
                         "must be equal")
    return a, b


def mae(y_true, y_pred, axis=None):
    """Mean absolute error (over ``axis``; all elements by default)."""
    a, b = _pair(y_true, y_pred, "mae")
    return np.mean(np.abs(a - b), axis=axis)


def rmse(y_true, y_pred, axis=None):
    """Root mean squared error (over ``axis``; all elements by default)."""
    a, b = _pair(y_true, y_pred, "rmse")
    return np.sqrt(np.mean((a - b) ** 2, axis=axis))


def mase_scale(y_train, m: int = 1) -> float:
    """The in-sample MAE of the seasonal naive forecast on the training part:
    ``mean(|y_t - y_{t-m}|)`` over t = m .. T-1 (Hyndman and Koehler, 2006); m = 1 is the naive
    forecast."""
    y = _as_series(y_train, "y_train")
    if not 1 <= m < len(y):
        raise ValueError(f"mase_scale: m must be in [1, {len(y) - 1}], got {m}")
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    if scale == 0:
        raise ValueError("mase_scale: the training series is constant at lag m; MASE is undefined")
    return scale


def mase(y_true, y_pred, y_train, m: int = 1, axis=None):
    """Mean absolute scaled error: ``mae(y_true, y_pred) / mase_scale(y_train, m)``.

    Below 1: better on the evaluation period than the (seasonal) naive forecast was, one step
    ahead, on the training data. The scale comes from the training part only, so it is the same
    number for every method and every horizon.
    """
    return mae(y_true, y_pred, axis=axis) / mase_scale(y_train, m)


def coverage(y_true, lower, upper, axis=None):
    """The fraction of ``y_true`` inside ``[lower, upper]`` (over ``axis``)."""
    a, lo = _pair(y_true, lower, "coverage")
    _, hi = _pair(y_true, upper, "coverage")
    if np.any(lo > hi):
        raise ValueError("coverage: some lower bounds exceed their upper bounds")
    return np.mean((a >= lo) & (a <= hi), axis=axis)


# -- baselines ---------------------------------------------------------------------------------

def naive_forecast(series, origins, horizon: int):
    """The last observed value, for every step ahead: (N, horizon)."""
    s = _as_series(series)
    o = _check_origins(origins, len(s), 1, 0, "naive_forecast")
    return np.repeat(s[o - 1][:, None], horizon, axis=1)


def seasonal_naive_forecast(series, origins, horizon: int, m: int):
    """The last observed value of the same season: the forecast of ``series[o + h]``
    (h = 0 .. horizon-1) is ``series[o + h - m * (h // m + 1)]``. (N, horizon)."""
    s = _as_series(series)
    if m < 1:
        raise ValueError(f"seasonal_naive_forecast: m must be positive, got {m}")
    o = _check_origins(origins, len(s), m, 0, "seasonal_naive_forecast")
    h = np.arange(horizon)
    return s[o[:, None] + h - m * (h // m + 1)]


def recursive_forecast(step, X, horizon: int):
    """Iterate a one-step forecaster: each forecast becomes the newest input of the next step.

    Args:
        step: a function (N, window) -> (N,), the one-step forecast from the last ``window``
            values.
        X: (N, window) the observed windows at the origins.
    Returns:
        (N, horizon).
    """
    X = np.array(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"recursive_forecast: X must be (N, window), got shape {X.shape}")
    out = np.empty((X.shape[0], horizon))
    for h in range(horizon):
        out[:, h] = np.asarray(step(X), dtype=np.float64).reshape(X.shape[0])
        X = np.concatenate([X[:, 1:], out[:, h:h + 1]], axis=1)
    return out


class LinearAR:
    """The linear autoregression ``y_t = c + a_1 y_{t-1} + ... + a_p y_{t-p}``, fitted by least
    squares on the training series.

    ``strategy="recursive"`` fits the one-step model and iterates it (:func:`recursive_forecast`);
    ``"direct"`` fits one least-squares model per step ahead, each from the same p lags.

    >>> ar = LinearAR(2).fit(y_train)
    >>> ar.forecast(y, origins, horizon=5)      # (len(origins), 5)
    """

    def __init__(self, order: int, strategy: str = "recursive"):
        if order < 1:
            raise ValueError(f"LinearAR: order must be positive, got {order}")
        if strategy not in ("recursive", "direct"):
            raise ValueError(f"LinearAR: strategy must be 'recursive' or 'direct', got {strategy!r}")
        self.order, self.strategy = int(order), strategy
        self.coef_ = None            # (horizon_fitted, order + 1): intercept, then lags oldest first

    def fit(self, y_train, horizon: int = 1):
        """Least squares on every window of ``y_train`` (for ``"direct"``, one fit per step up to
        ``horizon``; ``"recursive"`` fits the one-step model only)."""
        y = _as_series(y_train, "y_train")
        H = horizon if self.strategy == "direct" else 1
        coef = []
        for h in range(H):           # step h + 1 ahead, from every window that has its target
            origins = forecast_origins(len(y) - h, self.order, 1)
            if len(origins) <= self.order + 1:
                raise ValueError(f"LinearAR.fit: {len(y)} values are too few for order "
                                 f"{self.order} and {h + 1} steps ahead")
            X, _ = windows_at(y, origins, self.order, 1)
            A = np.column_stack([np.ones(len(X)), X])
            coef.append(np.linalg.lstsq(A, y[origins + h], rcond=None)[0])
        self.coef_ = np.array(coef)                            # (H, p + 1)
        return self

    def _step(self, X, h=0):
        return self.coef_[h, 0] + X @ self.coef_[h, 1:]

    def forecast(self, series, origins, horizon: int):
        """Forecasts from each origin, using ``series[:o]``: (N, horizon)."""
        if self.coef_ is None:
            raise RuntimeError("LinearAR: call fit() before forecast()")
        s = _as_series(series)
        o = _check_origins(origins, len(s), self.order, 0, "LinearAR.forecast")
        X = s[o[:, None] - self.order + np.arange(self.order)]
        if self.strategy == "recursive":
            return recursive_forecast(self._step, X, horizon)
        if horizon > len(self.coef_):
            raise ValueError(f"LinearAR.forecast: the direct model was fitted for "
                             f"{len(self.coef_)} steps ahead, asked for {horizon}")
        return np.column_stack([self._step(X, h) for h in range(horizon)])


# -- a loss for quantile forecasts --------------------------------------------------------------

def pinball_loss(input, target, quantiles, reduction: str = "mean"):
    """The quantile (pinball) loss of forecasts of several quantiles.

    For a quantile level q and error u = target - forecast, the loss is
    ``max(q u, (q - 1) u)``: under-forecasts cost q per unit, over-forecasts 1 - q. Its expected
    value is smallest when the forecast is the q-quantile of the target's distribution
    (Koenker and Bassett, 1978), so a network trained with it forecasts quantiles.

    Args:
        input: Tensor (..., Q), one forecast per quantile level.
        target: Tensor or array (...) (broadcast over Q) or (..., Q).
        quantiles: Q levels in (0, 1).
        reduction: "mean" (over all elements), "sum" or "none".
    """
    from . import functional as F
    from .autograd import Tensor

    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"pinball_loss: quantiles must be a 1-D list of levels in (0, 1), got {q}")
    if not isinstance(input, Tensor):
        raise TypeError(f"pinball_loss: input must be a Tensor, got {type(input).__name__}")
    if input.shape[-1] != len(q):
        raise ValueError(f"pinball_loss: input has {input.shape[-1]} values in its last axis, "
                         f"expected one per quantile ({len(q)})")
    if not isinstance(target, Tensor):
        target = F.tensor(np.asarray(target), dtype=input.dtype, device=input.device)
    if target.shape == input.shape[:-1]:
        target = F.unsqueeze(target, -1)
    elif target.shape != input.shape:
        raise ValueError(f"pinball_loss: target has shape {target.shape}; expected "
                         f"{input.shape[:-1]} or {input.shape}")
    qt = F.tensor(q, dtype=input.dtype, device=input.device)
    u = target - input
    losses = F.maximum(u * qt, u * (qt - 1.0))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"pinball_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

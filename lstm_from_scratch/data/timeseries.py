"""Time series: chronological splits, scaling fitted on the training part only, and
sliding windows that never straddle two parts (no leakage from the future)."""
from __future__ import annotations

import numpy as np


def chronological_split(series, train: float = 0.7, val: float = 0.15):
    """Split along time into train, validation and test parts, in that order.

    Args:
        series: (T,) or (T, F).
        train, val: fractions of T (the test part gets the rest).
    Returns:
        (train_part, val_part, test_part), contiguous, in time order.
    """
    series = np.asarray(series)
    if not (0 < train < 1 and 0 <= val < 1 and train + val < 1 + 1e-12):
        raise ValueError(f"chronological_split: need 0 < train < 1, 0 <= val and train + val "
                         f"<= 1, got train={train}, val={val}")
    n = len(series)
    a = int(round(n * train))
    b = int(round(n * (train + val)))
    return series[:a], series[a:b], series[b:]


class StandardScaler:
    """(x - mean) / std per feature, with mean and std fitted on the training data only.

    Fitting on the whole series would let the test period's level and spread leak into
    training; ``fit`` on train, then ``transform`` every part.
    """

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    def fit(self, x):
        """x: (T,) or (T, F); statistics over axis 0 (population std, as scikit-learn)."""
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)    # a constant feature is only centred
        return self

    def _check(self):
        if self.mean_ is None:
            raise RuntimeError("StandardScaler: call fit() before transform()")

    def transform(self, x):
        self._check()
        x = np.asarray(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        return ((x - self.mean_) / self.scale_).astype(dtype)

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        self._check()
        z = np.asarray(z)
        dtype = z.dtype if z.dtype.kind == "f" else np.float64
        return (z * self.scale_ + self.mean_).astype(dtype)


def sliding_windows(series, window: int, horizon: int = 1, stride: int = 1):
    """Inputs of ``window`` steps and the ``horizon`` steps that follow them.

    Args:
        series: (T,) or (T, F).
    Returns:
        X: (N, window, F) (F = 1 for a 1-D series), and y: (N, horizon) for a 1-D series,
        (N, horizon, F) otherwise; N = (T - window - horizon) // stride + 1. Window i covers
        steps [i*stride, i*stride + window) and its target the next ``horizon`` steps.
    """
    series = np.asarray(series)
    if series.ndim not in (1, 2):
        raise ValueError(f"sliding_windows: series must be (T,) or (T, F), got {series.shape}")
    if window < 1 or horizon < 1 or stride < 1:
        raise ValueError("sliding_windows: window, horizon and stride must be positive")
    flat = series.ndim == 1
    s = series[:, None] if flat else series
    T, F = s.shape
    n = (T - window - horizon) // stride + 1
    if n <= 0:
        empty_y = (0, horizon) if flat else (0, horizon, F)
        return np.empty((0, window, F), s.dtype), np.empty(empty_y, s.dtype)
    starts = np.arange(n) * stride
    X = s[starts[:, None] + np.arange(window)]                    # (N, window, F)
    y = s[starts[:, None] + window + np.arange(horizon)]          # (N, horizon, F)
    return X, (y[..., 0] if flat else y)


def make_windows(series, window: int, horizon: int = 1, train: float = 0.7, val: float = 0.15,
                 scale: bool = True, dtype=np.float32):
    """Chronological split, scaling fitted on train, then windows within each part.

    Returns:
        A dict with ``X_train, y_train, X_val, y_val, X_test, y_test`` (see
        :func:`sliding_windows` for shapes) and ``scaler`` (a fitted StandardScaler, or None),
        plus the scaled parts ``train, val, test``. No window crosses a part boundary, so no
        target of one part is an input of another.
    """
    parts = chronological_split(series, train, val)
    scaler = StandardScaler().fit(parts[0]) if scale else None
    if scaler is not None:
        parts = tuple(scaler.transform(p) for p in parts)
    out = {"scaler": scaler}
    for name, part in zip(("train", "val", "test"), parts):
        part = np.asarray(part, dtype=dtype)
        out[name] = part
        out[f"X_{name}"], out[f"y_{name}"] = sliding_windows(part, window, horizon)
    return out

"""Real time series shipped inside statsmodels (no download), as NumPy arrays.

* :func:`load_sunspots` - yearly mean sunspot numbers, 1700-2008: an irregular cycle of about
  11 years, no trend, no calendar season;
* :func:`load_co2` - atmospheric CO2 at Mauna Loa, monthly means of the weekly record,
  1958-2001: a trend plus a yearly season;
* :func:`load_elnino` - monthly sea-surface temperature of the El Nino region, 1950-2010:
  a strong yearly season, no trend, and irregular warm and cold episodes.

Each loader returns a :class:`Series`. statsmodels is imported when a loader is called, so
``lstm_from_scratch`` itself does not depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Series", "load_co2", "load_elnino", "load_sunspots"]


@dataclass(frozen=True)
class Series:
    """A univariate series with its time axis.

    Attributes:
        name: a short name.
        values: (T,) float64.
        time: (T,) the time of each value: decimal years (float64).
        period: the seasonal period in steps (12 for monthly data with a yearly season), or 1
            when the series has no calendar season.
        unit: what ``values`` measure.
    """

    name: str
    values: np.ndarray
    time: np.ndarray
    period: int
    unit: str

    def __len__(self):
        return len(self.values)


def _datasets():
    try:
        import statsmodels.api as sm
    except ImportError as e:  # pragma: no cover - statsmodels is in requirements.txt
        raise ImportError("the real time series come from statsmodels: pip install statsmodels "
                          "(it is in the book's requirements.txt)") from e
    return sm.datasets


def load_sunspots() -> Series:
    """Yearly mean total sunspot number, 1700-2008 (309 values)."""
    data = _datasets().sunspots.load_pandas().data
    return Series("sunspots", data["SUNACTIVITY"].to_numpy(np.float64),
                  data["YEAR"].to_numpy(np.float64), 1, "sunspot number")


def load_co2() -> Series:
    """Monthly mean CO2 concentration at Mauna Loa, 1958-03 to 2001-12 (526 values, ppm).

    statsmodels ships the weekly record with gaps; each month is the mean of its available
    weeks. Five months have no weekly value at all (1958-06, 1958-10, 1964-02 to 1964-04);
    they are interpolated linearly between their neighbours.
    """
    data = _datasets().co2.load_pandas().data["co2"]
    monthly = data.resample("MS").mean().interpolate("linear")
    values = monthly.to_numpy(np.float64)
    idx = monthly.index
    time = idx.year.to_numpy(np.float64) + (idx.month.to_numpy(np.float64) - 1) / 12
    return Series("co2", values, time, 12, "ppm")


def load_elnino() -> Series:
    """Monthly sea-surface temperature of the El Nino region, 1950-01 to 2010-12 (732 values,
    degrees Celsius)."""
    data = _datasets().elnino.load_pandas().data
    months = data.columns[1:]
    values = data[months].to_numpy(np.float64).ravel()        # row = year, Jan..Dec
    years = np.repeat(data["YEAR"].to_numpy(np.float64), 12)
    time = years + np.tile(np.arange(12) / 12, len(data))
    return Series("elnino", values, time, 12, "degrees C")

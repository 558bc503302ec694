"""``cupy.linalg``: NumPy's, on device arrays."""
from __future__ import annotations

import numpy

from .._core import _function

for _name in "qr norm solve inv det slogdet eigh eigvalsh svd cholesky pinv matrix_power".split():
    globals()[_name] = _function(getattr(numpy.linalg, _name), _name)
del _name

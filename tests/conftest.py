"""Shared fixtures.

``device``: runs a test once on the CPU (NumPy) and once on the GPU (CuPy). The GPU case
carries the ``gpu`` marker (registered in pyproject.toml) and is skipped, with a reason, when
CuPy is not installed or sees no CUDA device; ``pytest -m "not gpu"`` deselects it.
"""
import pytest

from lstm_from_scratch import backend


def _gpu_skip_reason():
    if backend.gpu_available():
        return None
    return f"needs CuPy and a CUDA device ({backend._cupy_error or 'not available'})"


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def device(request):
    """The device name, "cpu" or "gpu"; the GPU case skips cleanly without CuPy/CUDA."""
    if request.param == "gpu":
        reason = _gpu_skip_reason()
        if reason:
            pytest.skip(reason)
    return request.param

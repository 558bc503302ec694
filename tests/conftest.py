"""Shared fixtures.

``device``: runs a test once on the CPU (NumPy) and once on the GPU (CuPy). The GPU case
carries the ``gpu`` marker (registered in pyproject.toml) and is skipped, with a reason, when
CuPy is not installed or sees no CUDA device; ``pytest -m "not gpu"`` deselects it. Under the
CuPy stand-in (``LFS_CUPY_STANDIN=1``, see the repository's conftest.py) the GPU case runs
against the stand-in.

``cupy_standin``: the NumPy-backed CuPy stand-in (``tests/cupy_standin``) as the library's
CuPy for one test, on any machine: placement tests run in every pass, GPU or not.
"""
import sys
from pathlib import Path

import pytest

from lstm_from_scratch import backend

STANDIN_DIR = str(Path(__file__).resolve().parent / "cupy_standin")


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


def standin_active() -> bool:
    """True when ``import cupy`` gives the stand-in (the LFS_CUPY_STANDIN=1 pass)."""
    return getattr(sys.modules.get("cupy"), "__lfs_standin__", False)


def _cupy_modules():
    return [n for n in sys.modules if n.split(".")[0] in ("cupy", "cupyx")]


@pytest.fixture
def cupy_standin(monkeypatch):
    """The CuPy stand-in, made the library's CuPy for this test; yields the module.

    In the stand-in pass it is already in place. Otherwise any real CuPy is taken out of
    ``sys.modules`` for the test and put back after it, and the library's CuPy-dependent state
    (its CuPy, GPU generators, kernel caches) is reset, then restored.
    """
    if standin_active():
        yield sys.modules["cupy"]
        return
    from lstm_from_scratch.kernels import _base, _cuda

    saved = {n: sys.modules.pop(n) for n in _cupy_modules()}
    sys.path.insert(0, STANDIN_DIR)
    try:
        import cupy

        assert cupy.__lfs_standin__, cupy.__file__
        monkeypatch.setattr(backend, "_cupy", None)
        monkeypatch.setattr(backend, "_cupy_error", None)
        monkeypatch.setattr(backend, "_rng_gpu", {})
        monkeypatch.setattr(_cuda, "_KERNELS", {})
        monkeypatch.setattr(_base, "_VECTORS", {})
        assert backend.gpu_available()
        yield cupy
    finally:
        sys.path.remove(STANDIN_DIR)
        for n in _cupy_modules():
            del sys.modules[n]
        sys.modules.update(saved)

"""Array backends: NumPy on the CPU, CuPy on the GPU, behind one code path.

Everything above this module asks for "the array module of this array" (``xp``) and calls
``xp.exp``, ``xp.matmul``... on it, so the same source runs on both devices.

The default device comes from the environment variable ``LFS_DEVICE``:

* ``cpu``  - NumPy, always available;
* ``gpu``  - CuPy; an error that says how to install it if it is missing;
* ``auto`` (the default) - the GPU when CuPy imports and sees a CUDA device, else the CPU.
"""
from __future__ import annotations

import os

import numpy as np

DEVICES = ("cpu", "gpu")

_cupy = None            # the cupy module once imported successfully
_cupy_error = None      # why it could not be used, for the error message


def _import_cupy():
    """Import CuPy lazily; remember failure so the error message can say why."""
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy
    try:
        import cupy  # noqa: F401

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("CuPy imported but sees no CUDA device")
        _cupy = cupy
    except Exception as e:  # ImportError, CUDA driver errors, no device...
        _cupy_error = f"{type(e).__name__}: {e}"
    return _cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _import_cupy() is not None


def _require_cupy():
    cp = _import_cupy()
    if cp is None:
        raise RuntimeError(
            "device 'gpu' needs CuPy and a CUDA device, but CuPy is not usable here "
            f"({_cupy_error}). Install the CuPy wheel for your CUDA version, e.g. "
            "`pip install cupy-cuda12x` (or `pip install -e .[gpu]`), or use device='cpu'."
        )
    return cp


def _parse_device(device) -> str:
    if device is None:
        return get_device()
    dev = str(device).lower()
    if dev.startswith("cuda"):          # accept PyTorch's spelling
        dev = "gpu"
    if dev not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda'), got {device!r}")
    return dev


def _device_from_env() -> str:
    choice = os.environ.get("LFS_DEVICE", "auto").strip().lower() or "auto"
    if choice == "auto":
        return "gpu" if gpu_available() else "cpu"
    dev = _parse_device(choice)
    if dev == "gpu":
        _require_cupy()
    return dev


_default_device: str | None = None


def get_device() -> str:
    """The default device for new tensors: ``"cpu"`` or ``"gpu"``."""
    global _default_device
    if _default_device is None:
        _default_device = _device_from_env()
    return _default_device


def set_device(device: str) -> None:
    """Set the default device for new tensors (``"cpu"`` or ``"gpu"``/``"cuda"``)."""
    global _default_device
    dev = _parse_device(device)
    if dev == "gpu":
        _require_cupy()
    _default_device = dev


def xp_for(device) -> object:
    """The array module (numpy or cupy) of a device name."""
    return _require_cupy() if _parse_device(device) == "gpu" else np


def get_array_module(array) -> object:
    """numpy for NumPy arrays and scalars, cupy for CuPy arrays."""
    if type(array) is np.ndarray:       # the common case, without an import check
        return np
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def device_of(array) -> str:
    return "gpu" if (_cupy is not None and isinstance(array, _cupy.ndarray)) else "cpu"


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy if it is already there)."""
    dev = _parse_device(device)
    if dev == device_of(array):
        return array
    if dev == "gpu":
        return _require_cupy().asarray(array)
    return array.get()                  # cupy -> numpy


def to_numpy(array) -> np.ndarray:
    """Always a NumPy array that does not share memory with ``array``."""
    if device_of(array) == "gpu":
        return array.get()
    return np.array(array, copy=True)


# ---- random number generators -------------------------------------------------------------
# The library draws every random number (initialisation, dropout, randn...) from these
# generators, so lfs.manual_seed(n) makes a run reproducible on either device.
_rng_cpu = np.random.default_rng(0)
_rng_gpu = None
_seed = 0


def manual_seed(seed: int) -> None:
    """Seed the library's NumPy generator and, when CuPy is usable, its CuPy generator."""
    global _rng_cpu, _rng_gpu, _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    _seed = int(seed)
    _rng_cpu = np.random.default_rng(_seed)
    _rng_gpu = None                     # re-created from _seed on first use


def rng(device):
    """The library's random generator for ``device`` (numpy Generator or cupy RandomState)."""
    global _rng_gpu
    if _parse_device(device) == "gpu":
        if _rng_gpu is None:
            _rng_gpu = _require_cupy().random.default_rng(_seed)
        return _rng_gpu
    return _rng_cpu

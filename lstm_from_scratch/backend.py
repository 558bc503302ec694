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
import sys

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


def _imported_cupy():
    """The cupy module if CuPy has been imported, by this module or by anyone else."""
    return _cupy if _cupy is not None else sys.modules.get("cupy")


def get_array_module(array) -> object:
    """numpy for NumPy arrays, scalars and lists; cupy for CuPy arrays."""
    if type(array) is np.ndarray:       # the common case, without an import check
        return np
    cp = _imported_cupy()       # whoever made a CuPy array imported CuPy
    if cp is not None and isinstance(array, cp.ndarray):
        return cp
    return np


def device_of(array) -> str:
    """The device an array lives on: "gpu" for a CuPy array, else "cpu" (NumPy, lists...)."""
    return "cpu" if get_array_module(array) is np else "gpu"


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy if it is already there)."""
    dev = _parse_device(device)
    if dev == device_of(array):
        return array
    if dev == "gpu":
        return _require_cupy().asarray(array)
    return array.get()                  # cupy -> numpy


def device_mismatch(op: str, what: str, device: str, expected: str,
                    other: str = "the tensors it is used with are") -> RuntimeError:
    """The error for data on the wrong device: names the operation, the argument, both devices."""
    return RuntimeError(
        f"{op}: expected tensors on the same device, but {what} is on '{device}' and {other} "
        f"on '{expected}'; move one of them with .to('{expected}') or .to('{device}') (the "
        "library never copies between devices implicitly)")


def array_on(value, device: str, dtype=None, *, op: str, what: str,
             other: str = "the tensors it is used with are", host_data: bool = True):
    """``value`` (an array, a list or a scalar) as an array on ``device``, for operation ``op``.

    Host data (NumPy arrays, lists, scalars) is copied to ``device`` (a constant operand, like a
    Python number); an array already on ``device`` is used as it is. GPU data for the CPU is
    refused: the library never copies from the device to the host behind your back (nor does
    CuPy), and the error names ``op``, the argument ``what`` and both devices. With
    ``host_data=False`` a NumPy array for the GPU is refused as well (for a tensor's data:
    tensors that meet must already be on one device).
    """
    src = device_of(value)
    if src != device and (src == "gpu" or not host_data):
        raise device_mismatch(op, what, src, device, other)
    return xp_for(device).asarray(value, dtype=dtype)


def to_numpy(array) -> np.ndarray:
    """Always a NumPy array that does not share memory with ``array``."""
    if device_of(array) == "gpu":
        return array.get()
    return np.array(array, copy=True)


# ---- random number generators -------------------------------------------------------------
# The library draws every random number (initialisation, dropout, randn...) from these
# generators, so lfs.manual_seed(n) makes a run reproducible on either device.
_rng_cpu = np.random.default_rng(0)
_rng_gpu = {}           # CUDA device id -> (the cupy module, its generator); see rng()
_seed = 0


def manual_seed(seed: int) -> None:
    """Seed the library's NumPy generator and, when CuPy is usable, its CuPy generator."""
    global _rng_cpu, _rng_gpu, _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    _seed = int(seed)
    _rng_cpu = np.random.default_rng(_seed)
    _rng_gpu = {}                       # re-created from _seed on first use


def rng(device):
    """The library's random generator for ``device`` (numpy or cupy Generator).

    On the GPU there is one generator per CUDA device (a generator's state lives on the device
    that was current when it was made), each seeded with the seed of ``manual_seed``. CuPy is
    asked for on every call, so a generator never outlives the CuPy it was made with (after
    CuPy became unusable, or was replaced, e.g. by the tests' stand-in).
    """
    if _parse_device(device) == "gpu":
        cp = _require_cupy()
        dev = cp.cuda.get_device_id()
        entry = _rng_gpu.get(dev)
        if entry is None or entry[0] is not cp:
            entry = _rng_gpu[dev] = (cp, cp.random.default_rng(_seed))
        return entry[1]
    return _rng_cpu

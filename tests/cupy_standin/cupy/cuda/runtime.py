"""``cupy.cuda.runtime``: the device queries the library and its tests make."""
from __future__ import annotations

from .. import _device

is_hip = False


class CUDARuntimeError(RuntimeError):
    """As cupy_backends.cuda.api.runtime.CUDARuntimeError."""


def getDeviceCount() -> int:
    return _device.device_count


def getDevice() -> int:
    return _device.get_device_id()


def setDevice(device: int) -> None:
    _device.set_device_id(device)


def deviceSynchronize() -> None:
    """Nothing runs asynchronously here."""


def deviceCanAccessPeer(device: int, peer_device: int) -> int:
    return 0        # never: arrays must be used on their own device


def runtimeGetVersion() -> int:
    return 12090


def driverGetVersion() -> int:
    return 12090


def getDeviceProperties(device: int) -> dict:
    if not 0 <= int(device) < _device.device_count:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"CuPy stand-in (NumPy on the CPU, not a GPU)", "major": 9, "minor": 0,
            "totalGlobalMem": 0, "multiProcessorCount": 1, "warpSize": 32}

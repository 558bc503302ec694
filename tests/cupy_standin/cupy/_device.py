"""Which stand-in device is current (per thread, as in CUDA), and how many there are.

The stand-in has two devices unless ``LFS_CUPY_STANDIN_DEVICES`` says otherwise, so that code
which must keep work on one device (caches, generators) can be tested without two GPUs.
"""
from __future__ import annotations

import os
import threading

_local = threading.local()
device_count = int(os.environ.get("LFS_CUPY_STANDIN_DEVICES", "2"))


def get_device_id() -> int:
    return getattr(_local, "device", 0)


def set_device_id(device: int) -> None:
    device = int(device)
    if not 0 <= device < device_count:
        from .cuda.runtime import CUDARuntimeError
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    _local.device = device

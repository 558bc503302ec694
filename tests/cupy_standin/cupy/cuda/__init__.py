"""``cupy.cuda``: devices, streams and memory pointers, as far as placement needs them."""
from __future__ import annotations

from .. import _device
from . import runtime

__all__ = ["Device", "MemoryPointer", "Stream", "get_current_stream", "get_device_id",
           "is_available", "runtime"]


def get_device_id() -> int:
    """The current device's id (``cupy.cuda.get_device_id``)."""
    return _device.get_device_id()


def is_available() -> bool:
    return _device.device_count > 0


class Device:
    """A device; ``with Device(1):`` makes it current, as ``cupy.cuda.Device``."""

    def __init__(self, device=None):
        if device is None:
            device = _device.get_device_id()
        self.id = int(device)
        self._previous = []

    def use(self):
        _device.set_device_id(self.id)

    def __enter__(self):
        self._previous.append(_device.get_device_id())
        _device.set_device_id(self.id)
        return self

    def __exit__(self, *exc):
        _device.set_device_id(self._previous.pop())
        return False

    def synchronize(self):
        """Nothing runs asynchronously here."""

    @property
    def compute_capability(self) -> str:
        return "90"

    def __int__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("Device", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class MemoryPointer:
    """Where an array's data starts (host memory here) and on which device."""

    def __init__(self, ptr: int, device_id: int):
        self.ptr = ptr
        self.device_id = device_id

    @property
    def device(self):
        return Device(self.device_id)


class Stream:
    """A stream that is always idle: every operation has finished when it returns."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptr=0):
        self.ptr = ptr

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Stream.null = Stream(null=True)


def get_current_stream():
    return Stream.null

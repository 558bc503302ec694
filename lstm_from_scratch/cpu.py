"""Two facts about the CPU that the engine's speed depends on, settled once at import.

**Memory returned to the OS too eagerly.** An autograd step allocates and frees hundreds of
arrays; at the book's sizes many are around 128 KiB, glibc's default threshold for serving an
allocation with its own ``mmap`` and for giving the top of the heap back to the OS. So the same
memory is unmapped and mapped again step after step, and every first touch of a fresh page is
a page fault: about 11,000 of them per training step of the LSTM benchmark's W1 (45 MB of
fresh pages), a quarter of the primitive LSTM's time. ``tune_malloc()`` raises glibc's
thresholds with ``mallopt`` (what ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TOP_PAD_`` would do if set before Python starts), so freed memory stays in the
process for the next step, as PyTorch's caching CPU allocator keeps it. The price: the
process keeps up to ``TRIM`` bytes of freed memory instead of returning it. It runs on import
on Linux with glibc, unless ``LFS_MALLOC_TUNING=0`` is set or one of those variables is
already set (then the user chose).

**Which of exp and tanh is fast.** NumPy's SIMD float32 ``tanh`` beats its ``exp`` on CPUs with
AVX-512 (AVX512_SKX: 0.31 vs 0.47 ns per element measured) and loses by 2x with AVX2 only (2.0
vs 0.96 ns). ``SIGMOID_VIA_TANH`` tells the fused LSTM kernel which exact formulation of its
gates to use: sigma(a) = 1 / (1 + e^-a), or sigma(a) = (1 + tanh(a/2)) / 2. The second loses
relative precision where sigma is tiny (1 + tanh cancels: absolute error ~1 ulp of 1), which
does not matter for a gate but would for ``lfs.sigmoid`` as a general function (its tests ask
for 1e-15 relative), so the sigmoid primitive always uses exp. ``LFS_SIGMOID=exp|tanh``
overrides the choice.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import numpy as np

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
TRIM = 256 * 2 ** 20          # freed memory kept before the heap is trimmed
TOP_PAD = 64 * 2 ** 20        # extra heap requested at a time
MMAP = 32 * 2 ** 20           # allocations below this come from the heap (glibc's maximum)
_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")

malloc_tuned = False


def tune_malloc() -> bool:
    """Raise glibc's trim, top-pad and mmap thresholds (see the module docstring); returns
    whether they were set. Does nothing off Linux/glibc or when the user chose otherwise."""
    global malloc_tuned
    if malloc_tuned:
        return True
    if (not sys.platform.startswith("linux") or os.environ.get("LFS_MALLOC_TUNING") == "0"
            or any(v in os.environ for v in _ENV)):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):         # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MMAP), (_M_TRIM_THRESHOLD, TRIM), (_M_TOP_PAD, TOP_PAD)))
    malloc_tuned = ok
    return ok


def _sigmoid_via_tanh() -> bool:
    choice = os.environ.get("LFS_SIGMOID", "").lower()
    if choice in ("exp", "tanh"):
        return choice == "tanh"
    try:
        features = np._core._multiarray_umath.__cpu_features__
    except AttributeError:                    # NumPy 1.x
        features = getattr(np.core._multiarray_umath, "__cpu_features__", {})
    return bool(features.get("AVX512_SKX"))


SIGMOID_VIA_TANH = _sigmoid_via_tanh()
tune_malloc()


def _openblas():
    """(set, get) of the OpenBLAS that NumPy loaded, or None (another BLAS, not Linux)."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line
                            and ".so" in line.split()[-1]})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", "")):
            set_ = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            get_ = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            if set_ is not None and get_ is not None:
                set_.argtypes, get_.restype = [ctypes.c_int], ctypes.c_int
                return set_, get_
    return None


class blas_threads:
    """``with blas_threads(1): ...``: NumPy's OpenBLAS runs on ``n`` threads inside the block.

    For timing on a shared machine: with other jobs on the cores, a product split over two
    threads waits for whichever thread the OS parks, and one thread gives steadier numbers.
    Does nothing (and ``available`` is False) when NumPy does not use OpenBLAS.
    """

    def __init__(self, n: int):
        self.n, self._api, self._old = int(n), _openblas(), None

    @property
    def available(self) -> bool:
        return self._api is not None

    def __enter__(self):
        if self._api is not None:
            set_, get_ = self._api
            self._old = get_()
            set_(self.n)
        return self

    def __exit__(self, *exc):
        if self._api is not None and self._old is not None:
            self._api[0](self._old)
        return False

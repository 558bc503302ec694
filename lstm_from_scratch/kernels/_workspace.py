"""Work buffers of the fused kernels, reused across calls, with explicit ownership.

A fused call needs a few megabytes of work buffers (pre-activations, states, backward factors,
gate deltas). Allocated fresh on every call they come back as untouched pages, and the page
faults cost a measurable part of a small training step (see docs/decisions.md, "Fused
kernels"). So buffers are reused, under one rule: **a buffer belongs to exactly one
``Workspace`` at a time**, and only buffers that no workspace holds are handed out.

* A fused node creates one ``Workspace`` in its forward and takes every work buffer from it
  (``ws.empty(shape, dtype)``); the node keeps the workspace as long as it needs the buffers.
* The workspace gives its buffers back to the free list when it is released: explicitly
  (``release()``), or when its owner drops it. The engine drops what a node saved once the
  node's backward has run (``retain_graph=False``), and a node that is never differentiated
  (``no_grad``, or a graph that is thrown away) drops it with the node itself.
* Nothing that leaves the node is a view of a pooled buffer: the outputs a caller keeps live
  in arrays of their own.

So whether a buffer is free never depends on counting references (the pool this replaces
tested ``sys.getrefcount(buf) == 3``, a CPython detail); where objects are not freed at once
(another Python implementation) buffers merely come back later and the pool allocates more.
CuPy has its own memory pool: on the GPU ``empty`` allocates directly.
"""
from __future__ import annotations

import numpy as np

_FREE = {}                    # (shape, dtype) -> [buffers no workspace holds]
_LIMIT_BYTES = 256 * 2 ** 20  # free buffers kept at most (beyond that they are dropped)
_free_bytes = 0
ENABLED = True                # False: every buffer is a fresh allocation (for measurements)


class Workspace:
    """The work buffers of one fused node (see the module docstring)."""

    __slots__ = ("pooled", "held")

    def __init__(self, xp):
        self.pooled = xp is np and ENABLED
        self.held = []

    def empty(self, shape, dtype, xp=np):
        """An uninitialised buffer that this workspace owns until ``release()``."""
        if not self.pooled:
            return xp.empty(shape, dtype)
        global _free_bytes
        key = (shape, np.dtype(dtype))
        free = _FREE.get(key)
        if free:
            buf = free.pop()
            _free_bytes -= buf.nbytes
        else:
            buf = np.empty(shape, dtype)
        self.held.append(buf)
        return buf

    def release(self):
        """Give every buffer back to the free list; the caller must not use them any more."""
        global _free_bytes
        held, self.held = self.held, []
        for buf in held:
            if _free_bytes + buf.nbytes > _LIMIT_BYTES:
                continue
            _FREE.setdefault((buf.shape, buf.dtype), []).append(buf)
            _free_bytes += buf.nbytes

    def __del__(self):
        if self.held:
            try:
                self.release()
            except Exception:           # interpreter shutdown: the module may be gone
                pass


def clear_workspace():
    """Drop the free CPU work buffers of the fused kernels (frees their memory)."""
    global _free_bytes
    _FREE.clear()
    _free_bytes = 0

"""Grad mode: whether operations record a graph, per thread (as PyTorch's).

``no_grad``, ``enable_grad`` and ``set_grad_enabled`` are one context manager with a
different mode inside: they change this thread's ``threading.local`` state and restore it
on exit; a new thread starts with recording on.
"""
from __future__ import annotations

import contextlib
import threading


class _GradMode(threading.local):
    """This thread's recording state; a new thread starts with the class defaults."""

    enabled = True          # operations record a graph
    create_graph = False    # a backward pass of this thread records the graph of the gradient


_mode = _GradMode()
# How many threads have recording off, and how many run a backward with create_graph. The
# per-op path reads these plain globals first: while they are 0 (training, the usual case) it
# does not need the slower thread-local lookup. A thread's own changes are visible to itself,
# so a stale count seen by another thread only sends that thread to the exact (slow) check.
threads_without_grad = 0
threads_recording_backward = 0
_mode_lock = threading.Lock()


def is_grad_enabled() -> bool:
    return _mode.enabled


def _set_mode_enabled(mode: bool) -> bool:
    """Set this thread's grad mode; returns the previous one."""
    global threads_without_grad
    previous = _mode.enabled
    mode = bool(mode)
    if mode != previous:
        with _mode_lock:
            threads_without_grad += -1 if mode else 1
        _mode.enabled = mode
    return previous


def _set_create_graph(mode: bool) -> bool:
    """Set whether this thread's backward pass records its own graph; returns the previous."""
    global threads_recording_backward
    previous = _mode.create_graph
    mode = bool(mode)
    if mode != previous:
        with _mode_lock:
            threads_recording_backward += 1 if mode else -1
        _mode.create_graph = mode
    return previous


class _GradModeContext(contextlib.ContextDecorator):
    """Grad mode ``mode`` inside a ``with`` block (or a decorated function), the previous
    mode after it."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._previous = []         # a stack: the same object may be entered again (nesting)

    def __enter__(self):
        self._previous.append(_set_mode_enabled(self.mode))

    def __exit__(self, *exc):
        _set_mode_enabled(self._previous.pop())
        return False

    def _recreate_cm(self):
        return _GradModeContext(self.mode)  # a decorated function gets its own context per call


class no_grad(_GradModeContext):
    """Context manager (and decorator): operations inside record no graph, in this thread
    (as PyTorch's, grad mode is thread-local: other threads keep theirs)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradModeContext):
    """Context manager (and decorator): re-enable recording inside a ``no_grad`` block."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradModeContext):
    """As ``torch.set_grad_enabled(mode)``: sets this thread's grad mode when called; used as
    a context manager (``with set_grad_enabled(False): ...``) it restores the previous mode
    at the end of the block. ``no_grad()`` is ``set_grad_enabled(False)`` as a block."""

    def __init__(self, mode: bool):
        super().__init__(mode)
        self._previous.append(_set_mode_enabled(self.mode))

    def __enter__(self):
        if not self._previous:      # entered again after its block ended
            self._previous.append(_set_mode_enabled(self.mode))

    def __exit__(self, *exc):
        _set_mode_enabled(self._previous.pop())
        return False

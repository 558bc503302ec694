"""Versions of memory: what in-place writes changed, checked when backward reads a value.

PyTorch keeps a version counter per tensor, shared by its views. Here a tensor is a view of
an array, so the counter belongs to the memory: the root array that the views' ``.base``
leads to. Each in-place write records, for that root, how many writes it has seen and a
stamp from the same counter that numbers the nodes (``node_counter``). A node recorded
before the last write to a value it reads has a smaller number than the write's stamp: that
comparison is the whole check, so recording a node costs nothing extra, and nothing is
looked up at all until the first in-place write of the process.
"""
from __future__ import annotations

import itertools
import weakref

# Every recorded node gets the next number of this counter, and every in-place write a stamp
# from it. A node's inputs exist before the node is created, so creation order is a
# topological order of the graph (inputs before users); the backward pass uses it instead of
# searching the graph (see backward.run_backward).
node_counter = itertools.count()

_versions = {}      # id(root array) -> [reference to the root, number of writes, last stamp]
last_write = -1     # the stamp of the latest in-place write of the process: a node made after
                    # it (every node of a training step after the optimizer's) checks nothing


def _memory_root(array):
    """The array that owns the memory ``array`` views (NumPy and CuPy keep it in ``.base``)."""
    root, base = array, getattr(array, "base", None)
    while base is not None and hasattr(base, "dtype") and hasattr(base, "shape"):
        root, base = base, getattr(base, "base", None)
    return root


def _bump_version(array) -> int:
    """Record an in-place write into ``array`` (library code that changes ``.data`` in place,
    such as the optimizers, calls this too); returns the write's stamp."""
    global last_write
    root = _memory_root(array)
    key = id(root)
    last_write = stamp = next(node_counter)
    entry = _versions.get(key)
    if entry is not None and entry[0]() is root:
        entry[1] += 1
        entry[2] = stamp
        return stamp
    _versions[key] = [_weak_ref(root, _versions, key), 1, stamp]
    return stamp


def _weak_ref(root, registry, key):
    """A reference to ``root`` that removes ``registry[key]`` when root dies."""
    def forget(ref):
        entry = registry.get(key)
        if entry is not None and entry[0] is ref:
            del registry[key]
    try:
        return weakref.ref(root, forget)
    except TypeError:                       # an array type without weak references
        return lambda: root


def increment_version(tensor) -> None:
    """Record an in-place write into ``tensor`` (a Tensor or an array) made by code that
    changes ``.data`` directly, such as an optimizer step or an initialiser (as PyTorch's
    ``torch.autograd.graph.increment_version``): a recorded node that reads the old value
    then raises at backward instead of using the new one."""
    _bump_version(tensor.data if hasattr(tensor, "grad_fn") else tensor)   # a Tensor's array


def _version_of(array) -> int:
    if not _versions:
        return 0
    root = _memory_root(array)
    entry = _versions.get(id(root))
    return entry[1] if entry is not None and entry[0]() is root else 0


def _written_after(array, seq) -> bool:
    """Whether ``array``'s memory was written in place after node number ``seq`` was made."""
    root = array if getattr(array, "base", None) is None else _memory_root(array)
    entry = _versions.get(id(root))
    return entry is not None and entry[2] > seq and entry[0]() is root


def _raise_modified(fn, array, what):
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: the {array.dtype} tensor of shape {tuple(array.shape)} that is {what} of "
        f"{type(fn).__name__} was changed in place after {type(fn).__name__} recorded it (it "
        f"is now at version {_version_of(array)}). Change it after backward(), or change a "
        "copy (.clone()); an optimizer step belongs after backward()")


def _leaf_viewed_by(t):
    """The leaf requiring grad whose memory ``t`` views through recorded ops, if any."""
    root = _memory_root(t.data)
    while t.creator is not None:
        inputs = t.creator.inputs
        if inputs is None:                  # freed by a backward pass
            return None
        for u in inputs:
            if u.requires_grad and _memory_root(u.data) is root:
                t = u
                break
        else:
            return None
    return t if t.requires_grad else None


# Memory written by recorded in-place ops, while it lives: id(root) -> [reference, stamp].
# Only then can a node's input name a newer node, or view memory its node no longer describes;
# while it is empty the backward pass looks at nothing.
recorded_writes = {}


def _note_recorded_write(array, stamp) -> int:
    root = _memory_root(array)
    key = id(root)
    entry = recorded_writes.get(key)
    if entry is not None and entry[0]() is root:
        entry[1] = stamp
    else:
        recorded_writes[key] = [_weak_ref(root, recorded_writes, key), stamp]
    return stamp


def _check_not_stale(t, c, seq):
    """Raise if node ``seq`` used ``t`` after a recorded in-place write changed t's memory
    through another tensor (a view, or the tensor a view was taken from): t's own node ``c``
    then describes the old value. (PyTorch rebuilds the graph of such views; we refuse.)"""
    root = _memory_root(t.data)
    entry = recorded_writes.get(id(root))
    if entry is None or entry[0]() is not root:
        return
    stamp = entry[1]
    if c._seq < stamp < seq and c.__dict__.get("_write_stamp") != stamp:
        raise RuntimeError(
            f"a tensor of shape {t.shape} (made by {type(c).__name__}) shares memory with a "
            "tensor that was changed in place by a recorded operation after it was made, and "
            "was used after that change: its graph no longer describes its value. Take the "
            "view again after the in-place change (or change a .clone() instead)")


def _identity_at(t, seq):
    """``t`` as node number ``seq`` saw it when it used t as an input. Recorded in-place ops
    since then made t the output of newer nodes; t keeps, per such op, the tensor that stands
    for its value before it (``_rebases``: (node number, old value)). The first op after
    ``seq`` has the identity node ``seq`` used."""
    for rebase_seq, old in getattr(t, "_rebases", ()):
        if rebase_seq > seq:
            return old
    raise RuntimeError(f"internal error: no earlier identity of a tensor of shape {t.shape}")

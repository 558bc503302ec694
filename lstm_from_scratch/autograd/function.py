"""``Function``: one node of the graph, and what the engine hands between nodes.

A differentiable operation subclasses ``Function`` with a ``forward`` on raw arrays and a
``backward`` that maps the gradient of its output(s) to the gradients of its inputs. Calling
it on tensors records a node (``tensor.creator``) when any input requires a gradient.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import grad_mode, versions
from .grad_mode import _mode
from .tensor import Tensor
from .versions import node_counter

# needs_input_grad of one- and two-input nodes, shared: one tuple fewer per recorded op
_NEEDS_1 = (True,)
_NEEDS_2 = {False: {False: (False, False), True: (False, True)},
            True: {False: (True, False), True: (True, True)}}


class Function:
    """One differentiable operation: ``forward`` on arrays, ``backward`` on gradients.

    Subclasses implement

    * ``forward(self, *arrays) -> array or tuple of arrays``; keep whatever backward needs
      as attributes of ``self`` (arrays that are not differentiated again: masks, shapes);
    * ``backward(self, *grad_outputs) -> gradient or tuple of gradients``, one per input
      (None for an input that gets no gradient). Inputs are read back with
      ``self.saved_inputs()`` and outputs with ``self.saved_output(k)``: arrays normally,
      Tensors when the backward is being recorded (``create_graph=True``).
      ``grad_outputs`` entries are never None: an output that got no gradient gets zeros.

    Attributes available in both methods: ``self.xp`` (numpy or cupy, the inputs' module);
    in backward also ``self.inputs`` (the input Tensors) and ``self.needs_input_grad`` (one
    bool per input).
    """

    # Slots for what the engine reads on every node; the __dict__ holds what subclasses
    # save in forward (masks, shapes...). The engine clears it when the graph is freed.
    __slots__ = ("inputs", "needs_input_grad", "_output_data", "_pending", "_seq", "xp",
                 "__dict__")
    _retained = None        # {output index: weakref to a tensor that called retain_grad()}
    # True: backward takes a DeferredGradient for its output and materializes it itself, so
    # the nodes that use the output may hand one over as if it were a leaf (see there)
    accepts_deferred_gradient = False

    def __call__(self, *inputs):
        """Run forward on tensors; returns a Tensor (or a tuple for multi-output ops).

        This runs for every operation of every model, so the common cases (one or two
        inputs, NumPy arrays) are written out without loops or temporary lists.
        """
        x0 = inputs[0]
        d0 = x0.data
        self.xp = xp = np if d0.__class__ is np.ndarray else backend.get_array_module(d0)
        n = len(inputs)
        if n == 1:
            record = x0.requires_grad
            ys = self.forward(d0)
        elif n == 2:
            x1 = inputs[1]
            d1 = x1.data
            # same array class means same device; otherwise look closer (numpy scalars...)
            if d1.__class__ is not d0.__class__ and backend.get_array_module(d1) is not xp:
                _raise_device_mismatch(type(self).__name__, inputs)
            record = x0.requires_grad or x1.requires_grad
            ys = self.forward(d0, d1)
        else:
            record = False
            for t in inputs:
                record = record or t.requires_grad
                if backend.get_array_module(t.data) is not xp:
                    _raise_device_mismatch(type(self).__name__, inputs)
            ys = self.forward(*[t.data for t in inputs])

        # recording is on unless this thread is inside no_grad (the global count is 0 when
        # no thread is, which spares the thread-local lookup on every op)
        if not (record and (not grad_mode.threads_without_grad or _mode.enabled)):
            if ys.__class__ is tuple:                       # nothing to record: plain results
                return tuple([Tensor(y) for y in ys])
            return Tensor(ys)

        self.inputs = inputs
        self.needs_input_grad = (
            _NEEDS_1 if n == 1 else _NEEDS_2[x0.requires_grad][x1.requires_grad] if n == 2
            else tuple([t.requires_grad for t in inputs]))
        self._seq = next(node_counter)
        self._pending = None
        # The output arrays are kept, not the output tensors: a tensor -> node -> tensor
        # reference would be a cycle that only the garbage collector could free.
        if ys.__class__ is tuple:
            self._output_data = ys
            outs = tuple([Tensor(y) for y in ys])
            for k, o in enumerate(outs):
                o.requires_grad, o.creator, o._out_index = True, self, k
            return outs
        self._output_data = (ys,)
        return _output_tensor(ys, self)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    # -- access to saved values in backward ----------------------------------------------------
    # Each accessor checks that the value was not written in place after this node was
    # recorded (see "versions of memory"); a backward reads only the values it needs, so a
    # value that is not needed may change, as in PyTorch.
    def saved_inputs(self):
        """The inputs: arrays normally, Tensors while recording the backward pass."""
        inputs = self.inputs
        if versions.last_write > self._seq:
            for k, t in enumerate(inputs):
                if versions._written_after(t.data, self._seq):
                    versions._raise_modified(self, t.data, f"input {k}")
        if grad_mode.threads_recording_backward and _mode.create_graph:
            return inputs
        if len(inputs) == 2:
            return inputs[0].data, inputs[1].data
        return tuple([t.data for t in inputs])

    def saved_input(self, k: int = 0):
        t = self.inputs[k]
        if versions.last_write > self._seq and versions._written_after(t.data, self._seq):
            versions._raise_modified(self, t.data, f"input {k}")
        return t if grad_mode.threads_recording_backward and _mode.create_graph else t.data

    def saved_output(self, k: int = 0):
        """Output ``k``: an array normally, a Tensor of this node while recording backward.

        The Tensor is attached to this node as output ``k``, so gradients flowing through it
        reach this node exactly as they would through the original output tensor.
        """
        data = self._output_data[k]
        if versions.last_write > self._seq and versions._written_after(data, self._seq):
            versions._raise_modified(self, data, f"output {k}")
        if not (grad_mode.threads_recording_backward and _mode.create_graph):
            return data
        out = Tensor(data)
        out.requires_grad, out.creator, out._out_index = True, self, k
        return out

    def check_saved(self, *arrays, what="a value saved in forward"):
        """For arrays a forward kept itself (views of inputs or outputs, buffers it
        returned): raise if any was written in place since this node was recorded."""
        if versions.last_write > self._seq:
            for a in arrays:
                if a is not None and versions._written_after(a, self._seq):
                    versions._raise_modified(self, a, what)


def _output_tensor(data, creator):
    """``Tensor(data)`` recorded as output 0 of ``creator``; the same as Tensor.__init__ but
    without its argument checks, because this runs for every recorded operation."""
    t = _new_object(Tensor)
    t.data, t.grad, t.requires_grad, t.creator = data, None, True, creator
    t._out_index, t.name = 0, None
    return t


_new_object = object.__new__


def _raise_device_mismatch(op: str, inputs):
    devices = [t.device for t in inputs]
    k = next(k for k, d in enumerate(devices) if d != devices[0])
    raise backend.device_mismatch(
        op, f"argument {k} (shape {inputs[k].shape})", devices[k], devices[0],
        f"argument 0 (shape {inputs[0].shape}) is")


def _raise_freed(fn):
    raise RuntimeError(
        f"trying to backward through the graph a second time (node {type(fn).__name__} "
        "was already freed); pass retain_graph=True to the first backward() if you "
        "need to backward through it again")


class DeferredGradient:
    """A leaf's gradient handed over in a form that is cheaper to add up than to compute.

    A node may return one for an input that is a leaf, or the output of a node whose class
    sets ``accepts_deferred_gradient`` (its backward hands it on or materializes it:
    ``column_major``), in a normal (not ``create_graph``) pass. The engine adds the
    contributions with ``+`` as usual (subclasses define it with arrays and with each other;
    ``__array_ufunc__ = None`` makes NumPy leave ``array + deferred`` to them) and, for a
    leaf, calls ``materialize()`` once, when the pass is over, before the sum becomes
    ``.grad``. Example: ``functional.linalg.SumOfProducts``, which
    turns the T per-step weight gradients of a recurrent layer into one matrix product.
    """

    __array_ufunc__ = None
    shape = ()

    def materialize(self):
        raise NotImplementedError

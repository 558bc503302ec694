"""The backward pass: gradients from the roots to the leaves, node by node.

``run_backward``

1. visits the nodes in reverse topological order without recursion (an LSTM unrolled over
   thousands of steps is a very deep graph): nodes are numbered as they are created, which
   is a topological order, and a heap hands out the latest-created node that has received
   a gradient;
2. calls each node's ``backward`` once, when the gradients of all its outputs are complete;
3. sums the gradient of an input that was broadcast back to the input's shape, here, in
   one place (``sum_to``), so no op has to undo broadcasting by itself;
4. hands leaves their gradients at the end (``_set_grad``), each ``.grad`` an array of its
   own (see "Out-of-place accumulation" in docs/decisions.md).
"""
from __future__ import annotations

import heapq

from .. import backend
from . import ops
from .formulas import sum_to
from .function import DeferredGradient, _raise_freed
from .grad_mode import _set_create_graph, set_grad_enabled
from .hooks import hook_schedule, post_accumulate_grad_hooks
from .tensor import Tensor
from .versions import _check_not_stale, _identity_at, recorded_writes

def _check_gradient_arg(root, gradient, create_graph):
    """The seed gradient for ``root``: an array, or a Tensor when create_graph."""
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for one-element outputs, but the output "
                f"has shape {root.shape}; pass gradient= (a tensor of shape {root.shape})")
        g = backend.get_array_module(root.data).ones(root.shape, dtype=root.dtype)
    else:
        g = backend.array_on(gradient.data if isinstance(gradient, Tensor) else gradient,
                             root.device, root.dtype, op="backward", what="gradient",
                             other="the output is", host_data=not isinstance(gradient, Tensor))
        if g.shape != root.shape:
            raise ValueError(
                f"gradient has shape {g.shape} but the output has shape {root.shape}; "
                "they must match")
    return Tensor(g) if create_graph else g


def run_backward(roots, gradients, retain_graph=False, create_graph=False, capture=None):
    """The backward pass from ``roots`` seeded with ``gradients``.

    If ``capture`` (a list of tensors) is given, their gradients are returned in that order
    instead of being accumulated into ``.grad`` (this is ``lfs.grad``).

    The order: a node may run its backward only once the gradients of all its outputs are
    complete, that is after every node that used one of its outputs. Nodes are numbered in
    the order they were created, and a node's users are always created after it, so taking
    the highest-numbered waiting node each time (a max-heap on that number) visits nodes in
    reverse topological order. A node joins the heap when it first receives a gradient, so
    only the part of the graph that gradients actually reach is visited, with no separate
    graph search and no recursion (a chain of 100,000 nodes is fine).
    """
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "the output was not computed from any tensor with requires_grad=True "
                "(or it was computed inside lfs.no_grad())")
    seeds = [_check_gradient_arg(r, g, create_graph) for r, g in zip(roots, gradients)]

    # Where gradients end up. Leaves (and tensors that called retain_grad) collect theirs in
    # `collected` and get .grad once, at the end, so a failed pass leaves .grad untouched
    # (except for leaves with post-accumulate-grad hooks, which get it as soon as it is final).
    # lfs.grad (capture) instead collects only the requested tensors: a leaf by identity,
    # a non-leaf by (its node, its output index).
    collected = {}          # id(tensor) -> [tensor, gradient, gradient is a fresh array]
    captured = None
    if capture is not None:
        captured = {(id(t) if t.creator is None else (id(t.creator), t._out_index)): None
                    for t in capture}

    heap = []               # (-node number, node): heappop gives the latest-created node

    def receive(t, g):
        """Gradient g for tensor t, which is a leaf, retains its grad, or is captured."""
        if captured is not None:
            key = id(t) if t.creator is None else (id(t.creator), t._out_index)
            if key in captured:
                captured[key] = g if captured[key] is None else captured[key] + g
            return
        entry = collected.get(id(t))
        if entry is None:
            collected[id(t)] = [t, g, False]
        elif entry[2] and not create_graph:
            entry[1] += g       # a sum this pass made itself: nothing else refers to it
        else:
            entry[1] = entry[1] + g         # out of place: g may be shared with others
            entry[2] = True

    for r, g in zip(roots, seeds):
        fn = r.creator
        if fn is None:
            receive(r, g)
            continue
        if fn.inputs is None:
            _raise_freed(fn)
        if fn._pending is None:
            fn._pending = [None] * len(fn._output_data)
            heapq.heappush(heap, (-fn._seq, fn))
        k = r._out_index
        fn._pending[k] = g if fn._pending[k] is None else fn._pending[k] + g

    # leaves with post-accumulate-grad hooks get .grad (and run their hooks) as soon as it is
    # final, during the pass; every other leaf gets .grad at the end
    schedule = (hook_schedule(roots) if post_accumulate_grad_hooks and captured is None
                else None)
    heappop, heappush = heapq.heappop, heapq.heappush
    previous_mode = _set_create_graph(create_graph)
    try:
        with set_grad_enabled(create_graph):
            while heap:
                fn = heappop(heap)[1]
                grads_out, fn._pending = fn._pending, None
                if captured is not None or fn._retained is not None or len(grads_out) > 1:
                    _deliver_outputs(fn, grads_out, captured, receive, create_graph)
                gxs = fn.backward(*grads_out)
                if gxs.__class__ is not tuple:
                    gxs = (gxs,)
                for t, gx, need in zip(fn.inputs, gxs, fn.needs_input_grad):
                    if gx is None or not need:
                        continue
                    if gx.shape != t.data.shape:        # undo broadcasting, for every op
                        gx = sum_to(gx, t.data.shape)
                    c = t.creator
                    if recorded_writes and c is not None:   # in-place ops were recorded
                        if c._seq >= fn._seq:       # t was changed in place after fn used it
                            t = _identity_at(t, fn._seq)
                            c = t.creator
                        else:
                            _check_not_stale(t, c, fn._seq)
                    if c is None:
                        receive(t, gx)
                        continue
                    pending = c._pending
                    if pending is None:                 # c's first gradient: c joins the heap
                        if c.inputs is None:
                            _raise_freed(c)
                        c._pending = pending = [None] * len(c._output_data)
                        heappush(heap, (-c._seq, c))
                    k = t._out_index
                    p = pending[k]
                    if p is None:
                        pending[k] = gx
                    elif isinstance(p, DeferredGradient):
                        p += gx     # a sum this pass made (for column_major): grows in place
                        pending[k] = p
                    else:
                        pending[k] = p + gx
                if not retain_graph:
                    fn.inputs = None        # free saved tensors; a second backward raises
                    fn._output_data = None
                    fn.__dict__.clear()     # and what forward saved (masks, ...)
                if schedule and schedule[-1][0] > (-heap[0][0] if heap else -1):
                    _run_ready_hooks(schedule, heap, collected, create_graph)
            if schedule:                    # leaves that are roots, or used by no node that ran
                _run_ready_hooks(schedule, heap, collected, create_graph)
    finally:
        _set_create_graph(previous_mode)
        for _, fn in heap:          # a failed pass must not leave stale gradients behind
            fn._pending = None
    for t, g, fresh in collected.values():
        _set_grad(t, g, fresh, create_graph)
    if capture is not None:
        return [captured[id(t) if t.creator is None else (id(t.creator), t._out_index)]
                for t in capture]
    return None


def _run_ready_hooks(schedule, heap, collected, create_graph):
    """Store .grad and run the hooks of every scheduled leaf that no waiting node can reach."""
    top = -heap[0][0] if heap else -1
    while schedule and schedule[-1][0] > top:
        t = schedule.pop()[1]
        entry = collected.pop(id(t), None)
        if entry is None:                   # reachable, but no gradient arrived
            continue
        _set_grad(t, entry[1], entry[2], create_graph)
        for hook in list(t._post_accumulate_grad_hooks.values()):
            hook(t)


def _deliver_outputs(fn, grads_out, captured, receive, create_graph):
    """The less common work on a node's output gradients, before its backward runs.

    Hands them to the tensors that asked for them (lfs.grad's inputs, retain_grad), and
    replaces the gradient of an output that nobody used (multi-output nodes) by zeros.
    """
    if captured is not None:
        for k, g in enumerate(grads_out):
            key = (id(fn), k)
            if g is not None and key in captured:
                captured[key] = g if captured[key] is None else captured[key] + g
    elif fn._retained is not None:
        for k, ref in fn._retained.items():
            t = ref()
            if t is not None and grads_out[k] is not None:
                receive(t, grads_out[k])
    for k, g in enumerate(grads_out):
        if g is None:
            grads_out[k] = _zeros_for(fn, k, create_graph)


def _zeros_for(fn, k, create_graph):
    like = fn._output_data[k]
    z = fn.xp.zeros(like.shape, dtype=like.dtype)
    return Tensor(z) if create_graph else z


def _set_grad(t, g, fresh, create_graph):
    """Out-of-place accumulation into t.grad (never an array shared with another tensor).

    A gradient may alias arrays of the graph (add passes its gradient through to both
    inputs, so x + y hands x and y the very same array): unless it is a fresh sum made by
    the engine, the first .grad of a tensor gets its own copy. A DeferredGradient (a sum the
    engine kept as factors) is computed here, once.
    """
    if isinstance(g, DeferredGradient):
        g, fresh = g.materialize(), True
    if isinstance(g, Tensor):
        if not fresh:
            g = ops.mul(g, 1.0)     # a new array, still on the recorded graph
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is None:
        t.grad = Tensor(g if fresh else g.copy())
    else:
        t.grad = Tensor(t.grad.data + g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not stored in ``.grad``).

    Mirrors ``torch.autograd.grad``. With ``create_graph=True`` the returned gradients are
    themselves differentiable.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    gs = run_backward(outputs, list(grad_outputs), retain_graph=retain_graph,
                      create_graph=create_graph, capture=inputs)
    result = []
    for t, g in zip(inputs, gs):
        if isinstance(g, DeferredGradient):
            g = g.materialize()
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "one of the differentiated tensors was not used in the graph; "
                    "pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor(g))
    return tuple(result)

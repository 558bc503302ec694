"""Hooks on leaf gradients (``Tensor.register_post_accumulate_grad_hook``): which leaves
have them, and when in the backward pass each such leaf's gradient is final.

``post_accumulate_grad_hooks`` maps id(leaf) -> a weak reference to each leaf that has (or
had) such hooks; the hooks themselves live on the tensor ({handle id: hook}), so a hook that
refers to its tensor keeps nothing alive. It is empty unless someone registered a hook, and
only then does the backward pass plan when each hooked leaf's gradient becomes final
(``hook_schedule``).
"""
from __future__ import annotations

import itertools

post_accumulate_grad_hooks = {}


class RemovableHandle:
    """What registering a hook returns; ``remove()`` unregisters it (as PyTorch's)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.id = next(RemovableHandle._ids)
        self._hooks = hooks

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def hook_schedule(roots):
    """[(threshold, leaf)] for each hooked leaf this pass can reach, highest threshold last.

    A leaf's gradient is final once every node that uses it has run its backward. Nodes run
    in decreasing creation number and a node only ever hands gradients to older nodes, so
    that is as soon as no waiting node is numbered at or above the lowest number among the
    leaf's users (its threshold; infinite for a leaf that is itself a root). Finding the
    users takes one walk over the graph, done only when some tensor has such a hook.
    """
    first_use, seen = {}, set()
    stack = []
    for r in roots:
        if r.creator is None:
            if id(r) in post_accumulate_grad_hooks:
                first_use[id(r)] = (float("inf"), r)
        else:
            stack.append(r.creator)
    while stack:
        fn = stack.pop()
        if id(fn) in seen or fn.inputs is None:
            continue
        seen.add(id(fn))
        for t, need in zip(fn.inputs, fn.needs_input_grad):
            if not need:
                continue
            c = t.creator
            if c is not None:
                if id(c) not in seen:
                    stack.append(c)
            elif id(t) in post_accumulate_grad_hooks:
                old = first_use.get(id(t))
                if old is None or fn._seq < old[0]:
                    first_use[id(t)] = (fn._seq, t)
    return sorted(first_use.values(), key=lambda e: e[0])    # popped from the end

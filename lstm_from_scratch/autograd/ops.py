"""The differentiable operations that ``Tensor``'s methods call, registered by their owners.

The engine imports nothing above ``backend``. ``Tensor.__add__`` (in ``tensor.py``) is
``ops.add(self, other)``; ``add`` itself is defined in ``functional/elementwise.py`` beside
its ``Function`` (``Add``), and registered here by the ``@register`` line above its
definition, when ``functional`` is imported (which ``import lstm_from_scratch`` does before
anything can make a tensor). So a reader goes from ``x + y`` to ``Tensor.__add__`` to
``functional.elementwise.add`` in two jumps, and the dependency points one way.
"""
from __future__ import annotations


def register(fn):
    """Make ``fn`` available as ``ops.<fn.__name__>`` (a decorator: ``@register``)."""
    globals()[fn.__name__] = fn
    return fn


def __getattr__(name):          # reached only for a name nobody registered
    raise AttributeError(
        f"autograd.ops.{name} is not registered: the differentiable operations are defined "
        "in lstm_from_scratch.functional and register themselves when it is imported "
        "(import lstm_from_scratch does that)")

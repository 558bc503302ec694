"""The differentiable operations that ``Tensor``'s operators and methods are, registered by
the modules that define them.

The engine imports nothing above ``backend``. ``Tensor``'s class body declares each operator
with the name of its function: ``__add__ = ops.method("add")``. ``add`` itself is defined in
``functional/elementwise.py`` beside its ``Function`` (``Add``), with ``@register`` above its
``def``; when ``functional`` is imported (``import lstm_from_scratch`` does that before
anything can make a tensor), ``register`` makes it ``ops.add`` and binds it to every
``Tensor`` attribute declared with ``ops.method("add")``, so ``Tensor.__add__`` *is*
``functional.elementwise.add`` (no call in between: the operators are the hottest path of the
library). A reader goes from ``x + y`` to ``Tensor.__add__`` to ``functional.elementwise.add``
in two jumps, and the dependency points one way.
"""
from __future__ import annotations

_declared = {}      # function name -> [(class, attribute, reflected)] declared with method()


class method:
    """A class attribute that will be the registered function ``name`` (``reflected``: with
    its two operands swapped, for ``__radd__`` and the like). Until the function registers,
    reading it raises an error that says where it comes from."""

    def __init__(self, name: str, reflected: bool = False):
        self.name, self.reflected = name, reflected

    def __set_name__(self, owner, attribute):
        _declared.setdefault(self.name, []).append((owner, attribute, self.reflected))
        if self.name in globals():                  # registered before the class was made
            _bind(owner, attribute, globals()[self.name], self.reflected)

    def __get__(self, obj, owner=None):
        raise AttributeError(
            f"Tensor operation {self.name!r} is not registered: the differentiable operations "
            "are defined in lstm_from_scratch.functional and register themselves when it is "
            "imported (import lstm_from_scratch does that)")


def _reflected(fn):
    def reflected(self, other):
        return fn(other, self)
    reflected.__name__ = reflected.__qualname__ = f"reflected_{fn.__name__}"
    reflected.__doc__ = f"``{fn.__name__}(other, self)``"
    return reflected


def _bind(owner, attribute, fn, reflected):
    setattr(owner, attribute, _reflected(fn) if reflected else fn)


def register(fn):
    """Make ``fn`` available as ``ops.<fn.__name__>`` and as every Tensor attribute declared
    with ``method(fn.__name__)`` (a decorator: ``@register``)."""
    globals()[fn.__name__] = fn
    for owner, attribute, reflected in _declared.get(fn.__name__, ()):
        _bind(owner, attribute, fn, reflected)
    return fn


def unbound():
    """The declared attributes still waiting for their function (empty once functional is
    imported; a test checks it)."""
    return [f"{owner.__name__}.{attribute} ({name})" for name, entries in _declared.items()
            for owner, attribute, _ in entries if name not in globals()]


def __getattr__(name):          # reached only for a name nobody registered
    raise AttributeError(
        f"autograd.ops.{name} is not registered: the differentiable operations are defined "
        "in lstm_from_scratch.functional and register themselves when it is imported "
        "(import lstm_from_scratch does that)")

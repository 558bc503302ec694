"""Module and Parameter: the bookkeeping every layer shares.

A ``Module`` registers the ``Parameter``s and sub-``Module``s assigned to its attributes, so
``parameters()``, ``state_dict()``, ``to()``, ``train()``/``eval()`` and ``repr`` can walk the
tree without each layer listing them by hand. Names, order and behaviour follow
``torch.nn.Module``: a state dict of a PyTorch model, converted with ``.numpy()``, loads here.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..autograd import Tensor, parse_to_args


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: ``requires_grad=True`` by default.

    ``Parameter(tensor_or_array)`` shares memory with its argument, as in PyTorch.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data.data
        elif not hasattr(data, "dtype") or isinstance(data, np.generic):
            raise TypeError(f"Parameter() wraps a Tensor or an array, got {type(data).__name__} "
                            "(build one with lfs.tensor(...) first)")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _to_numpy_value(value):
    """A state-dict value (lfs Tensor, NumPy/CuPy array, torch tensor, list) as an array."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):      # a torch tensor, duck-typed
        return value.detach().cpu().numpy()
    if hasattr(value, "dtype") and not isinstance(value, np.generic):
        return value                                            # numpy or cupy array
    return np.asarray(value)


def _converted_value(value, like):
    """``value`` as a new array of ``like``'s dtype on its device; TypeError for values that
    are not numbers (strings, complex numbers, objects)."""
    a = _to_numpy_value(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"a {a.dtype} value cannot be loaded into a {like.dtype} tensor "
                        "(numbers only)")
    a = backend.to_device(a, like.device)
    xp = backend.get_array_module(like.data)
    return xp.array(a, dtype=like.dtype, copy=True)


class Module:
    """Base class of every layer. Subclasses call ``super().__init__()`` first, assign their
    Parameters and sub-Modules as attributes, and define ``forward``."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, (Parameter, Module)) and params is None:
            raise AttributeError(f"cannot assign {type(value).__name__} '{name}' before "
                                 "Module.__init__() was called (call super().__init__() first)")
        if isinstance(value, Parameter):
            self._remove_everywhere(name)
            params[name] = value
        elif isinstance(value, Module):
            self._remove_everywhere(name)
            self._modules[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as parameter '{name}' "
                                "(an lfs.nn.Parameter or None is expected)")
            params[name] = None
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as child module "
                                f"'{name}' (an lfs.nn.Module or None is expected)")
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} as buffer '{name}' "
                                "(a Tensor or None is expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_everywhere(self, name):
        self.__dict__.pop(name, None)
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)

    def __getattr__(self, name):
        # called only when normal lookup fails: the registered attributes live in the dicts
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            registry = d.get(key)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[key]:
                del self.__dict__[key][name]
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        if "." in name or not name:
            raise KeyError(f"parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register a {type(param).__name__} as parameter '{name}' "
                            "(an lfs.nn.Parameter or None is expected)")
        self._remove_everywhere(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor) -> None:
        """A Tensor that is state but not learnable (saved in state_dict, moved by to())."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer '{name}' must be a Tensor or None, got {type(tensor).__name__}")
        self._remove_everywhere(name)
        self._buffers[name] = tensor

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._remove_everywhere(name)
        self._modules[name] = module

    # -- calling ------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- walking the tree -----------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = ""):
        """(dotted name, module) for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool):
        seen = set()       # by id: Tensor's == is element-wise, so no `in` on tensors
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, t in getattr(m, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, e.g. ``("layers.0.weight", p)``, in registration
        order, each shared parameter once (as PyTorch)."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, then on self (e.g. custom initialisation)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes ------------------------------------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode (dropout active) for this module and all descendants."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: dropout is the identity. Same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True):
        """Forget the gradients of every parameter (``.grad = None``, as PyTorch's default)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor(backend.get_array_module(p.data).zeros_like(p.grad.data))

    # -- devices and dtypes ----------------------------------------------------------------------
    def to(self, *args, device=None, dtype=None):
        """Move every parameter and buffer to ``device`` and/or cast it to a float ``dtype``.

        ``m.to("gpu")``, ``m.to(lfs.float64)``, ``m.to("cpu", lfs.float32)``, ``m.to(tensor)``
        (the arguments of ``Tensor.to``). Parameters are changed in place (their ``.data`` is
        replaced), so an optimizer built before keeps working. Returns self.
        """
        dev, dt = parse_to_args(args, device, dtype, op="Module.to")
        if dt is not None and dt.kind != "f":
            raise TypeError(f"Module.to() only casts to floating-point dtypes, got {dt}")

        def convert(array):
            if dev is not None:
                array = backend.to_device(array, dev)
            if dt is not None and array.dtype.kind == "f" and array.dtype != dt:
                array = array.astype(dt)
            return array

        for t in list(self.parameters()) + list(self.buffers()):
            t.data = convert(t.data)
            if t.grad is not None:
                t.grad = Tensor(convert(t.grad.data))
        return self

    def cpu(self):
        return self.to("cpu")

    def gpu(self):
        return self.to("gpu")

    cuda = gpu

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    # -- state dicts --------------------------------------------------------------------------
    def _state_items(self, prefix=""):
        """(dotted name, tensor) in PyTorch's state-dict order (each module's parameters, then
        its buffers, then its children's, depth first), under every name a tensor has: a
        tensor shared by two modules (tied weights) appears once per name, as in PyTorch's
        state dict (named_parameters() lists it once)."""
        items = []
        stack = [(prefix, self, ())]
        while stack:                    # depth first, in registration order, no recursion
            pre, m, path = stack.pop()
            items += [(pre + n, t) for n, t in m._parameters.items() if t is not None]
            items += [(pre + n, t) for n, t in m._buffers.items() if t is not None]
            path = path + (id(m),)      # a module that contains itself is not entered again
            stack.extend(reversed([(pre + n + ".", c, path) for n, c in m._modules.items()
                                   if c is not None and id(c) not in path]))
        return items

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter and buffer by dotted name, as a NumPy copy (from either device).

        The names are PyTorch's, so ``{k: torch.from_numpy(v) ...}`` loads into the torch model.
        A tied (shared) weight is listed under each of its names, as in PyTorch.
        """
        out = OrderedDict()
        for name, t in self._state_items():
            out[name] = backend.to_numpy(t.data)
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the parameters and buffers, by name; all or nothing.

        Args:
            state_dict: name -> NumPy array, CuPy array, lfs Tensor or torch tensor (e.g. a
                PyTorch model's ``{k: v.numpy() for k, v in model.state_dict().items()}``).
                Values are cast to each parameter's dtype and moved to its device.
            strict: if True, a key missing from ``state_dict`` or one the module does not
                have is an error. A value of the wrong shape or one that cannot be converted
                (strings, complex numbers, objects) is always an error.
        Returns:
            ``(missing_keys, unexpected_keys)``, as PyTorch.
        Raises:
            ValueError (TypeError for unconvertible values) naming every missing, unexpected,
            mis-shaped and unconvertible key at once. Every value is converted and checked
            before the first one is assigned, so a failed load changes nothing.
        """
        items = self._state_items()
        own = OrderedDict(items)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        converted, wrong_shape, wrong_type, conflicts, first_name = {}, [], [], [], {}
        for k, t in items:
            if k not in state_dict:
                continue
            try:
                a = _converted_value(state_dict[k], t)
            except (TypeError, ValueError) as e:
                wrong_type.append(f"{k}: {e}")
                continue
            if tuple(a.shape) != tuple(t.shape):
                wrong_shape.append(f"{k}: expected shape {tuple(t.shape)}, got {tuple(a.shape)}")
                continue
            if id(t) in first_name:             # a tied weight: all its names must agree
                other = first_name[id(t)]
                if not np.array_equal(backend.to_numpy(converted[other][1]),
                                      backend.to_numpy(a)):
                    conflicts.append(f"{other} and {k} (one tied tensor) have different values")
                    continue
            else:
                first_name[id(t)] = k
            converted[k] = (t, a)
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if wrong_shape:
            problems.append("wrong shapes: " + "; ".join(wrong_shape))
        if conflicts:
            problems.append("tied tensors: " + "; ".join(conflicts))
        if wrong_type:
            problems.append("values that cannot be converted: " + "; ".join(wrong_type))
        if problems:
            error = TypeError if wrong_type and len(problems) == 1 else ValueError
            raise error(f"error(s) in loading state_dict for {type(self).__name__}:\n  "
                        + "\n  ".join(problems))
        for t, a in converted.values():     # only after every check passed: no half-loaded model
            t.data = a
        return _IncompatibleKeys(missing, unexpected)

    # -- representation --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown inside ``Name(...)``; layers override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            children.append(f"({name}): {body}")
        if not children:
            return f"{type(self).__name__}({extra})"
        inner = "\n  ".join(lines + children)
        return f"{type(self).__name__}(\n  {inner}\n)"

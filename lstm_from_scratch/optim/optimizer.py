"""The Optimizer base class: parameter groups, per-parameter state, state dicts."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Tensor, enable_grad, increment_version


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()      # a default that must be given (SGD's lr)


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses implement ``step``.

    Args:
        params: an iterable of Tensors (usually ``model.parameters()``), or of dicts, each
            with a ``"params"`` entry and hyperparameters that override ``defaults`` for
            that group, e.g. ``[{"params": lstm.parameters()}, {"params": head.parameters(),
            "lr": 1e-2}]``.
        defaults: the hyperparameters of groups that do not set them.

    Attributes:
        param_groups: list of dicts, ``{"params": [Tensor, ...], "lr": ..., ...}``; change
            ``group["lr"]`` to change the learning rate (schedulers do exactly that).
        state: dict Tensor -> dict of that parameter's state (momentum buffers, moments).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of dicts, got a single "
                            "Tensor (wrap it in a list: [p])")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with its own hyperparameters) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        for k, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but parameter "
                                f"{k} of group {len(self.param_groups)} is a {type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"parameter {k} has dtype {p.dtype}; only floating-point tensors "
                                "can be optimized")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (parameter {k}, shape "
                                 f"{p.shape}); optimize the leaf it was computed from")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group (or twice "
                             "in one); each parameter may be optimized once")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name!r}")
            group.setdefault(name, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``.grad = None`` (default) or zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor(backend.get_array_module(p.data).zeros_like(p.data))

    def step(self, closure=None):
        """One update of every parameter with a gradient. ``closure``, if given, is called
        first (with gradients enabled) to re-evaluate the loss; its value is returned.

        Parameters are updated in place (``p.data`` keeps its identity) and their version is
        bumped, so a backward through a graph recorded before the step raises instead of
        using the new values."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                if state:
                    _follow_parameter(state, p)
                self._update(p, p.grad.data, group, state)
                # p.data changed in place: a graph recorded before this step that still
                # needs the old value now refuses to backward (as PyTorch)
                increment_version(p)
        return loss

    def _update(self, p, grad, group, state):
        raise NotImplementedError

    # -- state dicts ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """PyTorch's layout, with NumPy arrays instead of tensors:

        ``{"state": {index: {name: ndarray}}, "param_groups": [{..., "params": [index]}]}``,
        parameters numbered across the groups in order. The arrays are copies.
        """
        index, groups, k = {}, [], 0
        for group in self.param_groups:
            g = {key: value for key, value in group.items() if key != "params"}
            g["params"] = list(range(k, k + len(group["params"])))
            for p in group["params"]:
                index[id(p)] = k
                k += 1
            groups.append(g)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {name: backend.to_numpy(np.asarray(v) if isinstance(
                        v, numbers.Number) else v) for name, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (also after a round trip through
        ``lfs.io``: integer keys may arrive as strings, numbers as 0-d arrays). State arrays
        are moved to each parameter's device and floating ones cast to its dtype."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter group(s), the "
                             f"optimizer has {len(self.param_groups)}")
        index = {}
        for gi, (saved, group) in enumerate(zip(groups, self.param_groups)):
            ids = [int(i) for i in np.asarray(saved["params"]).reshape(-1)]
            if len(ids) != len(group["params"]):
                raise ValueError(f"loaded state dict's parameter group {gi} has {len(ids)} "
                                 f"parameter(s), the optimizer's has {len(group['params'])}")
            index.update(zip(ids, group["params"]))
        new_groups = []
        for saved, group in zip(groups, self.param_groups):
            g = {key: value for key, value in group.items() if key != "params"}
            g.update((key, _python_value(value)) for key, value in saved.items()
                     if key != "params")
            g["params"] = group["params"]
            new_groups.append(g)
        new_state = {}
        for key, entries in state_dict["state"].items():
            p = index.get(int(key))
            if p is None:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no "
                                 "parameter group contains")
            xp = backend.get_array_module(p.data)
            st = {}
            for name, value in entries.items():
                arr = np.asarray(value) if not hasattr(value, "shape") else value
                if name == "step":
                    st[name] = int(backend.to_numpy(arr).reshape(()))
                    continue
                if tuple(arr.shape) != tuple(p.shape):
                    raise ValueError(f"state {name!r} of parameter {key} has shape "
                                     f"{tuple(arr.shape)}, the parameter has {tuple(p.shape)}")
                arr = backend.to_device(arr, p.device)
                dt = p.dtype if arr.dtype.kind == "f" else arr.dtype
                st[name] = xp.array(arr, dtype=dt, copy=True)
            new_state[p] = st
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _follow_parameter(state: dict, p: Tensor) -> None:
    """Move (and cast) the state arrays of ``p`` to where ``p`` is now.

    ``Module.to()`` replaces each parameter's data in place, so the optimizer keeps the same
    parameter objects; state made before the move (momentum buffers, Adam's moments) would
    otherwise stay on the old device or dtype, and the next update would mix the two.
    """
    data = p.data
    for name, value in state.items():
        if value.__class__ is data.__class__ and value.dtype == data.dtype:
            continue                    # the usual case: nothing moved
        if not hasattr(value, "dtype") or isinstance(value, np.generic):
            continue                    # step counters
        if backend.device_of(value) != p.device:
            value = backend.to_device(value, p.device)
        if value.dtype.kind == "f" and value.dtype != data.dtype:
            value = value.astype(data.dtype)
        state[name] = value


def _python_value(value):
    """A hyperparameter back from an array: 0-d -> number/bool, 1-d -> tuple."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        arr = backend.to_numpy(value)
        if arr.ndim == 0:
            return arr.item()
        return tuple(arr.tolist())
    if isinstance(value, list):
        return tuple(value)
    return value


def check_hyper(name, value, low=0.0, high=None, low_open=False):
    """A clear error for an out-of-range hyperparameter."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    bad = value < low or (low_open and value == low) or (high is not None and value >= high)
    if bad:
        bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
        raise ValueError(f"invalid {name}: {value} (must be in {bounds})")

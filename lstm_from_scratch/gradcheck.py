"""Numerical gradient checking: compare autograd with central finite differences.

For f: inputs -> output and a random upstream gradient v (same shape as the output), the
backward pass computes J^T v for every input. Finite differences give the same quantity one
element at a time:

    d(v . f)/dx_k  ~=  (v . f(x + eps e_k) - v . f(x - eps e_k)) / (2 eps)

with error O(eps^2). In float64 with eps = 1e-6, a correct gradient agrees to about 1e-8;
a wrong one (a missing factor, a transposed matrix) is off by O(1). Checking along one
random v exercises every output element at once, with no output left out by chance.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import Tensor, grad, set_grad_enabled


class GradcheckError(AssertionError):
    """Raised by gradcheck when analytic and numerical gradients disagree."""


def _as_outputs(out):
    if isinstance(out, Tensor):
        return [out]
    return [o for o in out if isinstance(o, Tensor)]


def numerical_grad(fn, inputs, upstream, eps=1e-6, record=False):
    """Central differences of ``sum_k dot(upstream[k], fn(*inputs)[k])`` for each input.

    ``record=True`` evaluates ``fn`` with graph recording on (needed when ``fn`` itself
    calls autograd, as in gradgradcheck)."""
    grads = []
    for x in inputs:
        if not x.requires_grad:
            grads.append(None)
            continue
        g = np.zeros(x.shape, dtype=np.float64)
        flat = x.data.reshape(-1)          # a view: perturb in place, restore after
        for k in range(flat.size):
            original = flat[k].item()
            flat[k] = original + eps
            with set_grad_enabled(record):
                plus = _weighted(fn(*inputs), upstream)
            flat[k] = original - eps
            with set_grad_enabled(record):
                minus = _weighted(fn(*inputs), upstream)
            flat[k] = original
            g.reshape(-1)[k] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def _weighted(out, upstream):
    return float(sum(float((backend.to_numpy(o.data).astype(np.float64) * v).sum())
                     for o, v in zip(_as_outputs(out), upstream)))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0, raise_exception=True,
              _record_numeric=False, _constant_ok=False):
    """Check the gradients of ``fn(*inputs)`` against central differences, in float64.

    Args:
        fn: a function of Tensors returning a Tensor or a tuple of Tensors.
        inputs: Tensors (or one Tensor); those with ``requires_grad=True`` are checked and
            must be float64.
        eps: finite-difference step; atol, rtol: allowed
            ``|analytic - numeric| <= atol + rtol * |numeric|``.
        seed: seed of the random upstream gradient.
    Returns:
        True when every gradient matches. Otherwise raises ``GradcheckError`` naming the
        input, the worst element and both values (or returns False if ``raise_exception``
        is False).
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for k, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {k} has dtype {x.dtype}; finite differences need "
                            "float64 inputs (use .double())")
    outputs = _as_outputs(fn(*inputs))
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(o.shape) for o in outputs]
    differentiable = [(o, v) for o, v in zip(outputs, upstream) if o.requires_grad]
    if differentiable:
        xp = backend.get_array_module(outputs[0].data)
        analytic = grad([o for o, _ in differentiable], checked,
                        [Tensor(xp.asarray(v, dtype=o.dtype)) for o, v in differentiable],
                        allow_unused=True)
    elif _constant_ok:
        # gradgradcheck of a function linear in its inputs: its first derivative is a
        # constant, so the analytic second derivative is zero (the numeric one must be too)
        analytic = [None] * len(checked)
    else:
        raise ValueError("gradcheck: no output of fn depends on an input that requires grad")
    numeric = numerical_grad(fn, inputs, upstream, eps, record=_record_numeric)
    numeric = [g for x, g in zip(inputs, numeric) if isinstance(x, Tensor) and x.requires_grad]
    for k, (x, a, n) in enumerate(zip(checked, analytic, numeric)):
        a = np.zeros(x.shape) if a is None else backend.to_numpy(a.data).astype(np.float64)
        if a.shape != n.shape:
            return _fail(f"gradcheck: gradient of input {k} has shape {a.shape}, expected {n.shape}",
                         raise_exception)
        err = np.abs(a - n) - (atol + rtol * np.abs(n))
        if err.size and err.max() > 0:
            worst = np.unravel_index(int(np.argmax(err)), err.shape)
            return _fail(
                f"gradcheck: gradient mismatch for input {k} (shape {x.shape}) at index "
                f"{tuple(int(i) for i in worst)}: analytic {a[worst]:.10g}, numeric "
                f"{n[worst]:.10g}, |difference| {abs(a[worst] - n[worst]):.3g} > "
                f"atol + rtol*|numeric| = {atol + rtol * abs(n[worst]):.3g}", raise_exception)
    return True


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0, raise_exception=True):
    """Check second derivatives: gradcheck of the function inputs -> d(v . fn)/d(inputs),
    where the first derivative is computed by autograd with ``create_graph=True``."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outputs = _as_outputs(fn(*inputs))
    rng = np.random.default_rng(seed + 1)
    xp = backend.get_array_module(outputs[0].data)
    upstream = [Tensor(xp.asarray(rng.standard_normal(o.shape), dtype=o.dtype)) for o in outputs]

    def first_derivative(*xs):
        outs = [o for o in _as_outputs(fn(*xs))]
        pairs = [(o, v) for o, v in zip(outs, upstream) if o.requires_grad]
        used = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        gs = grad([o for o, _ in pairs], used, [v for _, v in pairs],
                  create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                     raise_exception=raise_exception, _record_numeric=True, _constant_ok=True)

"""User-defined kernels: ``ElementwiseKernel`` emulated, ``RawKernel``/``RawModule`` refused.

``ElementwiseKernel`` runs the CUDA C body it is given, translated statement by statement to
NumPy and executed for all threads ``i = 0 .. size-1`` at once. It accepts what the library's
kernels (``lstm_from_scratch/kernels/_cuda.py``) are written in, and refuses the rest with
``NotImplementedError`` rather than guessing:

* parameters: ``raw`` arrays (indexed by hand with a flat, C-order index, as CuPy's
  ``CArray::operator[]``) and scalars; the launch passes ``size=``;
* statements: declarations (``const T x = ..., y = ...;`` with T a type parameter or a C
  arithmetic type), assignments to variables and to array elements (``=``, ``+=``, ``-=``,
  ``*=``, ``/=``), straight-line only (no ``if``, loops, ``?:``, casts, ``++``);
* expressions: ``+ - * / %``, parentheses, array reads, and the math functions in ``_MATH``.
  Integer ``/`` and ``%`` truncate toward zero, as in C.

Checks a GPU would not make but that catch kernel bugs: an index outside an array is an
``IndexError`` (on a GPU: an illegal memory access, or silently wrong memory); two threads
writing one element, or a thread reading an element another thread wrote in the same launch,
is a ``RuntimeError`` (on a GPU: a data race). The checks are what make running the body on
the CPU meaningful: the per-thread order of statements is kept, and a kernel that passes them
does not depend on how threads are scheduled.

Arithmetic differs from the GPU's in the last bits only: NumPy's float32 ``exp``/``tanh`` are
not CUDA's, and a double literal in a float expression is not promoted to double here.
"""
from __future__ import annotations

import ast
import re

import numpy

from ._core import _SCALAR_TYPES, _check_peer, _unsupported, ndarray

_NOT_EMULATED = ("the CuPy stand-in (tests/cupy_standin) has no GPU and does not run CUDA C "
                 "{what}; run this code on a GPU, or skip it under the stand-in")

_MATH = {
    "exp": numpy.exp, "expf": numpy.exp, "exp2": numpy.exp2, "expm1": numpy.expm1,
    "log": numpy.log, "logf": numpy.log, "log1p": numpy.log1p, "log2": numpy.log2,
    "tanh": numpy.tanh, "tanhf": numpy.tanh, "sqrt": numpy.sqrt, "sqrtf": numpy.sqrt,
    "rsqrt": lambda x: 1 / numpy.sqrt(x), "fabs": numpy.abs, "abs": numpy.abs,
    "fmax": numpy.fmax, "fmin": numpy.fmin, "max": numpy.maximum, "min": numpy.minimum,
    "pow": numpy.power, "sin": numpy.sin, "cos": numpy.cos, "floor": numpy.floor,
    "ceil": numpy.ceil,
}

_C_TYPES = {
    "ptrdiff_t": numpy.int64, "long long": numpy.int64, "long": numpy.int64,
    "int64_t": numpy.int64, "size_t": numpy.uint64, "int": numpy.int32, "int32_t": numpy.int32,
    "unsigned int": numpy.uint32, "float": numpy.float32, "double": numpy.float64,
    "bool": numpy.bool_,
}

_DECLARATION = re.compile(
    r"^(?:const\s+)?(?P<type>unsigned\s+int|long\s+long|[A-Za-z_]\w*)\s+(?P<rest>[A-Za-z_].*)$",
    re.S)
_ASSIGNMENT = re.compile(r"^(?P<target>[A-Za-z_]\w*(?:\s*\[.*\])?)\s*(?P<op>[-+*/]?)=(?!=)"
                         r"(?P<expr>.*)$", re.S)
_UNSUPPORTED = re.compile(r"[{}?#]|\+\+|--|->|&&|\|\||\b(if|else|for|while|do|return|"
                          r"switch|goto|__syncthreads|atomic\w*|static_cast|reinterpret_cast)\b")


# ---- the parameters (as cupy._core._kernel.ParameterInfo) ------------------------------------------
class _Param:
    def __init__(self, text, is_const):
        words = text.split()
        if len(words) < 2:
            raise Exception("Syntax error: %s" % text)
        self.type, self.name = words[-2:]
        self.raw = "raw" in words[:-2]
        self.is_const = is_const
        for w in words[:-2]:
            if w not in ("raw", "_non_const"):
                raise Exception('Unknown keyword "%s"' % w)
        if len(self.type) == 1:             # a type parameter (T, S...)
            self.dtype = None
        else:
            self.dtype = numpy.dtype(self.type)
            if self.dtype.name != self.type:
                raise ValueError("Wrong type %s" % self.type)


def _params(text, is_const):
    text = text.strip()
    return tuple(_Param(p, is_const) for p in text.split(",")) if text else ()


# ---- translation of the body ----------------------------------------------------------------------
def _strip_comments(code):
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    return re.sub(r"//[^\n]*", " ", code)


def _split_top_level(text, sep=","):
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


class _CArithmetic(ast.NodeTransformer):
    """``/`` and ``%`` as C's (integer division truncates); only C-like expressions pass."""

    _ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant,
                ast.Subscript, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod,
                ast.USub, ast.UAdd)

    def generic_visit(self, node):
        if not isinstance(node, self._ALLOWED):
            raise NotImplementedError(
                f"the stand-in's ElementwiseKernel cannot emulate {type(node).__name__} "
                "in a kernel body")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id in _MATH and not node.keywords):
            raise NotImplementedError("the stand-in's ElementwiseKernel emulates only the "
                                      f"math functions {sorted(_MATH)}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise NotImplementedError(f"constant {node.value!r} in a kernel body")
        return super().generic_visit(node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Div, ast.Mod)):
            helper = "_c_div" if isinstance(node.op, ast.Div) else "_c_mod"
            return ast.copy_location(
                ast.Call(ast.Name(helper, ast.Load()), [node.left, node.right], []), node)
        return node


def _expression(text):
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise NotImplementedError(f"the stand-in's ElementwiseKernel cannot parse the "
                                  f"expression {text.strip()!r}") from None
    tree = ast.fix_missing_locations(_CArithmetic().visit(tree))
    return compile(tree, "<kernel>", "eval")


def _is_int(x):
    return numpy.asarray(x).dtype.kind in "iu"


def _c_div(a, b):
    if _is_int(a) and _is_int(b):
        q = numpy.abs(a) // numpy.abs(b)
        return numpy.where((numpy.asarray(a) < 0) != (numpy.asarray(b) < 0), -q, q)
    return a / b


def _c_mod(a, b):
    if _is_int(a) and _is_int(b):
        return numpy.fmod(a, b)
    raise TypeError("% needs integer operands in C")


def _translate(operation):
    """The body as a list of steps: ("declare", name, ctype, code), ("set", name, op, code),
    ("store", array, index code, op, code)."""
    body = _strip_comments(operation)
    if _UNSUPPORTED.search(body):
        raise NotImplementedError(
            "the stand-in's ElementwiseKernel emulates straight-line bodies (declarations and "
            f"assignments); this one has {_UNSUPPORTED.search(body).group(0)!r}")
    steps = []
    for statement in body.split(";"):
        s = " ".join(statement.split())
        if not s:
            continue
        m = _DECLARATION.match(s)
        if m and "=" in m.group("rest") and not _ASSIGNMENT.match(s):
            for declarator in _split_top_level(m.group("rest")):
                name, eq, expr = declarator.partition("=")
                if not eq:
                    raise NotImplementedError(f"a declaration without a value: {s!r}")
                steps.append(("declare", name.strip(), m.group("type"), _expression(expr)))
            continue
        m = _ASSIGNMENT.match(s)
        if m is None:
            raise NotImplementedError(f"the stand-in's ElementwiseKernel cannot emulate {s!r}")
        target, op, expr = m.group("target"), m.group("op"), _expression(m.group("expr"))
        if "[" in target:
            name, _, index = target.partition("[")
            steps.append(("store", name.strip(), _expression(index.rstrip()[:-1]), op, expr))
        else:
            steps.append(("set", target, op, expr))
    return steps


# ---- raw arrays during a launch -------------------------------------------------------------------
class _Raw:
    """A raw array argument: flat C-order indexing, bounds and race checks."""

    def __init__(self, name, arr, threads):
        self.name, self.arr, self.threads = name, arr, threads
        a = arr._a
        self.flat = a.reshape(-1) if a.flags.c_contiguous else None
        self.owner = None           # thread that wrote each element in this launch (-1: none)

    def _where(self, index):
        index = numpy.broadcast_to(numpy.asarray(index), self.threads.shape)
        if index.dtype.kind not in "iu":
            raise TypeError(f"kernel: index into {self.name} has dtype {index.dtype}")
        n = self.arr.size
        if index.size and (index.min() < 0 or index.max() >= n):
            bad = index.min() if index.min() < 0 else index.max()
            raise IndexError(f"kernel: index {int(bad)} is out of bounds for raw array "
                             f"{self.name} of size {n} (an illegal memory access on a GPU)")
        return index

    def __getitem__(self, index):
        index = self._where(index)
        if self.owner is not None:
            o = self.owner[index]
            if numpy.any((o >= 0) & (o != self.threads)):
                raise RuntimeError(f"kernel: a thread reads an element of {self.name} that "
                                   "another thread wrote in the same launch (a data race "
                                   "on a GPU)")
        if self.flat is not None:
            return self.flat[index]
        return self.arr._a[numpy.unravel_index(index, self.arr.shape)]

    def store(self, index, value):
        index = self._where(index)
        value = numpy.broadcast_to(numpy.asarray(value), index.shape)
        if self.owner is None:
            self.owner = numpy.full(self.arr.size, -1, numpy.int64)
        o = self.owner[index]
        if numpy.any((o >= 0) & (o != self.threads)):      # written by another thread before
            raise RuntimeError(f"kernel: two threads write the same element of "
                               f"{self.name} (a data race on a GPU)")
        self.owner[index] = self.threads
        if numpy.any(self.owner[index] != self.threads):    # by two threads in this statement
            raise RuntimeError(f"kernel: several threads write the same element of "
                               f"{self.name} (a data race on a GPU)")
        if self.flat is not None:
            self.flat[index] = value
        else:
            self.arr._a[numpy.unravel_index(index, self.arr.shape)] = value


# ---- the kernels ----------------------------------------------------------------------------------
class ElementwiseKernel:
    """``cupy.ElementwiseKernel`` for raw-array kernels, run on the CPU (see module doc)."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, loop_prep="",
                 after_loop="", **kwargs):
        if re.match(r"^[a-zA-Z_][a-zA-Z_0-9]*$", name) is None:
            raise ValueError('Invalid kernel name: "%s"' % name)
        self.in_params = _params(in_params, True)
        self.out_params = _params(out_params, False)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.params = self.in_params + self.out_params
        if "i" in [p.name for p in self.params]:
            raise ValueError("Can not use 'i' as a parameter name")
        self.operation, self.name, self.__name__ = operation, name, name
        self.preamble, self.loop_prep, self.after_loop = preamble, loop_prep, after_loop
        self.no_return, self.return_tuple = no_return, return_tuple
        self.kwargs = kwargs
        self._steps = None          # translated on first call, as CuPy compiles on first call
        # how the kernel was launched: per argument (ndim, C-contiguous) for arrays, the
        # parameter's NumPy type for scalars; what CuPy's generated source depends on
        self.launches = set()

    def _types(self, args):
        """The type parameters' dtypes from the array arguments (CuPy's rules and messages)."""
        types = {}
        for p, a in zip(self.out_params + self.in_params,
                        list(args[self.nin:]) + list(args[:self.nin])):
            if not isinstance(a, ndarray):
                continue
            if p.dtype is not None:
                if a.dtype != p.dtype:
                    raise TypeError("Type is mismatched. %s %s %s" % (p.name, a.dtype.type,
                                                                      p.dtype))
            elif p.type in types and types[p.type] != a.dtype:
                raise TypeError("Type is mismatched. %s %s %s %s" % (
                    p.name, a.dtype.type, types[p.type].type, p.type))
            else:
                types[p.type] = a.dtype
        return types

    def __call__(self, *args, size=None, block_size=None, stream=None):
        n = len(args)
        if n != self.nin and n != self.nargs:
            raise TypeError(
                "Wrong number of arguments for {!r}. It must be either {} or {} (with "
                "outputs), but given {}.".format(self.name, self.nin, self.nargs, n))
        for a in args:
            if isinstance(a, ndarray):
                _check_peer(a)
            elif not isinstance(a, _SCALAR_TYPES):
                raise _unsupported(a)
        if n == self.nin:
            raise NotImplementedError(_NOT_EMULATED.format(
                what="(pass the output arrays: the stand-in does not allocate them)"))
        if any(isinstance(a, ndarray) and not p.raw for p, a in zip(self.params, args)):
            raise NotImplementedError(_NOT_EMULATED.format(
                what="(only raw array parameters are emulated)"))
        if self.preamble or self.loop_prep or self.after_loop:
            raise NotImplementedError(_NOT_EMULATED.format(what="(preamble, loop_prep)"))
        if size is None:
            raise ValueError("Loop size is undecided.")
        types = self._types(args)
        self.launches.add(tuple(
            (a.ndim, bool(a.flags.c_contiguous)) if isinstance(a, ndarray)
            else (p.dtype if p.dtype is not None else types.get(p.type)).type
            for p, a in zip(self.params, args)))
        if self._steps is None:
            self._steps = _translate(self.operation)
        threads = numpy.arange(int(size), dtype=numpy.int64)
        env = {"i": threads, "_c_div": _c_div, "_c_mod": _c_mod, **_MATH}
        ctypes = {}
        for p, a in zip(self.params, args):
            if isinstance(a, ndarray):
                env[p.name] = _Raw(p.name, a, threads)
            else:
                dt = p.dtype if p.dtype is not None else types.get(p.type)
                if dt is None:
                    raise TypeError(f"kernel: the type {p.type} of scalar {p.name} is not "
                                    "decided by any array argument")
                env[p.name] = numpy.asarray(a, dtype=dt)[()]
        if threads.size:
            with numpy.errstate(all="ignore"):
                self._run(env, types, ctypes)
        outs = args[self.nin:]
        if self.no_return:
            return None
        if not self.return_tuple and self.nout == 1:
            return outs[0]
        return tuple(outs)

    def _run(self, env, types, ctypes):
        g = {"__builtins__": {}}
        for step in self._steps:
            if step[0] == "declare":
                _, name, ctype, code = step
                dt = types.get(ctype) if len(ctype) == 1 else _C_TYPES.get(ctype)
                if dt is None:
                    raise NotImplementedError(f"kernel: unknown type {ctype!r}")
                env[name] = numpy.asarray(eval(code, g, env)).astype(dt)
                ctypes[name] = dt
            elif step[0] == "set":
                _, name, op, code = step
                if name not in ctypes:
                    raise NotImplementedError(f"kernel: assignment to undeclared {name!r}")
                value = eval(code, g, env)
                if op:
                    value = _apply(op, env[name], value)
                env[name] = numpy.asarray(value).astype(ctypes[name])
            else:
                _, name, index_code, op, code = step
                raw = env.get(name)
                if not isinstance(raw, _Raw):
                    raise NotImplementedError(f"kernel: {name} is not a raw array parameter")
                index = eval(index_code, g, env)
                value = eval(code, g, env)
                if op:
                    value = _apply(op, raw[index], value)
                raw.store(index, numpy.asarray(value).astype(raw.arr.dtype))


def _apply(op, old, value):
    return {"+": lambda: old + value, "-": lambda: old - value, "*": lambda: old * value,
            "/": lambda: _c_div(old, value)}[op]()


class _NotRun:
    _what = "kernels"

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(_NOT_EMULATED.format(what=self._what))


class RawKernel(_NotRun):
    """``cupy.RawKernel``: created, never run (CuPy compiles on first call; so do we not)."""
    _what = "(RawKernel)"


class RawModule(_NotRun):
    """``cupy.RawModule``: created, but no function of it can be run."""
    _what = "(RawModule)"

    def get_function(self, name):
        raise NotImplementedError(_NOT_EMULATED.format(what="(RawModule)"))


class ReductionKernel(_NotRun):
    """``cupy.ReductionKernel``: not emulated."""
    _what = "(ReductionKernel)"

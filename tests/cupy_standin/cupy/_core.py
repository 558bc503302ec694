"""The stand-in's ndarray and the functions that make and combine its arrays.

Every array holds a NumPy array (``_a``) and the id of the "device" it lives on. What CuPy
refuses, this refuses too, with CuPy's exception types and messages:

* implicit device -> host conversion: ``numpy.asarray(x)``, ``numpy.array(x)`` and anything else
  that calls ``x.__array__()`` raise ``TypeError: Implicit conversion to a NumPy array is not
  allowed...`` (core.pyx, ``ndarray.__array__``); ``x.get()`` and ``cupy.asnumpy(x)`` are the
  explicit ways;
* host arrays (``numpy.ndarray``, also 0-d) and Python lists as operands of device operations:
  ``TypeError: Unsupported type <class 'numpy.ndarray'>`` (_kernel.pyx, ``_preprocess_arg``),
  also through NumPy's dispatch (``numpy_array + x`` reaches ``__array_ufunc__``, which calls
  the device ufunc, which refuses the host operand);
* arrays on another device than the current one: ``ValueError: The device where the array
  resides (1) is different from the current device (0). Peer access is unavailable between
  these devices.`` (``_check_peer_access``; the stand-in's devices never have peer access).

What CuPy allows, this allows: ``float(x)``, ``int(x)``, ``bool(x)``, ``x.item()``,
``x.tolist()``, ``repr(x)`` and formatting copy to the host implicitly (core.pyx defines them
with ``self.get()``); ``cupy.asarray``/``cupy.array`` copy host data to the device; lists and
NumPy arrays are accepted as indices (``_prepare_slice_list`` converts them); NumPy ufuncs and
functions applied to device arrays dispatch to the device versions (``np.exp(x)`` is a device
array). Arithmetic follows NumPy's promotion rules (CuPy follows NumPy's).

Views know the array that owns their memory, as CuPy's: ``x.base`` is None for an array that
owns its memory and the owner for a view, never another view (core.pyx, ``_view`` and
``view``: ``v.base = self.base if self.base is not None else self``), so ``x[1:].base is x`` and
``x[1:][1:].base is x``. Indexing with integers gives a 0-d view, not a copy (CuPy has no
scalars). The library's version counter follows ``.base`` to the memory a tensor views.

No floating-point warnings: a GPU does not raise them, so every computation runs under
``numpy.errstate(all="ignore")``.
"""
from __future__ import annotations

import weakref

import numpy

from . import _device

_SCALAR_TYPES = (bool, int, float, complex, numpy.generic)
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")
_SUPPORTED_DTYPES = "?bhilqBHILQefdFD"


_PACKAGE = None             # the stand-in's cupy package, set by its __init__


def _module():
    """The stand-in package (not ``sys.modules["cupy"]``, which a test may have swapped back
    to the real CuPy while an array of the stand-in is still alive)."""
    return _PACKAGE


def _unsupported(x):
    return TypeError("Unsupported type %s" % type(x))


def _check_peer(arr):
    current = _device.get_device_id()
    if arr._device != current:
        raise ValueError(
            f"The device where the array resides ({arr._device}) is different from the current "
            f"device ({current}). Peer access is unavailable between these devices.")


# The stand-in array that owns each NumPy memory block (keyed by the id of the NumPy array that
# owns the block; an entry lives as long as its owner, which every view keeps alive through its
# ``base``, so the id cannot be reused while the entry exists).
_OWNERS = weakref.WeakValueDictionary()


def _numpy_owner(a):
    """The NumPy array that owns the memory ``a`` views (NumPy's ``.base`` chain)."""
    while isinstance(a.base, numpy.ndarray):
        a = a.base
    return a


def _set_base(out):
    """``out.base`` as CuPy's: the stand-in array owning the memory of ``out._a`` if another
    one does (then ``out`` is a view of it), else None (``out`` becomes that memory's owner)."""
    block = _numpy_owner(out._a)
    owner = _OWNERS.get(id(block))
    if owner is not None and _numpy_owner(owner._a) is block:
        out._base = owner
    else:
        out._base = None
        _OWNERS[id(block)] = out


def _new(a, device=None):
    """Wrap the NumPy array ``a`` (no copy) as an array of ``device`` (default: current); a
    view of the stand-in array whose memory ``a`` views, if any."""
    out = ndarray.__new__(ndarray)
    out._a = a
    out._device = _device.get_device_id() if device is None else device
    _set_base(out)
    return out


def _operand(x):
    """An operand of a device operation: a device array (on the current device) or a scalar."""
    if isinstance(x, ndarray):
        _check_peer(x)
        return x._a
    if isinstance(x, _SCALAR_TYPES):
        return x
    raise _unsupported(x)


def _nested(x):
    """Arguments of a device function: device arrays unwrapped (lists and tuples of them too);
    host arrays refused."""
    if isinstance(x, ndarray):
        _check_peer(x)
        return x._a
    if isinstance(x, numpy.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_nested(v) for v in x)
    return x


def _wrap(r, out=None):
    """A result back as device arrays: arrays wrapped, NumPy scalars as 0-d device arrays."""
    if out is not None and isinstance(r, numpy.ndarray) and r is out._a:
        return out
    if isinstance(r, numpy.ndarray):
        return _new(r)
    if isinstance(r, numpy.generic):
        return _new(numpy.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


def _out_array(out):
    if not isinstance(out, ndarray):
        raise TypeError("Output arguments must be cupy.ndarray")
    _check_peer(out)
    return out._a


def _index(key):
    """An index: device arrays unwrapped; lists and NumPy arrays are allowed (CuPy copies them
    to the device), as are ints, slices, None and Ellipsis."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        _check_peer(key)
        return key._a
    return key


# ---- ufuncs and functions ---------------------------------------------------------------------
def _ufunc(name):
    np_ufunc = getattr(numpy, name)

    def ufunc(*args, out=None, **kwargs):
        operands = [_operand(x) for x in args]
        with numpy.errstate(all="ignore"):
            if out is not None:
                np_ufunc(*operands, out=_out_array(out), **kwargs)
                return out
            return _wrap(np_ufunc(*operands, **kwargs))

    ufunc.__name__ = ufunc.__qualname__ = name
    ufunc.__doc__ = f"Device version of numpy.{name} (stand-in)."
    return ufunc


def _function(np_func, name):
    def function(*args, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _out_array(out)
        args = [_nested(a) for a in args]
        kwargs = {k: (v if k == "out" else _nested(v)) for k, v in kwargs.items()}
        with numpy.errstate(all="ignore"):
            return _wrap(np_func(*args, **kwargs), out)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Device version of numpy.{name} (stand-in)."
    return function


# The NumPy ufuncs that CuPy also has (cupy._core._ufuncs, cupy._math...).
UFUNCS = (
    "add subtract multiply divide true_divide floor_divide negative positive power float_power "
    "remainder mod fmod absolute fabs sign rint floor ceil trunc exp exp2 expm1 log log2 log10 "
    "log1p sqrt square cbrt reciprocal sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh "
    "arcsinh arccosh arctanh hypot deg2rad rad2deg maximum minimum fmax fmin greater "
    "greater_equal less less_equal equal not_equal logical_and logical_or logical_xor "
    "logical_not isfinite isinf isnan signbit copysign nextafter ldexp invert bitwise_and "
    "bitwise_or bitwise_xor left_shift right_shift logaddexp logaddexp2 heaviside conjugate"
).split()

# NumPy functions that CuPy also has, taking device arrays (not host data).
FUNCTIONS = (
    "zeros_like ones_like empty_like full_like stack concatenate vstack hstack dstack "
    "column_stack split array_split where sum mean amax amin max min argmax argmin prod std var "
    "cumsum cumprod dot vdot matmul tensordot einsum inner outer kron reshape transpose swapaxes "
    "moveaxis expand_dims squeeze broadcast_to broadcast_arrays repeat tile copyto diagonal diag "
    "allclose isclose array_equal all any count_nonzero sort argsort unique take nonzero flip "
    "fliplr flipud roll pad round around clip tril triu trace ravel atleast_1d atleast_2d "
    "atleast_3d nan_to_num diff cross average median percentile bincount searchsorted argwhere "
    "flatnonzero append histogram interp meshgrid cov corrcoef shape ndim size result_type "
    "take_along_axis shares_memory may_share_memory"
).split()


def _from_shape(np_func, name):
    def creation(*args, **kwargs):
        with numpy.errstate(all="ignore"):
            return _new(np_func(*args, **kwargs))
    creation.__name__ = creation.__qualname__ = name
    creation.__doc__ = f"Device version of numpy.{name} (stand-in)."
    return creation


CREATION = "zeros ones empty full arange linspace logspace eye identity tri".split()


# ---- host <-> device ------------------------------------------------------------------------------
def _host_values(obj):
    """Host data for ``array``: nested lists may hold device arrays (CuPy stacks them on the
    device) and NumPy arrays (sent to the device)."""
    if isinstance(obj, ndarray):
        _check_peer(obj)
        return obj._a
    if isinstance(obj, (list, tuple)):
        return [_host_values(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (numpy.ndarray, numpy.generic)):
        # another library's array (a torch tensor...): NumPy's protocol, as CuPy's fallback
        return numpy.asarray(obj)
    return obj


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0):
    """A device array from host data (lists, scalars, NumPy arrays: always copied) or from a
    device array (copied unless ``copy=False`` and nothing changes)."""
    if subok:
        raise NotImplementedError
    if isinstance(obj, ndarray):
        src = obj._a
        a = src.astype(src.dtype if dtype is None else dtype, order=order, copy=copy)
        if obj._device != _device.get_device_id():     # CuPy copies across devices
            a = a.copy() if a is src else a
        if a.ndim < ndmin:
            a = a.reshape((1,) * (ndmin - a.ndim) + a.shape)
        return obj if a is src else _new(a)
    a = numpy.array(_host_values(obj), dtype=dtype, copy=True,
                    order="C" if order in (None, "K", "A") else order, ndmin=ndmin)
    if a.dtype.char not in _SUPPORTED_DTYPES:
        raise ValueError("Unsupported dtype %s" % a.dtype)
    return _new(a)


def asarray(a, dtype=None, order=None, *, blocking=False):
    return array(a, dtype=dtype, copy=False, order=order)


asanyarray = asarray


def _in_order(numpy_fn, a, dtype):
    """a itself when it already has the memory order numpy_fn makes, else a device copy."""
    if not isinstance(a, ndarray):
        raise TypeError("Argument 'a' has incorrect type (expected cupy._core.core."
                        f"_ndarray_base, got {type(a).__name__})")
    _check_peer(a)
    r = numpy_fn(a._a, dtype=dtype)
    return a if r is a._a else _new(r)


def ascontiguousarray(a, dtype=None):
    return _in_order(numpy.ascontiguousarray, a, dtype)


def asfortranarray(a, dtype=None):
    return _in_order(numpy.asfortranarray, a, dtype)


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """A NumPy array: a copy of a device array, or ``numpy.asarray`` of anything else."""
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    if hasattr(a, "__cuda_array_interface__"):
        raise TypeError("the stand-in copies only its own device arrays to the host")
    return numpy.asarray(a, order=order)


def get_array_module(*args):
    """This module when any argument is a device array, else numpy (as cupy.get_array_module)."""
    for a in args:
        if isinstance(a, ndarray) or hasattr(a, "__cuda_array_interface__"):
            return _module()
    return numpy


def _fill_value(value):
    """A value for ``fill`` (core.pyx): scalars and 0-d NumPy arrays only."""
    if isinstance(value, numpy.ndarray):
        if value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        return value.item()
    if not isinstance(value, _SCALAR_TYPES):
        raise _unsupported(value)
    return value


# ---- the array -----------------------------------------------------------------------------------
def _should_use_rop(x, y):
    """core.pyx's rule: let the other operand's reflected operator handle it?"""
    try:
        y_ufunc = y.__array_ufunc__
    except AttributeError:
        return getattr(x, "__array_priority__", 0) < getattr(y, "__array_priority__", 0)
    return y_ufunc is None


def _binary(name, reflected=False):
    def op(self, other):
        f = getattr(_module(), name)
        if reflected:
            return f(other, self)
        if not isinstance(other, ndarray) and _should_use_rop(self, other):
            return NotImplemented
        return f(self, other)
    op.__name__ = name
    return op


def _inplace(name):
    def op(self, other):
        getattr(_module(), name)(self, other, out=self)
        return self
    return op


def _method(name, compute=True):
    def method(self, *args, **kwargs):
        if compute:
            _check_peer(self)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _out_array(out)
        args = [_nested(a) for a in args]
        kwargs = {k: (v if k == "out" else _nested(v)) for k, v in kwargs.items()}
        with numpy.errstate(all="ignore"):
            r = getattr(self._a, name)(*args, **kwargs)
        if r is self._a:
            return self
        return _wrap(r, out)
    method.__name__ = name
    return method


class ndarray:
    """An array on a (stand-in) device: NumPy underneath, CuPy's rules on top."""

    __module__ = "cupy"

    __slots__ = ("_a", "_device", "_base", "__weakref__")
    __array_priority__ = 100        # as cupy.ndarray
    __hash__ = None                 # unhashable, as cupy.ndarray (it defines __eq__)

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CuPy stand-in has no device memory pointers")
        self._a = numpy.empty(shape, dtype=dtype, order=order)
        self._device = _device.get_device_id()
        _set_base(self)

    # -- attributes ----------------------------------------------------------------------------
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)

    @property
    def base(self):
        """The array that owns the memory of this view, or None if it owns its memory."""
        return self._base

    real = property(lambda self: _new(self._a.real, self._device))
    imag = property(lambda self: _new(self._a.imag, self._device))

    @property
    def T(self):
        return self if self.ndim < 2 else _new(self._a.T, self._device)

    @property
    def mT(self):
        return _new(numpy.swapaxes(self._a, -1, -2), self._device)

    @property
    def device(self):
        from .cuda import Device
        return Device(self._device)

    @property
    def data(self):
        from .cuda import MemoryPointer
        return MemoryPointer(self._a.__array_interface__["data"][0], self._device)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "descr": self.dtype.descr,
                "version": 3, "stream": 1,
                "strides": None if self._a.flags.c_contiguous else self.strides,
                "data": (self._a.__array_interface__["data"][0] if self.size else 0, False)}

    # -- explicit and implicit transfers (as core.pyx) -------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A NumPy copy of the array (the explicit device -> host transfer)."""
        if out is not None:
            if not isinstance(out, numpy.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            if out.dtype != self.dtype:
                raise TypeError(f"{out.dtype} array cannot be obtained from {self.dtype} array")
            if out.shape != self.shape:
                raise ValueError(f"Shape mismatch. Expected shape: {self.shape}, "
                                 f"actual shape: {out.shape}")
            out[...] = self._a
            return out
        return numpy.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        """Copy the NumPy array ``arr`` into this array (the explicit host -> device transfer)."""
        if not isinstance(arr, numpy.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError("Shape or dtype mismatch")
        self._a[...] = arr

    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    def tobytes(self, order="C"):
        return self.get().tobytes(order)

    def __int__(self):
        return int(self.get())

    def __float__(self):
        return float(self.get())

    def __complex__(self):
        return complex(self.get())

    def __bool__(self):
        return bool(self.get())

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, format_spec):
        return format(self.get(), format_spec)

    def __reduce__(self):
        return array, (self.get(),)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # -- containers --------------------------------------------------------------------------------
    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, key):
        key = _index(key)
        r = self._a[key]
        if isinstance(r, numpy.ndarray):
            return _new(r, self._device)
        items = key if isinstance(key, tuple) else (key,)
        if all(isinstance(k, (int, numpy.integer)) for k in items):
            # integers only: NumPy gives a scalar (a copy), CuPy a 0-d view of the element
            return _new(self._a[items + (Ellipsis,)], self._device)
        return _new(numpy.asarray(r), self._device)     # CuPy returns 0-d arrays, not scalars

    def __setitem__(self, key, value):
        """As _routines_indexing.pyx's _scatter_op: with an array or list in the index (advanced
        indexing) the value may be host data (``core.array(value)`` copies it); with basic
        indexing only a device array or a scalar (0-d NumPy arrays count: ``fill``)."""
        _check_peer(self)
        key = _index(key)
        items = key if isinstance(key, tuple) else (key,)
        advanced = any(isinstance(k, (list, numpy.ndarray)) for k in items)
        if isinstance(value, ndarray):
            _check_peer(value)
            value = value._a
        elif advanced:
            value = numpy.array(_host_values(value), dtype=self.dtype)
        else:
            value = _fill_value(value)
        self._a[key] = value

    def fill(self, value):
        _check_peer(self)
        if isinstance(value, ndarray):
            if value.shape != ():
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            _check_peer(value)
            value = value._a
        self._a.fill(_fill_value(value))

    # -- NumPy's protocols: dispatch to the device versions (core.pyx) ----------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return NotImplemented
        name = ufunc.__name__
        cp_ufunc = getattr(_module(), name, None)
        if cp_ufunc is None:
            return NotImplemented
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            kwargs["out"] = out[0]
        for x in inputs + ((kwargs["out"],) if "out" in kwargs else ()):
            if not (isinstance(x, (ndarray, numpy.ndarray)) or type(x) in _SCALAR_SET
                    or hasattr(x, "__cuda_array_interface__")):
                return NotImplemented
        if name in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"):
            inputs = tuple(x.item() if isinstance(x, numpy.ndarray) and x.ndim == 0 else x
                           for x in inputs)
        return cp_ufunc(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        module = _module()
        for part in func.__module__.split(".")[1:]:
            module = getattr(module, part, None)
            if module is None:
                return NotImplemented
        cp_func = getattr(module, func.__name__, None)
        if cp_func is None or cp_func is func:
            return NotImplemented
        if any(t not in (ndarray, numpy.ndarray) for t in types):
            return NotImplemented
        return cp_func(*args, **kwargs)

    # -- operators -----------------------------------------------------------------------------------
    __add__, __radd__, __iadd__ = _binary("add"), _binary("add", True), _inplace("add")
    __sub__, __rsub__, __isub__ = (_binary("subtract"), _binary("subtract", True),
                                   _inplace("subtract"))
    __mul__, __rmul__, __imul__ = (_binary("multiply"), _binary("multiply", True),
                                   _inplace("multiply"))
    __truediv__, __rtruediv__, __itruediv__ = (_binary("true_divide"),
                                               _binary("true_divide", True),
                                               _inplace("true_divide"))
    __floordiv__, __rfloordiv__, __ifloordiv__ = (_binary("floor_divide"),
                                                  _binary("floor_divide", True),
                                                  _inplace("floor_divide"))
    __mod__, __rmod__, __imod__ = (_binary("remainder"), _binary("remainder", True),
                                   _inplace("remainder"))
    __pow__, __rpow__, __ipow__ = _binary("power"), _binary("power", True), _inplace("power")
    __matmul__, __rmatmul__ = _binary("matmul"), _binary("matmul", True)
    __and__, __rand__, __iand__ = (_binary("bitwise_and"), _binary("bitwise_and", True),
                                   _inplace("bitwise_and"))
    __or__, __ror__, __ior__ = (_binary("bitwise_or"), _binary("bitwise_or", True),
                                _inplace("bitwise_or"))
    __xor__, __rxor__, __ixor__ = (_binary("bitwise_xor"), _binary("bitwise_xor", True),
                                   _inplace("bitwise_xor"))
    __lshift__, __rshift__ = _binary("left_shift"), _binary("right_shift")
    __lt__, __le__ = _binary("less"), _binary("less_equal")
    __gt__, __ge__ = _binary("greater"), _binary("greater_equal")
    __eq__, __ne__ = _binary("equal"), _binary("not_equal")

    def __neg__(self):
        return _module().negative(self)

    def __pos__(self):
        return _module().positive(self)

    def __abs__(self):
        return _module().absolute(self)

    def __invert__(self):
        return _module().invert(self)

    # -- methods (as numpy.ndarray's, on the device) ---------------------------------------------------
    for _name in ("all any argmax argmin argsort astype clip copy cumsum cumprod diagonal dot "
                  "max mean min nonzero prod ptp put repeat round sort std sum take "
                  "trace var conj conjugate partition argpartition compress choose").split():
        locals()[_name] = _method(_name)
    for _name in "reshape ravel flatten squeeze swapaxes transpose view".split():
        locals()[_name] = _method(_name, compute=False)
    del _name


_SCALAR_SET = frozenset({bool, int, float, complex} | {
    t for t in numpy.sctypeDict.values() if issubclass(t, numpy.generic)})

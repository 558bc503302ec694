"""The CuPy stand-in (tests/cupy_standin) behaves like CuPy where placement matters.

Each behaviour pinned here is CuPy 13/14's (cupy/_core/core.pyx: ``ndarray.__array__``,
``__float__``, ``__array_ufunc__``; cupy/_core/_kernel.pyx: ``_preprocess_arg``,
``_check_peer_access``, ``ElementwiseKernel.__call__``; cupy/_core/_routines_indexing.pyx:
``_prepare_slice_list``). The tests in the first part run against the stand-in everywhere and,
where a GPU is usable, against the real CuPy too (marker ``gpu``), so a stand-in that drifts
from CuPy is caught on a GPU machine. The second part tests what only the stand-in does: the
emulated ElementwiseKernel and its bounds and race checks.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_from_scratch import backend

ROOT = Path(__file__).resolve().parent.parent


def _real_cupy_or_skip():
    if getattr(sys.modules.get("cupy"), "__lfs_standin__", False):
        pytest.skip("the real CuPy is shadowed by the stand-in in this pass")
    if not backend.gpu_available():
        pytest.skip(f"needs the real CuPy and a CUDA device ({backend._cupy_error})")
    return backend._cupy


@pytest.fixture(params=["standin", pytest.param("cupy", marks=pytest.mark.gpu)])
def cp(request):
    """The stand-in, and (on a GPU machine) the real CuPy: both must pass these tests."""
    if request.param == "cupy":
        yield _real_cupy_or_skip()
    else:
        yield request.getfixturevalue("cupy_standin")


# ---- the array type and transfers ------------------------------------------------------------------
def test_device_arrays_are_their_own_type(cp):
    x = cp.asarray(np.arange(3.0))
    assert type(x) is cp.ndarray and not isinstance(x, np.ndarray)
    assert cp.get_array_module(x) is cp and cp.get_array_module(np.ones(2)) is np


def test_host_to_device_copies(cp):
    a = np.arange(3.0)
    x = cp.asarray(a)
    a[0] = 100.0
    assert x.get()[0] == 0.0
    y = cp.array([[1, 2], [3, 4]], dtype=np.float32)
    assert y.dtype == np.float32 and y.shape == (2, 2)


def test_device_to_host_only_explicitly(cp):
    x = cp.arange(4, dtype=np.float64)
    h = x.get()
    assert type(h) is np.ndarray and h.tolist() == [0.0, 1.0, 2.0, 3.0]
    h[0] = 9.0
    assert x.get()[0] == 0.0                           # a copy, never shared memory
    assert type(cp.asnumpy(x)) is np.ndarray
    for implicit in (lambda: np.asarray(x), lambda: np.array(x), lambda: x.__array__(),
                     lambda: np.testing.assert_allclose(x, [0, 1, 2, 3])):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not "
                                            "allowed"):
            implicit()
    with pytest.raises(TypeError):          # dispatched to cupy.concatenate, which refuses
        np.concatenate([np.zeros(1), x])


def test_scalars_and_printing_convert_as_cupy_does(cp):
    # core.pyx defines these with self.get(): they synchronise and work
    x = cp.asarray(np.array([2.5]))
    s = x.sum()
    assert type(s) is cp.ndarray and s.ndim == 0       # reductions give 0-d device arrays
    assert float(s) == 2.5 and int(x[0]) == 2 and bool(s) and s.item() == 2.5
    assert x.tolist() == [2.5] and "2.5" in repr(x) and f"{float(s):.1f}" == "2.5"


def test_host_arrays_in_device_operations_raise(cp):
    x = cp.ones(3)
    host = np.ones(3)
    for op in (lambda: x + host, lambda: host + x, lambda: x * np.array(2.0),
               lambda: cp.add(x, host), lambda: cp.exp(host), lambda: cp.matmul(host, x),
               lambda: x @ host, lambda: cp.where(host > 0, x, x), lambda: x.__iadd__(host),
               lambda: cp.ascontiguousarray(host), lambda: x.fill([1.0])):
        with pytest.raises(TypeError):
            op()
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        cp.add(x, host)
    # basic-slice assignment fills: a host array is refused, a 0-d one is a scalar
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        x[:] = host
    x[:] = np.array(2.0)
    assert x.tolist() == [2.0, 2.0, 2.0]
    # advanced-index assignment copies host values (core.array(value))
    x[[0, 2]] = np.array([5.0, 7.0])
    assert x.tolist() == [5.0, 2.0, 7.0]


def test_scalars_mix_freely(cp):
    x = cp.ones(2, dtype=np.float32)
    for y in (x + 1, 2.0 * x, x - np.float32(1), np.float32(3) * x, 1 - x, x ** 2, -x):
        assert type(y) is cp.ndarray and y.dtype == np.float32


def test_numpy_functions_dispatch_to_the_device(cp):
    x = cp.asarray(np.array([[1.0, 2.0], [3.0, 4.0]]))
    for y in (np.exp(x), np.mean(x), np.maximum(x, 0.0), np.sum(x, axis=0), np.tanh(x)):
        assert type(y) is cp.ndarray
    assert float(np.mean(x)) == 2.5


def test_host_indices_are_accepted(cp):
    # _prepare_slice_list copies list and NumPy indices to the device
    x = cp.asarray(np.arange(5.0))
    assert x[np.array([3, 1])].tolist() == [3.0, 1.0]
    assert x[[0, 4]].tolist() == [0.0, 4.0]
    assert x[cp.asarray(np.array([2]))].tolist() == [2.0]


def test_in_place_operators_keep_the_array(cp):
    x = cp.zeros(3)
    y = x
    x += 1.0
    x *= cp.full(3, 2.0)
    assert y is x and x.tolist() == [2.0, 2.0, 2.0]


def test_views_lead_to_the_array_that_owns_the_memory(cp):
    # core.pyx, _view and view: v.base = self.base if self.base is not None else self
    a = cp.arange(6, dtype=np.float64)
    assert a.base is None
    v = a[1:]
    assert v.base is a and v[1:].base is a             # the owner, never another view
    m = a.reshape(2, 3)
    assert m.base is a and m.T.base is a and m[0].base is a and m.view().base is a
    e = a[2]                                           # integers: a 0-d view, not a copy
    assert e.ndim == 0 and e.base is a
    e += 10.0
    assert a.tolist() == [0.0, 1.0, 12.0, 3.0, 4.0, 5.0]
    for fresh in (a + 1, a.copy(), a[[0, 1]], cp.asarray(np.ones(2)), cp.zeros(2),
                  m.T.copy()):
        assert fresh.base is None
    assert cp.asarray(a) is a and a.astype(np.float64, copy=False) is a


def test_generators_give_device_arrays(cp):
    g = cp.random.default_rng(0)
    for a in (g.standard_normal((2, 3), dtype=np.float32), g.random(4, dtype=np.float32)):
        assert type(a) is cp.ndarray and a.dtype == np.float32


def test_devices(cp):
    assert cp.cuda.runtime.getDeviceCount() >= 1
    assert cp.cuda.Device().id == cp.cuda.get_device_id() == 0
    assert cp.zeros(1).device == cp.cuda.Device(0)
    props = cp.cuda.runtime.getDeviceProperties(0)
    assert "name" in props


def test_kernels_exist(cp):
    assert callable(cp.ElementwiseKernel("T x", "T y", "y = x", "copy_kernel"))
    assert hasattr(cp, "RawKernel")


# ---- what only the stand-in has --------------------------------------------------------------------
def test_standin_is_not_importable_by_accident():
    """Without LFS_CUPY_STANDIN the stand-in is nowhere on the path, and the package does not
    ship it."""
    env = {k: v for k, v in os.environ.items() if k not in ("LFS_CUPY_STANDIN", "PYTHONPATH")}
    code = ("import sys\ntry:\n    import cupy\nexcept ImportError:\n    sys.exit(0)\n"
            "sys.exit(3 if getattr(cupy, '__lfs_standin__', False) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env).returncode == 0
    include = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["lstm_from_scratch*"]' in include


def test_standin_has_two_devices_without_peer_access(cupy_standin):
    cp = cupy_standin
    assert cp.cuda.runtime.getDeviceCount() == 2
    with cp.cuda.Device(1):
        y = cp.zeros(3)
        assert y.device.id == 1 and cp.cuda.get_device_id() == 1
        assert (y + 1).device.id == 1
    assert cp.cuda.get_device_id() == 0
    with pytest.raises(ValueError, match=r"resides \(1\) is different from the current "
                                         r"device \(0\)\. Peer access is unavailable"):
        y + 1
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError, match="invalid device ordinal"):
        cp.cuda.Device(5).use()


def test_standin_draws_other_numbers_than_numpy(cupy_standin):
    a = cupy_standin.random.default_rng(0).standard_normal(5)
    b = np.random.default_rng(0).standard_normal(5)
    assert not np.allclose(a.get(), b)


def test_raw_kernels_are_refused(cupy_standin):
    k = cupy_standin.RawKernel('extern "C" __global__ void f() {}', "f")
    with pytest.raises(NotImplementedError, match="stand-in"):
        k((1,), (1,), ())


AXPY = ("raw T x, raw T y, T a, int32 n", "raw T out",
        "const ptrdiff_t j = n - 1 - i;\nout[i] = a * x[i] + y[j];  // reversed y")


def test_elementwise_kernel_runs_its_cuda_body(cupy_standin):
    cp = cupy_standin
    k = cp.ElementwiseKernel(*AXPY, "axpy_rev")
    x, y = cp.asarray(np.arange(4.0)), cp.asarray(np.array([10.0, 20.0, 30.0, 40.0]))
    out = cp.zeros(4)
    assert k(x, y, 2.0, np.int32(4), out, size=4) is out
    assert out.tolist() == [40.0, 32.0, 24.0, 16.0]


def test_elementwise_kernel_integer_division_truncates_as_c(cupy_standin):
    _c_div, _c_mod = cupy_standin._kernel._c_div, cupy_standin._kernel._c_mod
    a = np.array([7, -7, 7, -7])
    b = np.array([2, 2, -2, -2])
    assert _c_div(a, b).tolist() == [3, -3, -3, 3]
    assert _c_mod(a, b).tolist() == [1, -1, 1, -1]
    assert _c_div(np.float32(1), np.float32(4)) == np.float32(0.25)


def test_elementwise_kernel_errors_are_cupys(cupy_standin):
    cp = cupy_standin
    k = cp.ElementwiseKernel(*AXPY, "axpy_rev")
    x, out = cp.zeros(4), cp.zeros(4)
    with pytest.raises(TypeError, match="Wrong number of arguments"):
        k(x, x, 2.0, size=4)
    with pytest.raises(ValueError, match="Loop size is undecided"):
        k(x, x, 2.0, 4, out)
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(x, cp.zeros(4, dtype=np.float32), 2.0, 4, out, size=4)
    with pytest.raises(TypeError, match="Unsupported type"):
        k(x, np.zeros(4), 2.0, 4, out, size=4)
    with pytest.raises(ValueError, match="Can not use 'i'"):
        cp.ElementwiseKernel("raw T i", "raw T y", "y[i] = i", "bad")


def test_elementwise_kernel_catches_what_would_be_gpu_bugs(cupy_standin):
    cp = cupy_standin
    x, out = cp.zeros(4), cp.zeros(4)
    overrun = cp.ElementwiseKernel("raw T x", "raw T out", "out[i] = x[i + 1]", "overrun")
    with pytest.raises(IndexError, match="out of bounds.*illegal memory access"):
        overrun(x, out, size=4)
    race = cp.ElementwiseKernel("raw T x", "raw T out", "out[0] = x[i]", "race")
    with pytest.raises(RuntimeError, match="same element of out"):
        race(x, out, size=4)
    neighbour = cp.ElementwiseKernel("raw T x", "raw T out",
                                     "out[i] = x[i];\nconst T v = out[(i + 1) % 4];\nout[i] = v",
                                     "neighbour")
    with pytest.raises(RuntimeError, match="reads an element of out that another thread wrote"):
        neighbour(x, out, size=4)
    branchy = cp.ElementwiseKernel("raw T x", "raw T out", "if (i > 0) out[i] = x[i]", "branch")
    with pytest.raises(NotImplementedError, match="straight-line"):
        branchy(x, out, size=4)

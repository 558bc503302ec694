"""The CUDA sources of the fused kernels compile with NVRTC, on a machine without a GPU.

``lstm_from_scratch/kernels/_cuda.py`` holds the bodies of four CuPy ElementwiseKernels; CuPy
generates the whole CUDA source around them and compiles it with NVRTC on first use, which
normally means: first on a GPU. Here CuPy generates that source exactly as it would for the
launches the library makes (``LAUNCHES``: the array dimensions and scalar types, checked
against the library's real launches under the CuPy stand-in below), and NVRTC compiles it for
sm_80 (A100) and sm_90 (H100/H200) in float32 and float64. A syntax or type error in a kernel
body therefore fails CI, not the first GPU run.

Needs the real CuPy and the NVRTC library (``pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12``)
and uses CuPy's private code generator (``cupy._core._kernel``; CuPy 13 and 14); skipped
otherwise, and in the stand-in pass, where ``import cupy`` is the stand-in. NVRTC compiles
and type-checks; it does not run anything: the kernels' results are tested under the stand-in
(which runs the same bodies translated to NumPy) and on a GPU (``pytest -m gpu``).
"""
import sys

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import kernels
from lstm_from_scratch.kernels import _cuda

# kernel -> per argument, in the order of its parameters: (ndim, C-contiguous) of an array, or
# the NumPy type of a scalar; as lstm.py and gru.py launch them.
LAUNCHES = {
    "lstm_forward": ((2, True), (2, True), np.int32, (2, True), (2, True), (2, True),
                     (2, True)),
    "lstm_backward": ((4, True), (4, True), (3, True), (2, True), np.int32, np.int64, np.int64,
                      (2, True), (2, True)),
    "gru_forward": ((1, True), (2, True), np.int32, (2, True), (2, True), (2, True)),
    "gru_backward": ((2, True), (2, True), (2, True), np.int32, (2, True), (2, True)),
}
ARCHS = ("80", "90")


def _real_cupy_or_skip():
    if getattr(sys.modules.get("cupy"), "__lfs_standin__", False):
        pytest.skip("compiles with the real CuPy, which the stand-in shadows in this pass")
    cp = pytest.importorskip("cupy", reason="needs the real CuPy (pip install cupy-cuda12x)")
    try:
        from cupy._core import _carray, _kernel, _scalar, core
        from cupy.cuda import nvrtc
        nvrtc.getVersion()
    except Exception as e:      # no NVRTC library, or a CuPy without this code generator
        pytest.skip(f"needs NVRTC and CuPy's kernel code generator ({type(e).__name__}: {e}; "
                    "pip install nvidia-cuda-nvrtc-cu12)")
    return cp, _carray, _kernel, _scalar, core, nvrtc


def generated_source(name, dtype, body=None):
    """The CUDA source CuPy compiles for kernel ``name`` launched as in LAUNCHES with arrays
    of ``dtype``: CuPy's headers, then the code of ``_get_elementwise_kernel_code``."""
    cp, _carray, _kernel, _scalar, core, _ = _real_cupy_or_skip()
    in_params, out_params, operation = _cuda._SPECS[name]
    k = cp.ElementwiseKernel(in_params, out_params, body or operation, "lfs_" + name)
    launch = LAUNCHES[name]
    dt = np.dtype(dtype).type
    types = [dt if isinstance(a, tuple) else None for a in launch]
    _, _, type_map = k._decide_params_type(tuple(types[:k.nin]), tuple(types[k.nin:]))
    # _ArgInfo(kind, type, dtype, ndim, c_contiguous, index_32_bits); kinds as in _kernel.pxd:
    # 1 ndarray, 2 indexer, 3 scalar
    infos = tuple(_kernel._ArgInfo(1, cp.ndarray, dt, a[0], a[1], True) if isinstance(a, tuple)
                  else _kernel._ArgInfo(3, _scalar.CScalar, a, 0, True, True) for a in launch)
    infos += (_kernel._ArgInfo(2, _carray.Indexer, None, 1, True, True),)
    code = _kernel._get_elementwise_kernel_code(infos, type_map, k.params, k.operation, k.name,
                                                k.preamble)
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


def nvrtc_compile(source, arch):
    """Compile with NVRTC as CuPy does (its options, a cubin for sm_<arch>); returns None or
    the compiler's log on failure."""
    _, _, _, _, core, nvrtc = _real_cupy_or_skip()
    options = core.assemble_cupy_compiler_options(()) + (
        f"-arch=sm_{arch}", "--device-as-default-execution-space")
    prog = nvrtc.createProgram(source, "lfs_kernels.cu", (), ())
    try:
        nvrtc.compileProgram(prog, options)
        assert len(nvrtc.getCUBIN(prog)) > 0
        return None
    except nvrtc.NVRTCError:
        return nvrtc.getProgramLog(prog)
    finally:
        nvrtc.destroyProgram(prog)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_kernel_source_compiles_with_nvrtc(name, dtype):
    source = generated_source(name, dtype)
    assert f"lfs_{name}(" in source and _cuda._SPECS[name][2].strip() in source
    for arch in ARCHS:
        log = nvrtc_compile(source, arch)
        assert log is None, f"{name} ({np.dtype(dtype)}, sm_{arch}) does not compile:\n{log}"


def test_nvrtc_catches_an_error_in_a_kernel_body():
    """The compile test can fail: a misspelt variable is a compile error."""
    good = "h[i] = o_t * tanh_c;"
    assert good in _cuda._SPECS["lstm_forward"][2]      # else the misspelling changes nothing
    body = _cuda._SPECS["lstm_forward"][2].replace(good, "h[i] = o_t * tanh_cc;")
    log = nvrtc_compile(generated_source("lstm_forward", np.float32, body), ARCHS[0])
    assert log is not None and "tanh_cc" in log


def test_launches_table_matches_the_librarys_launches(cupy_standin):
    """LAUNCHES is how the library really launches the kernels (recorded by the stand-in's
    ElementwiseKernel while the fused LSTM and GRU run forward and backward on the "GPU")."""
    rng = np.random.default_rng(0)
    for fn, G in ((kernels.lstm_sequence, 4), (kernels.gru_sequence, 3)):
        shapes = [(3, 2, 5), (2, 4), (2, 4), (G * 4, 5), (G * 4, 4), (G * 4,), (G * 4,)]
        args = [lfs.tensor(rng.standard_normal(s), device="gpu", requires_grad=True)
                for s in shapes]
        states = args[1:3] if G == 4 else args[1:2]
        outs = fn(args[0], *states, *args[3:])
        sum(o.sum() for o in outs).backward()
    for name, launch in LAUNCHES.items():
        assert _cuda._KERNELS[name].launches == {launch}, name

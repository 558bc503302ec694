"""pytest set-up for the whole repository (tests/ and the notebooks in book/).

``LFS_CUPY_STANDIN=1`` puts the NumPy-backed CuPy stand-in (``tests/cupy_standin``) in front of
any installed CuPy, here and in the notebook kernels that nbval starts (through PYTHONPATH), so
that ``LFS_DEVICE=gpu`` runs on a machine without a GPU and fails wherever real CuPy would fail
because of where data lives. It is not a GPU: see README.md, "What is verified where".
"""
import os
import sys
from pathlib import Path

STANDIN = str(Path(__file__).resolve().parent / "tests" / "cupy_standin")


def _standin_requested() -> bool:
    return os.environ.get("LFS_CUPY_STANDIN", "").strip() not in ("", "0")


if _standin_requested():
    if "cupy" in sys.modules and not getattr(sys.modules["cupy"], "__lfs_standin__", False):
        raise RuntimeError("LFS_CUPY_STANDIN=1, but the real CuPy was imported before the "
                           "stand-in could be put in front of it")
    sys.path.insert(0, STANDIN)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [STANDIN] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    import cupy  # noqa: E402

    assert getattr(cupy, "__lfs_standin__", False), cupy.__file__


def pytest_report_header(config):
    cupy = sys.modules.get("cupy")
    if _standin_requested():
        return ("cupy: the NumPy-backed stand-in (LFS_CUPY_STANDIN=1; not a GPU), "
                f"LFS_DEVICE={os.environ.get('LFS_DEVICE', 'auto')}")
    if cupy is not None:
        return f"cupy: {cupy.__version__}, LFS_DEVICE={os.environ.get('LFS_DEVICE', 'auto')}"
    return f"cupy: not imported, LFS_DEVICE={os.environ.get('LFS_DEVICE', 'auto')}"

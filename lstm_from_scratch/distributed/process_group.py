"""The process group: which process am I, how many are we, and collective operations.

PyTorch's ``torch.distributed`` API over MPI: ``init_process_group(backend="mpi")`` takes the
rank and the world size from ``MPI.COMM_WORLD`` (the processes that ``mpiexec -n P`` started),
and ``all_reduce`` / ``broadcast`` / ``barrier`` are MPI's collectives on a duplicate of that
communicator (so nothing we send can be confused with the user's own MPI messages).

Backends:

* ``"mpi"`` - MPI through mpi4py. NumPy arrays are passed to MPI in place. CuPy arrays are
  staged through host memory (a copy to the host, the collective, a copy back), which works
  with any MPI library; a CUDA-aware MPI could pass device pointers instead.
* ``"nccl"`` - NVIDIA's collective library through ``cupy.cuda.nccl``, for CuPy arrays, one
  GPU per process, bootstrapped over MPI. **Untested**: it has not yet run on GPUs.

A failure on one rank must not leave the others waiting forever in a collective: with more
than one process, ``init_process_group`` installs an exception hook that prints the
traceback, names the rank, and calls ``MPI_Abort``, which ends every process of the job.
``MPI_Abort`` may end the job before ``mpiexec`` has forwarded the failing rank's last lines of
stderr (seen on a loaded machine: the whole report lost), so a launcher that needs the report
sets ``LFS_ERROR_DIR``: the hook then also writes it to ``<dir>/rank<r>.txt`` first, as
``torchrun`` has its workers write ``TORCHELASTIC_ERROR_FILE``. :func:`read_error_reports`
reads them back.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import numpy as np
from mpi4py import MPI

from .. import backend
from ..autograd import Tensor

__all__ = ["ReduceOp", "Work", "all_gather_object", "all_reduce", "barrier", "broadcast",
           "destroy_process_group", "get_backend", "get_rank", "get_world_size",
           "init_process_group", "is_initialized", "is_mpi_available", "is_nccl_available",
           "read_error_reports"]


class ReduceOp:
    """Reduction operations for :func:`all_reduce` (PyTorch's names)."""

    SUM = "sum"
    AVG = "avg"             # SUM, then division by the world size
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_MPI_OPS = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}


class Work:
    """The handle of an asynchronous collective (``async_op=True``): ``wait()`` blocks
    until the result is in the tensor; ``is_completed()`` asks without blocking."""

    def __init__(self, wait_fn, test_fn):
        self._wait, self._test, self._done = wait_fn, test_fn, False

    def is_completed(self) -> bool:
        if not self._done and self._test():
            self.wait()
        return self._done

    def wait(self) -> bool:
        if not self._done:
            self._wait()
            self._done = True
        return True


_DONE = Work(lambda: None, lambda: True)


# ---- backends ---------------------------------------------------------------------------------
def _check_buffer(array, what):
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: the tensor must be contiguous (got strides {array.strides} "
                         f"for shape {array.shape}); pass a contiguous copy")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{what}: dtype {array.dtype} cannot be sent; use a numeric dtype")


class _MPIBackend:
    """Collectives of MPI (mpi4py) on a duplicate of COMM_WORLD."""

    name = "mpi"

    def __init__(self):
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def all_reduce(self, array, op, async_op):
        staged = backend.device_of(array) == "gpu"
        buf = array.get() if staged else array          # CuPy: through host memory
        mpi_op = _MPI_OPS[op]

        def finish():
            if op == ReduceOp.AVG:
                buf[...] = buf / self.size
            if staged:
                array.set(buf)

        if not async_op:
            self.comm.Allreduce(MPI.IN_PLACE, buf, op=mpi_op)
            finish()
            return None
        request = self.comm.Iallreduce(MPI.IN_PLACE, buf, op=mpi_op)
        return Work(lambda: (request.Wait(), finish()), request.Test)

    def broadcast(self, array, src):
        staged = backend.device_of(array) == "gpu"
        buf = array.get() if staged else array
        self.comm.Bcast(buf, root=src)
        if staged:
            array.set(buf)

    def barrier(self):
        self.comm.Barrier()

    def progress(self):
        """Let MPI move outstanding nonblocking operations forward (MPICH progresses them
        only inside MPI calls)."""
        self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)

    def close(self):
        self.comm.Free()


class _NCCLBackend:
    """Collectives of NCCL on CuPy arrays, one GPU per process. UNTESTED: it has not run on
    GPUs yet; the MPI backend is the tested one (it stages CuPy arrays through the host)."""

    name = "nccl"

    def __init__(self):
        import cupy
        from cupy.cuda import nccl

        self.cupy, self.nccl = cupy, nccl
        world = MPI.COMM_WORLD
        self.rank, self.size = world.Get_rank(), world.Get_size()
        # one GPU per process: the i-th process on a node takes the node's i-th GPU
        local = world.Split_type(MPI.COMM_TYPE_SHARED)
        cupy.cuda.Device(local.Get_rank() % cupy.cuda.runtime.getDeviceCount()).use()
        local.Free()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = world.bcast(uid, root=0)              # NCCL's rendezvous goes over MPI
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.dtypes = {np.dtype(np.float32): nccl.NCCL_FLOAT32,
                       np.dtype(np.float64): nccl.NCCL_FLOAT64,
                       np.dtype(np.float16): nccl.NCCL_FLOAT16,
                       np.dtype(np.int32): nccl.NCCL_INT32,
                       np.dtype(np.int64): nccl.NCCL_INT64}
        self.ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM,
                    ReduceOp.PRODUCT: nccl.NCCL_PROD, ReduceOp.MIN: nccl.NCCL_MIN,
                    ReduceOp.MAX: nccl.NCCL_MAX}

    def _dtype(self, array):
        if backend.device_of(array) != "gpu":
            raise TypeError("the nccl backend works on GPU (CuPy) arrays; got a NumPy array "
                            "(use backend='mpi' on the CPU)")
        try:
            return self.dtypes[array.dtype]
        except KeyError:
            raise TypeError(f"the nccl backend cannot send dtype {array.dtype}") from None

    def all_reduce(self, array, op, async_op):
        cp = self.cupy
        dtype = self._dtype(array)
        # the collective runs on our stream, after what the current stream has queued
        ready = cp.cuda.Event()
        ready.record(cp.cuda.get_current_stream())
        self.stream.wait_event(ready)
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, dtype, self.ops[op],
                            self.stream.ptr)
        if op == ReduceOp.AVG:
            with self.stream:
                array /= self.size
        done = cp.cuda.Event()
        done.record(self.stream)
        # wait() orders the current stream after the collective, as PyTorch's Work.wait()
        work = Work(lambda: cp.cuda.get_current_stream().wait_event(done), lambda: done.done)
        if not async_op:
            work.wait()
            return None
        return work

    def broadcast(self, array, src):
        cp = self.cupy
        ready = cp.cuda.Event()
        ready.record(cp.cuda.get_current_stream())
        self.stream.wait_event(ready)
        self.comm.bcast(array.data.ptr, array.size, self._dtype(array), src, self.stream.ptr)
        done = cp.cuda.Event()
        done.record(self.stream)
        cp.cuda.get_current_stream().wait_event(done)

    def barrier(self):
        self.cupy.cuda.get_current_stream().synchronize()
        self.stream.synchronize()
        MPI.COMM_WORLD.Barrier()

    def progress(self):
        pass

    def close(self):
        self.stream.synchronize()
        self.comm.destroy()


_BACKENDS = {"mpi": _MPIBackend, "nccl": _NCCLBackend}
_group = None                 # the default process group's backend, once initialised
_previous_excepthook = None   # restored by destroy_process_group


def is_mpi_available() -> bool:
    """True: importing this package needs mpi4py and an MPI library."""
    return True


def is_nccl_available() -> bool:
    """Whether CuPy with NCCL and a CUDA device can be used (the ``nccl`` backend)."""
    if not backend.gpu_available():
        return False
    try:
        from cupy.cuda import nccl
        return bool(nccl.available) if hasattr(nccl, "available") else True
    except ImportError:
        return False


def _default_group():
    if _group is None:
        raise RuntimeError("Default process group has not been initialized, please make sure "
                           "to call lfs.distributed.init_process_group()")
    return _group


ERROR_DIR_VARIABLE = "LFS_ERROR_DIR"


def _abort_on_exception(exc_type, exc, tb):
    """sys.excepthook while a multi-process group exists: report, then end every rank."""
    rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    report = (f"lfs.distributed: rank {rank} of {size} failed with "
              f"{exc_type.__name__}: {exc}; aborting all {size} ranks (MPI_Abort)\n")
    error_dir = os.environ.get(ERROR_DIR_VARIABLE)
    if error_dir:
        # written before anything else: MPI_Abort can end the job before mpiexec has
        # forwarded this process's stderr, the file survives it
        text = "".join(traceback.format_exception(exc_type, exc, tb)) + report
        try:
            (Path(error_dir) / f"rank{rank}.txt").write_text(text)
        except OSError as e:            # the report must never stop the abort below
            report += f"lfs.distributed: could not write the report to {error_dir}: {e}\n"
    (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
    sys.stderr.write(report)
    sys.stderr.flush()
    sys.stdout.flush()
    MPI.COMM_WORLD.Abort(1)


def read_error_reports(error_dir) -> dict[int, str]:
    """{rank: report} of the ranks that failed under ``LFS_ERROR_DIR=error_dir`` (the traceback,
    then the ``lfs.distributed: rank r of P failed with ...`` line), in rank order."""
    reports = {int(f.stem[len("rank"):]): f.read_text() for f in Path(error_dir).glob("rank*.txt")
               if f.stem[len("rank"):].isdigit()}
    return dict(sorted(reports.items()))


def init_process_group(backend: str | None = None, init_method=None, timeout=None,
                       world_size: int = -1, rank: int = -1) -> None:
    """Join the processes started by ``mpiexec -n P`` into the default process group.

    Args:
        backend: ``"mpi"`` (the default) or ``"nccl"`` (GPUs; untested, see the module).
        init_method, timeout: accepted for PyTorch compatibility; MPI needs neither (the
            processes already know each other through ``mpiexec``).
        world_size, rank: if given (not -1), they must equal MPI's, as in PyTorch's MPI
            backend, which also takes both from MPI.
    """
    global _group, _previous_excepthook
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice")
    name = "mpi" if backend is None else str(backend).lower()
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {sorted(_BACKENDS)}, got {backend!r}")
    mpi_rank, mpi_size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    if world_size not in (-1, mpi_size) or rank not in (-1, mpi_rank):
        raise ValueError(f"world_size={world_size}, rank={rank} disagree with MPI, which "
                         f"started this process as rank {mpi_rank} of {mpi_size} "
                         "(leave them at -1: MPI decides)")
    _group = _BACKENDS[name]()
    if _group.size > 1 and sys.excepthook is not _abort_on_exception:
        _previous_excepthook, sys.excepthook = sys.excepthook, _abort_on_exception


def destroy_process_group() -> None:
    """Leave the default process group (MPI itself stays initialised until exit)."""
    global _group, _previous_excepthook
    group = _default_group()
    group.barrier()
    group.close()
    _group = None
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = _previous_excepthook or sys.__excepthook__
    _previous_excepthook = None


def is_initialized() -> bool:
    return _group is not None


def get_rank() -> int:
    """This process's number, 0 .. world size - 1."""
    return _default_group().rank


def get_world_size() -> int:
    """The number of processes in the default group."""
    return _default_group().size


def get_backend() -> str:
    return _default_group().name


def _array_of(tensor, what):
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not hasattr(array, "flags"):
        raise TypeError(f"{what}: expected an lfs Tensor, got {type(tensor).__name__}")
    _check_buffer(array, what)
    return array


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over all processes, in place: afterwards every process holds the
    sum (or ``op``) of everyone's values.

    Returns None, or a :class:`Work` handle with ``async_op=True`` (then the result is in
    ``tensor`` only after ``wait()``).
    """
    if group is not None:
        raise NotImplementedError("only the default process group is supported (group=None)")
    if op not in _MPI_OPS:
        raise ValueError(f"op must be one of ReduceOp.SUM, AVG, PRODUCT, MIN, MAX; got {op!r}")
    return _default_group().all_reduce(_array_of(tensor, "all_reduce"), op, async_op)


def broadcast(tensor, src: int, group=None, async_op: bool = False):
    """Copy ``tensor`` of process ``src`` into ``tensor`` of every process, in place."""
    if group is not None:
        raise NotImplementedError("only the default process group is supported (group=None)")
    g = _default_group()
    if not 0 <= src < g.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {g.size - 1}], got {src}")
    g.broadcast(_array_of(tensor, "broadcast"), src)
    return _DONE if async_op else None


def barrier(group=None, async_op: bool = False):
    """Wait until every process has reached this call."""
    if group is not None:
        raise NotImplementedError("only the default process group is supported (group=None)")
    _default_group().barrier()
    return _DONE if async_op else None


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list`` (of world-size length) with ``obj`` of every process, in rank
    order. Objects travel pickled between the processes of this job (never from a file)."""
    if group is not None:
        raise NotImplementedError("only the default process group is supported (group=None)")
    g = _default_group()
    if len(object_list) != g.size:
        raise ValueError(f"all_gather_object: object_list must have world size {g.size} "
                         f"entries, got {len(object_list)}")
    object_list[:] = MPI.COMM_WORLD.allgather(obj)

"""Data-parallel training: every process holds the whole model and averages gradients.

``DistributedDataParallel(model)`` (PyTorch's name and behaviour):

1. at construction, copies rank 0's parameters and buffers to every process (a broadcast),
   so all replicas start equal;
2. groups the parameters into *buckets* of at most ``bucket_cap_mb`` megabytes, in reverse
   order of ``model.parameters()`` (roughly the order in which backward finishes them);
3. registers a hook on every parameter (``Tensor.register_post_accumulate_grad_hook``) that
   runs during ``loss.backward()`` as soon as that parameter's gradient is final and copies
   it into its bucket's flat buffer; when a bucket is full, one nonblocking allreduce sums
   it over the processes while backward goes on with earlier layers (overlap);
4. when the last gradient is in, waits for the allreduces, divides by the world size and
   writes the averages back into each ``p.grad``: when ``backward()`` returns, every process
   holds the same averaged gradient, and ``optimizer.step()`` keeps the replicas equal.

One allreduce per bucket rather than per parameter: each call pays a fixed latency, so a
few large messages cost less than many small ones (chapter 14 measures this).
"""
from __future__ import annotations

import contextlib
import time

from ..autograd import Tensor, no_grad
from ..nn.module import Module
from . import process_group as pg

__all__ = ["DistributedDataParallel"]

_MB = 1024 * 1024          # PyTorch's bucket_cap_mb counts MiB


class _Bucket:
    """Parameters whose gradients travel together in one flat buffer."""

    def __init__(self, index, params, xp):
        self.index, self.params = index, params
        self.offsets, offset = [], 0
        for p in params:
            self.offsets.append(offset)
            offset += p.data.size
        self.buffer = xp.empty(offset, dtype=params[0].data.dtype)
        self.pending = len(params)        # gradients still to arrive in this backward
        self.work = None                  # the running allreduce

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def pack(self, p, k):
        self.buffer[self.offsets[k]:self.offsets[k] + p.data.size] = p.grad.data.reshape(-1)

    def unpack_into_grads(self, world_size):
        self.buffer /= world_size
        for p, offset in zip(self.params, self.offsets):
            p.grad.data[...] = self.buffer[offset:offset + p.data.size].reshape(p.data.shape)


def _assign_buckets(params, cap_bytes):
    """Consecutive parameters (already in reverse order) into buckets of at most
    ``cap_bytes``; a bucket holds one dtype on one device, and a parameter larger than the
    cap gets a bucket of its own."""
    groups, current, size = [], [], 0
    for p in params:
        key = (p.data.dtype, p.device)
        if current and (size + p.data.nbytes > cap_bytes
                        or (current[0].data.dtype, current[0].device) != key):
            groups.append(current)
            current, size = [], 0
        current.append(p)
        size += p.data.nbytes
    if current:
        groups.append(current)
    return groups


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``loss.backward()`` averages its gradients over all processes.

    Args (PyTorch's order):
        module: the model (an ``lfs.nn.Module``); every process builds the same one.
        device_ids, output_device, dim: accepted for compatibility; one process drives one
            device and feeds its own batch, so there is nothing to scatter.
        broadcast_buffers: copy rank 0's buffers to every process before each forward.
        process_group: only None (the default group) is supported.
        bucket_cap_mb: the largest bucket, in MiB (PyTorch's default, 25, when None).
        find_unused_parameters: after each forward, walk the recorded graph from the outputs
            and mark the parameters it does not reach as ready, so a model that does not use
            every parameter in every step still synchronises.
        overlap (lfs only, keyword): start each bucket's allreduce as soon as the bucket is
            full, during backward (True, as PyTorch always does), or start all of them once
            backward has produced the last gradient (False), to measure what overlap gains.

    ``state_dict()`` keys carry the prefix ``module.``, as in PyTorch; checkpoint
    ``ddp.module`` to load the weights into an unwrapped model.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False, *,
                 overlap: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an lfs.nn.Module, got "
                            f"{type(module).__name__}")
        if process_group is not None:
            raise NotImplementedError("only the default process group is supported "
                                      "(process_group=None)")
        bucket_cap_mb = 25.0 if bucket_cap_mb is None else bucket_cap_mb
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self._group = pg._default_group()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.overlap = bool(overlap)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.world_size = self._group.size
        self.require_backward_grad_sync = True

        params = list(module.parameters())
        self._sync_from_rank0(params + list(module.buffers()))
        trained = [p for p in reversed(params) if p.requires_grad]
        cap = int(bucket_cap_mb * _MB)
        self._buckets = []
        self._slot = {}                  # id(param) -> (bucket, index in bucket)
        for index, group in enumerate(_assign_buckets(trained, cap)):
            bucket = _Bucket(index, group, _xp(group[0]))
            self._buckets.append(bucket)
            for k, p in enumerate(group):
                self._slot[id(p)] = (bucket, k)
        self._params = trained
        self._pending = len(trained)     # parameters whose gradient has not arrived yet
        self._arrived = set()            # ids of those whose gradient has
        self._next_launch = 0            # buckets start in index order on every rank
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready)
                         for p in trained]
        self.allreduce_calls = 0         # counters for tests and the book
        self.allreduce_bytes = 0
        self.comm_launch_seconds = 0.0   # time spent starting allreduces (inside backward)
        self.comm_wait_seconds = 0.0     # time spent waiting for them after the last gradient

    # -- construction ---------------------------------------------------------------------------
    def _sync_from_rank0(self, tensors):
        """Broadcast rank 0's values of ``tensors`` in flat buckets, in place."""
        if self.world_size == 1 or not tensors:
            return
        cap = int(self.bucket_cap_mb * _MB)
        with no_grad():
            for group in _assign_buckets(tensors, cap):
                xp = _xp(group[0])
                flat = xp.concatenate([t.data.reshape(-1) for t in group])
                self._group.broadcast(flat, 0)
                offset = 0
                for t in group:
                    t.data[...] = flat[offset:offset + t.data.size].reshape(t.data.shape)
                    offset += t.data.size

    @property
    def bucket_sizes(self) -> list:
        """Bytes of each gradient bucket, in the order they are reduced."""
        return [b.nbytes for b in self._buckets]

    @property
    def bucket_params(self) -> list:
        """The parameters of each bucket (Tensors), in the order they are reduced."""
        return [list(b.params) for b in self._buckets]

    # -- forward ------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._pending not in (0, len(self._params)):
            missing = [name for name, p in self.module.named_parameters()
                       if id(p) in self._slot and id(p) not in self._arrived]
            self._reset()
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not produce a gradient "
                f"for every parameter (none for: {', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''}), so the "
                "gradients were not averaged. Pass find_unused_parameters=True if the model "
                "does not use all its parameters in every step.")
        if self.broadcast_buffers:
            self._sync_from_rank0(list(self.module.buffers()))
        out = self.module(*args, **kwargs)
        if self.find_unused_parameters and self.require_backward_grad_sync:
            self._mark_unused(out)
        return out

    def _mark_unused(self, out):
        """Parameters the graph of ``out`` does not reach get zero gradients and count as
        ready, so the buckets still fill and every rank calls the same allreduces."""
        reached, seen, stack = set(), set(), []
        for t in _tensors_in(out):
            if t.creator is None:
                reached.add(id(t))
            else:
                stack.append(t.creator)
        while stack:
            fn = stack.pop()
            if id(fn) in seen or fn.inputs is None:
                continue
            seen.add(id(fn))
            for t in fn.inputs:
                if t.creator is None:
                    reached.add(id(t))
                elif id(t.creator) not in seen:
                    stack.append(t.creator)
        for p in self._params:
            if id(p) not in reached:
                if p.grad is None:
                    p.grad = Tensor(_xp(p).zeros_like(p.data))
                self._grad_ready(p)

    # -- backward: the hooks ------------------------------------------------------------------------
    def _grad_ready(self, p):
        """Hook: parameter p's gradient is final."""
        if not self.require_backward_grad_sync:
            return                                       # inside no_sync(): stay local
        bucket, k = self._slot[id(p)]
        bucket.pack(p, k)
        self._arrived.add(id(p))
        bucket.pending -= 1
        self._pending -= 1
        if self.overlap:
            self._launch_ready()
            self._group.progress()                       # let running allreduces move on
        if self._pending == 0:
            self._finish()

    def _launch_ready(self):
        # every rank must start the same collectives in the same order: a bucket starts only
        # after the buckets before it, even if it filled first
        while (self._next_launch < len(self._buckets)
               and self._buckets[self._next_launch].pending == 0):
            bucket = self._buckets[self._next_launch]
            start = time.perf_counter()
            bucket.work = self._group.all_reduce(bucket.buffer, pg.ReduceOp.SUM, True)
            self.comm_launch_seconds += time.perf_counter() - start
            self.allreduce_calls += 1
            self.allreduce_bytes += bucket.nbytes
            self._next_launch += 1

    def _finish(self):
        self._launch_ready()
        start = time.perf_counter()
        for bucket in self._buckets:
            bucket.work.wait()
        self.comm_wait_seconds += time.perf_counter() - start
        for bucket in self._buckets:
            bucket.unpack_into_grads(self.world_size)
        self._reset()

    def _reset(self):
        for bucket in self._buckets:
            bucket.pending, bucket.work = len(bucket.params), None
        self._pending, self._next_launch = len(self._params), 0
        self._arrived.clear()

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this block, backward keeps gradients local (they accumulate in ``.grad``);
        the first backward after it averages the accumulated gradients."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def remove_hooks(self) -> None:
        """Unregister the gradient hooks (the wrapped module trains alone again)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def extra_repr(self) -> str:
        mb = [f"{b / _MB:.3g}" for b in self.bucket_sizes]
        return (f"world_size={self.world_size}, buckets={len(self._buckets)} "
                f"({', '.join(mb)} MiB), overlap={self.overlap}")


def _xp(t):
    from .. import backend
    return backend.get_array_module(t.data)


def _tensors_in(out):
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from _tensors_in(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors_in(o)


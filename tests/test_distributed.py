"""lfs.distributed: the process group, DistributedDataParallel, DistributedSampler.

Two kinds of tests:

* in this process (a single-process MPI job: world size 1): API, errors, buckets, sampler
  arithmetic, PyTorch parity of the sampler;
* real multi-process runs: ``mpiexec -n 2 python tests/mpi_cases.py CASE`` as a subprocess,
  with a timeout so that a hang fails the test instead of stalling CI.

Without mpi4py (the optional extra ``pip install -e ".[mpi]"``) or without ``mpiexec`` the
MPI tests skip, naming what is missing; with ``LFS_REQUIRE_MPI=1`` (set by ``.ci/run``) they
fail instead, so CI cannot pass by skipping them.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import lstm_from_scratch as lfs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "mpi_cases.py"


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"      # the mpich wheel puts it there
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _missing_mpi():
    try:
        from mpi4py import MPI  # noqa: F401
    except Exception as e:                                 # ImportError, no MPI library...
        return f"mpi4py with an MPI library is not usable ({type(e).__name__}: {e}); " \
               "install the extra: pip install -e \".[mpi]\""
    if _mpiexec() is None:
        return "no mpiexec next to the Python interpreter or on PATH"
    return None


def _need_mpi():
    reason = _missing_mpi()
    if reason is None:
        return
    if os.environ.get("LFS_REQUIRE_MPI") == "1":
        pytest.fail(f"LFS_REQUIRE_MPI=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def dist():
    """lstm_from_scratch.distributed with a one-process group, destroyed afterwards."""
    _need_mpi()
    import lstm_from_scratch.distributed as dist

    dist.init_process_group(backend="mpi")
    yield dist
    if dist.is_initialized():
        dist.destroy_process_group()


def run_mpi(case, out_dir, n=2, timeout=180, env=None):
    """``mpiexec -n n python tests/mpi_cases.py case out_dir``: (returncode, stdout, stderr).

    The job runs in its own session, so that on a timeout the whole job (mpiexec, its
    proxies and every rank) is ended, not only mpiexec."""
    _need_mpi()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.Popen([_mpiexec(), "-n", str(n), sys.executable, str(CASES), case,
                             str(out_dir)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"mpiexec -n {n} ... {case} did not finish within {timeout} s (a hang?)"
                    f"\nstdout:\n{out[-2000:]}\nstderr:\n{err[-3000:]}")
    return proc.returncode, out, err


def _ok(case, out_dir, **kw):
    rc, out, err = run_mpi(case, out_dir, **kw)
    assert rc == 0, f"mpiexec run of {case} failed (exit {rc})\n{out[-2000:]}\n{err[-3000:]}"
    return out, err


# ---- the optional dependency ----------------------------------------------------------------
def test_import_without_mpi4py_names_the_extra():
    code = textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None            # as if mpi4py were not installed
        try:
            import lstm_from_scratch.distributed
        except ImportError as e:
            print(e)
        else:
            print("imported")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert 'pip install -e ".[mpi]"' in out.stdout, out.stdout + out.stderr
    assert "mpi4py" in out.stdout


def test_the_rest_of_the_library_never_imports_mpi4py():
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import lstm_from_scratch

        def visit(package):                     # every module, except lfs.distributed
            for m in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                if m.name == "lstm_from_scratch.distributed":
                    continue
                try:
                    module = importlib.import_module(m.name)
                except ImportError as e:        # e.g. the CUDA kernels without CuPy
                    if "mpi4py" in str(e):
                        raise
                    continue
                if m.ispkg:
                    visit(module)

        visit(lstm_from_scratch)
        print(sorted(k for k in sys.modules if k.startswith("mpi4py")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


# ---- the process group (one process) -------------------------------------------------------------
def test_process_group_of_one(dist):
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    t = lfs.tensor(np.array([1.0, 2.0]))
    dist.all_reduce(t)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    assert work.wait() and work.is_completed()
    dist.broadcast(t, src=0)
    dist.barrier()
    gathered = [None]
    dist.all_gather_object(gathered, {"rank": 0})
    assert gathered == [{"rank": 0}]


def test_process_group_errors(dist):
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group()
    with pytest.raises(ValueError, match="src must be a rank"):
        dist.broadcast(lfs.tensor(np.ones(2)), src=1)
    with pytest.raises(ValueError, match="contiguous"):
        dist.all_reduce(lfs.tensor(np.ones((3, 4))).data[:, ::2])
    with pytest.raises(TypeError, match="expected an lfs Tensor"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match="op must be"):
        dist.all_reduce(lfs.tensor(np.ones(2)), op="mean")
    dist.destroy_process_group()
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend must be one of"):
        dist.init_process_group(backend="gloo")
    with pytest.raises(ValueError, match="disagree with MPI"):
        dist.init_process_group(world_size=4)
    assert not dist.is_initialized()


# ---- DistributedSampler ------------------------------------------------------------------------
@pytest.mark.parametrize("n,p,drop_last", [(10, 2, False), (11, 2, False), (11, 2, True),
                                           (10, 3, False), (10, 3, True), (3, 4, False)])
def test_sampler_shards(dist, n, p, drop_last):
    samplers = [dist.DistributedSampler(n, num_replicas=p, rank=r, seed=1, drop_last=drop_last)
                for r in range(p)]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [s.indices() for s in samplers]
        assert len({len(s) for s in shards}) == 1 and len(shards[0]) == len(samplers[0])
        every = np.concatenate(shards)
        if drop_last:                                   # disjoint; the tail is left out
            assert len(set(every.tolist())) == len(every) == n - n % p
        else:                                           # covering; padding repeats a few
            assert set(every.tolist()) == set(range(n))
            assert len(every) == -(-n // p) * p
            if n % p == 0:
                assert len(set(every.tolist())) == n    # then a partition
    s0 = samplers[0]
    s0.set_epoch(0)
    first = s0.indices()
    s0.set_epoch(1)
    assert n < 4 or not np.array_equal(first, s0.indices())    # reshuffled each epoch
    s0.set_epoch(0)
    np.testing.assert_array_equal(first, s0.indices())          # ... reproducibly


def test_sampler_batches_of_p_ranks_are_one_big_batch(dist):
    # the property that makes 2 ranks x batch B equal to 1 rank x batch 2B
    n, p, b = 26, 2, 4
    arrays = np.arange(n) * 10
    one = dist.DistributedSampler(n, num_replicas=1, rank=0, seed=9)
    big = list(lfs.data.DataLoader(arrays, batch_size=p * b, sampler=one))
    shards = [list(lfs.data.DataLoader(arrays, batch_size=b, sampler=dist.DistributedSampler(
        n, num_replicas=p, rank=r, seed=9, drop_last=True))) for r in range(p)]
    for k, batches in enumerate(zip(*shards)):
        assert sorted(np.concatenate(batches).tolist()) == sorted(big[k].tolist())


def test_sampler_matches_pytorch_without_shuffle(dist):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for n in (9, 10, 11, 17):
        for p in (2, 3, 4):
            for drop_last in (False, True):
                for r in range(p):
                    ours = dist.DistributedSampler(n, num_replicas=p, rank=r, shuffle=False,
                                                   drop_last=drop_last)
                    theirs = TorchSampler(list(range(n)), num_replicas=p, rank=r,
                                          shuffle=False, drop_last=drop_last)
                    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    del torch


def test_sampler_arguments(dist):
    x, y = np.zeros((7, 3)), np.zeros(7)
    assert len(dist.DistributedSampler((x, y))) == 7          # a tuple of arrays: N rows
    assert len(dist.DistributedSampler(x)) == 7
    assert len(dist.DistributedSampler(list(range(5)))) == 5
    with pytest.raises(ValueError, match="Invalid rank 2"):
        dist.DistributedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="same first dimension"):
        dist.DistributedSampler((x, np.zeros(6)))
    with pytest.raises(TypeError, match="number of examples"):
        dist.DistributedSampler(object())


def test_dataloader_with_a_sampler(dist):
    x = np.arange(10)
    sampler = dist.DistributedSampler(10, num_replicas=3, rank=1, seed=0)
    loader = lfs.data.DataLoader((x, -x), batch_size=3, sampler=sampler)
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), sampler.indices())
    np.testing.assert_array_equal(batches[0][1], -batches[0][0])
    assert len(lfs.data.DataLoader(x, batch_size=3, sampler=sampler, drop_last=True)) == 1
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        lfs.data.DataLoader(x, sampler=sampler, shuffle=True)
    with pytest.raises(IndexError, match="arrays have 5 rows"):
        list(lfs.data.DataLoader(x[:5], sampler=sampler))


# ---- DistributedDataParallel (one process) -----------------------------------------------------
def _tiny():
    sys.path.insert(0, str(HERE))
    try:
        import mpi_cases
    finally:
        sys.path.remove(str(HERE))
    return mpi_cases


def test_ddp_buckets(dist):
    cases = _tiny()
    model = cases.make_model(0)
    params = list(model.parameters())
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)     # 524 bytes
    buckets = ddp.bucket_params
    # every parameter in exactly one bucket, in reverse order of registration
    assert [id(p) for b in buckets for p in b] == [id(p) for p in reversed(params)]
    for b, size in zip(buckets, ddp.bucket_sizes):
        assert size == sum(p.data.nbytes for p in b)
        assert size <= 524 or len(b) == 1                   # only a lone big tensor exceeds
    assert len(buckets) < len(params)                       # small tensors share buckets
    one = dist.DistributedDataParallel(cases.make_model(0))
    assert len(one.bucket_sizes) == 1                       # 25 MiB hold all of them
    # one allreduce per bucket per backward, not one per tensor
    x, y = cases.make_data()
    for model_, n_buckets in ((ddp, len(buckets)), (one, 1)):
        for _ in range(2):
            logits = model_(lfs.tensor(x[:4]))
            cases.F.cross_entropy(logits.reshape(-1, cases.V), y[:4].reshape(-1)).backward()
        assert model_.allreduce_calls == 2 * n_buckets
    assert "buckets=" in repr(ddp) and list(ddp.state_dict())[0].startswith("module.")


def test_ddp_of_one_process_leaves_gradients_unchanged(dist):
    cases = _tiny()
    x, y = cases.make_data()

    def grads(wrap):
        model = cases.make_model(0)
        net = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005) if wrap else model
        loss = cases.F.cross_entropy(net(lfs.tensor(x)).reshape(-1, cases.V), y.reshape(-1))
        loss.backward()
        return [p.grad.numpy() for p in model.parameters()]

    for a, b in zip(grads(False), grads(True)):
        np.testing.assert_array_equal(a, b)


def test_ddp_unused_parameters(dist):
    class TwoHeads(lfs.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = lfs.nn.Linear(3, 2), lfs.nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x)                                # b is never used

    x = lfs.tensor(np.ones((4, 3), dtype=np.float32))
    ddp = dist.DistributedDataParallel(TwoHeads())
    ddp(x).sum().backward()
    with pytest.raises(RuntimeError, match="find_unused_parameters=True") as err:
        ddp(x)
    assert "b.weight" in str(err.value) and "a.weight" not in str(err.value)
    ddp = dist.DistributedDataParallel(TwoHeads(), find_unused_parameters=True)
    for _ in range(2):
        ddp(x).sum().backward()
    assert ddp.allreduce_calls == 2
    np.testing.assert_array_equal(ddp.module.b.weight.grad.numpy(), 0.0)


def test_ddp_no_sync_accumulates_locally(dist):
    lfs.manual_seed(0)
    lin = lfs.nn.Linear(3, 1).double()
    ddp = dist.DistributedDataParallel(lin)
    x = lfs.tensor(np.ones((2, 3)))
    with ddp.no_sync():
        ddp(x).sum().backward()
    assert ddp.allreduce_calls == 0
    ddp(x).sum().backward()                                 # the synchronising step
    assert ddp.allreduce_calls == 1
    np.testing.assert_allclose(lin.weight.grad.numpy(), 4.0)  # 2 rows x 2 backward passes


def test_ddp_arguments(dist):
    with pytest.raises(TypeError, match="lfs.nn.Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be positive"):
        dist.DistributedDataParallel(lfs.nn.Linear(2, 2), bucket_cap_mb=0)
    with pytest.raises(NotImplementedError, match="default process group"):
        dist.DistributedDataParallel(lfs.nn.Linear(2, 2), process_group=object())


def test_save_checkpoint_unwraps(dist, tmp_path):
    lin = lfs.nn.Linear(2, 2)
    dist.save_checkpoint(tmp_path / "c.npz", dist.DistributedDataParallel(lin), epoch=3)
    state = lfs.io.load_checkpoint(tmp_path / "c.npz", lfs.nn.Linear(2, 2))
    assert state["epoch"] == 3 and set(state["model"]) == {"weight", "bias"}


# ---- real multi-process runs: mpiexec -n 2 ----------------------------------------------------------
def test_two_ranks_equal_one_rank_with_twice_the_batch(tmp_path):
    _ok("equivalence", tmp_path)
    results = json.loads((tmp_path / "equivalence.json").read_text())
    assert len(results) == 4
    for key, r in results.items():
        assert r["steps"] == 12, key
        assert r["max_param_diff"] < 1e-10, (key, r)       # after 12 Adam steps, float64
        assert r["max_loss_diff"] < 1e-10, (key, r)
        assert r["ranks_bitwise_equal"], key
        assert r["allreduce_calls"] == r["steps"] * r["buckets"], key
    assert results["overlap=True,cap=None"]["buckets"] == 1
    assert 1 < results["overlap=True,cap=0.0005"]["buckets"] < results["overlap=True,cap=0.0005"]["params"]


def test_sampler_shards_of_two_real_ranks(tmp_path):
    _ok("sampler", tmp_path)
    for r in json.loads((tmp_path / "sampler.json").read_text()):
        a, b = r["shards"]
        assert len(a) == len(b) == r["len"]
        if r["drop_last"] or r["n"] % 2 == 0:
            assert not set(a) & set(b)                      # disjoint
        covered = set(a) | set(b)
        assert covered == set(range(r["n"])) or (r["drop_last"]
                                                 and len(covered) == r["n"] - r["n"] % 2)


def test_a_failing_rank_stops_all_ranks(tmp_path, dist):
    errors = tmp_path / "errors"
    errors.mkdir()
    rc, out, err = run_mpi("failure", tmp_path, timeout=90, env={"LFS_ERROR_DIR": str(errors)})
    assert rc != 0
    assert "must not" not in out                            # rank 0 did not carry on
    # the report comes from the error file: MPI_Abort may end the job before mpiexec has
    # forwarded the failing rank's stderr (seen under load: all of it lost)
    reports = dist.process_group.read_error_reports(errors)
    assert list(reports) == [1], reports
    assert "ValueError: injected failure on rank 1 at step 2" in reports[1]
    assert reports[1].splitlines()[-1] == ("lfs.distributed: rank 1 of 2 failed with ValueError: "
                                           "injected failure on rank 1 at step 2; aborting all 2 "
                                           "ranks (MPI_Abort)")


def test_error_reports_are_read_in_rank_order(dist, tmp_path):
    for rank in (10, 2):
        (tmp_path / f"rank{rank}.txt").write_text(f"report of {rank}\n")
    for other in ("result.json", "ranking.txt"):            # other files in the folder: ignored
        (tmp_path / other).write_text("{}")
    assert dist.process_group.read_error_reports(tmp_path) == {2: "report of 2\n",
                                                                10: "report of 10\n"}
    assert dist.process_group.read_error_reports(tmp_path / "none") == {}


def test_checkpoint_of_two_ranks_resumes_on_one(tmp_path):
    _ok("checkpoint", tmp_path)
    cases = _tiny()
    flat = lfs.io.load(tmp_path / "epoch0.npz")
    assert not any(k.startswith("model/module.") for k in flat)      # unwrapped keys
    # one process, no lfs.distributed: epoch 1 with the whole batch of both ranks
    model, _ = cases.reference_run([1], 2 * 4, state=tmp_path / "epoch0.npz")
    final = np.load(tmp_path / "final_params.npy")
    assert np.abs(cases.flat_params(model) - final).max() < 1e-10


def test_a_failing_rank_aborts_even_if_its_report_cannot_be_written(tmp_path):
    missing = tmp_path / "no such folder"
    rc, out, err = run_mpi("failure", tmp_path, timeout=90, env={"LFS_ERROR_DIR": str(missing)})
    assert rc != 0 and "must not" not in out                # ended, not hung
    assert not missing.exists()

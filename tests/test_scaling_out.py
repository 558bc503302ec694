"""experiments.scaling_out: the cost model, the model and data of chapter 14, and (slow) a
re-run of part of the recorded training under mpiexec."""
import os
from pathlib import Path

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.experiments import read_results, scaling_out

RECORD = Path(__file__).resolve().parent.parent / "book" / "data" / "scaling_out.json"


def test_fit_latency_bandwidth_recovers_the_model():
    n = 2.0 ** np.arange(0, 24, 2)
    alpha, beta = 3e-6, 4e-10
    a, b = scaling_out.fit_latency_bandwidth(n, alpha + beta * n)
    assert abs(a - alpha) < 1e-12 and abs(b - beta) < 1e-16


def test_ring_allreduce_cost():
    alpha, beta, n = 1e-6, 1e-9, 1e6
    # two processes: one exchange each way of n/2 bytes, twice (reduce-scatter, allgather)
    assert np.isclose(scaling_out.ring_allreduce_seconds(2, n, alpha, beta), 2 * alpha + n * beta)
    # many processes: the bytes term tends to 2 n beta, the latency term grows with p
    t = scaling_out.ring_allreduce_seconds(np.array([4, 1024]), n, 0.0, beta)
    np.testing.assert_allclose(t, [1.5 * n * beta, 2 * 1023 / 1024 * n * beta])


def test_model_and_data_shapes():
    x, y, vocab_size = scaling_out.char_lm_data(16)
    assert x.shape == y.shape and x.shape[1] == 16 and x.dtype == np.int64
    np.testing.assert_array_equal(x[0, 1:], y[0, :-1])            # y is x shifted by one
    np.testing.assert_array_equal(x[1, 0], y[0, -1])               # and continues the text
    lfs.manual_seed(0)
    model = scaling_out.build_char_lm(vocab_size, 8, 12, 1)
    assert model(lfs.tensor(x[:3])).shape == (3, 16, vocab_size)


@pytest.mark.slow
def test_rerun_reproduces_the_record():
    pytest.importorskip("mpi4py")
    if os.environ.get("LFS_REQUIRE_MPI") != "1":
        try:
            scaling_out.mpiexec_path()
        except RuntimeError as e:
            pytest.skip(str(e))
    record = read_results(RECORD)
    # float64, exact to rounding: 1 and 2 processes, as the chapter re-runs them
    live = scaling_out.check_runs()
    for p in (1, 2):
        np.testing.assert_allclose(live[p], record["check_runs"][str(p)], rtol=0, atol=1e-10)
    # float32, the measured configuration: the first 20 steps of the recorded curve
    run = scaling_out.launch(2, "train", "--steps", 20)
    np.testing.assert_allclose(run["losses"], record["curves"]["2"][:20], rtol=0, atol=1e-4)

"""Backends: LFS_DEVICE, set_device/get_device, Tensor.to, copies, and seeding."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import backend


@pytest.fixture
def fresh_default(monkeypatch):
    """Forget the default device so the next get_device() reads LFS_DEVICE again."""
    monkeypatch.setattr(backend, "_default_device", None)


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", "ModuleNotFoundError: No module named 'cupy'")


@pytest.mark.parametrize("value", ["auto", "", "AUTO"])
def test_auto_without_cupy_is_the_cpu(monkeypatch, fresh_default, no_cupy, value):
    monkeypatch.setenv("LFS_DEVICE", value)
    assert lfs.get_device() == "cpu"
    assert not lfs.gpu_available()
    assert lfs.zeros(2).device == "cpu"


def test_unset_variable_means_auto(monkeypatch, fresh_default, no_cupy):
    monkeypatch.delenv("LFS_DEVICE", raising=False)
    assert lfs.get_device() == "cpu"


def test_cpu_is_always_available(monkeypatch, fresh_default):
    monkeypatch.setenv("LFS_DEVICE", "cpu")
    assert lfs.get_device() == "cpu"


def test_gpu_requested_without_cupy_raises_with_install_hint(monkeypatch, fresh_default, no_cupy):
    monkeypatch.setenv("LFS_DEVICE", "gpu")
    with pytest.raises(RuntimeError, match=r"CuPy.*pip install cupy-cuda12x"):
        lfs.get_device()


def test_invalid_lfs_device(monkeypatch, fresh_default):
    monkeypatch.setenv("LFS_DEVICE", "tpu")
    with pytest.raises(ValueError, match="device must be one of"):
        lfs.get_device()


def test_auto_picks_the_gpu_when_cupy_sees_a_device(monkeypatch, fresh_default):
    class FakeCupy:
        class ndarray:
            pass
    monkeypatch.setattr(backend, "_cupy", FakeCupy)
    monkeypatch.setenv("LFS_DEVICE", "auto")
    assert lfs.get_device() == "gpu"


def test_set_device_and_back(monkeypatch):
    monkeypatch.setattr(backend, "_default_device", "cpu")
    lfs.set_device("cpu")
    assert lfs.get_device() == "cpu"
    with pytest.raises(ValueError):
        lfs.set_device("npu")


def test_set_device_gpu_then_new_tensors_live_there(device, monkeypatch):
    monkeypatch.setattr(backend, "_default_device", backend._default_device)
    lfs.set_device("cuda" if device == "gpu" else device)     # PyTorch's spelling works too
    assert lfs.get_device() == device
    assert lfs.zeros(2).device == device
    assert lfs.randn(2).device == device
    assert lfs.tensor([1.0]).device == device


def test_to_moves_data_and_numpy_copies(device):
    x = lfs.tensor([1.0, 2.0], device="cpu")
    y = x.to(device)
    assert y.device == device
    assert x.to("cpu") is x                     # no copy when already there
    back = y.to("cpu")
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), [1.0, 2.0])
    n = y.numpy()
    assert isinstance(n, np.ndarray)
    n[0] = 50.0
    assert y.numpy()[0] == 1.0                  # numpy() never shares memory


def test_to_dtype_forms():
    x = lfs.tensor([1.0])
    assert x.to(np.float64).dtype == np.float64
    assert x.to(dtype="float64").dtype == np.float64
    assert x.double().float().dtype == np.float32
    assert x.to("cpu", np.float64).dtype == np.float64


def test_array_module_and_device_of_numpy():
    a = np.zeros(2)
    assert backend.get_array_module(a) is np
    assert backend.get_array_module(np.float32(1.0)) is np
    assert backend.device_of(a) == "cpu"
    assert backend.xp_for("cpu") is np


def test_manual_seed_makes_draws_reproducible(device):
    lfs.manual_seed(1234)
    a = [lfs.randn(3, 4, device=device).numpy(), lfs.rand(5, device=device).numpy(),
         lfs.uniform(-2.0, 2.0, 6, device=device).numpy()]
    lfs.manual_seed(1234)
    b = [lfs.randn(3, 4, device=device).numpy(), lfs.rand(5, device=device).numpy(),
         lfs.uniform(-2.0, 2.0, 6, device=device).numpy()]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    lfs.manual_seed(1235)
    assert not np.array_equal(lfs.randn(3, 4, device=device).numpy(), a[0])
    assert -2.0 <= a[2].min() and a[2].max() < 2.0


def test_manual_seed_does_not_touch_numpys_global_generator():
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    lfs.manual_seed(99)
    lfs.randn(10)
    assert np.random.rand() == expected


@pytest.mark.gpu
def test_gpu_values_match_cpu_for_a_composite():
    if not backend.gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    outs = []
    for dev in ("cpu", "gpu"):
        x = lfs.tensor(a, dtype=np.float64, device=dev, requires_grad=True)
        w = lfs.tensor(b, dtype=np.float64, device=dev, requires_grad=True)
        y = lfs.log_softmax(lfs.tanh(x @ w), axis=1)[[0, 0, 3]].sum()
        y.backward()
        outs.append((y.item(), x.grad.numpy(), w.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    for k in (1, 2):
        np.testing.assert_allclose(outs[0][k], outs[1][k], rtol=1e-10, atol=1e-12)

"""Errors are clear: they name the argument, and the expected and actual shape/dtype/device."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import backend


def test_matmul_shape_mismatch_names_both_shapes():
    a, b = lfs.zeros(2, 3), lfs.zeros(4, 5)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        lfs.matmul(lfs.zeros(3), lfs.zeros(4))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(5, 4, 2\)"):
        lfs.zeros(2, 3, 4) @ lfs.zeros(5, 4, 2)
    with pytest.raises(ValueError, match="at least one dimension"):
        lfs.matmul(lfs.zeros(()), lfs.zeros(3))


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        lfs.zeros(2, 3) + lfs.zeros(4)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        lfs.zeros(3) * lfs.zeros(2)
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(3,\) to \(2, 4\)"):
        lfs.broadcast_to(lfs.zeros(3), (2, 4))


def test_non_scalar_backward_needs_a_gradient():
    x = lfs.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one-element.*shape \(2,\).*gradient="):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the output has shape \(2,\)"):
        y.backward(lfs.zeros(3))


def test_backward_on_a_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lfs.tensor([1.0]).sum().backward()


@pytest.mark.parametrize("make", [
    lambda: lfs.tensor([1, 2], requires_grad=True),
    lambda: lfs.arange(3, requires_grad=True),
    lambda: lfs.tensor([1, 2]).requires_grad_(),
    lambda: lfs.tensor([True, False], requires_grad=True),
])
def test_requires_grad_on_integer_tensor_is_an_error(make):
    with pytest.raises(TypeError, match="floating-point.*int64|floating-point.*bool"):
        make()


def test_mixing_float32_and_float64_names_both_dtypes():
    a = lfs.tensor([1.0], dtype=np.float32)
    b = lfs.tensor([1.0], dtype=np.float64)
    for op in (lambda: a + b, lambda: a * b, lambda: lfs.maximum(a, b), lambda: a @ b):
        with pytest.raises(TypeError, match="float32 and float64"):
            op()
    with pytest.raises(TypeError, match="dtype float64.*float32"):
        lfs.concat([a, b])


def test_integer_operand_takes_the_float_dtype():
    a = lfs.tensor([1.0, 2.0], dtype=np.float32)
    i = lfs.tensor([1, 2])
    assert (a + i).dtype == np.float32 and (i * a).dtype == np.float32
    assert (a * np.arange(2)).dtype == np.float32


def _fake_gpu(monkeypatch):
    """Pretend a second device exists: a NumPy subclass plays the CuPy array type."""
    class FakeGpuArray(np.ndarray):
        pass

    class FakeCupy:
        ndarray = FakeGpuArray

    monkeypatch.setattr(backend, "_cupy", FakeCupy)
    return FakeGpuArray


def test_device_mismatch_names_both_devices(monkeypatch):
    fake = _fake_gpu(monkeypatch)
    cpu = lfs.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    gpu = lfs.Tensor(np.array([3.0, 4.0], dtype=np.float32).view(fake))
    assert gpu.device == "gpu" and cpu.device == "cpu"
    for op in (lambda: cpu + gpu, lambda: gpu * cpu, lambda: lfs.maximum(cpu, gpu),
               lambda: lfs.concat([cpu, gpu]), lambda: lfs.stack([gpu, cpu])):
        with pytest.raises(RuntimeError, match=r"same device.*(cpu.*gpu|gpu.*cpu)"):
            op()


def test_device_mismatch_on_a_real_gpu():
    if not backend.gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    with pytest.raises(RuntimeError, match="same device"):
        lfs.zeros(2, device="cpu") + lfs.zeros(2, device="gpu")


test_device_mismatch_on_a_real_gpu = pytest.mark.gpu(test_device_mismatch_on_a_real_gpu)


def test_asking_for_the_gpu_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", "ModuleNotFoundError: No module named 'cupy'")
    for call in (lambda: lfs.set_device("gpu"), lambda: lfs.zeros(2, device="gpu"),
                 lambda: lfs.tensor([1.0]).to("gpu"), lambda: lfs.randn(2, device="cuda")):
        with pytest.raises(RuntimeError, match=r"pip install cupy-cuda12x"):
            call()
    assert lfs.get_device() in ("cpu", "gpu")


def test_unknown_device_name():
    with pytest.raises(ValueError, match=r"device must be one of.*'tpu'"):
        lfs.zeros(2, device="tpu")


def test_tensor_wraps_arrays_only():
    with pytest.raises(TypeError, match="lfs.tensor"):
        lfs.Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="ragged"):
        lfs.tensor([[1.0], [2.0, 3.0]])


def test_shape_op_errors():
    x = lfs.zeros(2, 3)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*6 elements.*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match=r"concat: element 1 has shape \(3, 3\)"):
        lfs.concat([x, lfs.zeros(3, 3)], axis=1)
    with pytest.raises(ValueError, match=r"stack: element 1 has shape \(2, 2\)"):
        lfs.stack([x, lfs.zeros(2, 2)])
    with pytest.raises(ValueError, match="add up to 4"):
        lfs.split(x, [1, 3], axis=1)
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        x[5]
    with pytest.raises(TypeError, match="pass axis= or dim="):
        x.sum(axis=0, dim=1)


def test_item_and_truth_value_need_one_element():
    x = lfs.zeros(2)
    with pytest.raises(ValueError, match=r"one element.*\(2,\)"):
        x.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_where_condition_must_be_boolean():
    with pytest.raises(TypeError, match="boolean"):
        lfs.where(lfs.tensor([1, 0]), lfs.zeros(2), lfs.ones(2))


def test_masked_fill_errors_name_the_argument():
    x = lfs.zeros(2, 3)
    with pytest.raises(TypeError, match="mask must be boolean, got dtype int64"):
        x.masked_fill(np.array([[1, 0, 1], [0, 0, 0]]), 0.0)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\) does not broadcast to the "
                                         r"shape \(2, 3\)"):
        x.masked_fill(np.zeros((3, 3), dtype=bool), 0.0)
    with pytest.raises(ValueError, match=r"mask of shape \(4, 2, 3\)"):   # never enlarges x
        x.masked_fill(np.zeros((4, 2, 3), dtype=bool), 0.0)
    with pytest.raises(TypeError, match="value must be a Python number"):
        x.masked_fill(np.zeros(3, dtype=bool), lfs.ones(3))
    with pytest.raises(TypeError, match="x must be a Tensor"):
        lfs.masked_fill(np.zeros(3), np.zeros(3, dtype=bool), 0.0)


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="min and max"):
        lfs.clip(lfs.zeros(2))


def test_var_without_degrees_of_freedom():
    with pytest.raises(ValueError, match="degrees of freedom"):
        lfs.zeros(1).var()


def test_manual_seed_needs_an_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        lfs.manual_seed(1.5)

"""Where tensors live: the placement rule, device-mismatch errors, and the GPU state that must
follow the device. One test (at least) per item of the GPU-readiness review (issue 15).

They run on every machine: the ``cupy_standin`` fixture makes the NumPy-backed CuPy stand-in
the library's CuPy for the test (in the LFS_CUPY_STANDIN=1 pass it already is). The stand-in
refuses what CuPy refuses (implicit device -> host copies, host arrays in device operations,
arrays of another device), so each of these tests fails, as the GPU would, without its fix.
"""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import backend, kernels, nn, optim, train
from lstm_from_scratch import data as lfs_data
from lstm_from_scratch.nn import functional as F


@pytest.fixture
def gpu_default(cupy_standin, monkeypatch):
    """The stand-in, with "gpu" as the default device (LFS_DEVICE=gpu)."""
    monkeypatch.setattr(backend, "_default_device", "gpu")
    return cupy_standin


# ---- 1. one rule: a new tensor goes to the default device unless told otherwise ---------------
def test_every_constructor_follows_the_default_device(gpu_default):
    a = np.arange(6.0).reshape(2, 3)
    made = {
        "tensor(ndarray)": lfs.tensor(a), "tensor(list)": lfs.tensor([1.0, 2.0]),
        "tensor(scalar)": lfs.tensor(3.0), "as_tensor(ndarray)": lfs.as_tensor(a),
        "zeros": lfs.zeros(2), "ones": lfs.ones(2), "full": lfs.full((2,), 1.5),
        "arange": lfs.arange(3), "randn": lfs.randn(2), "rand": lfs.rand(2),
        "to_tensors": lfs_data.to_tensors(a, a.astype(np.int64))[1],
        "Linear": nn.Linear(3, 2).weight, "LSTM": nn.LSTM(3, 2).weight_ih_l0,
    }
    assert {k: t.device for k, t in made.items()} == {k: "gpu" for k in made}
    assert made["tensor(ndarray)"].dtype == np.float64      # NumPy arrays keep their dtype
    assert made["tensor(ndarray)"].numpy().tolist() == a.tolist()


def test_told_otherwise_or_already_on_a_device(gpu_default):
    a = np.ones(3)
    cpu = lfs.tensor(a, device="cpu")
    assert cpu.device == "cpu" and lfs.as_tensor(a, device="cpu").device == "cpu"
    assert lfs.tensor(cpu).device == "cpu"                  # tensor data keeps its device
    assert lfs.zeros_like(cpu).device == "cpu"
    assert lfs.tensor(gpu_default.ones(2)).device == "gpu"  # so does CuPy data
    assert lfs_data.to_tensors(a, device="cpu").device == "cpu"


def test_fit_puts_batches_on_the_models_device(gpu_default):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 3)).astype(np.float32)
    y = X @ np.array([[1.0], [-1.0], [0.5]], dtype=np.float32)
    for device in ("cpu", "gpu"):               # the default device is the GPU in both cases
        model = nn.Linear(3, 1, device=device)
        hist = train.fit(model, [(X, y)], F.mse_loss, optim.SGD(model.parameters(), lr=0.1),
                         epochs=3, val_data=[(X, y)], progress=False)
        assert model.weight.device == device and hist.val_loss[-1] < hist.val_loss[0]


# ---- 2. CuPy arrays are recognised even when the library never imported CuPy -----------------
def test_cupy_arrays_are_gpu_data_with_lfs_device_cpu(cupy_standin, monkeypatch):
    monkeypatch.setattr(backend, "_default_device", "cpu")
    monkeypatch.setattr(backend, "_cupy", None)         # LFS_DEVICE=cpu: lfs never imported it
    monkeypatch.setattr(backend, "_cupy_error", None)
    a = cupy_standin.asarray(np.array([1.0, 2.0]))
    assert backend.device_of(a) == "gpu" and backend.get_array_module(a) is cupy_standin
    assert lfs.Tensor(a).device == "gpu"
    t = lfs.tensor(a)
    assert t.device == "gpu" and t.numpy().tolist() == [1.0, 2.0]
    assert lfs.tensor(a, device="cpu").device == "cpu"


# ---- 3. CPU operations given GPU data: the library's error, naming both devices --------------
def test_gpu_data_in_cpu_operations_names_both_devices(cupy_standin):
    cp = cupy_standin
    x = lfs.tensor([1.0, -2.0, 3.0], requires_grad=True, device="cpu")
    y = x * 2.0
    cases = {
        "gradient": lambda: y.backward(cp.ones(3)),
        "second operand": lambda: x + cp.ones(3),
        "first operand": lambda: lfs.maximum(cp.ones(3), x),
        "condition": lambda: lfs.where(cp.asarray(np.array([True, False, True])), x, x),
        "target": lambda: F.cross_entropy(lfs.tensor(np.zeros((2, 3)), device="cpu"),
                                          cp.asarray(np.array([0, 1]))),
        "index": lambda: x[cp.asarray(np.array([0, 2]))],
        "indices": lambda: F.embedding(lfs.tensor(np.array([0, 1]), device="gpu"),
                                       lfs.tensor(np.ones((3, 2)), device="cpu")),
    }
    for what, op in cases.items():
        with pytest.raises(RuntimeError, match=rf"{what}.* on 'gpu'.* on 'cpu'"):
            op()


def test_tensors_on_two_devices_name_the_argument(cupy_standin):
    cpu = lfs.tensor([1.0, 2.0], device="cpu")
    gpu = lfs.tensor([1.0, 2.0], device="gpu", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"same device.*argument 1 \(shape \(2,\)\) is on "
                                           r"'gpu' and argument 0 \(shape \(2,\)\) is on 'cpu'"):
        cpu + gpu
    with pytest.raises(RuntimeError, match=r"gradient is on 'cpu' and the output is on 'gpu'"):
        (gpu * 2.0).backward(lfs.ones(2, device="cpu"))
    with pytest.raises(RuntimeError, match=r"condition is on 'cpu' and a and b are on 'gpu'"):
        lfs.where(cpu > 1.0, gpu, gpu)


def test_host_data_still_meets_gpu_tensors(gpu_default):
    """The other direction is no error: host data is a constant, copied to the device."""
    x = lfs.tensor([1.0, 2.0], requires_grad=True)
    y = x * np.array([3.0, 4.0], dtype=np.float32) + [1.0, 1.0]
    y.backward(np.ones(2, np.float32))
    assert y.device == "gpu" and x.grad.numpy().tolist() == [3.0, 4.0]
    assert x[np.array([1])].numpy().tolist() == [2.0]


def test_inplace_writes_copy_host_data_to_the_device(gpu_default):
    """copy_, fill_ and x[i] = v with host data write into a GPU tensor (the data goes to the
    device first, as torch's copy_ across devices; CuPy refuses a host array in a slice
    assignment); a CuPy array for a CPU tensor is refused, naming both devices."""
    x = lfs.zeros(3)
    v0 = x._version
    x.copy_(np.array([9.0, 8.0, 7.0]))                  # float64 values, cast as torch's copy_
    assert x.numpy().tolist() == [9.0, 8.0, 7.0] and x.dtype == np.float32
    x.copy_([1.0, 2.0, 3.0])
    assert x.numpy().tolist() == [1.0, 2.0, 3.0]
    x[1:] = np.array([5.0, 6.0], dtype=np.float32)
    x[0] = np.float32(4.0)
    assert x.numpy().tolist() == [4.0, 5.0, 6.0]
    x.fill_(np.array(2.0))
    assert x.numpy().tolist() == [2.0, 2.0, 2.0] and x.device == "gpu"
    assert x._version == v0 + 5
    y = lfs.zeros(2, requires_grad=True) * 1.0           # recorded: the graph path
    y.copy_(np.array([1.0, 2.0]))
    y[0] = np.array(3.0)
    assert y.numpy().tolist() == [3.0, 2.0] and y.device == "gpu"
    cpu = lfs.zeros(2, device="cpu")
    for op in (lambda: cpu.copy_(gpu_default.ones(2)), lambda: cpu.__setitem__(
            slice(None), gpu_default.ones(2))):
        with pytest.raises(RuntimeError, match=r"on 'gpu'.* on 'cpu'"):
            op()
    assert cpu.numpy().tolist() == [0.0, 0.0]


# ---- 4. optimizer state made before model.to("gpu") follows its parameter ---------------------
@pytest.mark.parametrize("make", [lambda p: optim.Adam(p, lr=0.1),
                                  lambda p: optim.AdamW(p, lr=0.1, amsgrad=True),
                                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)],
                         ids=["adam", "adamw-amsgrad", "sgd-momentum"])
def test_optimizer_state_follows_the_parameters_to_the_gpu(cupy_standin, make):
    x = np.random.default_rng(0).standard_normal((4, 3))
    twins = []
    for move_after_first_step in (True, False):
        lfs.manual_seed(0)
        model = nn.Linear(3, 2, dtype=lfs.float64, device="cpu")
        if not move_after_first_step:
            model.to("gpu")
        opt = make(model.parameters())
        for step in range(3):
            if step == 1 and move_after_first_step:
                model.to("gpu")                 # state of step 0 lives on the CPU
            opt.zero_grad()
            (model(lfs.tensor(x, device="gpu" if model.weight.device == "gpu" else "cpu"))
             ** 2).sum().backward()
            opt.step()
        assert all(v.device == "gpu" for st in opt.state.values() for v in
                   (lfs.Tensor(a) for a in st.values() if hasattr(a, "dtype")))
        twins.append(model.weight.numpy())
    np.testing.assert_allclose(twins[0], twins[1], rtol=1e-12)


# ---- 5. the GPU generator is not cached past the CuPy it came from --------------------------
def test_gpu_generator_rechecks_cupy(cupy_standin, monkeypatch):
    g = backend.rng("gpu")
    assert backend.rng("gpu") is g
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", "ModuleNotFoundError: No module named 'cupy'")
    with pytest.raises(RuntimeError, match="pip install cupy-cuda12x"):
        backend.rng("gpu")                      # not the generator of a CuPy that is gone
    monkeypatch.setattr(backend, "_cupy", cupy_standin)
    lfs.manual_seed(3)
    a = lfs.randn(4, device="gpu").numpy()
    lfs.manual_seed(3)
    assert lfs.randn(4, device="gpu").numpy().tolist() == a.tolist()


def test_gpu_generator_per_device(cupy_standin):
    lfs.manual_seed(0)
    a = lfs.randn(3, device="gpu")
    with cupy_standin.cuda.Device(1):
        b = lfs.randn(3, device="gpu")          # a generator whose state lives on device 1
    assert a.data.device.id == 0 and b.data.device.id == 1
    assert a.numpy().tolist() == b.numpy().tolist()     # each device's stream starts at the seed


# ---- 6. the fused kernels' cached vectors are per CUDA device ---------------------------------
@pytest.mark.parametrize("op", ["lstm", "gru"])
def test_fused_kernels_on_a_second_device(cupy_standin, op):
    G = 4 if op == "lstm" else 3
    rng = np.random.default_rng(0)
    shapes = [(5, 2, 3), (G * 4, 3), (G * 4, 4), (G * 4,), (G * 4,)]
    host = [rng.standard_normal(s) for s in shapes]
    fn = kernels.lstm_sequence if op == "lstm" else kernels.gru_sequence

    def run():
        x, w_ih, w_hh, b_ih, b_hh = (lfs.tensor(a, device="gpu") for a in host)
        states = (None, None) if op == "lstm" else (None,)
        return fn(x, *states, w_ih, w_hh, b_ih, b_hh)[0]

    on0 = run()                                 # fills the caches on device 0
    with cupy_standin.cuda.Device(1):
        on1 = run()
        assert on1.data.device.id == 1
    np.testing.assert_array_equal(on0.numpy(), on1.numpy())

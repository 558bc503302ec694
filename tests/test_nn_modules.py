"""Module, Parameter and the feed-forward layers: the Module API (registration, naming, modes,
devices, dtypes, state dicts, repr), Linear / Embedding / Dropout against torch.nn."""
from collections import OrderedDict

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import nn

try:
    import torch
except ImportError:                 # a test-only dependency: only the parity tests need it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

TOL = dict(rtol=1e-9, atol=1e-9)


def _from_torch(ours, theirs):
    return ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(7, 3)
        self.rnn = nn.LSTM(3, 4, num_layers=2)
        self.head = nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.2), nn.Linear(5, 2))
        self.scale = nn.Parameter(lfs.ones(2))

    def forward(self, ids):
        out, _ = self.rnn(self.embed(ids))
        return self.head(out) * self.scale


if torch is not None:
    class TorchTwoLayer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(7, 3)
            self.rnn = torch.nn.LSTM(3, 4, num_layers=2)
            self.head = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Dropout(0.2),
                                            torch.nn.Linear(5, 2))
            self.scale = torch.nn.Parameter(torch.ones(2))

        def forward(self, ids):
            out, _ = self.rnn(self.embed(ids))
            return self.head(out) * self.scale


# ---- Module API ------------------------------------------------------------------------------------
@needs_torch
def test_named_parameters_equal_torch_names_and_order():
    ours, theirs = TwoLayer(), TorchTwoLayer()
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_children()] == ["embed", "rnn", "head"]
    assert [type(m).__name__ for m in ours.modules()] == \
        ["TwoLayer", "Embedding", "LSTM", "Sequential", "Linear", "Dropout", "Linear"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


@needs_torch
def test_whole_model_matches_torch_after_loading_its_state_dict():
    torch.manual_seed(0)
    theirs = TorchTwoLayer().double().eval()
    ours = TwoLayer().to(lfs.float64).eval()
    _from_torch(ours, theirs)
    ids = np.array([[0, 3, 3], [6, 1, 3]])
    out_o = ours(lfs.tensor(ids))
    out_t = theirs(torch.tensor(ids))
    np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), **TOL)
    out_o.sum().backward()
    out_t.sum().backward()
    params_o = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(params_o[name].grad.numpy(), p.grad.numpy(), err_msg=name, **TOL)


@needs_torch
def test_state_dict_goes_back_into_torch():
    ours = TwoLayer().to(lfs.float64).eval()
    theirs = TorchTwoLayer().double().eval()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    ids = np.array([[2, 5], [5, 0]])
    np.testing.assert_allclose(ours(lfs.tensor(ids)).numpy(),
                               theirs(torch.tensor(ids)).detach().numpy(), **TOL)


def test_state_dict_round_trip_and_copies():
    lfs.manual_seed(1)
    a = TwoLayer()
    lfs.manual_seed(2)
    b = TwoLayer()
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict) and all(isinstance(v, np.ndarray) for v in sd.values())
    sd["rnn.weight_ih_l0"][...] = 123.0             # a copy: the model is untouched
    assert not np.any(a.rnn.weight_ih_l0.numpy() == 123.0)
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    ids = lfs.tensor([[1, 2, 3]])
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(ids).numpy(), b(ids).numpy())


@needs_torch
def test_load_state_dict_accepts_tensors_and_torch_and_casts_dtype():
    m = nn.Linear(3, 2, dtype=lfs.float64)
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    m.load_state_dict({"weight": w, "bias": lfs.tensor([1.0, 2.0])})
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float64
    np.testing.assert_array_equal(m.weight.numpy(), w)
    m.load_state_dict({"weight": torch.ones(2, 3, requires_grad=True), "bias": torch.zeros(2)})
    np.testing.assert_array_equal(m.weight.numpy(), np.ones((2, 3)))
    w[0, 0] = 99                                    # no aliasing with the caller's array
    m.load_state_dict({"weight": w, "bias": np.zeros(2)})
    w[0, 1] = 77
    assert m.weight.numpy()[0, 1] == 1.0


def test_load_state_dict_strict_errors_name_every_key():
    m = nn.LSTM(3, 4)
    sd = m.state_dict()
    sd.pop("bias_hh_l0")
    sd["weight_ih_l1"] = np.zeros((16, 4))
    sd["weight_hh_l0"] = np.zeros((16, 5))
    before = m.weight_ih_l0.numpy()
    sd["weight_ih_l0"] = np.zeros((16, 3))
    with pytest.raises(ValueError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys: bias_hh_l0" in msg
    assert "unexpected keys: weight_ih_l1" in msg
    assert "weight_hh_l0: expected shape (16, 4), got (16, 5)" in msg
    np.testing.assert_array_equal(m.weight_ih_l0.numpy(), before)   # nothing half-loaded
    with pytest.raises(ValueError, match=r"weight_hh_l0: expected shape \(16, 4\), got \(16, 5\)"):
        m.load_state_dict(sd, strict=False)          # a wrong shape is always an error
    sd["weight_hh_l0"] = np.zeros((16, 4))
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["bias_hh_l0"] and result.unexpected_keys == ["weight_ih_l1"]
    np.testing.assert_array_equal(m.weight_ih_l0.numpy(), np.zeros((16, 3)))


def test_train_eval_recurse():
    m = TwoLayer()
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.head.train(False)
    assert m.training and not m.head[1].training


def test_zero_grad_sets_none():
    m = nn.Linear(3, 2)
    m(lfs.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None and m.bias.grad is not None
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_to_dtype_in_place_keeps_parameter_objects():
    m = nn.GRU(3, 4)
    m(lfs.randn(2, 1, 3))[0].sum().backward()
    ids = [id(p) for p in m.parameters()]
    assert m.to(lfs.float64) is m
    assert [id(p) for p in m.parameters()] == ids
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    out, _ = m(lfs.randn(2, 1, 3, dtype=lfs.float64))
    assert out.dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    with pytest.raises(TypeError, match="floating-point"):
        m.to("int64")


def test_to_device_round_trip(device):
    m = nn.LSTM(3, 4, dtype=lfs.float64)
    x = lfs.randn(2, 1, 3, dtype=lfs.float64)
    expected = m(x)[0].numpy()
    m.to(device)
    assert all(p.device == device for p in m.parameters())
    out = m(x.to(device))[0]
    assert out.device == device
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    m.to("cpu")
    assert all(p.device == "cpu" for p in m.parameters())


def test_registration_rules():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(lfs.zeros(2))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="as parameter 'weight'"):
        m.weight = lfs.zeros(3, 2)
    m.bias = None                                   # allowed: like bias=False
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2        # a shared parameter counts once
    m.note = "plain attributes are not registered"
    assert "note" not in dict(m.named_parameters())
    del m.weight
    assert list(m.parameters()) == []


def test_parameter():
    p = nn.Parameter(lfs.zeros(2, 3))
    assert p.requires_grad and isinstance(p, lfs.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    frozen = nn.Parameter(lfs.zeros(2), requires_grad=False)
    assert not frozen.requires_grad
    t = lfs.zeros(2)
    assert nn.Parameter(t).data is t.data           # shares memory, as in PyTorch
    with pytest.raises(TypeError, match="Parameter"):
        nn.Parameter([1.0, 2.0])


@needs_torch
def test_repr_matches_torch():
    pairs = [
        (nn.LSTM(10, 20, num_layers=2, batch_first=True),
         torch.nn.LSTM(10, 20, num_layers=2, batch_first=True)),
        (nn.GRU(3, 4, bias=False, dropout=0.5, num_layers=2, bidirectional=True),
         torch.nn.GRU(3, 4, bias=False, dropout=0.5, num_layers=2, bidirectional=True)),
        (nn.RNN(3, 4), torch.nn.RNN(3, 4)),
        (nn.LSTMCell(3, 4, bias=False), torch.nn.LSTMCell(3, 4, bias=False)),
        (nn.RNNCell(3, 4, nonlinearity="relu"), torch.nn.RNNCell(3, 4, nonlinearity="relu")),
        (nn.GRUCell(3, 4), torch.nn.GRUCell(3, 4)),
        (nn.Embedding(10, 3, padding_idx=0), torch.nn.Embedding(10, 3, padding_idx=0)),
        (nn.Dropout(0.25), torch.nn.Dropout(0.25)),
        (TwoLayer(), TorchTwoLayer()),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs).replace("TorchTwoLayer", "TwoLayer")
    # torch hides a relu nonlinearity in RNN's repr; ours shows it
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity=relu)"


def test_sequential_and_module_list():
    seq = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert len(seq) == 2 and isinstance(seq[1], nn.Linear)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [n for n, _ in seq[1:].named_parameters()] == ["1.weight", "1.bias"]
    x = lfs.randn(5, 3)
    np.testing.assert_allclose(seq(x).numpy(), seq[1](seq[0](x)).numpy())
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(3, 4)), ("dec", nn.Linear(4, 3))]))
    assert [n for n, _ in named.named_parameters()][:2] == ["enc.weight", "enc.bias"]
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert [n for n, _ in layers.named_parameters()][-1] == "2.bias" and len(layers) == 3
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


# ---- Linear --------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 5, 3)])
def test_linear_matches_torch(bias, shape, device):
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 2, bias=bias).double()
    ours = nn.Linear(3, 2, bias=bias, dtype=lfs.float64, device=device)
    _from_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal(shape)
    xo = lfs.tensor(x, requires_grad=True, device=device)
    xt = torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), **TOL)
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    (yo * lfs.tensor(w, device=device)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), **TOL)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(), **TOL)


def test_linear_init_and_errors():
    lfs.manual_seed(0)
    m = nn.Linear(16, 300)
    bound = 1 / 4
    assert m.weight.shape == (300, 16) and m.weight.dtype == np.float32
    for p in (m.weight, m.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.9 * bound
    with pytest.raises(ValueError, match=r"Linear: expected input of size 16 .* got shape \(2, 15\)"):
        m(lfs.randn(2, 15))


# ---- Embedding ----------------------------------------------------------------------------------
@needs_torch
def test_embedding_repeated_ids_match_torch(device):
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(6, 3).double()
    ours = nn.Embedding(6, 3, dtype=lfs.float64, device=device)
    _from_torch(ours, theirs)
    ids = np.array([[1, 4, 1], [1, 0, 4]])
    yo, yt = ours(lfs.tensor(ids, device=device)), theirs(torch.tensor(ids))
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), **TOL)
    w = np.random.default_rng(0).standard_normal((2, 3, 3))
    (yo * lfs.tensor(w, device=device)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), **TOL)
    assert np.abs(ours.weight.grad.numpy()[1]).sum() > 0         # id 1 used three times
    np.testing.assert_array_equal(ours.weight.grad.numpy()[[2, 3, 5]], 0)


@needs_torch
def test_embedding_padding_idx_matches_torch():
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(5, 2, padding_idx=2).double()
    ours = nn.Embedding(5, 2, padding_idx=2, dtype=lfs.float64)
    np.testing.assert_array_equal(ours.weight.numpy()[2], 0)
    _from_torch(ours, theirs)
    with torch.no_grad():
        theirs.weight[2] = 0.5                       # a non-zero padding row is still returned
    ours.weight.data[2] = 0.5
    ids = np.array([2, 1, 2, 3])
    yo, yt = ours(lfs.tensor(ids)), theirs(torch.tensor(ids))
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), **TOL)
    (yo * yo).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), **TOL)
    np.testing.assert_array_equal(ours.weight.grad.numpy()[2], 0)


def test_embedding_init_and_errors():
    lfs.manual_seed(0)
    e = nn.Embedding(1000, 20)
    w = e.weight.numpy()
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02        # N(0, 1), 20000 samples
    with pytest.raises(TypeError, match="indices must be an integer tensor, got dtype float32"):
        e(lfs.tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match="index 1000 is out of range .* 1000 entries"):
        e(lfs.tensor([3, 1000]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        e(lfs.tensor([-1, 3]))
    frozen = nn.Embedding.from_pretrained(lfs.tensor(np.eye(3)))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(lfs.tensor([2])).numpy(), [[0, 0, 1]])


# ---- Dropout -------------------------------------------------------------------------------------
def test_dropout_train_scales_and_eval_is_identity(device):
    d = nn.Dropout(0.25)
    x = lfs.ones(200, 500, device=device)
    lfs.manual_seed(0)
    y = d(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    zero_fraction = (y == 0).mean()
    assert abs(zero_fraction - 0.25) < 5 * np.sqrt(0.25 * 0.75 / y.size)
    lfs.manual_seed(0)
    np.testing.assert_array_equal(d(x).numpy(), y)           # reproducible from the seed
    assert not np.array_equal(d(x).numpy(), y)               # and a new mask each call
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert np.all(nn.Dropout(1.0)(x).numpy() == 0)


def test_dropout_gradient_uses_the_same_mask():
    x = lfs.tensor(np.random.default_rng(0).standard_normal((4, 6)), requires_grad=True)
    lfs.manual_seed(3)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    mask = y.numpy() / x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-12)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, 2.0}


def test_dropout_errors():
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


# ---- init ------------------------------------------------------------------------------------------
def test_init_functions():
    lfs.manual_seed(0)
    w = nn.Parameter(lfs.zeros(64, 32, dtype=lfs.float64))
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(32), atol=1e-12)
    nn.init.xavier_uniform_(w)
    a = np.sqrt(6 / 96)
    assert np.abs(w.numpy()).max() <= a and np.abs(w.numpy()).max() > 0.9 * a
    nn.init.constant_(w, 0.5)
    assert np.all(w.numpy() == 0.5)
    nn.init.normal_(w, 2.0, 0.1)
    assert abs(w.numpy().mean() - 2.0) < 0.01
    with pytest.raises(TypeError, match="floating-point"):
        nn.init.uniform_(lfs.tensor([1, 2]))


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
def test_eye_init_as_torch(shape):
    w = nn.Parameter(lfs.randn(*shape, dtype=lfs.float64))
    assert nn.init.eye_(w) is w
    np.testing.assert_array_equal(w.numpy(), np.eye(*shape))
    assert w.dtype == np.float64
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(w.numpy(), torch.nn.init.eye_(torch.empty(shape)).numpy())


def test_eye_init_errors():
    with pytest.raises(ValueError, match=r"eye_: only tensors with 2 dimensions.*\(2, 3, 4\)"):
        nn.init.eye_(nn.Parameter(lfs.zeros(2, 3, 4)))
    with pytest.raises(TypeError, match="eye_: expects a Tensor"):
        nn.init.eye_(np.zeros((2, 2)))


def test_nn_functional_reexports():
    F = nn.functional
    for name in ("sigmoid", "tanh", "relu", "softmax", "log_softmax", "linear", "dropout",
                 "embedding"):
        assert callable(getattr(F, name)), name


# ---- load_state_dict is all-or-nothing, and tied weights are listed under every name ---------------
@pytest.mark.parametrize("bad", [np.array(["a", "b", "c", "d"]).reshape(2, 2),
                                 np.array([[1 + 2j, 0], [0, 0]]),
                                 np.array([[None, 1], [2, 3]], dtype=object)])
def test_a_value_that_cannot_be_converted_loads_nothing(bad):
    m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2))
    before = {k: v.copy() for k, v in m.state_dict().items()}
    sd = {k: np.full(v.shape, 7.0) for k, v in before.items()}
    sd["1.weight"] = bad.reshape(2, 2).repeat(3, axis=1)[:, :3]     # the last key, (2, 3)
    with pytest.raises((TypeError, ValueError), match=r"1\.weight"):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():                # the earlier keys were not touched
        np.testing.assert_array_equal(v, before[k], err_msg=k)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3)
        self.out = nn.Linear(3, 5, bias=False)
        self.out.weight = self.emb.weight             # weight tying (Press & Wolf 2017)

    def forward(self, ids):
        return self.out(self.emb(ids))


if torch is not None:
    class TorchTied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3)
            self.out = torch.nn.Linear(3, 5, bias=False)
            self.out.weight = self.emb.weight


@needs_torch
def test_tied_weights_are_listed_under_every_name_as_torch():
    ours, theirs = Tied(), TorchTied()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["emb.weight", "out.weight"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert len(list(ours.parameters())) == 1          # the parameter itself is shared once
    # torch -> ours, strict
    _from_torch(ours, theirs)
    assert ours.out.weight is ours.emb.weight
    np.testing.assert_array_equal(ours.out.weight.numpy(), theirs.out.weight.detach().numpy())
    # ours -> torch, strict
    lfs.manual_seed(3)
    fresh = Tied()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()})
    np.testing.assert_array_equal(theirs.out.weight.detach().numpy(), fresh.emb.weight.numpy())
    assert theirs.out.weight is theirs.emb.weight


def test_tied_weights_with_different_values_are_refused():
    m = Tied()
    sd = m.state_dict()
    before = sd["emb.weight"].copy()
    sd["out.weight"] = sd["out.weight"] + 1
    with pytest.raises(ValueError, match="emb.weight.*out.weight"):
        m.load_state_dict(sd)
    np.testing.assert_array_equal(m.emb.weight.numpy(), before)
    sd = m.state_dict()
    del sd["out.weight"]
    with pytest.raises(ValueError, match="missing keys: out.weight"):
        m.load_state_dict(sd)
    assert m.load_state_dict(sd, strict=False).missing_keys == ["out.weight"]


def test_tied_state_dict_round_trips_through_io(tmp_path):
    m = Tied()
    lfs.io.save(m.state_dict(), tmp_path / "tied.npz")
    lfs.manual_seed(5)
    m2 = Tied()
    lfs.io.load_into(m2, tmp_path / "tied.npz")
    np.testing.assert_array_equal(m2.out.weight.numpy(), m.emb.weight.numpy())

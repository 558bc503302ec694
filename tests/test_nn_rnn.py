"""Recurrent cells and layers: parity with torch.nn on outputs, final states and every
gradient; the LSTM variants (semantics against a NumPy reference, gradients by finite
differences); the fused path against the primitive path; error messages."""
import importlib
import math

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.nn.rnn import lstm_step
from lstm_from_scratch import nn

try:
    import torch
except ImportError:                 # a test-only dependency: only the parity tests need it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

TOL = dict(rtol=1e-9, atol=1e-9)
T, B, I, H = 3, 2, 3, 4



def _rng(seed=0):
    return np.random.default_rng(seed)


def _ours_tensor(a, device=None):
    return lfs.tensor(a, dtype=lfs.float64, device=device, requires_grad=True)


def _torch_tensor(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _np(t):
    return t.numpy() if isinstance(t, lfs.Tensor) else t.detach().numpy()


def _close(ours, theirs, what):
    np.testing.assert_allclose(_np(ours), _np(theirs), err_msg=what, **TOL)


def _weighted_sum(outputs, weights, lib):
    """sum_k <w_k, out_k>: every output element gets its own random upstream gradient."""
    total = 0
    for o, w in zip(outputs, weights):
        wt = torch.tensor(w) if lib == "torch" else lfs.tensor(w, dtype=lfs.float64, device=o.device)
        total = total + (o * wt).sum()
    return total


def _compare_grads(ours, theirs, ours_inputs, theirs_inputs, names):
    for name, a, b in zip(names, ours_inputs, theirs_inputs):
        assert a.grad is not None, f"no gradient for {name}"
        _close(a.grad, b.grad, f"gradient of {name}")
    ours_params = dict(ours.named_parameters())
    theirs_params = dict(theirs.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for name, p in theirs_params.items():
        assert ours_params[name].grad is not None, f"no gradient for parameter {name}"
        _close(ours_params[name].grad, p.grad, f"gradient of parameter {name}")


# ---- sequence layers ------------------------------------------------------------------------
SEQ_MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def _make_pair(mode, device=None, **kw):
    kind = mode.split("_")[0]
    extra = {"nonlinearity": mode.split("_")[1].lower()} if kind == "RNN" else {}
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(I, H, **extra, **kw).double()
    ours = getattr(nn, kind)(I, H, **extra, **kw, dtype=lfs.float64, device=device)
    _load_from_torch(ours, theirs)
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("mode", SEQ_MODES)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_sequence_layer_matches_torch(mode, num_layers, bidirectional, batch_first, with_state,
                                      bias):
    ours, theirs = _make_pair(mode, num_layers=num_layers, bidirectional=bidirectional,
                              batch_first=batch_first, bias=bias)
    rng = _rng(1)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    xs, xt = _ours_tensor(x), _torch_tensor(x)
    n_states = 2 if mode == "LSTM" else 1
    states = [rng.standard_normal((num_layers * D, B, H)) for _ in range(n_states)]
    s_ours = [_ours_tensor(s) for s in states]
    s_theirs = [_torch_tensor(s) for s in states]
    if with_state:
        hx_o = tuple(s_ours) if mode == "LSTM" else s_ours[0]
        hx_t = tuple(s_theirs) if mode == "LSTM" else s_theirs[0]
        out_o, fin_o = ours(xs, hx_o)
        out_t, fin_t = theirs(xt, hx_t)
    else:
        out_o, fin_o = ours(xs)
        out_t, fin_t = theirs(xt)
    fin_o = list(fin_o) if mode == "LSTM" else [fin_o]
    fin_t = list(fin_t) if mode == "LSTM" else [fin_t]
    assert out_o.shape == tuple(out_t.shape)
    _close(out_o, out_t, "output")
    for k, (a, b) in enumerate(zip(fin_o, fin_t)):
        assert a.shape == tuple(b.shape)
        _close(a, b, f"final state {k}")
    weights = [rng.standard_normal(tuple(o.shape)) for o in [out_t] + fin_t]
    _weighted_sum([out_o] + fin_o, weights, "ours").backward()
    _weighted_sum([out_t] + fin_t, weights, "torch").backward()
    inputs_o, inputs_t, names = [xs], [xt], ["input"]
    if with_state:
        inputs_o += s_ours
        inputs_t += s_theirs
        names += ["h0", "c0"][:n_states]
    _compare_grads(ours, theirs, inputs_o, inputs_t, names)


@needs_torch
@pytest.mark.parametrize("mode", SEQ_MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_sequence_layer_unbatched_matches_torch(mode, bidirectional, with_state):
    ours, theirs = _make_pair(mode, num_layers=2, bidirectional=bidirectional, batch_first=True)
    rng = _rng(2)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((T, I))          # unbatched: (T, I) even with batch_first
    xs, xt = _ours_tensor(x), _torch_tensor(x)
    states = [rng.standard_normal((2 * D, H)) for _ in range(2 if mode == "LSTM" else 1)]
    args_o, args_t = [xs], [xt]
    if with_state:
        so, st = [_ours_tensor(s) for s in states], [_torch_tensor(s) for s in states]
        args_o.append(tuple(so) if mode == "LSTM" else so[0])
        args_t.append(tuple(st) if mode == "LSTM" else st[0])
    out_o, fin_o = ours(*args_o)
    out_t, fin_t = theirs(*args_t)
    assert out_o.shape == (T, D * H) == tuple(out_t.shape)
    fin_o = list(fin_o) if mode == "LSTM" else [fin_o]
    fin_t = list(fin_t) if mode == "LSTM" else [fin_t]
    _close(out_o, out_t, "output")
    for a, b in zip(fin_o, fin_t):
        assert a.shape == (2 * D, H) == tuple(b.shape)
        _close(a, b, "final state")
    weights = [rng.standard_normal(tuple(o.shape)) for o in [out_t] + fin_t]
    _weighted_sum([out_o] + fin_o, weights, "ours").backward()
    _weighted_sum([out_t] + fin_t, weights, "torch").backward()
    _compare_grads(ours, theirs, [xs], [xt], ["input"])


@needs_torch
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_dropout_between_layers_eval_is_torch_eval(mode):
    ours, theirs = _make_pair(mode, num_layers=3, dropout=0.5)
    ours.eval()
    theirs.eval()
    x = _rng(3).standard_normal((T, B, I))
    out_o, _ = ours(_ours_tensor(x))
    out_t, _ = theirs(_torch_tensor(x))
    _close(out_o, out_t, "eval output")
    again, _ = ours(_ours_tensor(x))
    np.testing.assert_array_equal(again.numpy(), out_o.numpy())


@needs_torch
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_dropout_between_layers_train(mode):
    ours, theirs = _make_pair(mode, num_layers=2, dropout=0.5)
    x = _rng(4).standard_normal((T, B, I))
    ours.eval()
    eval_out = ours(_ours_tensor(x))[0].numpy()
    ours.train()
    lfs.manual_seed(7)
    a = ours(_ours_tensor(x))[0].numpy()
    b = ours(_ours_tensor(x))[0].numpy()
    lfs.manual_seed(7)
    a_again = ours(_ours_tensor(x))[0].numpy()
    assert not np.allclose(a, eval_out), "dropout had no effect in training mode"
    assert not np.allclose(a, b), "two training passes drew the same dropout mask"
    np.testing.assert_array_equal(a, a_again)          # reproducible from the seed


@needs_torch
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_dropout_one_in_training_matches_torch(mode):
    # p = 1 zeroes the whole input of layer 2 in both libraries: a deterministic check that
    # dropout sits between the layers (and not after the last one), gradients included
    ours, theirs = _make_pair(mode, num_layers=2, dropout=1.0)
    x = _rng(5).standard_normal((T, B, I))
    xs, xt = _ours_tensor(x), _torch_tensor(x)
    out_o, fin_o = ours(xs)
    out_t, fin_t = theirs(xt)
    _close(out_o, out_t, "output")
    assert np.abs(out_o.numpy()).max() > 0
    h_o = fin_o[0] if mode == "LSTM" else fin_o
    h_t = fin_t[0] if mode == "LSTM" else fin_t
    w = _rng(6).standard_normal(tuple(out_t.shape))
    w_h = _rng(7).standard_normal(tuple(h_t.shape))
    _weighted_sum([out_o, h_o], [w, w_h], "ours").backward()
    _weighted_sum([out_t, h_t], [w, w_h], "torch").backward()
    for name, p in theirs.named_parameters():
        if p.grad is None:
            continue
        _close(dict(ours.named_parameters())[name].grad, p.grad, name)


def test_lstm_layer_equals_lstm_cell_loop():
    """The sequence layer (input projection for all steps, then lstm_step) and the literal
    LSTMCell.forward give the same numbers."""
    lfs.manual_seed(0)
    layer = nn.LSTM(I, H, dtype=lfs.float64)
    cell = nn.LSTMCell(I, H, dtype=lfs.float64)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = lfs.randn(T, B, I, dtype=lfs.float64)
    out, (h_n, c_n) = layer(x)
    h = c = lfs.zeros(B, H, dtype=lfs.float64)
    for t in range(T):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(out[t].numpy(), h.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(h_n[0].numpy(), h.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(c_n[0].numpy(), c.numpy(), rtol=0, atol=1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_layer_runs_the_function_lstm_cell_runs(monkeypatch, bias):
    """One home for eq-lstm-cell: a spy on ``equations.lstm_standard_step`` sees LSTMCell call
    it once per step and nn.LSTM once per time step, with the layer's own weights (W_hh as
    one column-major copy per sequence, made by a recorded node from the parameter), and the
    outputs are equal (bitwise: the same function on the same numbers)."""
    from lstm_from_scratch.nn.rnn import equations
    calls = []
    real = equations.lstm_standard_step

    def spy(gates_x, h_prev, c_prev, weight_hh, bias_hh):
        calls.append((weight_hh, bias_hh))
        return real(gates_x, h_prev, c_prev, weight_hh, bias_hh)

    monkeypatch.setattr(equations, "lstm_standard_step", spy)
    lfs.manual_seed(0)
    layer = nn.LSTM(I, H, bias=bias, dtype=lfs.float64)
    cell = nn.LSTMCell(I, H, bias=bias, dtype=lfs.float64)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = lfs.randn(T, B, I, dtype=lfs.float64)
    out, (h_n, c_n) = layer(x)
    assert len(calls) == T and len({id(w) for w, _ in calls}) == 1
    w_seq = calls[0][0]
    assert w_seq.creator.inputs[0] is layer.weight_hh_l0
    assert np.array_equal(w_seq.numpy(), layer.weight_hh_l0.numpy())
    assert all(b is (layer.bias_hh_l0 if bias else None) for _, b in calls)
    calls.clear()
    h = c = lfs.zeros(B, H, dtype=lfs.float64)
    for t in range(T):
        h, c = cell(x[t], (h, c))
        np.testing.assert_array_equal(out[t].numpy(), h.numpy())
    assert len(calls) == T and all(w is cell.weight_hh for w, _ in calls)
    np.testing.assert_array_equal(c_n[0].numpy(), c.numpy())
    monkeypatch.setattr(equations, "lstm_standard_step", real)
    assert layer(x)[0].numpy().tolist() == out.numpy().tolist()      # the spy changed nothing


# ---- cells ------------------------------------------------------------------------------------
CELL_MODES = ["LSTMCell", "GRUCell", "RNNCell_tanh", "RNNCell_relu"]


def _make_cell_pair(mode, bias=True, device=None):
    kind = mode.split("_")[0]
    extra = {"nonlinearity": mode.split("_")[1]} if kind == "RNNCell" else {}
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(I, H, bias=bias, **extra).double()
    ours = getattr(nn, kind)(I, H, bias=bias, **extra, dtype=lfs.float64, device=device)
    _load_from_torch(ours, theirs)
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("mode", CELL_MODES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_torch(mode, bias, with_state, batched, device):
    ours, theirs = _make_cell_pair(mode, bias, device)
    rng = _rng(8)
    lead = (B,) if batched else ()
    x = rng.standard_normal(lead + (I,))
    xs, xt = _ours_tensor(x, device), _torch_tensor(x)
    n_states = 2 if mode == "LSTMCell" else 1
    states = [rng.standard_normal(lead + (H,)) for _ in range(n_states)]
    so = [_ours_tensor(s, device) for s in states]
    st = [_torch_tensor(s) for s in states]
    if with_state:
        res_o = ours(xs, tuple(so) if n_states == 2 else so[0])
        res_t = theirs(xt, tuple(st) if n_states == 2 else st[0])
    else:
        res_o, res_t = ours(xs), theirs(xt)
    res_o = list(res_o) if n_states == 2 else [res_o]
    res_t = list(res_t) if n_states == 2 else [res_t]
    for a, b in zip(res_o, res_t):
        assert a.shape == tuple(b.shape) == lead + (H,)
        assert a.device == device
        _close(a, b, "cell output")
    weights = [rng.standard_normal(tuple(r.shape)) for r in res_t]
    _weighted_sum(res_o, weights, "ours").backward()
    _weighted_sum(res_t, weights, "torch").backward()
    inputs_o, inputs_t, names = [xs], [xt], ["input"]
    if with_state:
        inputs_o, inputs_t, names = inputs_o + so, inputs_t + st, names + ["h", "c"][:n_states]
    _compare_grads(ours, theirs, inputs_o, inputs_t, names)


@needs_torch
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_sequence_layer_on_device_matches_torch(mode, device):
    ours, theirs = _make_pair(mode, device=device, num_layers=2, bidirectional=True)
    x = _rng(9).standard_normal((T, B, I))
    xs, xt = _ours_tensor(x, device), _torch_tensor(x)
    out_o, _ = ours(xs)
    out_t, _ = theirs(xt)
    assert out_o.device == device
    _close(out_o, out_t, "output")
    w = _rng(10).standard_normal(tuple(out_t.shape))
    _weighted_sum([out_o], [w], "ours").backward()
    _weighted_sum([out_t], [w], "torch").backward()
    _compare_grads(ours, theirs, [xs], [xt], ["input"])


@needs_torch
def test_parameter_names_and_shapes_equal_torch():
    for kind, extra in (("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "relu"})):
        for kw in ({}, {"num_layers": 3, "bidirectional": True}, {"bias": False, "num_layers": 2}):
            theirs = getattr(torch.nn, kind)(I, H, **extra, **kw)
            ours = getattr(nn, kind)(I, H, **extra, **kw)
            assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
                [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    for kind in ("LSTMCell", "GRUCell", "RNNCell"):
        for bias in (True, False):
            theirs = getattr(torch.nn, kind)(I, H, bias=bias)
            ours = getattr(nn, kind)(I, H, bias=bias)
            assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
                [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]


def test_initialisation_range_and_default_dtype():
    lfs.manual_seed(0)
    m = nn.LSTM(5, 16, num_layers=2)
    k = 1 / math.sqrt(16)
    for name, p in m.named_parameters():
        assert p.dtype == np.float32 and p.requires_grad, name
        assert np.abs(p.numpy()).max() <= k, name
        assert np.abs(p.numpy()).max() > 0.8 * k, name      # really spread over the range
    lfs.manual_seed(0)
    again = nn.LSTM(5, 16, num_layers=2)
    for (n, p), (_, q) in zip(m.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


# ---- the LSTM variants ---------------------------------------------------------------------------
VARIANTS = {
    "standard": {},
    "no_forget_gate": {"forget_gate": False},
    "coupled": {"coupled": True},
    "peephole": {"peephole": True},
    "peephole_coupled": {"peephole": True, "coupled": True},
    "peephole_no_forget": {"peephole": True, "forget_gate": False},
    "tanh_gates_sigmoid_candidate": {"gate_activation": "tanh", "candidate_activation": "sigmoid"},
    "identity_cell_activation": {"cell_activation": "identity"},
    "no_output_gate": {"output_gate": False},
    "no_output_gate_coupled_peephole": {"output_gate": False, "coupled": True, "peephole": True},
    "multiplicative": {"cell_update": "multiply"},
    "no_input_gate": {"input_gate": False},
    "no_input_gate_no_forget_peephole": {"input_gate": False, "forget_gate": False,
                                         "peephole": True},
    "multiplicative_no_forget_peephole": {"cell_update": "multiply", "forget_gate": False,
                                          "peephole": True},
}

_NP_ACT = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           "relu": lambda z: np.maximum(z, 0), "identity": lambda z: z}


def _reference_lstm_step(opts, x, h, c, p):
    """The variant equations written out in NumPy, independently of the library."""
    act = _NP_ACT[opts.get("gate_activation", "sigmoid")]
    cand = _NP_ACT[opts.get("candidate_activation", "tanh")]
    squash = _NP_ACT[opts.get("cell_activation", "tanh")]
    forget, coupled, peep = opts.get("forget_gate", True), opts.get("coupled", False), \
        opts.get("peephole", False)
    out_gate, update = opts.get("output_gate", True), opts.get("cell_update", "add")
    in_gate = opts.get("input_gate", True)
    z = x @ p["weight_ih"].T + h @ p["weight_hh"].T
    if "bias_ih" in p:
        z = z + p["bias_ih"] + p["bias_hh"]
    names = (["i"] if in_gate else []) + (["f"] if forget and not coupled else []) + ["g"] \
        + (["o"] if out_gate else [])
    blocks = dict(zip(names, np.split(z, len(names), axis=-1)))
    zi, zf, zg, zo = (blocks.get(k) for k in "ifgo")
    if peep and in_gate:
        zi = zi + p["weight_ci"] * c
    i = act(zi) if in_gate else 1.0
    g = cand(zg)
    if coupled:
        f = 1 - i
    elif not forget:
        f = np.ones_like(i)
    else:
        f = act(zf + (p["weight_cf"] * c if peep else 0))
    c_new = f * c + i * g if update == "add" else (f * c) * (i * g)
    if not out_gate:
        return squash(c_new), c_new
    o = act(zo + (p["weight_co"] * c_new if peep else 0))
    return o * squash(c_new), c_new


def _randomise(module, seed):
    """Non-zero values everywhere (peepholes start at zero, which would hide their terms)."""
    rng = _rng(seed)
    for p in module.parameters():
        p.data = lfs.tensor(rng.uniform(-0.7, 0.7, p.shape), dtype=p.dtype, device=p.device).data


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_variant_equations(name, bias):
    opts = VARIANTS[name]
    cell = nn.LSTMCell(I, H, bias=bias, dtype=lfs.float64, **opts)
    _randomise(cell, 11)
    rng = _rng(12)
    x, h, c = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    h_t, c_t = cell(lfs.tensor(x), (lfs.tensor(h), lfs.tensor(c)))
    params = {n: p.numpy() for n, p in cell.named_parameters()}
    h_ref, c_ref = _reference_lstm_step(opts, x, h, c, params)
    np.testing.assert_allclose(h_t.numpy(), h_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_t.numpy(), c_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_lstm_cell_variant_gradcheck(name):
    cell = nn.LSTMCell(2, 3, dtype=lfs.float64, **VARIANTS[name])
    _randomise(cell, 13)
    rng = _rng(14)
    x = _ours_tensor(rng.standard_normal((2, 2)))
    h = _ours_tensor(rng.standard_normal((2, 3)))
    c = _ours_tensor(rng.standard_normal((2, 3)))
    params = list(cell.parameters())
    assert lfs.gradcheck(lambda x, h, c, *ps: cell(x, (h, c)), [x, h, c, *params])


@pytest.mark.parametrize("mode", ["GRUCell", "RNNCell_tanh", "RNNCell_relu"])
def test_gru_and_rnn_cell_gradcheck(mode):
    kind = mode.split("_")[0]
    extra = {"nonlinearity": mode.split("_")[1]} if kind == "RNNCell" else {}
    cell = getattr(nn, kind)(2, 3, dtype=lfs.float64, **extra)
    _randomise(cell, 15)
    rng = _rng(16)
    x = _ours_tensor(rng.standard_normal((2, 2)))
    h = _ours_tensor(rng.standard_normal((2, 3)))
    assert lfs.gradcheck(lambda x, h, *ps: cell(x, h), [x, h, *cell.parameters()])


def test_lstm_cell_second_derivatives():
    """create_graph=True through the cell (the book differentiates gradients of the cell)."""
    cell = nn.LSTMCell(2, 2, dtype=lfs.float64, peephole=True)
    _randomise(cell, 25)
    rng = _rng(26)
    x, h, c = (_ours_tensor(rng.standard_normal((1, 2))) for _ in range(3))
    assert lfs.gradgradcheck(lambda x, h, c: cell(x, (h, c)), [x, h, c])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_layer_second_derivatives_include_the_weights(kind):
    """create_graph=True through a whole layer, the parameters among the differentiated inputs:
    the second-order path runs through W_hh's column-major copy (one per sequence)."""
    layer = getattr(nn, kind)(2, 2, dtype=lfs.float64)
    _randomise(layer, 27)
    rng = _rng(28)
    x = _ours_tensor(rng.standard_normal((3, 1, 2)))
    h0, c0 = (_ours_tensor(rng.standard_normal((1, 1, 2))) for _ in range(2))
    if kind == "LSTM":
        run, inputs = (lambda x, h0, c0, *ps: layer(x, (h0, c0))[0]), [x, h0, c0]
    else:
        run, inputs = (lambda x, h0, *ps: layer(x, h0)[0]), [x, h0]
    assert lfs.gradcheck(run, inputs + list(layer.parameters()))
    assert lfs.gradgradcheck(run, inputs + list(layer.parameters()), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["no_forget_gate", "coupled", "peephole", "peephole_coupled",
                                  "tanh_gates_sigmoid_candidate", "no_output_gate_coupled_peephole",
                                  "multiplicative", "no_input_gate"])
def test_lstm_layer_variant_equals_cell_loop(name):
    """A stacked bidirectional variant LSTM against the variant cell run by hand."""
    opts = VARIANTS[name]
    layer = nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=lfs.float64, **opts)
    _randomise(layer, 17)
    x = lfs.tensor(_rng(18).standard_normal((T, B, I)))
    out, (h_n, c_n) = layer(x)
    state = layer.state_dict()
    layer_input = x.numpy()
    for k in range(2):
        outs = []
        for d, sfx in enumerate([f"_l{k}", f"_l{k}_reverse"]):
            cell = nn.LSTMCell(layer_input.shape[-1], H, dtype=lfs.float64, **opts)
            cell.load_state_dict({n[:-len(sfx)]: v for n, v in state.items() if n.endswith(sfx)})
            h = c = lfs.zeros(B, H, dtype=lfs.float64)
            seq = [None] * T
            for t in (range(T) if d == 0 else reversed(range(T))):
                h, c = cell(lfs.tensor(layer_input[t]), (h, c))
                seq[t] = h.numpy()
            np.testing.assert_allclose(h_n[2 * k + d].numpy(), h.numpy(), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(c_n[2 * k + d].numpy(), c.numpy(), rtol=1e-12, atol=1e-12)
            outs.append(np.stack(seq))
        layer_input = np.concatenate(outs, axis=-1)
    np.testing.assert_allclose(out.numpy(), layer_input, rtol=1e-12, atol=1e-12)


def test_lstm_layer_variant_gradcheck():
    layer = nn.LSTM(2, 2, num_layers=2, bidirectional=True, dtype=lfs.float64, peephole=True,
                    coupled=True)
    _randomise(layer, 19)
    x = _ours_tensor(_rng(20).standard_normal((2, 1, 2)))
    assert lfs.gradcheck(lambda x, *ps: layer(x)[0], [x, *layer.parameters()])


def test_variant_parameters():
    names = lambda m: [(n, tuple(p.shape)) for n, p in m.named_parameters()]  # noqa: E731
    assert names(nn.LSTMCell(I, H, coupled=True)) == [
        ("weight_ih", (3 * H, I)), ("weight_hh", (3 * H, H)), ("bias_ih", (3 * H,)),
        ("bias_hh", (3 * H,))]
    assert names(nn.LSTMCell(I, H, forget_gate=False, bias=False)) == [
        ("weight_ih", (3 * H, I)), ("weight_hh", (3 * H, H))]
    assert [n for n, _ in names(nn.LSTMCell(I, H, peephole=True))][-3:] == [
        "weight_ci", "weight_cf", "weight_co"]
    assert [n for n, _ in names(nn.LSTM(I, H, bidirectional=True, peephole=True, coupled=True))] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ci_l0", "weight_co_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
        "bias_hh_l0_reverse", "weight_ci_l0_reverse", "weight_co_l0_reverse"]
    assert names(nn.LSTMCell(I, H, output_gate=False, peephole=True)) == [
        ("weight_ih", (3 * H, I)), ("weight_hh", (3 * H, H)), ("bias_ih", (3 * H,)),
        ("bias_hh", (3 * H,)), ("weight_ci", (H,)), ("weight_cf", (H,))]
    assert [n for n, _ in names(nn.LSTM(I, H, coupled=True, output_gate=False, peephole=True))] \
        == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ci_l0"]
    assert nn.LSTM(I, H, cell_update="multiply").weight_ih_l0.shape == (4 * H, I)
    assert names(nn.LSTMCell(I, H, input_gate=False, forget_gate=False, peephole=True)) == [
        ("weight_ih", (2 * H, I)), ("weight_hh", (2 * H, H)), ("bias_ih", (2 * H,)),
        ("bias_hh", (2 * H,)), ("weight_co", (H,))]
    assert repr(nn.LSTM(I, H, peephole=True, gate_activation="tanh")) == \
        "LSTM(3, 4, peephole=True, gate_activation='tanh')"
    assert repr(nn.LSTMCell(I, H, output_gate=False, cell_update="multiply")) == \
        "LSTMCell(3, 4, output_gate=False, cell_update='multiply')"
    assert repr(nn.LSTMCell(I, H, forget_bias=1.0)) == "LSTMCell(3, 4, forget_bias=1.0)"


def test_peephole_starts_as_the_plain_lstm():
    lfs.manual_seed(3)
    plain = nn.LSTM(I, H, num_layers=2, dtype=lfs.float64)
    lfs.manual_seed(3)
    peep = nn.LSTM(I, H, num_layers=2, dtype=lfs.float64, peephole=True)
    assert all(np.all(p.numpy() == 0) for n, p in peep.named_parameters() if "_c" in n)
    x = lfs.randn(T, B, I, dtype=lfs.float64)
    np.testing.assert_array_equal(plain(x)[0].numpy(), peep(x)[0].numpy())


def test_forget_bias_initialisation():
    for make in (lambda **kw: nn.LSTMCell(I, H, **kw), lambda **kw: nn.LSTM(I, H, num_layers=2, **kw)):
        lfs.manual_seed(4)
        plain = make()
        lfs.manual_seed(4)
        biased = make(forget_bias=1.0)
        for (n, p), (_, q) in zip(plain.named_parameters(), biased.named_parameters()):
            diff = q.numpy() - p.numpy()
            expected = np.zeros_like(diff)
            if n.startswith("bias_ih"):
                expected[H:2 * H] = 1.0
            np.testing.assert_allclose(diff, expected, atol=1e-6, err_msg=n)


def test_variant_argument_errors():
    with pytest.raises(ValueError, match="fused=True implements the standard LSTM only.*peephole"):
        nn.LSTM(I, H, peephole=True, fused=True)
    with pytest.raises(ValueError, match="fused=True.*coupled"):
        nn.LSTMCell(I, H, coupled=True, fused=True)
    with pytest.raises(ValueError, match="forget_bias"):
        nn.LSTMCell(I, H, forget_gate=False, forget_bias=1.0)
    with pytest.raises(ValueError, match="bias=True"):
        nn.LSTM(I, H, bias=False, forget_bias=1.0)
    with pytest.raises(ValueError, match="gate_activation must be one of"):
        nn.LSTMCell(I, H, gate_activation="softsign")
    with pytest.raises(ValueError, match="coupled"):
        nn.LSTM(I, H, coupled=True, forget_gate=False)
    with pytest.raises(ValueError, match="cell_update must be 'add' or 'multiply', got 'mul'"):
        nn.LSTM(I, H, cell_update="mul")
    with pytest.raises(ValueError, match="fused=True.*output_gate=False"):
        nn.LSTM(I, H, output_gate=False, fused=True)
    with pytest.raises(ValueError, match="coupled.*input_gate=False"):
        nn.LSTM(I, H, coupled=True, input_gate=False)


def test_forget_bias_without_input_gate_goes_to_the_forget_block():
    lfs.manual_seed(5)
    plain = nn.LSTM(I, H, input_gate=False)
    lfs.manual_seed(5)
    biased = nn.LSTM(I, H, input_gate=False, forget_bias=1.0)
    diff = biased.bias_ih_l0.numpy() - plain.bias_ih_l0.numpy()
    np.testing.assert_allclose(diff, np.r_[np.ones(H), np.zeros(2 * H)], atol=1e-6)


def test_no_output_gate_shows_the_squashed_cell():
    """o_t = 1: h_t is tanh(c_t) exactly, for every input."""
    cell = nn.LSTMCell(I, H, output_gate=False, dtype=lfs.float64)
    _randomise(cell, 31)
    rng = _rng(32)
    h_t, c_t = cell(lfs.tensor(rng.standard_normal((B, I))),
                    (lfs.tensor(rng.standard_normal((B, H))), lfs.tensor(rng.standard_normal((B, H)))))
    np.testing.assert_array_equal(h_t.numpy(), np.tanh(c_t.numpy()))


def test_multiplicative_update_stays_at_zero_from_zero():
    """c_t = (f c_{t-1}) (i g): from c_0 = 0 the memory never leaves 0; from c_0 = 1 it moves."""
    lfs.manual_seed(33)
    layer = nn.LSTM(I, H, cell_update="multiply", dtype=lfs.float64)
    x = lfs.tensor(_rng(34).standard_normal((T, B, I)))
    out, (h_n, c_n) = layer(x)
    assert np.all(c_n.numpy() == 0) and np.all(out.numpy() == 0)
    ones = lfs.ones(1, B, H, dtype=lfs.float64)
    _, (_, c_n) = layer(x, (lfs.zeros(1, B, H, dtype=lfs.float64), ones))
    assert np.all(np.abs(c_n.numpy()) > 0) and np.all(np.abs(c_n.numpy()) < 1)


@pytest.mark.parametrize("name", ["standard", "peephole", "no_output_gate_coupled_peephole",
                                  "multiplicative", "no_input_gate_no_forget_peephole"])
def test_lstm_step_on_a_stack_of_models(name):
    """Weights stacked along a leading axis (S, G*H, H) run S independent models at once: each
    slice equals the step of its own cell, and so do the gradients."""
    opts, S = VARIANTS[name], 3
    cells = []
    for s in range(S):
        cell = nn.LSTMCell(I, H, dtype=lfs.float64, **opts)
        _randomise(cell, 40 + s)
        cells.append(cell)
    rng = _rng(35)
    x, h, c = (rng.standard_normal((S, B, n)) for n in (I, H, H))
    stacked = {n: lfs.tensor(np.stack([dict(cl.named_parameters())[n].numpy() for cl in cells]),
                             requires_grad=True) for n, _ in cells[0].named_parameters()}
    gates_x = lfs.matmul(lfs.tensor(x), stacked["weight_ih"].swapaxes(-1, -2)) \
        + stacked["bias_ih"].reshape(S, 1, -1)
    peep = None
    if opts.get("peephole"):
        peep = tuple(stacked[p].reshape(S, 1, H) if p in stacked else None
                     for p in ("weight_ci", "weight_cf", "weight_co"))
    h_t, c_t = lstm_step(cells[0].variant, gates_x, lfs.tensor(h), lfs.tensor(c),
                         stacked["weight_hh"], stacked["bias_hh"], peep)
    (h_t * h_t).sum().backward()
    for s, cell in enumerate(cells):
        h_s, c_s = cell(lfs.tensor(x[s]), (lfs.tensor(h[s]), lfs.tensor(c[s])))
        np.testing.assert_allclose(h_t.numpy()[s], h_s.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c_t.numpy()[s], c_s.numpy(), rtol=1e-12, atol=1e-12)
        (h_s * h_s).sum().backward()
        for n, p in cell.named_parameters():
            np.testing.assert_allclose(stacked[n].grad.numpy()[s], p.grad.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=n)


# ---- the fused path ---------------------------------------------------------------------------
def _kernels_or_skip():
    try:
        return importlib.import_module("lstm_from_scratch.kernels")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("lstm_from_scratch.kernels"):
            pytest.skip("lstm_from_scratch.kernels is not available yet")
        raise


def _grads_of(module, inputs, outputs, weights):
    module.zero_grad()
    for t in inputs:
        t.grad = None
    _weighted_sum(outputs, weights, "ours").backward()
    return [t.grad.numpy() for t in inputs] + [p.grad.numpy() for p in module.parameters()]


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_sequence_equals_primitive(kind, bidirectional, bias, device):
    _kernels_or_skip()
    rng = _rng(21)
    kw = dict(num_layers=2, bidirectional=bidirectional, bias=bias, batch_first=True,
              dtype=lfs.float64, device=device)
    slow = getattr(nn, kind)(I, H, **kw)
    fast = getattr(nn, kind)(I, H, fused=True, **kw)
    fast.load_state_dict(slow.state_dict())
    D = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, I))
    n_states = 2 if kind == "LSTM" else 1
    s0 = [rng.standard_normal((2 * D, B, H)) for _ in range(n_states)]
    results = []
    for m in (slow, fast):
        xs = _ours_tensor(x, device)
        ss = [_ours_tensor(s, device) for s in s0]
        out, fin = m(xs, tuple(ss) if n_states == 2 else ss[0])
        fin = list(fin) if n_states == 2 else [fin]
        weights = [_rng(22).standard_normal(o.shape) for o in [out] + fin]
        values = [o.numpy() for o in [out] + fin]
        results.append(values + _grads_of(m, [xs] + ss, [out] + fin, weights))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_cell_equals_primitive(kind, bias, device):
    _kernels_or_skip()
    rng = _rng(23)
    slow = getattr(nn, kind)(I, H, bias=bias, dtype=lfs.float64, device=device)
    fast = getattr(nn, kind)(I, H, bias=bias, fused=True, dtype=lfs.float64, device=device)
    fast.load_state_dict(slow.state_dict())
    x = rng.standard_normal((B, I))
    n_states = 2 if kind == "LSTMCell" else 1
    s0 = [rng.standard_normal((B, H)) for _ in range(n_states)]
    results = []
    for m in (slow, fast):
        xs = _ours_tensor(x, device)
        ss = [_ours_tensor(s, device) for s in s0]
        res = m(xs, tuple(ss) if n_states == 2 else ss[0])
        res = list(res) if n_states == 2 else [res]
        weights = [_rng(24).standard_normal(o.shape) for o in res]
        results.append([o.numpy() for o in res] + _grads_of(m, [xs] + ss, res, weights))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


# ---- errors ----------------------------------------------------------------------------------------
def test_sequence_input_errors_name_sizes_and_shapes():
    m = nn.LSTM(10, 20, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: expected input of size 10 in the last dimension, got 7"):
        m(lfs.randn(5, 3, 7))
    with pytest.raises(ValueError, match=r"LSTM: expected input of 2 .* got shape \(5, 3, 2, 10\)"):
        m(lfs.randn(5, 3, 2, 10))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 3, 20\), got \(1, 3, 20\)"):
        m(lfs.randn(5, 3, 10), (lfs.zeros(1, 3, 20), lfs.zeros(2, 3, 20)))
    with pytest.raises(ValueError, match=r"expected c0 of shape \(2, 3, 20\), got \(2, 4, 20\)"):
        m(lfs.randn(5, 3, 10), (lfs.zeros(2, 3, 20), lfs.zeros(2, 4, 20)))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 20\), got \(2, 1, 20\)"):
        m(lfs.randn(5, 10), (lfs.zeros(2, 1, 20), lfs.zeros(2, 1, 20)))
    with pytest.raises(TypeError, match="tuple"):
        m(lfs.randn(5, 3, 10), lfs.zeros(2, 3, 20))
    with pytest.raises(TypeError, match="dtype float64 but the parameters are float32"):
        m(lfs.randn(5, 3, 10, dtype=lfs.float64))
    with pytest.raises(TypeError, match="must be a Tensor"):
        m(np.zeros((5, 3, 10), dtype=np.float32))
    g = nn.GRU(4, 6, batch_first=True, bidirectional=True)
    with pytest.raises(ValueError, match=r"GRU: expected h0 of shape \(2, 3, 6\), got \(1, 3, 6\)"):
        g(lfs.randn(3, 5, 4), lfs.zeros(1, 3, 6))
    with pytest.raises(ValueError, match="RNN: expected input of size 4 in the last dimension, got 5"):
        nn.RNN(4, 6)(lfs.randn(2, 2, 5))


def test_cell_input_errors():
    cell = nn.LSTMCell(10, 20)
    with pytest.raises(ValueError, match="LSTMCell: expected input of size 10 in the last dimension, got 7"):
        cell(lfs.randn(3, 7))
    with pytest.raises(ValueError, match=r"LSTMCell: expected input of 1 .* got shape \(2, 3, 10\)"):
        cell(lfs.randn(2, 3, 10))
    with pytest.raises(ValueError, match=r"LSTMCell: expected c of shape \(3, 20\), got \(3, 21\)"):
        cell(lfs.randn(3, 10), (lfs.zeros(3, 20), lfs.zeros(3, 21)))
    with pytest.raises(ValueError, match=r"GRUCell: expected h of shape \(20,\), got \(1, 20\)"):
        nn.GRUCell(10, 20)(lfs.randn(10), lfs.zeros(1, 20))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="sigmoid")


def test_constructor_errors_and_dropout_warning():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_wrongly_packed_states_are_named():
    cell = lfs.nn.LSTMCell(3, 4)
    x, h = lfs.randn(2, 3), lfs.randn(2, 4)
    with pytest.raises(TypeError, match=r"LSTMCell: hx must be a tuple \(h, c\), got Tensor"):
        cell(x, h)
    with pytest.raises(ValueError, match=r"LSTMCell: expected hx as \(h, c\), got 1 tensors"):
        cell(x, (h,))
    layer = lfs.nn.LSTM(3, 4)
    seq = lfs.randn(5, 2, 3)
    with pytest.raises(TypeError, match=r"LSTM: the initial state must be a tuple \(h0, c0\)"):
        layer(seq, lfs.randn(1, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM: expected the initial state as \(h0, c0\), got 3"):
        layer(seq, (lfs.randn(1, 2, 4),) * 3)
    # a GRU has one state: a bare tensor is the state itself
    out, h_n = lfs.nn.GRU(3, 4)(seq, lfs.zeros(1, 2, 4))
    assert h_n.shape == (1, 2, 4)

"""A stack of S models (experiments.stacked) is S independent library models, trained as one."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.experiments.stacked import (Stacked, build_layer,
                                                   clip_grad_norm_per_model_, per_model_norms)

F = lfs.nn.functional
SPECS = {
    "rnn": {"kind": "RNN", "nonlinearity": "tanh"},
    "irnn": {"kind": "IRNN"},
    "gru": {"kind": "GRU"},
    "lstm": {"kind": "LSTM", "forget_bias": 1.0},
    "peephole": {"kind": "LSTM", "peephole": True, "forget_bias": 1.0},
    "cifg_no_output_gate": {"kind": "LSTM", "coupled": True, "output_gate": False},
    "multiplicative": {"kind": "LSTM", "cell_update": "multiply", "c0": 1.0},
    "tanh_gates": {"kind": "LSTM", "gate_activation": "tanh"},
    "cifg_bias": {"kind": "LSTM", "coupled": True, "input_bias": -1.0},
}
SEEDS, I, H, OUT, T, B = [3, 7], 3, 4, 2, 6, 5


def _built_alone(spec, seed):
    """One model of the stack built on its own from its seed: on the CPU (where the stack
    draws its initial weights), then moved to the default device the stack runs on."""
    lfs.manual_seed(seed)
    layer = build_layer(spec, I, H, dtype=lfs.float64)
    head = lfs.nn.Linear(H, OUT, dtype=lfs.float64, device="cpu")
    return layer.to(lfs.get_device()), head.to(lfs.get_device())


def _separate_forward(spec, layer, head, x):
    """One library model on x (T, B, I): its head on the last h."""
    state = None
    if spec.get("c0"):
        state = (lfs.zeros(1, B, H, dtype=lfs.float64), lfs.full((1, B, H), spec["c0"],
                                                                  dtype=lfs.float64))
    out, _ = layer(x, state)
    return head(out[-1])


@pytest.mark.parametrize("name", list(SPECS))
def test_stack_equals_its_models_forward(name):
    spec = SPECS[name]
    stacked = Stacked(spec, I, H, OUT, SEEDS, dtype=lfs.float64)
    x = np.random.default_rng(1).standard_normal((len(SEEDS), T, B, I))
    y = stacked(lfs.tensor(x)).numpy()
    for s, seed in enumerate(SEEDS):
        layer, head = _built_alone(spec, seed)        # the same initial weights as built alone
        np.testing.assert_allclose(y[s], _separate_forward(spec, layer, head,
                                                            lfs.tensor(x[s])).numpy(),
                                   rtol=1e-12, atol=1e-12)
    # the same input for every model broadcasts
    y1 = stacked(lfs.tensor(x[:1])).numpy()
    np.testing.assert_allclose(y1[0], y[0], rtol=1e-12, atol=1e-12)


def test_input_bias_opens_a_coupled_forget_gate():
    lfs.manual_seed(4)
    plain = build_layer({"kind": "LSTM", "coupled": True}, I, H)
    lfs.manual_seed(4)
    shifted = build_layer({"kind": "LSTM", "coupled": True, "input_bias": -1.0}, I, H)
    diff = shifted.bias_ih_l0.numpy() - plain.bias_ih_l0.numpy()
    np.testing.assert_allclose(diff, np.r_[-np.ones(H), np.zeros(2 * H)], atol=1e-6)
    with pytest.raises(ValueError, match="input gate"):
        build_layer({"kind": "LSTM", "input_gate": False, "input_bias": -1.0}, I, H)
    with pytest.raises(ValueError, match="LSTM"):
        build_layer({"kind": "GRU", "input_bias": -1.0}, I, H)


def test_irnn_initialisation():
    layer = build_layer({"kind": "IRNN"}, I, H)
    np.testing.assert_array_equal(layer.weight_hh_l0.numpy(), np.eye(H))
    assert np.all(layer.bias_ih_l0.numpy() == 0) and np.all(layer.bias_hh_l0.numpy() == 0)
    assert layer.nonlinearity == "relu"
    with pytest.raises(ValueError, match="kind"):
        build_layer({"kind": "LSTMx"}, I, H)


@pytest.mark.parametrize("name", ["lstm", "gru", "irnn", "multiplicative", "peephole"])
def test_stack_trains_as_its_models_would_alone(name):
    """Three Adam steps with clipping (active: max_norm is small): the stacked weights equal
    those of each model trained on its own with the library's clip_grad_norm_ and Adam."""
    spec, steps, max_norm = SPECS[name], 3, 0.05
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((steps, len(SEEDS), T, B, I))
    ys = rng.standard_normal((steps, len(SEEDS), B, OUT))
    stacked = Stacked(spec, I, H, OUT, SEEDS, dtype=lfs.float64)
    opt = lfs.optim.Adam(stacked.parameters(), lr=0.05)
    norms = []
    for k in range(steps):
        pred = stacked(lfs.tensor(xs[k]))
        loss = ((pred - lfs.tensor(ys[k])) ** 2).mean(axis=(1, 2)).sum()
        opt.zero_grad()
        loss.backward()
        norms.append(clip_grad_norm_per_model_(stacked.parameters(), max_norm))
    # (clip after backward, step after clip)
        opt.step()
    assert np.all(np.array(norms) > max_norm)                # clipping was active
    for s, (layer, head) in enumerate(stacked.unstack()):
        alone, alone_head = _built_alone(spec, SEEDS[s])
        params = [*alone.parameters(), *alone_head.parameters()]
        opt_alone = lfs.optim.Adam(params, lr=0.05)
        for k in range(steps):
            pred = _separate_forward(spec, alone, alone_head, lfs.tensor(xs[k, s]))
            loss = F.mse_loss(pred, lfs.tensor(ys[k, s]))
            opt_alone.zero_grad()
            loss.backward()
            norm = lfs.nn.utils.clip_grad_norm_(params, max_norm)
            assert abs(norm.item() - norms[k][s]) < 1e-10 * norm.item()
            opt_alone.step()
        for (n, p), (_, q) in zip([*layer.named_parameters(), *head.named_parameters()],
                                  [*alone.named_parameters(), *alone_head.named_parameters()]):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-9, atol=1e-12, err_msg=n)


def test_gradients_with_respect_to_the_states():
    stacked = Stacked(SPECS["lstm"], I, H, OUT, SEEDS, dtype=lfs.float64)
    x = lfs.tensor(np.random.default_rng(3).standard_normal((2, T, B, I)))
    out, (hs, cs) = stacked(x, keep_states=True)
    assert len(hs) == len(cs) == T and hs[0].shape == (2, B, H)
    grads = lfs.grad(out.sum(), hs[:-1])
    norms = per_model_norms(grads)
    assert norms.shape == (T - 1, 2) and np.all(norms > 0)
    np.testing.assert_allclose(norms[0, 1], np.linalg.norm(grads[0].numpy()[1]), rtol=1e-12)


def test_errors_and_every_step_output():
    stacked = Stacked(SPECS["gru"], I, H, OUT, SEEDS)
    with pytest.raises(ValueError, match=r"expected input of shape \(2 or 1, T, B, 3\)"):
        stacked(lfs.zeros(3, T, B, I))
    assert stacked(lfs.zeros(2, T, B, I), every_step=True).shape == (2, T, B, OUT)
    assert stacked.num_parameters_per_model() == 3 * H * (I + H + 2) + OUT * (H + 1)
    with pytest.raises(ValueError, match="seeds"):
        Stacked(SPECS["gru"], I, H, OUT, [])

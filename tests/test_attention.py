"""Attention (lfs.nn.AdditiveAttention, lfs.nn.MultiplicativeAttention): float64 gradcheck of
every module with masks, parity with the same formulas written in torch ops (outputs and every
gradient), exact zeros at masked positions, and the errors."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.nn import AdditiveAttention, MultiplicativeAttention

F64 = np.float64
B, T, S, Q, K, V, A = 3, 2, 5, 4, 6, 3, 5

# the second source has 3 real positions, the third 1 (padding after them)
MASK = np.array([[True] * 5, [True, True, True, False, False],
                 [True, False, False, False, False]])

VARIANTS = {
    "additive": lambda dev: AdditiveAttention(Q, K, A, device=dev, dtype=F64),
    "general": lambda dev: MultiplicativeAttention(Q, K, score="general", device=dev,
                                                   dtype=F64),
    "general_scaled": lambda dev: MultiplicativeAttention(Q, K, scaled=True, device=dev,
                                                          dtype=F64),
    "dot": lambda dev: MultiplicativeAttention(K, score="dot", device=dev, dtype=F64),
    "dot_scaled": lambda dev: MultiplicativeAttention(K, score="dot", scaled=True, device=dev,
                                                      dtype=F64),
}


def _make(name, device, single, seed=0):
    lfs.manual_seed(seed)
    attn = VARIANTS[name](device)
    rng = np.random.default_rng(seed)
    qsize = attn.query_size
    qshape = (B, qsize) if single else (B, T, qsize)
    q, k, v = (lfs.tensor(rng.standard_normal(s), device=device, requires_grad=True)
               for s in (qshape, (B, S, K), (B, S, V)))
    return attn, q, k, v


@pytest.mark.parametrize("single", [True, False], ids=["query_BQ", "query_BTQ"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_gradcheck_inputs_and_parameters(name, single, device):
    """Gradients of context and weights w.r.t. query, keys, values and every parameter."""
    attn, q, k, v = _make(name, device, single)
    params = list(attn.parameters())

    def fn(q, k, v, *params):
        return attn(q, k, v, MASK)

    assert lfs.gradcheck(fn, [q, k, v, *params], atol=1e-7, rtol=1e-6)


def _torch_reference(torch, name, attn, q, k, v, mask):
    """The same formulas in torch ops, with the module's weights."""
    p = {n: torch.tensor(t.numpy(), requires_grad=True) for n, t in attn.named_parameters()}
    qt, kt, vt = (torch.tensor(t.numpy(), requires_grad=True) for t in (q, k, v))
    q3 = qt.unsqueeze(1) if qt.dim() == 2 else qt
    if name == "additive":
        hidden = torch.tanh((q3 @ p["query_proj.weight"].T).unsqueeze(2)
                            + (kt @ p["key_proj.weight"].T).unsqueeze(1))
        scores = hidden @ p["v"]
    else:
        qw = q3 @ p["weight"] if "weight" in p else q3
        scores = qw @ kt.transpose(1, 2)
        if attn.scaled:
            scores = scores / np.sqrt(attn.key_size)
    scores = scores.masked_fill(~torch.tensor(mask)[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    context = weights @ vt
    if qt.dim() == 2:
        context, weights = context.squeeze(1), weights.squeeze(1)
    return context, weights, (qt, kt, vt), p


@pytest.mark.parametrize("single", [True, False], ids=["query_BQ", "query_BTQ"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_matches_torch_formulas(name, single):
    torch = pytest.importorskip("torch")
    attn, q, k, v = _make(name, "cpu", single, seed=1)
    context, weights = attn(q, k, v, MASK)
    ct, wt, inputs_t, params_t = _torch_reference(torch, name, attn, q, k, v, MASK)
    np.testing.assert_allclose(context.numpy(), ct.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(weights.numpy(), wt.detach().numpy(), rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(2)
    gc, gw = rng.standard_normal(context.shape), rng.standard_normal(weights.shape)
    ((context * lfs.tensor(gc)).sum() + (weights * lfs.tensor(gw)).sum()).backward()
    ((ct * torch.tensor(gc)).sum() + (wt * torch.tensor(gw)).sum()).backward()
    for ours, theirs in zip((q, k, v), inputs_t):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-11,
                                   atol=1e-13)
    for pname, p in attn.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), params_t[pname].grad.numpy(), rtol=1e-11,
                                   atol=1e-13, err_msg=pname)
    assert set(params_t) == {n for n, _ in attn.named_parameters()}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_masked_positions_get_exactly_zero_weight_and_gradient(name, device):
    attn, q, k, v = _make(name, device, single=False)
    context, weights = attn(q, k, v, MASK)
    w = weights.numpy()
    assert w.shape == (B, T, S)
    assert (w[np.broadcast_to(~MASK[:, None, :], w.shape)] == 0).all()
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=1e-14)
    assert np.allclose(w[2, :, 0], 1.0)                 # one real position: all the weight
    context.sum().backward()
    assert (k.grad.numpy()[~MASK] == 0).all() and (v.grad.numpy()[~MASK] == 0).all()
    # the real positions of the rows with a choice (rows 0 and 1) do receive gradient
    assert (np.abs(k.grad.numpy()[:2][MASK[:2]]).sum(axis=-1) > 0).all()
    assert (np.abs(v.grad.numpy()[MASK]).sum(axis=-1) > 0).all()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_padding_does_not_change_the_result(name):
    """A source with padding (masked) gives the context of the same source without it."""
    attn, q, k, v = _make(name, "cpu", single=True)
    ctx, w = attn(q, k, v, MASK)
    n = 3                                   # row 1 has 3 real positions
    ctx1, w1 = attn(q[1:2], k[1:2, :n], v[1:2, :n])
    np.testing.assert_allclose(ctx.numpy()[1], ctx1.numpy()[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(w.numpy()[1, :n], w1.numpy()[0], rtol=1e-13, atol=1e-15)


def test_no_mask_means_every_position():
    attn, q, k, v = _make("general", "cpu", single=True)
    ctx_none, w_none = attn(q, k, v)
    ctx_all, w_all = attn(q, k, v, np.ones((B, S), dtype=bool))
    np.testing.assert_array_equal(ctx_none.numpy(), ctx_all.numpy())
    assert (w_none.numpy() > 0).all()


def test_mask_as_tensor_and_projected_keys():
    attn, q, k, v = _make("additive", "cpu", single=True)
    ctx, w = attn(q, k, v, MASK)
    ctx2, w2 = attn(q, k, v, lfs.tensor(MASK), projected_keys=attn.project_keys(k))
    np.testing.assert_array_equal(ctx.numpy(), ctx2.numpy())
    general = MultiplicativeAttention(Q, K, dtype=F64)
    assert general.project_keys(k) is k


def test_float32_in_float32_out():
    lfs.manual_seed(0)
    attn = AdditiveAttention(Q, K, A)
    rng = np.random.default_rng(0)
    q, k = lfs.tensor(rng.standard_normal((B, Q)).astype(np.float32)), \
        lfs.tensor(rng.standard_normal((B, S, K)).astype(np.float32))
    ctx, w = attn(q, k, k, MASK)
    assert ctx.dtype == np.float32 and w.dtype == np.float32


def test_parameters_and_repr():
    add = AdditiveAttention(Q, K, A)
    assert [(n, p.shape) for n, p in add.named_parameters()] == [
        ("v", (A,)), ("query_proj.weight", (A, Q)), ("key_proj.weight", (A, K))]
    assert "hidden_size=5" in repr(add)
    gen = MultiplicativeAttention(Q, K)
    assert [(n, p.shape) for n, p in gen.named_parameters()] == [("weight", (Q, K))]
    assert list(MultiplicativeAttention(K, score="dot").parameters()) == []
    assert "score='dot', scaled=True" in repr(MultiplicativeAttention(K, score="dot",
                                                                      scaled=True))


def test_errors_name_the_argument():
    attn, q, k, v = _make("additive", "cpu", single=True)
    with pytest.raises(ValueError, match=r"mask row\(s\) \[1\] mask every source position"):
        attn(q, k, v, np.array([[True] * 5, [False] * 5, [True] * 5]))
    with pytest.raises(ValueError, match=r"expected mask of shape \(3, 5\).*got \(3, 4\)"):
        attn(q, k, v, MASK[:, :4])
    with pytest.raises(TypeError, match="mask must be boolean.*int64"):
        attn(q, k, v, MASK.astype(np.int64))
    with pytest.raises(ValueError, match=r"expected query of size 4 .*got shape \(3, 5\)"):
        attn(lfs.zeros(3, 5, dtype=F64), k, v)
    with pytest.raises(ValueError, match=r"expected keys of size 6 .*got shape \(3, 5, 3\)"):
        attn(q, lfs.zeros(3, 5, 3, dtype=F64), v)
    with pytest.raises(ValueError, match=r"keys and values must be \(B, S, K\)"):
        attn(q, k[:, 0], v)
    with pytest.raises(ValueError, match="must agree on B"):
        attn(q, k, v[:, :4])
    with pytest.raises(TypeError, match="query must be a Tensor"):
        attn(q.numpy(), k, v)
    with pytest.raises(ValueError, match=r"projected_keys must have shape \(3, 5, 5\)"):
        attn(q, k, v, projected_keys=k)
    with pytest.raises(ValueError, match="score='dot' needs query_size == key_size"):
        MultiplicativeAttention(4, 6, score="dot")
    with pytest.raises(ValueError, match="score must be 'general' or 'dot'"):
        MultiplicativeAttention(4, 6, score="concat")

"""The linear primitive, y = x W^T + b as one node: gradients, parity, errors."""
import numpy as np
import pytest

import lstm_from_scratch as lfs


def _inputs(x_shape, out_features=3, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    x = lfs.tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = lfs.tensor(rng.standard_normal((out_features, x_shape[-1])), requires_grad=True)
    b = lfs.tensor(rng.standard_normal(out_features), requires_grad=True) if bias else None
    return x, w, b


@pytest.mark.parametrize("x_shape", [(4,), (5, 4), (2, 5, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(x_shape, bias):
    x, w, b = _inputs(x_shape, bias=bias)
    inputs = [x, w] + ([b] if bias else [])
    assert lfs.gradcheck(lambda *a: lfs.linear(*a), inputs)
    assert lfs.gradgradcheck(lambda *a: lfs.linear(*a).tanh(), inputs)


@pytest.mark.parametrize("x_shape", [(4,), (5, 4), (2, 5, 4)])
def test_linear_equals_matmul_plus_bias(x_shape):
    x, w, b = _inputs(x_shape)
    y = lfs.linear(x, w, b)
    ref = x @ w.T + b
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-14, atol=1e-14)
    upstream = lfs.tensor(np.random.default_rng(1).standard_normal(y.shape))
    grads = lfs.grad(y, [x, w, b], upstream)
    grads_ref = lfs.grad(ref, [x, w, b], upstream)
    for g, r in zip(grads, grads_ref):
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _inputs((3, 5, 4))
    y = lfs.linear(x, w, b)
    y.sum().backward()
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_linear_keeps_float32():
    x = lfs.randn(4, 3, requires_grad=True)
    w = lfs.randn(2, 3, requires_grad=True)
    b = lfs.randn(2, requires_grad=True)
    y = lfs.linear(x, w, b)
    y.sum().backward()
    assert y.dtype == np.float32
    assert {x.grad.dtype, w.grad.dtype, b.grad.dtype} == {np.dtype(np.float32)}


def test_linear_errors_name_the_shapes():
    x, w, b = _inputs((5, 4))
    with pytest.raises(ValueError, match=r"input has shape \(5, 4\).*expects 6"):
        lfs.linear(x, lfs.randn(3, 6, dtype=lfs.float64))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), got \(4,\)"):
        lfs.linear(x, w, lfs.randn(4, dtype=lfs.float64))
    with pytest.raises(TypeError, match="weight has dtype float32, input has float64"):
        lfs.linear(x, lfs.randn(3, 4))

"""Every primitive: float64 gradcheck (broadcast shapes and repeated indices included), on
each backend; float32 in, float32 out (values and gradients); numerics at extreme inputs;
PyTorch parity on composite expressions."""
import warnings

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import backend
from lstm_from_scratch.functional import column_major

F64 = np.float64


def _data(shape, rng, low=-1.0, high=1.0, away_from_zero=False):
    """Random float64 values; away_from_zero keeps |x| in [0.3, 1] (no kinks: abs, relu)."""
    a = rng.uniform(low, high, shape)
    if away_from_zero:
        a = np.sign(a + 1e-12) * (0.3 + 0.7 * np.abs(a))
    return a


def _tensors(arrays, device, requires_grad=True, dtype=F64):
    return [lfs.tensor(a, dtype=dtype, device=device, requires_grad=requires_grad)
            for a in arrays]


# fixed masks for masked_fill: every row keeps at least one position (a softmax over a fully
# masked row would be 0/0)
_MASK34 = np.array([[True, False, False, True], [False, False, False, False],
                    [True, True, False, True]])
_MASK4 = np.array([False, True, True, False])

# Each case: name -> (function of tensors, input shapes, input kind).
# kind: "any" (uniform in [-1, 1]), "pos" (in [0.5, 2]), "nz" (|x| in [0.3, 1]),
# "distinct" (values far apart: max/min/maximum have no ties).
UNARY_BINARY = {
    "add": (lambda a, b: a + b, [(3, 4), (3, 4)], "any"),
    "add_broadcast_row": (lambda a, b: a + b, [(3, 4), (4,)], "any"),
    "add_broadcast_both": (lambda a, b: a + b, [(3, 1), (1, 4)], "any"),
    "add_broadcast_3d": (lambda a, b: lfs.add(a, b), [(2, 3, 4), (3, 1)], "any"),
    "add_scalar_tensor": (lambda a, b: a + b, [(), (2, 3)], "any"),
    "add_python_scalar": (lambda a: 2.5 + a + 1, [(2, 3)], "any"),
    "sub": (lambda a, b: a - b, [(3, 4), (3, 4)], "any"),
    "sub_broadcast": (lambda a, b: lfs.sub(a, b), [(4,), (3, 4)], "any"),
    "rsub_scalar": (lambda a: 1 - a, [(3,)], "any"),
    "mul": (lambda a, b: a * b, [(3, 4), (3, 4)], "any"),
    "mul_broadcast": (lambda a, b: lfs.mul(a, b), [(2, 1, 4), (3, 1)], "any"),
    "mul_same_tensor": (lambda a: a * a, [(5,)], "any"),
    "div": (lambda a, b: a / b, [(3, 4), (3, 4)], "pos"),
    "div_broadcast": (lambda a, b: lfs.div(a, b), [(3, 4), (3, 1)], "pos"),
    "rdiv_scalar": (lambda a: 2.0 / a, [(4,)], "pos"),
    "neg": (lambda a: -a, [(3, 4)], "any"),
    "pow_scalar": (lambda a: a ** 3, [(3, 4)], "any"),
    "pow_square": (lambda a: a ** 2, [(3, 4)], "any"),
    "pow_fractional": (lambda a: lfs.pow(a, 0.5), [(3, 4)], "pos"),
    "pow_negative": (lambda a: a ** -1.5, [(3, 4)], "pos"),
    "pow_tensor": (lambda a, b: a ** b, [(3, 4), (3, 4)], "pos"),
    "pow_tensor_broadcast": (lambda a, b: lfs.pow(a, b), [(3, 4), (4,)], "pos"),
    "rpow_scalar_base": (lambda b: 2.0 ** b, [(3,)], "any"),
    "exp": (lambda a: lfs.exp(a), [(3, 4)], "any"),
    "log": (lambda a: lfs.log(a), [(3, 4)], "pos"),
    "sqrt": (lambda a: lfs.sqrt(a), [(3, 4)], "pos"),
    "abs": (lambda a: lfs.abs(a), [(3, 4)], "nz"),
    "maximum": (lambda a, b: lfs.maximum(a, b), [(3, 4), (3, 4)], "distinct"),
    "maximum_broadcast": (lambda a, b: lfs.maximum(a, b), [(3, 4), (4,)], "distinct"),
    "minimum": (lambda a, b: lfs.minimum(a, b), [(3, 4), (3, 1)], "distinct"),
    "clip": (lambda a: lfs.clip(a, -0.5, 0.4), [(4, 5)], "distinct"),
    "clip_min_only": (lambda a: lfs.clamp(a, min=0.1), [(4, 5)], "distinct"),
    "where": (lambda a, b: lfs.where(a.data > 0, a, b), [(3, 4), (3, 4)], "nz"),
    "where_broadcast": (lambda a, b: lfs.where(a.data > 0, a, b), [(3, 4), (4,)], "nz"),
    "masked_fill": (lambda a: a.masked_fill(_MASK34, -2.0), [(3, 4)], "any"),
    "masked_fill_broadcast": (lambda a: lfs.masked_fill(a, _MASK4, 0.5), [(3, 4)], "any"),
    "masked_fill_softmax": (lambda a: lfs.softmax(a.masked_fill(_MASK34, float("-inf")), dim=-1),
                            [(3, 4)], "any"),
    "sigmoid": (lambda a: lfs.sigmoid(a), [(3, 4)], "any"),
    "tanh": (lambda a: lfs.tanh(a), [(3, 4)], "any"),
    "relu": (lambda a: lfs.relu(a), [(3, 4)], "nz"),
    "softmax": (lambda a: lfs.softmax(a, axis=-1), [(3, 5)], "any"),
    "softmax_axis0": (lambda a: lfs.softmax(a, dim=0), [(3, 5)], "any"),
    "log_softmax": (lambda a: lfs.log_softmax(a, axis=1), [(3, 5)], "any"),
    "log_softmax_3d": (lambda a: lfs.log_softmax(a, dim=0), [(2, 3, 2)], "any"),
    "sum_all": (lambda a: a.sum(), [(3, 4)], "any"),
    "sum_axis": (lambda a: lfs.sum(a, axis=1), [(3, 4)], "any"),
    "sum_axes_keepdims": (lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 4)], "any"),
    "sum_dim_keepdim": (lambda a: a.sum(dim=-1, keepdim=True), [(2, 3)], "any"),
    "mean_all": (lambda a: a.mean(), [(3, 4)], "any"),
    "mean_axis": (lambda a: lfs.mean(a, axis=0), [(3, 4)], "any"),
    "mean_keepdims": (lambda a: a.mean(axis=(1, 2), keepdims=True), [(2, 3, 4)], "any"),
    "max_all": (lambda a: a.max(), [(3, 4)], "distinct"),
    "max_axis": (lambda a: lfs.amax(a, axis=1), [(3, 4)], "distinct"),
    "max_keepdims": (lambda a: a.amax(axis=0, keepdims=True), [(3, 4)], "distinct"),
    "min_axis": (lambda a: lfs.amin(a, axis=-1), [(3, 4)], "distinct"),
    "amax_axes": (lambda a: a.amax(dim=(0, 2)), [(2, 3, 4)], "distinct"),
    "max_dim_values": (lambda a: a.max(dim=1).values, [(3, 4)], "distinct"),
    "min_dim_keepdim_values": (lambda a: lfs.min(a, 0, True)[0], [(3, 4)], "distinct"),
    "var_all": (lambda a: a.var(), [(3, 4)], "any"),
    "var_axis_pop": (lambda a: lfs.var(a, axis=1, correction=0), [(3, 4)], "any"),
    "var_keepdims": (lambda a: a.var(axis=(0, 2), keepdims=True), [(2, 3, 4)], "any"),
    "reshape": (lambda a: a.reshape(4, 3), [(3, 4)], "any"),
    "reshape_minus_one": (lambda a: lfs.reshape(a, (2, -1)), [(2, 3, 2)], "any"),
    "view": (lambda a: a.view(12), [(3, 4)], "any"),
    "transpose_T": (lambda a: a.T, [(3, 4)], "any"),
    "transpose_all": (lambda a: a.transpose(), [(2, 3, 4)], "any"),
    "transpose_pair": (lambda a: lfs.transpose(a, 0, 2), [(2, 3, 4)], "any"),
    "permute": (lambda a: a.permute(2, 0, 1), [(2, 3, 4)], "any"),
    "swapaxes": (lambda a: a.swapaxes(-1, -2), [(2, 3, 4)], "any"),
    "broadcast_to": (lambda a: lfs.broadcast_to(a, (2, 3, 4)), [(3, 1)], "any"),
    "expand": (lambda a: a.expand(3, 4), [(4,)], "any"),
    "squeeze": (lambda a: a.squeeze(), [(3, 1, 4)], "any"),
    "unsqueeze": (lambda a: a.unsqueeze(1), [(3, 4)], "any"),
    "flatten": (lambda a: a.flatten(1), [(2, 3, 4)], "any"),
    "concat": (lambda a, b: lfs.concat([a, b], axis=1), [(2, 3), (2, 4)], "any"),
    "cat_axis0_three": (lambda a, b, c: lfs.cat([a, b, c]), [(1, 3), (2, 3), (3, 3)], "any"),
    "stack": (lambda a, b: lfs.stack([a, b], axis=1), [(2, 3), (2, 3)], "any"),
    "stack_last": (lambda a, b: lfs.stack([a, b], dim=-1), [(2, 3), (2, 3)], "any"),
    "split_sizes": (lambda a: lfs.split(a, [1, 3], axis=1), [(2, 4)], "any"),
    "split_int": (lambda a: a.split(2, 0), [(5, 3)], "any"),
    "split_one_used": (lambda a: lfs.split(a, 2, axis=1)[1] * 3, [(2, 6)], "any"),
    "chunk": (lambda a: a.chunk(4, 1), [(2, 8)], "any"),
    "getitem_slice": (lambda a: a[1:, ::2], [(3, 4)], "any"),
    "getitem_int": (lambda a: a[1], [(3, 4)], "any"),
    "getitem_negative_step": (lambda a: a[::-1, 1], [(3, 4)], "any"),
    "getitem_none_ellipsis": (lambda a: a[None, ..., 0], [(3, 4)], "any"),
    "getitem_repeated_indices": (lambda a: a[[0, 2, 0, 0]], [(3, 4)], "any"),
    "getitem_repeated_2d": (lambda a: a[np.array([[1, 1], [0, 1]]), 2], [(3, 4)], "any"),
    "getitem_pairs_repeated": (lambda a: a[[0, 0, 2], [1, 1, 3]], [(3, 4)], "any"),
    "getitem_tensor_index": (lambda a: a[lfs.tensor([2, 2, 1], device=a.device)], [(3, 4)], "any"),
    "getitem_bool_mask": (lambda a: a[a.data > 0], [(3, 4)], "nz"),
    "matmul_2d": (lambda a, b: a @ b, [(3, 4), (4, 2)], "any"),
    "matmul_1d_1d": (lambda a, b: lfs.matmul(a, b), [(4,), (4,)], "any"),
    "matmul_1d_2d": (lambda a, b: a @ b, [(4,), (4, 3)], "any"),
    "matmul_2d_1d": (lambda a, b: a @ b, [(3, 4), (4,)], "any"),
    "matmul_batched": (lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)], "any"),
    "matmul_batch_broadcast": (lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], "any"),
    "matmul_batched_2d": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)], "any"),
    "matmul_1d_batched": (lambda a, b: a @ b, [(4,), (2, 4, 3)], "any"),
    "matmul_batched_1d": (lambda a, b: a @ b, [(2, 3, 4), (4,)], "any"),
    # ops added with the in-place operations (issue 7)
    "transpose_2d_pair": (lambda a: a.transpose(0, 1), [(3, 4)], "any"),
    "clone": (lambda a: a.clone() * a, [(3, 4)], "any"),
    "pow_zero": (lambda a: a ** 0 + a, [(3, 4)], "any"),
    "setitem_row": (lambda a, b: lfs.setitem(a, 1, b), [(3, 4), (4,)], "any"),
    "setitem_broadcast": (lambda a, b: lfs.setitem(a, (slice(None), 2), b), [(3, 4), (1,)], "any"),
    "setitem_index_array": (lambda a, b: lfs.setitem(a, [0, 2], b), [(3, 4), (2, 4)], "any"),
    "inplace_on_graph": (lambda a, b: _inplace_chain(a, b), [(3, 4), (3, 4)], "any"),
    "matmul_batched_one_row": (lambda a, b: a @ b, [(2, 1, 4), (2, 4, 3)], "any"),
    "matmul_batched_one_column": (lambda a, b: a @ b, [(2, 3, 4), (2, 4, 1)], "any"),
    "matmul_batched_outer": (lambda a, b: a @ b, [(2, 3, 1), (2, 1, 4)], "any"),
    "matmul_one_row_broadcast": (lambda a, b: a @ b, [(2, 1, 1, 4), (3, 4, 2)], "any"),
    # flip (the reverse direction of the recurrent layers' fused path)
    "flip_time": (lambda a: lfs.flip(a, 0) * a, [(3, 2, 4)], "any"),
    "flip_two_dims": (lambda a: a.flip((0, -1)), [(3, 2, 4)], "any"),
    # linear, and the column-major weight the recurrent layers hand it (its own backward)
    "linear": (lambda x, w, b: lfs.linear(x, w, b), [(2, 4), (3, 4), (3,)], "any"),
    "linear_3d_input": (lambda x, w: lfs.linear(x, w), [(2, 2, 4), (3, 4)], "any"),
    "column_major": (lambda a: column_major(a) * a, [(3, 4)], "any"),
    "linear_column_major_weight": (lambda x, w, b: lfs.linear(x, column_major(w), b),
                                   [(2, 4), (3, 4), (3,)], "any"),
    "linear_column_major_recurrent": (lambda h, w: _recurrence(h, column_major(w)),
                                      [(2, 3), (3, 3)], "any"),
}


def _recurrence(h, w):
    """W used at three steps, as the recurrent layers use W_hh: the weight's gradient is
    deferred (SumOfProducts) through column_major and summed over the steps."""
    for _ in range(3):
        h = lfs.tanh(lfs.linear(h, w))
    return h


def _inplace_chain(a, b):
    """In-place ops on a tensor of the graph, recorded as PyTorch records them."""
    y = a * 1.0
    y *= b
    y += a
    y.tanh_()
    y[0] = b[1] * 2
    y.clamp_(min=-0.9)
    return y


def _inputs(shapes, kind, rng):
    if kind == "pos":
        return [rng.uniform(0.5, 2.0, s) for s in shapes]
    if kind == "nz":
        return [_data(s, rng, away_from_zero=True) for s in shapes]
    if kind == "distinct":      # a permutation of well-separated values: no ties anywhere
        out = []
        for k, s in enumerate(shapes):       # input k is offset by k/30: no ties between inputs
            n = int(np.prod(s))
            out.append((rng.permutation(n) - n / 2.0).reshape(s) * 0.1 + 0.013 + k / 30)
        return out
    return [_data(s, rng) for s in shapes]


@pytest.mark.parametrize("name", sorted(UNARY_BINARY))
def test_gradcheck_every_primitive(name, device):
    fn, shapes, kind = UNARY_BINARY[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    xs = _tensors(_inputs(shapes, kind, rng), device)
    assert lfs.gradcheck(fn, xs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(UNARY_BINARY))
def test_values_match_numpy_reference_on_device(name, device):
    """The same op on this backend gives the CPU's values (float64, CuPy vs NumPy parity)."""
    fn, shapes, kind = UNARY_BINARY[name]
    rng = np.random.default_rng(1)
    arrays = _inputs(shapes, kind, rng)
    ref = fn(*_tensors(arrays, "cpu"))
    got = fn(*_tensors(arrays, device))
    ref = ref if isinstance(ref, tuple) else (ref,)
    got = got if isinstance(got, tuple) else (got,)
    for r, g in zip(ref, got):
        assert g.device == device
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-12, atol=1e-14)


GRADGRAD = ["mul", "div", "pow_scalar", "pow_tensor", "exp", "log", "sqrt", "sigmoid", "tanh",
            "softmax", "log_softmax", "sum_axis", "mean_keepdims", "max_axis", "max_dim_values",
            "var_axis_pop", "matmul_2d", "matmul_1d_2d", "matmul_batch_broadcast",
            "matmul_batched_one_row", "getitem_repeated_indices", "concat", "stack",
            "split_one_used", "chunk", "add_broadcast_3d", "transpose_pair", "broadcast_to",
            "maximum", "clip", "where", "abs", "relu", "setitem_row", "inplace_on_graph",
            "masked_fill_softmax", "linear", "column_major", "linear_column_major_weight",
            "linear_column_major_recurrent"]


@pytest.mark.parametrize("name", GRADGRAD)
def test_gradgradcheck(name, device):
    fn, shapes, kind = UNARY_BINARY[name]
    rng = np.random.default_rng(7)
    xs = _tensors(_inputs(shapes, kind, rng), device)
    assert lfs.gradgradcheck(fn, xs, atol=1e-5, rtol=1e-4)


# ---- float32 in, float32 out: values and gradients; Python scalars never promote ---------------
FLOAT32_CASES = dict(UNARY_BINARY)
FLOAT32_CASES.update({
    "scalar_chain": (lambda a: (a * 0.5 + 1.0 - 2 / (a * a + 3)) ** 2.0, [(3, 4)], "any"),
    "numpy_scalar": (lambda a: a * np.float64(0.5) + np.float64(1.0), [(3,)], "any"),
    "var_scalar_factor": (lambda a: a.var(axis=0) * 3.0, [(3, 4)], "any"),
})


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_stays_float32(name, device):
    fn, shapes, kind = FLOAT32_CASES[name]
    rng = np.random.default_rng(3)
    xs = _tensors(_inputs(shapes, kind, rng), device, dtype=np.float32)
    outs = fn(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    total = None
    for o in outs:
        assert o.dtype == np.float32, f"{name}: output dtype {o.dtype}"
        term = (o * 1.5).sum()
        total = term if total is None else total + term
    assert total.dtype == np.float32
    total.backward()
    for k, x in enumerate(xs):
        assert x.grad is not None, f"{name}: input {k} got no gradient"
        assert x.grad.dtype == np.float32, f"{name}: gradient {k} has dtype {x.grad.dtype}"
        assert x.grad.shape == x.shape


def test_comparisons_are_boolean_and_not_differentiable(device):
    a = lfs.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    b = lfs.tensor([3.0, 2.0, 1.0], device=device)
    for result, expected in ((a < b, [True, False, False]), (a <= b, [True, True, False]),
                             (a > b, [False, False, True]), (a >= 2.0, [False, True, True]),
                             (a == b, [False, True, False]), (a != b, [True, False, True]),
                             (lfs.lt(a, 2), [True, False, False]), (lfs.eq(a, 3.0), [False, False, True])):
        assert result.dtype == np.bool_
        assert not result.requires_grad and result.creator is None
        assert result.numpy().tolist() == expected


def test_repeated_indices_accumulate(device):
    x = lfs.tensor(np.arange(4.0), dtype=F64, requires_grad=True, device=device)
    y = x[[0, 0, 3, 0]]
    (y * lfs.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64, device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 0.0, 0.0, 3.0])


def test_max_ties_split_the_gradient_like_torch_amax():
    torch = pytest.importorskip("torch")
    data = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]])
    for axis in (None, 1, 0):
        x = lfs.tensor(data, dtype=F64, requires_grad=True)
        xt = torch.tensor(data, requires_grad=True)
        lfs.amax(x, axis=axis).sum().backward()
        (torch.amax(xt) if axis is None else torch.amax(xt, dim=axis)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-15)
    x = lfs.tensor([2.0, 2.0], dtype=F64, requires_grad=True)
    lfs.maximum(x[0], x[1]).backward()        # element-wise tie: half each, as torch.maximum
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.5])


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False)])
def test_var_matches_torch(correction, axis, keepdims):
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(0).standard_normal((3, 4, 5))
    x = lfs.tensor(data, dtype=F64, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    y = x.var(axis=axis, keepdims=keepdims, correction=correction)
    yt = torch.var(xt, dim=axis, keepdim=keepdims, correction=correction)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(1).standard_normal(yt.shape)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_are_stable_for_large_logits(dtype, device):
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 5.0]])
    for op in (lfs.softmax, lfs.log_softmax):
        x = lfs.tensor(logits, dtype=dtype, requires_grad=True, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = op(x, axis=1)
            (y * lfs.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=dtype, device=device)).sum().backward()
        assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
        assert y.dtype == dtype and x.grad.dtype == dtype
    p = lfs.softmax(lfs.tensor(logits, dtype=dtype, device=device), axis=1).numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0], atol=1e-7)
    ls = lfs.log_softmax(lfs.tensor(logits, dtype=dtype, device=device), axis=1).numpy()
    np.testing.assert_allclose(ls[1, :2], [-np.log1p(np.exp(-1.0)), -1.0 - np.log1p(np.exp(-1.0))],
                               rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_saturate_without_warnings(dtype, device):
    values = [-1000.0, -100.0, 0.0, 100.0, 1000.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for op, expected in ((lfs.sigmoid, [0.0, 0.0, 0.5, 1.0, 1.0]),
                             (lfs.tanh, [-1.0, -1.0, 0.0, 1.0, 1.0])):
            x = lfs.tensor(values, dtype=dtype, requires_grad=True, device=device)
            y = op(x)
            y.sum().backward()
            np.testing.assert_allclose(y.numpy(), expected, atol=1e-30)
            assert np.isfinite(x.grad.numpy()).all()
            assert abs(x.grad.numpy()[0]) < 1e-30 and abs(x.grad.numpy()[-1]) < 1e-30
            assert y.dtype == dtype and x.grad.dtype == dtype


def test_sigmoid_matches_the_formula_in_float64():
    x = np.linspace(-30, 30, 101)
    y = lfs.sigmoid(lfs.tensor(x, dtype=F64)).numpy()
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-15)


def test_to_device_round_trip_carries_the_gradient(device):
    x = lfs.tensor([1.0, -2.0, 3.0], dtype=F64, requires_grad=True, device="cpu")
    y = x.to(device)
    assert y.device == device
    z = (y * y).to("cpu")
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])
    assert x.grad.device == "cpu"


def test_astype_is_differentiable():
    x = lfs.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    y = x.to(dtype=np.float32)
    assert y.dtype == np.float32
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


# ---- constructors --------------------------------------------------------------------------------
def test_constructors(device):
    assert lfs.zeros(2, 3, device=device).numpy().tolist() == [[0.0] * 3] * 2
    assert lfs.ones((2,), device=device).dtype == np.float32
    assert lfs.full((2, 2), 7.0, dtype=F64, device=device).numpy().tolist() == [[7.0, 7.0]] * 2
    assert lfs.arange(4, device=device).dtype == np.int64
    assert lfs.arange(0.0, 1.0, 0.25, device=device).numpy().tolist() == [0.0, 0.25, 0.5, 0.75]
    r = lfs.randn(3, 4, device=device)
    assert r.shape == (3, 4) and r.dtype == np.float32 and r.device == device
    u = lfs.rand(1000, dtype=F64, device=device).numpy()
    assert u.dtype == F64 and 0.0 <= u.min() and u.max() < 1.0
    base = lfs.tensor([[1.0, 2.0]], dtype=F64, device=device)
    for like, fill in ((lfs.zeros_like, 0.0), (lfs.ones_like, 1.0)):
        t = like(base)
        assert t.shape == base.shape and t.dtype == F64 and t.device == device
        assert (t.numpy() == fill).all()
    assert lfs.full_like(base, 3.0).numpy().tolist() == [[3.0, 3.0]]
    assert lfs.randn_like(base).shape == (1, 2) and lfs.rand_like(base).dtype == F64
    z = lfs.zeros(2, requires_grad=True, device=device)
    assert z.requires_grad and z.is_leaf


def test_tensor_from_python_data():
    t = lfs.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32 and t.shape == (2, 2) and t.ndim == 2
    assert lfs.tensor([1, 2]).dtype == np.int64
    assert lfs.tensor(3.5).item() == 3.5
    a = np.arange(3.0)
    t = lfs.tensor(a)
    a[0] = 100.0                    # lfs.tensor copies
    assert t.numpy()[0] == 0.0 and t.dtype == F64
    n = t.numpy()
    n[1] = -1.0                     # .numpy() is a copy
    assert t.numpy()[1] == 1.0


# ---- PyTorch parity on composite expressions ------------------------------------------------------
def _composite(lib, x, W, b, v):
    """A small network-like expression using many primitives (lib is lfs or torch)."""
    h = lib.tanh(x @ W + b)                                # (B, H)
    g = lib.sigmoid(h * 2.0 - 0.5) * h + (h ** 2) / (1.0 + lib.exp(-h))
    s = lib.log_softmax(g, 1)
    m = lib.maximum(g, h * 0.3)
    pieces = lib.chunk(m, 2, 1)
    cat = lib.cat([pieces[1], pieces[0] * v], 1)
    r = lib.sqrt(lib.abs(cat) + 1.0) + lib.relu(cat - 0.1)
    return (s * r).sum() + r[[0, 0, 2]].mean() + (x * x).sum(1).max() + g.var()


def test_composite_expression_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(4, 3), (3, 6), (6,), (1, 3)]]
    ours = [lfs.tensor(a, dtype=F64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = _composite(lfs, *ours)
    yt = _composite(torch, *theirs)
    np.testing.assert_allclose(y.item(), yt.item(), rtol=1e-12)
    y.backward()
    yt.backward()
    for k, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"gradient of input {k}")


def test_lstm_step_from_primitives_matches_torch():
    """One LSTM step written with the primitives, against torch.nn.LSTMCell (values and
    every gradient): the composite that the rest of the library builds on."""
    torch = pytest.importorskip("torch")
    B, I, H = 3, 4, 5
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(I, H).double()
    rng = np.random.default_rng(0)
    x, h0, c0 = (rng.standard_normal(s) for s in [(B, I), (B, H), (B, H)])
    params = {n: lfs.tensor(p.detach().numpy(), dtype=F64, requires_grad=True)
              for n, p in cell.named_parameters()}
    xs = lfs.tensor(x, dtype=F64, requires_grad=True)
    hs, cs = (lfs.tensor(a, dtype=F64, requires_grad=True) for a in (h0, c0))
    gates = xs @ params["weight_ih"].T + params["bias_ih"] + hs @ params["weight_hh"].T + params["bias_hh"]
    a_i, a_f, a_g, a_o = gates.chunk(4, 1)
    i_t, f_t, g_t, o_t = lfs.sigmoid(a_i), lfs.sigmoid(a_f), lfs.tanh(a_g), lfs.sigmoid(a_o)
    c_t = f_t * cs + i_t * g_t
    h_t = o_t * lfs.tanh(c_t)
    xt = torch.tensor(x, requires_grad=True)
    ht0, ct0 = (torch.tensor(a, requires_grad=True) for a in (h0, c0))
    h_ref, c_ref = cell(xt, (ht0, ct0))
    np.testing.assert_allclose(h_t.numpy(), h_ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_t.numpy(), c_ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = rng.standard_normal((B, H))
    ((h_t * lfs.tensor(w, dtype=F64)).sum() + (c_t * c_t).sum()).backward()
    ((h_ref * torch.tensor(w)).sum() + (c_ref * c_ref).sum()).backward()
    for n, p in cell.named_parameters():
        np.testing.assert_allclose(params[n].grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ours, ref in ((xs, xt), (hs, ht0), (cs, ct0)):
        np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_matmul_matches_numpy_for_every_rank_combination(device):
    rng = np.random.default_rng(0)
    for sa, sb in [((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)),
                   ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3))]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        got = lfs.matmul(lfs.tensor(a, dtype=F64, device=device), lfs.tensor(b, dtype=F64, device=device))
        np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-12)
        assert got.shape == np.matmul(a, b).shape


def test_backend_module_is_used_by_ops(device):
    x = lfs.tensor([1.0, 2.0], device=device)
    assert backend.device_of(lfs.exp(x).data) == device


def test_masked_fill_values_gradient_and_torch_parity(device):
    """Filled positions hold exactly the value; after a softmax, -inf gives weight exactly 0
    and the gradient there is exactly 0; values and gradient equal torch's masked_fill."""
    rng = np.random.default_rng(3)
    data, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x = lfs.tensor(data, device=device, requires_grad=True)
    y = lfs.softmax(x.masked_fill(_MASK34, float("-inf")), dim=-1)
    (y * lfs.tensor(w, device=device)).sum().backward()
    assert (y.numpy()[_MASK34] == 0).all() and (x.grad.numpy()[_MASK34] == 0).all()
    np.testing.assert_allclose(y.numpy().sum(axis=-1), 1.0, rtol=1e-15)
    filled = lfs.masked_fill(x, _MASK4, 7.5).numpy()
    assert (filled[:, _MASK4] == 7.5).all() and (filled[:, ~_MASK4] == data[:, ~_MASK4]).all()
    torch = pytest.importorskip("torch")
    xt = torch.tensor(data, requires_grad=True)
    yt = torch.softmax(xt.masked_fill(torch.tensor(_MASK34), float("-inf")), dim=-1)
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_flip_is_torch_flip_and_contiguous():
    x = np.arange(24.0).reshape(2, 3, 4)
    y = lfs.flip(lfs.tensor(x, dtype=lfs.float64), (0, 2))
    np.testing.assert_array_equal(y.numpy(), x[::-1, :, ::-1])
    assert y.data.flags["C_CONTIGUOUS"]
    with pytest.raises(ValueError, match="flip: axis 3 is out of range"):
        lfs.flip(lfs.tensor(x), 3)

"""Property tests (hypothesis): broadcasting and shape ops agree with NumPy, and their
gradients are the adjoints that NumPy computes by hand."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lstm_from_scratch as lfs
from lstm_from_scratch.autograd import sum_to

F64 = np.float64
SETTINGS = settings(max_examples=40, deadline=None)

small_floats = st.floats(-3.0, 3.0, allow_nan=False, width=64)


def _array(shape, seed):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, shape)


def _np_sum_to(g, shape):
    """Independent reference for un-broadcasting: sum the leading axes, then the 1-axes."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


OPS = {
    "add": (np.add, lambda a, b: (np.ones_like(a), np.ones_like(b))),
    "sub": (np.subtract, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    "mul": (np.multiply, lambda a, b: (b, a)),
    "div": (np.divide, lambda a, b: (1 / b, -a / b ** 2)),
}


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(OPS)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_numpy_with_unbroadcast_gradients(shapes, op, seed):
    sa, sb = shapes.input_shapes
    a = _array(sa, seed)
    b = _array(sb, seed + 1)
    if op == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    np_op, local = OPS[op]
    x, y = lfs.tensor(a, dtype=F64, requires_grad=True), lfs.tensor(b, dtype=F64, requires_grad=True)
    out = getattr(lfs, op)(x, y)
    expected = np_op(a, b)
    assert out.shape == expected.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-14)
    w = _array(expected.shape, seed + 2)
    (out * lfs.tensor(w, dtype=F64)).sum().backward()
    da, db = local(np.broadcast_to(a, expected.shape), np.broadcast_to(b, expected.shape))
    assert x.grad.shape == sa and y.grad.shape == sb
    np.testing.assert_allclose(x.grad.numpy(), _np_sum_to(w * da, sa), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), _np_sum_to(w * db, sb), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=4, max_side=4),
       seed=st.integers(0, 2**16))
def test_sum_to_inverts_broadcast_to(shapes, seed):
    (shape,) = shapes.input_shapes
    big = shapes.result_shape
    g = _array(big, seed)
    np.testing.assert_allclose(sum_to(g, shape), _np_sum_to(g, shape), rtol=1e-12)
    x = lfs.tensor(_array(shape, seed + 1), dtype=F64, requires_grad=True)
    y = lfs.broadcast_to(x, big)
    assert y.shape == big
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(x.numpy(), big))
    (y * lfs.tensor(g, dtype=F64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _np_sum_to(g, shape), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=4), data=st.data())
def test_reshape_round_trip_and_gradient(shape, data):
    n = int(np.prod(shape))
    a = np.arange(n, dtype=F64).reshape(shape)
    target = data.draw(st.sampled_from([(n,), (1, n), (n, 1)] + ([(-1, shape[-1])] if shape else [])))
    x = lfs.tensor(a, dtype=F64, requires_grad=True)
    y = x.reshape(target)
    np.testing.assert_array_equal(y.numpy(), a.reshape(target))
    w = _array(y.shape, n)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.reshape(shape))


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data())
def test_permute_matches_numpy_and_gradient_is_the_inverse_permutation(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    a = _array(shape, len(shape))
    x = lfs.tensor(a, dtype=F64, requires_grad=True)
    y = x.permute(*perm)
    np.testing.assert_array_equal(y.numpy(), a.transpose(perm))
    w = _array(y.shape, 3)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.transpose(np.argsort(perm)))


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), data=st.data())
def test_split_then_concat_is_identity_and_chunk_sizes_follow_torch(shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    chunks = data.draw(st.integers(1, 6))
    a = _array(shape, n)
    x = lfs.tensor(a, dtype=F64, requires_grad=True)
    pieces = lfs.chunk(x, chunks, axis=axis)
    size = -(-n // chunks)
    assert [p.shape[axis] for p in pieces] == [min(size, n - s) for s in range(0, n, size)]
    back = lfs.concat(list(pieces), axis=axis)
    np.testing.assert_array_equal(back.numpy(), a)
    w = _array(shape, n + 1)
    (back * lfs.tensor(w, dtype=F64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
       count=st.integers(1, 4), data=st.data())
def test_stack_matches_numpy_and_unstacks_gradients(shape, count, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = [_array(shape, k) for k in range(count)]
    xs = [lfs.tensor(a, dtype=F64, requires_grad=True) for a in arrays]
    y = lfs.stack(xs, axis=axis)
    expected = np.stack(arrays, axis=axis)
    np.testing.assert_array_equal(y.numpy(), expected)
    w = _array(expected.shape, 9)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    for k, x in enumerate(xs):
        np.testing.assert_array_equal(x.grad.numpy(), np.take(w, k, axis=axis))


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), data=st.data())
def test_basic_indexing_gradient_is_the_adjoint(shape, data):
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    a = _array(shape, 1)
    x = lfs.tensor(a, dtype=F64, requires_grad=True)
    y = x[index]
    expected = a[index]
    np.testing.assert_array_equal(y.numpy(), expected)
    w = _array(np.shape(expected), 2)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    ref = np.zeros(shape)
    ref[index] += w
    np.testing.assert_array_equal(x.grad.numpy(), ref)


@SETTINGS
@given(n=st.integers(1, 6), idx=st.lists(st.integers(-6, 5), min_size=1, max_size=10))
def test_integer_array_indexing_adds_repeated_indices(n, idx):
    idx = [i % n for i in idx]
    a = _array((n, 2), n)
    x = lfs.tensor(a, dtype=F64, requires_grad=True)
    y = x[idx]
    np.testing.assert_array_equal(y.numpy(), a[idx])
    w = _array((len(idx), 2), 5)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    ref = np.zeros((n, 2))
    np.add.at(ref, idx, w)
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-14)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(),
       keepdims=st.booleans())
def test_reductions_match_numpy(shape, data, keepdims):
    axes = data.draw(st.none() | st.lists(st.integers(0, len(shape) - 1), min_size=1,
                                          max_size=len(shape), unique=True).map(tuple))
    a = _array(shape, 4)
    x = lfs.tensor(a, dtype=F64)
    for ours, ref in ((lfs.sum, np.sum), (lfs.mean, np.mean), (lfs.amax, np.max),
                      (lfs.amin, np.min)):
        got = ours(x, axis=axes, keepdims=keepdims)
        expected = ref(a, axis=axes, keepdims=keepdims)
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-13)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       x=small_floats, seed=st.integers(0, 1000))
def test_python_scalars_never_promote_float32(shapes, x, seed):
    sa, _ = shapes.input_shapes
    t = lfs.tensor(_array(sa, seed), dtype=np.float32, requires_grad=True)
    for y in (t + x, x - t, t * x, (t * t + 1.0) / (abs(x) + 1.0), t ** 2.0, lfs.maximum(t, x)):
        assert y.dtype == np.float32
    ((t * x + 1.0) ** 2).sum().backward()
    assert t.grad.dtype == np.float32


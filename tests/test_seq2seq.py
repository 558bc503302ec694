"""The encoder-decoder (lfs.nn.Seq2Seq) and its searches (lfs.nn.greedy_search, beam_search):
float64 gradcheck, parity with the same model written in torch ops (loss and every gradient),
padding, decoding consistency, beam search against greedy and against exhaustive search."""
import itertools

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.nn import Seq2Seq, beam_search, greedy_search

F64 = np.float64
ATTENTIONS = [None, "additive", "dot", "general"]
SRC_V, TGT_V = 7, 6

# sources of lengths 4, 2 and 3 (0 = <pad>), targets <bos> ... / ... <eos>
SRC = np.array([[3, 4, 5, 6], [6, 3, 0, 0], [4, 4, 5, 0]])
TGT_IN = np.array([[1, 3, 4, 5], [1, 5, 0, 0], [1, 4, 4, 0]])
TGT_OUT = np.array([[3, 4, 5, 2], [5, 2, 0, 0], [4, 4, 2, 0]])


def _model(attention, E=3, H=4, seed=0, dtype=F64, device=None):
    lfs.manual_seed(seed)
    return Seq2Seq(SRC_V, TGT_V, E, H, attention=attention, attention_size=3, dtype=dtype,
                   device=device)


def _loss(model, src=SRC, tgt_in=TGT_IN, tgt_out=TGT_OUT):
    logits = model(src, tgt_in)
    return lfs.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           tgt_out.reshape(-1), ignore_index=0)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_gradcheck_every_parameter(attention, device):
    model = _model(attention, E=2, H=3, device=device)       # small: ~300 parameters
    params = list(model.parameters())
    assert lfs.gradcheck(lambda *ps: _loss(model), params, atol=1e-7, rtol=1e-6)


def _torch_model(torch, model, src, tgt_in):
    """The same encoder-decoder in torch ops, with the model's weights."""
    P = {n: torch.tensor(p.numpy(), requires_grad=True) for n, p in model.named_parameters()}
    tF = torch.nn.functional
    mask = torch.tensor(src != 0)

    def cell(prefix, x, h, c):
        gates = (x @ P[prefix + ".weight_ih"].T + P[prefix + ".bias_ih"]
                 + h @ P[prefix + ".weight_hh"].T + P[prefix + ".bias_hh"])
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    B, S = src.shape
    H = model.hidden_size
    x = tF.embedding(torch.tensor(src), P["src_embed.weight"], padding_idx=0)
    h = c = torch.zeros(B, H, dtype=torch.float64)
    outs = []
    for t in range(S):
        h_new, c_new = cell("encoder", x[:, t], h, c)
        keep = mask[:, t:t + 1]
        h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
        outs.append(h)
    memory = torch.stack(outs, dim=1)
    feed = torch.zeros(B, H, dtype=torch.float64)
    logits = []
    for t in range(tgt_in.shape[1]):
        emb = tF.embedding(torch.tensor(tgt_in[:, t]), P["tgt_embed.weight"], padding_idx=0)
        if model.attention_type is None:
            h, c = cell("decoder", emb, h, c)
            logits.append(h @ P["out.weight"].T + P["out.bias"])
            continue
        h, c = cell("decoder", torch.cat([emb, feed], dim=-1), h, c)
        if model.attention_type == "additive":
            hidden = torch.tanh((h @ P["attention.query_proj.weight"].T)[:, None]
                                + memory @ P["attention.key_proj.weight"].T)
            scores = hidden @ P["attention.v"]
        else:
            q = h @ P["attention.weight"] if model.attention_type == "general" else h
            scores = (memory @ q[:, :, None])[:, :, 0]
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        context = (weights[:, None, :] @ memory)[:, 0]
        feed = torch.tanh(torch.cat([context, h], dim=-1) @ P["combine.weight"].T)
        logits.append(feed @ P["out.weight"].T + P["out.bias"])
    return torch.stack(logits, dim=1), P


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_matches_the_same_model_in_torch(attention):
    torch = pytest.importorskip("torch")
    model = _model(attention, E=4, H=5, seed=1)
    logits = model(SRC, TGT_IN)
    loss = lfs.nn.functional.cross_entropy(logits.reshape(-1, TGT_V), TGT_OUT.reshape(-1),
                                           ignore_index=0)
    loss.backward()
    logits_t, P = _torch_model(torch, model, SRC, TGT_IN)
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, TGT_V),
                                               torch.tensor(TGT_OUT.reshape(-1)),
                                               ignore_index=0)
    loss_t.backward()
    np.testing.assert_allclose(logits.numpy(), logits_t.detach().numpy(), rtol=1e-12,
                               atol=1e-13)
    assert abs(loss.item() - loss_t.item()) < 1e-12
    names = [n for n, _ in model.named_parameters()]
    assert set(names) == set(P)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), P[name].grad.numpy(), rtol=1e-10,
                                   atol=1e-13, err_msg=name)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_padding_changes_nothing(attention):
    """A padded row gives the logits, final state and attention of the row on its own."""
    model = _model(attention, seed=2)
    logits, weights = model(SRC, TGT_IN, return_attention=True)
    memory, (h, c), mask = model.encode(SRC)
    for row, n in ((1, 2), (2, 3)):
        alone, w_alone = model(SRC[row:row + 1, :n], TGT_IN[row:row + 1],
                               return_attention=True)
        np.testing.assert_allclose(logits.numpy()[row], alone.numpy()[0], rtol=1e-12,
                                   atol=1e-14)
        _, (h1, c1), _ = model.encode(SRC[row:row + 1, :n])
        np.testing.assert_allclose(h.numpy()[row], h1.numpy()[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(c.numpy()[row], c1.numpy()[0], rtol=1e-13, atol=1e-15)
        if attention:
            assert (weights.numpy()[row, :, n:] == 0).all()
            np.testing.assert_allclose(weights.numpy()[row, :, :n], w_alone.numpy()[0],
                                       rtol=1e-12, atol=1e-14)
    assert weights is None if attention is None else weights.shape == (3, 4, 4)
    np.testing.assert_array_equal(mask, SRC != 0)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_greedy_decode_is_consistent_with_teacher_forcing(attention):
    """Feeding the greedy output back under teacher forcing reproduces its tokens and score."""
    model = _model(attention, seed=3)
    res = model.greedy_decode(SRC, max_len=5)
    assert res.tokens.shape[0] == 3 and res.tokens.shape[1] <= 5
    tgt_in = np.concatenate([np.ones((3, 1), dtype=np.int64), res.tokens[:, :-1]], axis=1)
    log_p = lfs.log_softmax(model(SRC, tgt_in), dim=-1).numpy()
    for b in range(3):
        L = res.lengths[b]
        np.testing.assert_array_equal(log_p[b, :L].argmax(axis=-1), res.tokens[b, :L])
        assert abs(log_p[b, np.arange(L), res.tokens[b, :L]].sum() - res.scores[b]) < 1e-12
        assert (res.tokens[b, L:] == 0).all()
        if L < res.tokens.shape[1] or res.tokens[b, L - 1] == 2:
            assert res.tokens[b, L - 1] == 2            # stopped at <eos>
    if attention:
        assert res.extras.shape == res.tokens.shape + (4,)
        np.testing.assert_allclose(res.extras[np.arange(3), 0].sum(axis=-1), 1.0, rtol=1e-12)
    else:
        assert res.extras is None


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_size_one_is_greedy(attention):
    model = _model(attention, seed=4)
    src = np.random.default_rng(0).integers(3, SRC_V, size=(6, 5))
    greedy = model.greedy_decode(src, max_len=7)
    beam = model.beam_decode(src, max_len=7, beam_size=1)
    np.testing.assert_array_equal(beam.tokens, greedy.tokens)
    np.testing.assert_array_equal(beam.lengths, greedy.lengths)
    np.testing.assert_allclose(beam.scores, greedy.scores, rtol=1e-14)
    if attention:
        np.testing.assert_allclose(beam.extras, greedy.extras, rtol=1e-14)


def _markov_step(table):
    """A step function whose next-token log-probabilities depend on the previous token only:
    table[prev] is a row of probabilities over the vocabulary."""
    log_table = np.log(np.asarray(table, dtype=np.float64))

    def step(prev, state):
        return lfs.tensor(log_table[prev]), state, None
    return step


PAD, BOS, EOS, A_, B_ = 0, 1, 2, 3, 4


def test_beam_finds_a_better_sequence_than_greedy():
    """Greedy takes the likelier first token "a", after which every continuation is
    unlikely; the beam keeps "b", which ends with <eos> at once, with a higher score."""
    table = np.zeros((5, 5))
    table[BOS] = [0, 0, 0, 0.6, 0.4]            # a is likelier than b at first ...
    table[A_] = [0, 0, 0.3, 0.35, 0.35]         # ... but after a everything is a coin toss
    table[B_] = [0, 0, 0.9, 0.05, 0.05]         # after b, <eos> is almost certain
    state = (lfs.zeros(1, 1),)
    with np.errstate(divide="ignore"):
        step = _markov_step(table)
        g = greedy_search(step, state, 1, BOS, EOS, max_len=6)
        b = beam_search(step, (lfs.zeros(2, 1),), 1, BOS, EOS, max_len=6, beam_size=2)
        b0 = beam_search(step, (lfs.zeros(2, 1),), 1, BOS, EOS, max_len=6, beam_size=2,
                         length_penalty=0.0)
    assert g.tokens[0].tolist() == [A_] * 6 and g.lengths[0] == 6          # never ends
    assert b.tokens[0].tolist()[:2] == [B_, EOS] and b.lengths[0] == 2
    np.testing.assert_allclose(b.scores[0], np.log(0.4 * 0.9), rtol=1e-14)
    np.testing.assert_allclose(g.scores[0], np.log(0.6 * 0.35 ** 5), rtol=1e-14)
    assert b.scores[0] > g.scores[0] and b.normalized_scores[0] > g.normalized_scores[0]
    assert b0.tokens[0].tolist()[:2] == [B_, EOS]
    with np.errstate(divide="ignore"):       # a and b tie after a: both pick the lower id
        b1 = beam_search(step, state, 1, BOS, EOS, max_len=6, beam_size=1)
    np.testing.assert_array_equal(b1.tokens, g.tokens)


def test_length_normalisation_ranks_hypotheses_during_the_search():
    """With two beams, ranking by raw sums keeps the finished one-token output [<eos>] and
    prunes [a, c], whose continuation [a, c, <eos>] has the best mean log-probability; ranking
    by mean log-probability (length_penalty=1) keeps it and finds it."""
    C_, D_ = 5, 6
    table = np.zeros((7, 7))
    table[BOS, [EOS, A_]] = [0.4, 0.6]
    table[A_, [B_, C_]] = [0.51, 0.49]
    table[B_, [EOS, D_]] = [0.5, 0.5]
    table[C_, EOS] = table[D_, EOS] = 1.0
    with np.errstate(divide="ignore"):
        step = _markov_step(table)
        run = {lp: beam_search(step, (lfs.zeros(2, 1),), 1, BOS, EOS, max_len=5, beam_size=2,
                               length_penalty=lp) for lp in (0.0, 1.0)}
    assert run[1.0].tokens[0, :3].tolist() == [A_, C_, EOS]
    np.testing.assert_allclose(run[1.0].normalized_scores[0], np.log(0.6 * 0.49) / 3,
                               rtol=1e-14)
    assert run[0.0].tokens[0, :1].tolist() == [EOS] and run[0.0].lengths[0] == 1


@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.0])
def test_a_beam_wider_than_all_hypotheses_is_exact(length_penalty):
    """With room for every hypothesis, beam search returns the best one by its normalised
    score, found here by enumerating all of them."""
    rng = np.random.default_rng(5)
    table = rng.dirichlet(np.ones(3), size=5)   # over <eos>, a, b; never <pad> or <bos>
    table = np.concatenate([np.zeros((5, 2)), table], axis=1)
    L = 4
    best, best_seq = -np.inf, None
    for n in range(1, L + 1):
        for body in itertools.product([A_, B_, EOS], repeat=n):
            if EOS in body[:-1] or (n < L and body[-1] != EOS):
                continue                        # <eos> only at the end; no eos: full length
            prev, score = BOS, 0.0
            for tok in body:
                score += np.log(table[prev, tok])
                prev = tok
            norm = score / n ** length_penalty
            if norm > best:
                best, best_seq = norm, list(body)
    K = 3 ** L
    with np.errstate(divide="ignore"):
        res = beam_search(_markov_step(table), (lfs.zeros(K, 1),), 1, BOS, EOS, max_len=L,
                          beam_size=K, length_penalty=length_penalty)
    assert res.tokens[0, :res.lengths[0]].tolist() == best_seq
    np.testing.assert_allclose(res.normalized_scores[0], best, rtol=1e-12)


def test_beam_decode_batches_independent_sources():
    """Each source's result does not depend on the other sources in the batch."""
    model = _model("general", seed=6)
    src = np.random.default_rng(1).integers(3, SRC_V, size=(4, 5))
    src[1, 3:] = 0
    together = model.beam_decode(src, max_len=6, beam_size=3, length_penalty=0.7)
    for b in range(4):
        n = int((src[b] != 0).sum())
        alone = model.beam_decode(src[b:b + 1, :n], max_len=6, beam_size=3,
                                  length_penalty=0.7)
        L = alone.lengths[0]
        assert together.lengths[b] == L
        np.testing.assert_array_equal(together.tokens[b, :L], alone.tokens[0, :L])
        np.testing.assert_allclose(together.scores[b], alone.scores[0], rtol=1e-12)
        np.testing.assert_allclose(together.extras[b, :L, :n], alone.extras[0, :L],
                                   rtol=1e-11, atol=1e-14)


def test_float32_model_and_state_dict_round_trip():
    lfs.manual_seed(0)
    model = Seq2Seq(SRC_V, TGT_V, 3, 4, attention="additive")
    assert model(SRC, TGT_IN).dtype == np.float32
    lfs.manual_seed(1)
    other = Seq2Seq(SRC_V, TGT_V, 3, 4, attention="additive")
    other.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(other(SRC, TGT_IN).numpy(), model(SRC, TGT_IN).numpy())
    assert "attention='additive'" in repr(model)


def test_fused_cells_give_the_same_model():
    for attention in ("general", None):
        slow = _model(attention, seed=7)
        fast_model = Seq2Seq(SRC_V, TGT_V, 3, 4, attention=attention, attention_size=3,
                             dtype=F64, fused=True)
        fast_model.load_state_dict(slow.state_dict())
        np.testing.assert_allclose(fast_model(SRC, TGT_IN).numpy(), slow(SRC, TGT_IN).numpy(),
                                   rtol=1e-12, atol=1e-14)


def test_errors_name_the_argument():
    model = _model("dot")
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(5, 5, 3, 4, attention="concat")
    with pytest.raises(TypeError, match="src must be an integer array"):
        model(SRC.astype(np.float64), TGT_IN)
    with pytest.raises(ValueError, match=r"src must have shape \(B, L\)"):
        model(SRC[0], TGT_IN)
    with pytest.raises(ValueError, match=r"source row\(s\) \[1\] contain only padding"):
        model(np.array([[3, 4], [0, 0]]), TGT_IN[:2])
    with pytest.raises(ValueError, match="src has 3 rows but tgt_in has 2"):
        model(SRC, TGT_IN[:2])
    with pytest.raises(ValueError, match="beam_size must be at least 1"):
        model.beam_decode(SRC, max_len=3, beam_size=0)
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        model.greedy_decode(SRC, max_len=0)

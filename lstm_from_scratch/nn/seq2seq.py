"""An encoder-decoder LSTM (Sutskever et al. 2014; Cho et al. 2014), with or without
attention (Bahdanau et al. 2015; Luong et al. 2015).

The encoder reads the source one token at a time; the decoder writes the target one token at
a time, starting from the encoder's final state. Without attention, that final state (h, c)
is all the decoder ever learns about the source: a fixed-size summary of a source of any
length. With attention, the decoder also looks back at every encoder state at every step.

One decoder serves every variant, so that a comparison changes the attention and nothing else
(Luong et al.'s decoder, with input feeding)::

    x_t        = [embed(y_{t-1}); h~_{t-1}]             (h~_0 = 0; plain: embed(y_{t-1}))
    h_t, c_t   = LSTMCell(x_t, (h_{t-1}, c_{t-1}))      ((h_0, c_0): the encoder's final state)
    ctx_t, a_t = attention(h_t, keys = values = encoder states, mask = source padding)
    h~_t       = tanh(W_c [ctx_t; h_t])                 (plain: h~_t = h_t)
    logits_t   = W_out h~_t + b_out

Training uses teacher forcing: y_{t-1} is the true previous token (``forward``). Decoding
feeds back the model's own tokens (``greedy_decode``, ``beam_decode``).

Padding: ids equal to ``padding_idx`` are padding. The encoder keeps its state unchanged at
padded positions (what PyTorch's packed sequences do), so the final state is the state after
each source's own last token, and attention gives padded positions exactly zero weight.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..functional import concat, log_softmax, stack, tanh, where, zeros
from .attention import AdditiveAttention, MultiplicativeAttention
from .decoding import beam_search, greedy_search
from .layers import Embedding, Linear
from .module import Module
from .rnn import LSTMCell

__all__ = ["Seq2Seq"]

ATTENTIONS = (None, "additive", "dot", "general")


def _ids(name, what, ids):
    """Integer ids (B, L) as a NumPy int64 array (on the host: masks are computed there)."""
    arr = ids.data if isinstance(ids, Tensor) else ids
    if not hasattr(arr, "dtype") or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: {what} must be an integer array or Tensor of token ids, got "
                        f"{getattr(arr, 'dtype', type(ids).__name__)}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: {what} must have shape (B, L) (batch first), got "
                         f"{tuple(arr.shape)}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: {what} is empty (shape {tuple(arr.shape)})")
    return backend.to_numpy(arr).astype(np.int64)


class Seq2Seq(Module):
    """An LSTM encoder-decoder for token sequences, with optional attention.

    Args:
        src_vocab_size, tgt_vocab_size: sizes of the two vocabularies.
        embedding_dim (E): size of the token embeddings (both sides).
        hidden_size (H): size of the encoder's and the decoder's LSTM states.
        attention: None (the plain encoder-decoder), ``"additive"`` (Bahdanau et al.),
            ``"dot"`` or ``"general"`` (Luong et al.).
        attention_size: the hidden size A of additive attention (default H).
        padding_idx, bos_idx, eos_idx: ids of ``<pad>``, ``<bos>`` and ``<eos>`` (the same
            in both vocabularies; defaults 0, 1, 2 as ``lfs.data.TokenVocab``).
        fused: run both LSTM cells through the fused kernel (the same model, faster).
    Submodules: ``src_embed``, ``encoder`` (LSTMCell(E, H)), ``tgt_embed``, ``decoder``
    (LSTMCell(E + H, H) with attention (input feeding), LSTMCell(E, H) without),
    ``attention`` and ``combine`` (Linear(2H, H), W_c) with attention, and ``out``
    (Linear(H, tgt_vocab_size)).

    ``forward(src, tgt_in) -> logits``: src (B, S) and tgt_in (B, T) int ids, batch first;
    logits (B, T, tgt_vocab_size), the prediction of ``tgt_out`` under teacher forcing.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int,
                 hidden_size: int, attention: str | None = None, attention_size=None,
                 padding_idx: int = 0, bos_idx: int = 1, eos_idx: int = 2,
                 fused: bool = False, device=None, dtype=None):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"Seq2Seq: attention must be one of {ATTENTIONS}, got "
                             f"{attention!r}")
        E, H = int(embedding_dim), int(hidden_size)
        self.src_vocab_size, self.tgt_vocab_size = int(src_vocab_size), int(tgt_vocab_size)
        self.embedding_dim, self.hidden_size = E, H
        self.attention_type = attention
        self.padding_idx, self.bos_idx, self.eos_idx = int(padding_idx), int(bos_idx), \
            int(eos_idx)
        kw = dict(device=device, dtype=dtype)
        self.src_embed = Embedding(self.src_vocab_size, E, padding_idx=padding_idx, **kw)
        self.encoder = LSTMCell(E, H, fused=fused, **kw)
        self.tgt_embed = Embedding(self.tgt_vocab_size, E, padding_idx=padding_idx, **kw)
        self.decoder = LSTMCell(E + (H if attention else 0), H, fused=fused, **kw)
        if attention == "additive":
            self.attention = AdditiveAttention(H, H, attention_size or H, **kw)
        elif attention in ("dot", "general"):
            self.attention = MultiplicativeAttention(H, H, score=attention, **kw)
        if attention:
            self.combine = Linear(2 * H, H, bias=False, **kw)
        self.out = Linear(H, self.tgt_vocab_size, **kw)

    # -- the encoder ---------------------------------------------------------------------
    def encode(self, src):
        """Run the encoder over ``src`` (B, S) ids.

        Returns ``memory`` (B, S, H), the encoder state after every position (kept unchanged
        past each source's end), ``(h, c)`` each (B, H), the state after each source's last
        real token, and ``mask`` (B, S) NumPy bool, True at real tokens.
        """
        host = _ids("Seq2Seq", "src", src)
        mask = host != self.padding_idx
        if not mask.any(axis=1).all():
            rows = [int(r) for r in (~mask.any(axis=1)).nonzero()[0][:5]]
            raise ValueError(f"Seq2Seq: source row(s) {rows} contain only padding")
        x = self.src_embed(host)                                     # (B, S, E)
        B, S = host.shape
        dev, dt = self.out.weight.device, self.out.weight.dtype
        h = zeros(B, self.hidden_size, dtype=dt, device=dev)
        c = zeros(B, self.hidden_size, dtype=dt, device=dev)
        keep = backend.xp_for(dev).asarray(mask)[:, :, None]         # (B, S, 1)
        outs = []
        for t in range(S):
            h_new, c_new = self.encoder(x[:, t], (h, c))
            if mask[:, t].all():
                h, c = h_new, c_new
            else:                       # a padded position: the state passes through
                h, c = where(keep[:, t], h_new, h), where(keep[:, t], c_new, c)
            outs.append(h)
        return stack(outs, axis=1), (h, c), mask

    # -- one decoder step ----------------------------------------------------------------
    def initial_state(self, encoded):
        """The decoder's state before the first step: ``(h, c, h~)`` with (h, c) the
        encoder's final state and h~ = 0 (only used with attention)."""
        _, (h, c), _ = encoded
        feed = zeros(h.shape[0], self.hidden_size, dtype=h.dtype, device=h.device)
        return (h, c, feed)

    def decode_step(self, prev, state, memory, mask, projected_keys=None):
        """One decoder step.

        prev: (N,) int ids of the previous tokens; state: ``(h, c, h~)`` each (N, H);
        memory: (N, S, H) encoder states; mask: (N, S) bool. Returns ``logits`` (N, V), the
        new state and the attention weights (N, S) (None without attention).
        """
        emb = self.tgt_embed(prev)
        h, c, feed = state
        if self.attention_type is None:
            h, c = self.decoder(emb, (h, c))
            return self.out(h), (h, c, feed), None
        h, c = self.decoder(concat([emb, feed], axis=-1), (h, c))
        context, weights = self.attention(h, memory, memory, mask, projected_keys=projected_keys)
        feed = tanh(self.combine(concat([context, h], axis=-1)))
        return self.out(feed), (h, c, feed), weights

    # -- training: teacher forcing -------------------------------------------------------
    def forward(self, src, tgt_in, return_attention: bool = False):
        """Logits (B, T, V) for every target position, given the true previous tokens.

        src: (B, S) ids; tgt_in: (B, T) ids, ``<bos>`` then the target (teacher forcing).
        With ``return_attention=True`` also the weights (B, T, S) (None without attention).
        """
        encoded = self.encode(src)
        memory, _, mask = encoded
        tgt = _ids("Seq2Seq", "tgt_in", tgt_in)
        if tgt.shape[0] != mask.shape[0]:
            raise ValueError(f"Seq2Seq: src has {mask.shape[0]} rows but tgt_in has "
                             f"{tgt.shape[0]}")
        pk = self.attention.project_keys(memory) if self.attention_type else None
        state = self.initial_state(encoded)
        logits, weights = [], []
        for t in range(tgt.shape[1]):
            step_logits, state, w = self.decode_step(tgt[:, t], state, memory, mask, pk)
            logits.append(step_logits)
            weights.append(w)
        logits = stack(logits, axis=1)
        if not return_attention:
            return logits
        return logits, (stack(weights, axis=1) if self.attention_type else None)

    # -- decoding ------------------------------------------------------------------------
    def _step_fn(self, memory, mask):
        pk = self.attention.project_keys(memory) if self.attention_type else None

        def step(prev, state):
            logits, state, weights = self.decode_step(prev, state, memory, mask, pk)
            return log_softmax(logits, dim=-1), state, weights
        return step

    def greedy_decode(self, src, max_len: int):
        """Greedy decoding of ``src`` (B, S): a :class:`~lstm_from_scratch.nn.decoding.
        DecodeResult` with tokens (B, L), scores, and attention weights (B, L, S)."""
        encoded = self.encode(src)
        memory, _, mask = encoded
        return greedy_search(self._step_fn(memory, mask), self.initial_state(encoded),
                             mask.shape[0], self.bos_idx, self.eos_idx, max_len,
                             pad=self.padding_idx)

    def beam_decode(self, src, max_len: int, beam_size: int = 4, length_penalty: float = 1.0):
        """Beam search over ``src`` (B, S) (see ``nn.decoding.beam_search``): the best
        hypothesis per source, by ``score / length ** length_penalty``."""
        encoded = self.encode(src)
        memory, _, mask = encoded
        K = int(beam_size)
        rows = np.repeat(np.arange(mask.shape[0]), K)     # the beams of source b: rows bK..
        state = tuple(s[rows] for s in self.initial_state(encoded))
        return beam_search(self._step_fn(memory[rows], mask[rows]), state, mask.shape[0],
                           self.bos_idx, self.eos_idx, max_len, beam_size=K,
                           length_penalty=length_penalty, pad=self.padding_idx)

    def extra_repr(self):
        return f"attention={self.attention_type!r}"

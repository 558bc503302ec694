"""Data for the book's experiments, as NumPy arrays, deterministic given a seed.

* :mod:`.synthetic` - the adding problem and the copy task (long-range memory benchmarks);
* :mod:`.text` - a character vocabulary, text from the standard library, batches for
  truncated backpropagation through time;
* :mod:`.timeseries` - sliding windows, chronological splits, scaling fitted on train only;
* :mod:`.batching` - shuffled minibatches, padding of variable-length sequences;
* :mod:`.seq2seq` - a translation-like task (number words -> digits) with fixed splits, and
  a token vocabulary with ``<pad>``, ``<bos>``, ``<eos>``.

Nothing here creates Tensors: convert at the call site with ``lfs.tensor(x)`` or
:func:`to_tensors`, so the same arrays serve NumPy baselines and PyTorch comparisons.
"""
from .batching import DataLoader, iterate_minibatches, one_hot, pad_sequences, to_tensors
from .seq2seq import (Seq2SeqData, Seq2SeqSplit, TokenVocab, number_to_words, number_words,
                      tokenize_number_words)
from .synthetic import adding_problem, copy_task
from .text import CharVocab, batchify, bptt_batches, stdlib_text, tbptt_batches
from .timeseries import StandardScaler, chronological_split, make_windows, sliding_windows

__all__ = ["CharVocab", "DataLoader", "StandardScaler", "adding_problem", "batchify",
           "bptt_batches", "chronological_split", "copy_task", "iterate_minibatches",
           "make_windows", "number_to_words", "number_words", "one_hot", "pad_sequences",
           "Seq2SeqData", "Seq2SeqSplit", "sliding_windows", "stdlib_text", "tbptt_batches",
           "to_tensors", "tokenize_number_words", "TokenVocab"]

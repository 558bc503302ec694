"""Data for the book's experiments, as NumPy arrays, deterministic given a seed.

* :mod:`.synthetic` - the adding problem, the copy task and the temporal-order task (long-range
  memory benchmarks);
* :mod:`.text` - a character vocabulary, text from the standard library, batches for
  truncated backpropagation through time;
* :mod:`.corpus` - the English text of chapter 7 (Python's help topics), split by position
  into training, validation and test parts, with a vocabulary from the training part;
* :mod:`.timeseries` - sliding windows, chronological splits, scaling fitted on train only;
* :mod:`.batching` - shuffled minibatches, padding of variable-length sequences;
* :mod:`.series` - real time series shipped by statsmodels (sunspots, CO2, El Nino);
* :mod:`.uea` - labelled sequences of the UEA archive shipped inside sktime (Japanese Vowels).
* :mod:`.seq2seq` - a translation-like task (number words -> digits) with fixed splits, and
  a token vocabulary with ``<pad>``, ``<bos>``, ``<eos>``.

Nothing here creates Tensors: convert at the call site with ``lfs.tensor(x)`` or
:func:`to_tensors`, so the same arrays serve NumPy baselines and PyTorch comparisons.
"""
from . import series, uea
from .batching import DataLoader, iterate_minibatches, one_hot, pad_sequences, to_tensors
from .seq2seq import (Seq2SeqData, Seq2SeqSplit, TokenVocab, number_to_words, number_words,
                      tokenize_number_words)
from .corpus import CharCorpus, char_corpus, corpus_info, pydoc_text, split_by_position
from .synthetic import TEMPORAL_ORDER_TOKENS, adding_problem, copy_task, temporal_order
from .text import CharVocab, batchify, bptt_batches, stdlib_text, tbptt_batches
from .timeseries import StandardScaler, chronological_split, make_windows, sliding_windows

__all__ = ["CharCorpus", "CharVocab", "DataLoader", "StandardScaler", "TEMPORAL_ORDER_TOKENS",
           "adding_problem", "batchify", "bptt_batches", "char_corpus", "chronological_split",
           "copy_task", "corpus_info", "number_to_words", "number_words", "Seq2SeqData",
           "Seq2SeqSplit", "TokenVocab", "tokenize_number_words", "iterate_minibatches", "make_windows", "one_hot",
           "pad_sequences", "pydoc_text", "sliding_windows", "split_by_position", "stdlib_text",
           "tbptt_batches", "temporal_order", "to_tensors"]

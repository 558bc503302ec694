"""Data for the book's experiments, as NumPy arrays, deterministic given a seed.

* :mod:`.synthetic` - the adding problem and the copy task (long-range memory benchmarks);
* :mod:`.text` - a character vocabulary, text from the standard library, batches for
  truncated backpropagation through time;
* :mod:`.timeseries` - sliding windows, chronological splits, scaling fitted on train only;
* :mod:`.batching` - shuffled minibatches, padding of variable-length sequences;
* :mod:`.series` - real time series shipped by statsmodels (sunspots, CO2, El Nino);
* :mod:`.uea` - labelled sequences of the UEA archive shipped inside sktime (Japanese Vowels).

Nothing here creates Tensors: convert at the call site with ``lfs.tensor(x)`` or
:func:`to_tensors`, so the same arrays serve NumPy baselines and PyTorch comparisons.
"""
from . import series, uea
from .batching import DataLoader, iterate_minibatches, one_hot, pad_sequences, to_tensors
from .synthetic import adding_problem, copy_task
from .text import CharVocab, batchify, bptt_batches, stdlib_text, tbptt_batches
from .timeseries import StandardScaler, chronological_split, make_windows, sliding_windows

__all__ = ["CharVocab", "DataLoader", "StandardScaler", "adding_problem", "batchify",
           "bptt_batches", "chronological_split", "copy_task", "iterate_minibatches",
           "make_windows", "one_hot", "pad_sequences", "sliding_windows", "stdlib_text",
           "tbptt_batches",
           "to_tensors"]

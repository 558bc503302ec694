"""Character-level language modelling (chapter 7): the model, sampling, evaluation and the
baselines it is measured against.

* :mod:`.model` - ``CharLM`` (embedding -> stacked LSTM/GRU/RNN -> linear head),
  ``count_parameters``, ``hidden_size_for_budget``;
* :mod:`.sampling` - ``generate`` with temperature, top-k and nucleus sampling;
* :mod:`.metrics` - ``bits_per_char``, ``token_log_probs``, ``sequence_log_prob``;
* :mod:`.ngram` - ``KneserNeyLM`` and ``unigram_bits_per_char``, the baselines.
"""
from .metrics import bits_per_char, sequence_log_prob, token_log_probs
from .model import CharLM, count_parameters, hidden_size_for_budget
from .ngram import KneserNeyLM, unigram_bits_per_char
from .sampling import filter_logits, generate, sample_next

__all__ = ["CharLM", "KneserNeyLM", "bits_per_char", "count_parameters", "filter_logits",
           "generate", "hidden_size_for_budget", "sample_next", "sequence_log_prob",
           "token_log_probs", "unigram_bits_per_char"]

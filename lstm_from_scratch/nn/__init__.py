"""``lfs.nn``: Module and Parameter, the layers, the recurrent cells and sequence layers,
initialisation (``lfs.nn.init``) and the functional forms (``lfs.nn.functional``), with
PyTorch's names, shapes and defaults; attention (``AdditiveAttention``,
``MultiplicativeAttention``), the encoder-decoder ``Seq2Seq`` and its searches
(``greedy_search``, ``beam_search``)."""
from . import decoding, functional, init, utils, utils_rnn
from .attention import AdditiveAttention, MultiplicativeAttention
from .decoding import DecodeResult, beam_search, greedy_search
from .layers import Dropout, Embedding, Identity, Linear, ModuleList, Sequential
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, LSTMVariant, RNNCell
from .seq2seq import Seq2Seq

__all__ = ["AdditiveAttention", "BCEWithLogitsLoss", "CrossEntropyLoss", "DecodeResult",
           "Dropout", "Embedding", "GRU", "GRUCell", "Identity", "LSTM", "LSTMCell",
           "LSTMVariant", "Linear", "MSELoss", "Module", "ModuleList",
           "MultiplicativeAttention", "NLLLoss", "Parameter", "RNN", "RNNCell",
           "Seq2Seq", "Sequential", "beam_search", "decoding", "functional",
           "greedy_search", "init", "utils", "utils_rnn"]

"""``lfs.nn``: Module and Parameter, the layers, the recurrent cells and sequence layers,
initialisation (``lfs.nn.init``) and the functional forms (``lfs.nn.functional``), with
PyTorch's names, shapes and defaults."""
from . import functional, init, utils, utils_rnn
from .layers import Dropout, Embedding, Identity, Linear, ModuleList, Sequential
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, LSTMVariant, RNNCell

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss",
           "Dropout", "Embedding", "GRU", "GRUCell", "Identity", "LSTM", "LSTMCell",
           "LSTMVariant", "Linear", "Module", "ModuleList", "Parameter", "RNN", "RNNCell",
           "Sequential", "functional", "init", "utils", "utils_rnn"]

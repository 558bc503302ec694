"""Figures for the book: the shared style and colours, and plotting helpers.

* :mod:`.style` - ``use_book_style()``, one colour per gate (``GATE_COLORS``) and per model
  (``MODEL_COLORS``);
* :mod:`.graph` - the graph the engine recorded (``graph_nodes``, ``draw_graph``);
* :mod:`.diagrams` - the LSTM cell, the cell unrolled over time and its gradient paths
  (``draw_lstm_cell``, ``draw_lstm_chain``).

Each kind of figure lives in a module of its own; this package re-exports the public names.
"""
from .diagrams import CELL_PARTS, draw_lstm_cell, draw_lstm_chain
from .graph import draw_graph, graph_nodes
from .style import DTYPE_COLORS, GATE_COLORS, MODEL_COLORS, use_book_style

__all__ = ["CELL_PARTS", "DTYPE_COLORS", "GATE_COLORS", "MODEL_COLORS", "draw_graph",
           "draw_lstm_cell", "draw_lstm_chain", "graph_nodes", "use_book_style"]

"""Figures for the book: the shared style and colours, and plotting helpers.

* :mod:`.style` - ``use_book_style()``, one colour per gate (``GATE_COLORS``) and per model
  (``MODEL_COLORS``);
* :mod:`.graph` - the graph the engine recorded (``graph_nodes``, ``draw_graph``);
* :mod:`.evaluation` - model comparisons (``plot_by_horizon``, ``plot_confusion_matrix``).

Each kind of figure lives in a module of its own; this package re-exports the public names.
"""
from .evaluation import plot_by_horizon, plot_confusion_matrix
from .graph import draw_graph, graph_nodes
from .style import GATE_COLORS, MODEL_COLORS, use_book_style

__all__ = ["GATE_COLORS", "MODEL_COLORS", "draw_graph", "graph_nodes", "plot_by_horizon",
           "plot_confusion_matrix", "use_book_style"]

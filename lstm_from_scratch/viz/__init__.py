"""Figures for the book: the shared style and colours, and plotting helpers.

* :mod:`.style` - ``use_book_style()``, one colour per gate (``GATE_COLORS``) and per model
  (``MODEL_COLORS``);
* :mod:`.graph` - the graph the engine recorded (``graph_nodes``, ``draw_graph``);
* :mod:`.perf` - where a training step's time goes (``plot_breakdown``, ``plot_times``);
* :mod:`.evaluation` - model comparisons (``plot_by_horizon``, ``plot_confusion_matrix``).

Each kind of figure lives in a module of its own; this package re-exports the public names.
"""
from .evaluation import plot_by_horizon, plot_confusion_matrix
from .graph import draw_graph, graph_nodes
from .perf import STAGE_COLORS, plot_breakdown, plot_times
from .style import GATE_COLORS, MODEL_COLORS, use_book_style

__all__ = ["GATE_COLORS", "MODEL_COLORS", "STAGE_COLORS", "draw_graph", "graph_nodes",
           "plot_breakdown", "plot_by_horizon", "plot_confusion_matrix", "plot_times",
           "use_book_style"]

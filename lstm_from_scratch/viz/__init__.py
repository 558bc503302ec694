"""Figures for the book: the shared style and colours, and plotting helpers.

* :mod:`.style` - ``use_book_style()``, one colour per gate (``GATE_COLORS``) and per model
  (``MODEL_COLORS``);
* :mod:`.graph` - the graph the engine recorded (``graph_nodes``, ``draw_graph``);
* :mod:`.experiments` - experiments over seeds: learning curves with a seed band
  (``plot_seed_band``), solve-rate heatmaps (``plot_solve_heatmap``), gradient reach
  (``plot_gradient_reach``).

Each kind of figure lives in a module of its own; this package re-exports the public names.
"""
from .experiments import plot_gradient_reach, plot_seed_band, plot_solve_heatmap, seed_band
from .graph import draw_graph, graph_nodes
from .style import GATE_COLORS, MODEL_COLORS, use_book_style

__all__ = ["GATE_COLORS", "MODEL_COLORS", "draw_graph", "graph_nodes", "plot_gradient_reach",
           "plot_seed_band", "plot_solve_heatmap", "seed_band", "use_book_style"]

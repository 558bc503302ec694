"""Figures for the book: the shared style and colours, and plotting helpers.

* :mod:`.style` - ``use_book_style()``, one colour per gate (``GATE_COLORS``) and per model
  (``MODEL_COLORS``);
* :mod:`.graph` - the graph the engine recorded (``graph_nodes``, ``draw_graph``);
* :mod:`.perf` - where a training step's time goes (``plot_breakdown``, ``plot_times``);
* :mod:`.evaluation` - model comparisons (``plot_by_horizon``, ``plot_confusion_matrix``);
* :mod:`.gates` - an LSTM's gates recorded step by step (``record_lstm``), their saturation
  and heatmaps over a text;
* :mod:`.units` - searching for units that track a feature of the text (quotes, line
  position, brackets), and text coloured by a unit;
* :mod:`.gradreach` - how far back the gradient of one prediction reaches;
* :mod:`.experiments` - experiments over seeds: learning curves with a seed band
  (``plot_seed_band``), solve-rate heatmaps (``plot_solve_heatmap``), gradient reach
  over seeds (``plot_gradient_reach_over_seeds``);
* :mod:`.attention` - attention heatmaps and scores by input length (``attention_heatmap``,
  ``plot_by_length``).

Each kind of figure lives in a module of its own; this package re-exports the public names.
"""
from .attention import attention_heatmap, plot_by_length
from .evaluation import plot_by_horizon, plot_confusion_matrix
from .experiments import (plot_gradient_reach_over_seeds, plot_seed_band, plot_solve_heatmap,
                          seed_band)
from .gates import GATES, plot_gate_heatmaps, plot_saturation, record_lstm, saturation
from .gradreach import gradient_reach, plot_gradient_reach
from .graph import draw_graph, graph_nodes
from .perf import STAGE_COLORS, plot_breakdown, plot_times
from .style import GATE_COLORS, MODEL_COLORS, use_book_style
from .units import plot_unit_text, text_features, top_units, unit_correlations

__all__ = ["attention_heatmap", "draw_graph", "GATE_COLORS", "GATES", "gradient_reach",
           "graph_nodes", "MODEL_COLORS", "plot_breakdown", "plot_by_horizon",
           "plot_by_length", "plot_confusion_matrix", "plot_gate_heatmaps",
           "plot_gradient_reach", "plot_gradient_reach_over_seeds", "plot_saturation",
           "plot_seed_band", "plot_solve_heatmap", "plot_times", "plot_unit_text",
           "record_lstm", "saturation", "seed_band", "STAGE_COLORS", "text_features",
           "top_units", "unit_correlations", "use_book_style"]

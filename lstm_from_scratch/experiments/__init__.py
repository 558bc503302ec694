"""The book's heavy experiments: sweeps over seeds and variants, and long training runs.

Each module here is a script that a chapter cites and anyone can rerun, e.g.::

    python -m lstm_from_scratch.experiments.<name> --out book/data/<name>.json

It writes a small results file (JSON) or checkpoint (``.npz`` through :mod:`lstm_from_scratch.io`)
with its provenance (:func:`provenance`: command, commit, library version, machine, date). The
chapter loads that file, re-runs a small subset live, and asserts that the subset matches the
record; a ``slow``-marked test re-runs a larger one.
"""
from .provenance import built_on_cpu, provenance, read_results, write_results

__all__ = ["built_on_cpu", "provenance", "read_results", "write_results"]

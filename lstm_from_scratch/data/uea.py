"""Labelled sequence data sets of the UEA/UCR archive, read from the copies that sktime (or
aeon) ships inside its wheel, so nothing is downloaded.

* :func:`load_japanese_vowels` - 640 utterances of two Japanese vowels by 9 speakers, each a
  sequence of 7 to 29 frames of 12 LPC cepstrum coefficients (Kudo, Toyama and Shimbo, 1999);
  the task is to name the speaker.
* :func:`read_ts` - the archive's ``.ts`` text format, variable lengths included.

Only the data files are used: sktime is not imported (its import takes seconds), and either
package can provide them. Install one with ``pip install sktime`` (the book's
``requirements.txt`` does).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["dataset_path", "load_japanese_vowels", "read_ts"]

_PROVIDERS = ("sktime", "aeon")


def dataset_path(name: str, split: str) -> Path:
    """The ``.ts`` file of data set ``name`` (e.g. "JapaneseVowels"), split "train" or "test",
    inside an installed sktime or aeon. Raises ``ImportError`` naming what to install."""
    if split not in ("train", "test"):
        raise ValueError(f"dataset_path: split must be 'train' or 'test', got {split!r}")
    tried = []
    for pkg in _PROVIDERS:
        spec = importlib.util.find_spec(pkg)            # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            tried.append(f"{pkg} (not installed)")
            continue
        root = Path(list(spec.submodule_search_locations)[0])
        path = root / "datasets" / "data" / name / f"{name}_{split.upper()}.ts"
        if path.is_file():
            return path
        tried.append(f"{pkg} (has no {path.name})")
    raise ImportError(f"the {name} data set is read from the copy that sktime or aeon ships; "
                      f"install one of them (pip install sktime). Looked in: {', '.join(tried)}")


def read_ts(path):
    """Read a ``.ts`` file of the UEA/UCR archive.

    Returns:
        sequences: a list of (L_i, D) float64 arrays (time along axis 0, D dimensions);
        labels: (N,) array of the class labels as strings;
        classes: the class labels declared in the header, in their order.
    """
    sequences, labels, classes = [], [], None
    in_data = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@classlabel"):
                    parts = line.split()
                    if len(parts) < 2 or parts[1].lower() != "true":
                        raise ValueError(f"read_ts: {path} has no class labels")
                    classes = parts[2:]
                elif low.startswith("@data"):
                    in_data = True
                continue
            *dims, label = line.split(":")
            try:
                channels = [np.array(d.split(","), dtype=np.float64) for d in dims]
            except ValueError as e:
                raise ValueError(f"read_ts: {path}, line {lineno}: {e}") from None
            if len({len(c) for c in channels}) != 1:
                raise ValueError(f"read_ts: {path}, line {lineno}: dimensions of different "
                                 "lengths in one case")
            sequences.append(np.stack(channels, axis=1))
            labels.append(label.strip())
    if classes is None:
        raise ValueError(f"read_ts: {path} has no @classLabel header")
    return sequences, np.array(labels), classes


def load_japanese_vowels(split: str = "train"):
    """The Japanese Vowels speaker-recognition set (UCI; as in the UEA archive).

    The training split has 270 utterances (30 per speaker); the test split 370 (24 to 88 per
    speaker). Each utterance is (L, 12) with L from 7 to 29.

    Returns:
        sequences: a list of (L_i, 12) float64 arrays;
        y: (N,) int64 speaker ids 0..8.
    """
    sequences, labels, classes = read_ts(dataset_path("JapaneseVowels", split))
    index = {c: k for k, c in enumerate(classes)}
    return sequences, np.array([index[c] for c in labels], dtype=np.int64)

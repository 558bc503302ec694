"""The API reference (book/api/*.md) lists every public name of the library, under its public
path (``lstm_from_scratch.nn.LSTM``, not the module it happens to be defined in), so the pages
survive a reorganisation of the modules and a new public name cannot be left out."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "book" / "api"

# package -> names that are documented in prose rather than by autodoc (with the reason)
PROSE = {
    "lstm_from_scratch": {"float16", "float32", "float64", "int32", "int64",  # NumPy's dtypes
                          "backend", "nn", "data", "io", "optim", "train",    # modules: pages
                          "forecast"},                                        # module: a section
    "lstm_from_scratch.nn": {"functional", "init", "utils", "decoding",      # modules: sections
                             "utils_rnn"},
    "lstm_from_scratch.optim": {"lr_scheduler"},                     # module: a section
}
PACKAGES = ["lstm_from_scratch", "lstm_from_scratch.nn", "lstm_from_scratch.nn.utils",
            "lstm_from_scratch.optim", "lstm_from_scratch.optim.lr_scheduler",
            "lstm_from_scratch.nn.utils_rnn", "lstm_from_scratch.forecast",
            "lstm_from_scratch.data", "lstm_from_scratch.train", "lstm_from_scratch.io",
            "lstm_from_scratch.kernels", "lstm_from_scratch.viz",
            "lstm_from_scratch.experiments", "lstm_from_scratch.distributed"]


def _documented() -> set[str]:
    """Fully qualified names that the pages document (auto* directives and py:data)."""
    names = set()
    for page in API.glob("*.md"):
        module = None
        for line in page.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\.\. currentmodule:: (\S+)", line)
            if m:
                module = m.group(1)
            m = re.match(r"\.\. (?:auto(?:function|class|exception|data)|py:data):: (\S+)", line)
            if m:
                names.add(f"{module}.{m.group(1)}")
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_documented(package):
    if package.endswith("distributed"):
        pytest.importorskip("mpi4py")
    mod = importlib.import_module(package)
    documented = _documented()
    missing = [n for n in mod.__all__
               if n not in PROSE.get(package, set()) and f"{package}.{n}" not in documented]
    assert not missing, f"not in book/api: {', '.join(f'{package}.{n}' for n in missing)}"


def test_documented_names_exist_under_their_public_path():
    for name in _documented():
        module, _, attr = name.rpartition(".")
        if module.endswith("distributed"):
            pytest.importorskip("mpi4py")
        assert hasattr(importlib.import_module(module), attr), name


def test_pages_are_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    for page in API.glob("*.md"):
        assert f"book/api/{page.stem}" in toc, page.name

"""docs/equations.md maps every numbered equation of the book to the code that computes it:
every label of the book is in the table, and every dotted name in it exists."""
import importlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
INDEX = (ROOT / "docs" / "equations.md").read_text()


def _resolve(dotted):
    parts = dotted.replace("lfs.", "lstm_from_scratch.", 1).split(".")
    for k in range(len(parts), 0, -1):          # the longest importable module prefix
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for p in parts[k:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(dotted)


def test_every_name_in_the_index_exists():
    names = re.findall(r"`((?:lfs|lstm_from_scratch)\.[A-Za-z0-9_.]+)`", INDEX)
    assert len(names) > 20
    for name in names:
        _resolve(name)


def test_every_numbered_equation_is_in_the_index():
    labels = set()
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                labels |= set(re.findall(r"\$\$ *\((eq-[a-z0-9-]+)\)", "".join(cell["source"])))
    assert labels, "no labelled equations found"
    listed = set(re.findall(r"eq-[a-z0-9-]+", INDEX))
    ranges = {"eq-bptt-c", "eq-bptt-fig", "eq-bptt-delta"}     # "eq-bptt-o ... eq-bptt-hprev"
    missing = labels - listed - ranges
    assert not missing, (f"add a row to docs/equations.md for {sorted(missing)}: the function "
                         "that computes each equation (and name the label in its docstring)")

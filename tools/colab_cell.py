"""Put the Colab set-up cell at the top of chapter notebooks (idempotent).

    python -m tools.colab_cell book/*.ipynb          # insert or update the cell
    python -m tools.colab_cell --check book/*.ipynb  # exit 1 if a notebook lacks it

A notebook opened on Google Colab (the book's launch button) has neither the library nor the
data files of ``book/data``. The cell clones the repository (its URL and branch come from
``_config.yml``, the one place they are written), installs the package from the clone and
changes into its ``book/`` folder; anywhere else it does nothing. It becomes the first code
cell of the notebook (right before the chapter's own first code cell) and carries the tag
``remove-cell``, so the rendered book does not show it. Running the script again replaces an
existing copy (found by its cell id) with the current text and changes nothing else.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "colab-setup"
TAGS = ["remove-cell"]
CLONE = "/content/lstm-from-scratch"


def repository(config_path=ROOT / "_config.yml") -> tuple[str, str]:
    """The repository URL and branch from ``_config.yml`` (``repository: url, branch``)."""
    import yaml

    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def cell_source(url: str, branch: str) -> str:
    """The text of the set-up cell for a repository ``url`` and ``branch``."""
    return f'''\
# On Google Colab, fetch the book's repository and install its library first.
# Anywhere else this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    repo = "{url}"
    branch, clone = "{branch}", "{CLONE}"
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", branch, repo, clone],
                       check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", clone + "[mpi]"],
                       check=True)
    os.chdir(clone + "/book")       # where the chapters find their data files'''


def make_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID,
            "metadata": {"tags": list(TAGS)}, "outputs": [], "source": source.splitlines(True)}


def apply(nb: dict, source: str) -> dict:
    """``nb`` with the set-up cell (``source``) as its first code cell; other cells untouched."""
    cells = [c for c in nb["cells"] if c.get("id") != CELL_ID]
    first_code = next((k for k, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    old = next((c for c in nb["cells"] if c.get("id") == CELL_ID), None)
    cell = make_cell(source)
    if old is not None and old.get("execution_count") is not None:
        cell["execution_count"] = old["execution_count"]
    nb = dict(nb)
    nb["cells"] = cells[:first_code] + [cell] + cells[first_code:]
    return nb


def has_cell(nb: dict, source: str) -> bool:
    """Whether the first code cell of ``nb`` is exactly the set-up cell."""
    first = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    return (first is not None and first.get("id") == CELL_ID
            and "".join(first["source"]) == source
            and first.get("metadata", {}).get("tags") == TAGS and not first.get("outputs"))


def _write(path: Path, nb: dict) -> None:
    # the layout nbformat / Jupyter write: one-space indent, a final newline
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook lacks the current cell")
    args = parser.parse_args(argv)
    source = cell_source(*repository())
    missing = []
    for path in args.notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if has_cell(nb, source):
            continue
        if args.check:
            missing.append(str(path))
        else:
            _write(path, apply(nb, source))
            print(f"{path}: Colab set-up cell written")
    if missing:
        print("without the current Colab set-up cell (run python -m tools.colab_cell on them):\n  "
              + "\n  ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

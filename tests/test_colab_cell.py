"""The Colab set-up cell (tools/colab_cell.py) heads every chapter notebook and agrees with
_config.yml, which is the one place the repository's URL is written."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("yaml")

from tools import colab_cell  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _nb(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_url_comes_from_config():
    url, branch = colab_cell.repository()
    assert url.startswith("https://github.com/") and branch
    source = colab_cell.cell_source(url, branch)
    assert f'"{url}"' in source and f'"{branch}"' in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_cell(path):
    source = colab_cell.cell_source(*colab_cell.repository())
    assert colab_cell.has_cell(_nb(path), source), (
        f"{path.name}: its first code cell is not the current Colab set-up cell; run "
        f"python -m tools.colab_cell book/*.ipynb")


def test_the_repository_url_is_written_nowhere_else_differently():
    url, _ = colab_cell.repository()
    owner_repo = url.split("github.com/", 1)[1]
    name = owner_repo.split("/")[1]
    files = [ROOT / "README.md", ROOT / "pyproject.toml", *NOTEBOOKS,
             *(ROOT / "book").glob("*.md"), *(ROOT / ".github" / "workflows").glob("*.yml")]
    pattern = re.compile(r"github\.com/([\w.-]+/" + re.escape(name) + r")\b")
    for path in files:
        for found in pattern.findall(path.read_text(encoding="utf-8")):
            assert found == owner_repo, f"{path.name} names github.com/{found}, _config.yml {url}"


def test_the_tool_is_idempotent_and_keeps_other_cells(tmp_path):
    src = NOTEBOOKS[1]
    nb = _nb(src)
    without = dict(nb, cells=[c for c in nb["cells"] if c.get("id") != colab_cell.CELL_ID])
    path = tmp_path / src.name
    path.write_text(json.dumps(without, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert colab_cell.main(["--check", str(path)]) == 1
    assert colab_cell.main([str(path)]) == 0
    once = path.read_bytes()
    assert colab_cell.main([str(path)]) == 0 and path.read_bytes() == once
    assert colab_cell.main(["--check", str(path)]) == 0
    after = _nb(path)
    others = [c for c in after["cells"] if c.get("id") != colab_cell.CELL_ID]
    assert others == without["cells"]
    first_code = next(c for c in after["cells"] if c["cell_type"] == "code")
    assert first_code["id"] == colab_cell.CELL_ID
    # an outdated copy is replaced, not duplicated
    stale = colab_cell.apply(after, "# old text")
    again = colab_cell.apply(stale, colab_cell.cell_source(*colab_cell.repository()))
    assert sum(c.get("id") == colab_cell.CELL_ID for c in again["cells"]) == 1


def _run_cell(monkeypatch, tmp_path, on_colab):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a[0]))
    monkeypatch.setattr(os, "chdir", lambda d: calls.append(["chdir", d]))
    monkeypatch.setattr(os.path, "isdir", lambda d: False)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(colab_cell.cell_source(*colab_cell.repository()), {})
    return calls


def test_the_cell_does_nothing_outside_colab(monkeypatch, tmp_path):
    assert _run_cell(monkeypatch, tmp_path, on_colab=False) == []


def test_on_colab_the_cell_clones_installs_and_changes_into_book(monkeypatch, tmp_path):
    url, branch = colab_cell.repository()
    calls = _run_cell(monkeypatch, tmp_path, on_colab=True)
    assert calls[0][:2] == ["git", "clone"] and url in calls[0] and branch in calls[0]
    assert calls[1][1:4] == ["-m", "pip", "install"] and calls[1][-1].endswith("[mpi]")
    assert calls[2] == ["chdir", colab_cell.CLONE + "/book"]

"""The book is tested on every push and published from main (.github/workflows), and the launch
buttons have what they need: Binder builds from requirements.txt (+ runtime.txt), Colab from
the set-up cell (tests/test_colab_cell.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name):
    wf = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    wf["on"] = wf.get("on", wf.pop(True, None))      # YAML 1.1 reads the key `on` as True
    return wf


def _steps(wf):
    return [step for job in wf["jobs"].values() for step in job.get("steps", [])]


def _uses(wf):
    return [s["uses"].split("@")[0] for s in _steps(wf) if "uses" in s]


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in ("pip install -r requirements.txt", "pytest",
                    "jupyter-book build . -W -n --keep-going"):
        assert command in readme and command in ci, command


def test_ci_runs_on_every_push_with_the_ci_script():
    wf = _workflow("ci.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    assert wf["on"]["push"] is None or "branches" not in wf["on"]["push"]   # every branch
    runs = [s.get("run", "") for s in _steps(wf)]
    assert any(r.strip() == "bash .ci/run" for r in runs)
    setup = next(s for s in _steps(wf) if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert "actions/checkout" in _uses(wf)


def test_pages_publishes_the_built_book_from_main_after_ci():
    wf = _workflow("pages.yml")
    trigger = wf["on"]["workflow_run"]
    assert trigger["workflows"] == ["CI"] and trigger["branches"] == ["main"]
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    runs = " ".join(s.get("run", "") for s in _steps(wf))
    assert "pip install -r requirements.txt" in runs
    assert "jupyter-book build . -W -n --keep-going" in runs
    upload = next(s for s in _steps(wf)
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert "actions/deploy-pages" in _uses(wf)
    assert "success" in wf["jobs"]["build"]["if"]


def test_actions_are_pinned_to_a_major_version():
    for name in ("ci.yml", "pages.yml"):
        for step in _steps(_workflow(name)):
            if "uses" in step:
                assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]


def test_binder_installs_the_package_from_requirements():
    # repo2docker reads requirements.txt at the root; a local requirement (-e .) makes it copy
    # the whole repository before installing, so the package itself is installed too
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in lines
    assert re.fullmatch(r"python-3\.\d+", (ROOT / "runtime.txt").read_text().strip())
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()  # would win

"""The documents ``_toc.yml`` names, for the tests that check the book against it."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every document of the table of contents (root, parts, chapters, sections) in reading
    order, relative to the repository root and without extension (``book/07_char_lm``)."""
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8"))
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return [re.sub(r"\.(md|ipynb|rst)$", "", f) for f in found]

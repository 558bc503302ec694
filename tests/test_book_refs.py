"""Every reference from one page of the book to another points at something that exists.

Checked in every notebook (markdown and code cells) and markdown file under ``book/``, so
chapters merged later are covered too:

* ``{doc}`` roles name a document listed in ``_toc.yml``;
* a "chapter N" (also "chapters N and M", "chapters N-M") names a chapter of ``_toc.yml``
  (chapter N is the file ``book/NN_*``, the numbering of ``docs/decisions.md``), or says plainly,
  next to the number, that the chapter is planned;
* a chapter that exists is not called planned any more (when a planned chapter lands, the
  references to it must become ``{doc}`` links: this test lists the ones left).

The book build (``-W -n``) catches a broken ``{doc}`` as well, but only for the pages it builds,
and it cannot see a "chapter 12" written in prose.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath

import pytest

yaml = pytest.importorskip("yaml")
from book_toc import toc_files  # noqa: E402  (tests/book_toc.py; needs yaml)

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

DOC_ROLE = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")
# "chapter 5", "Chapters 7 and 8", "chapters 9, 10 or 11", "chapters 7-14", "chapter 12's"
CHAPTER = re.compile(
    r"\b[Cc]hapters?\s+(\d+)((?:\s*(?:,\s*(?:and\s+|or\s+)?|\band\b|\bor\b|\bto\b|-|–)\s*\d+)*)")
PLANNED = re.compile(r"\bplanned\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n|\n\s*[*\-]\s|\n\s*\d+\.\s")


def _toc_files() -> set[str]:
    return set(toc_files())


def _chapters(toc_files) -> dict[int, str]:
    """Chapter number -> document, from the file names book/NN_name."""
    chapters = {}
    for f in toc_files:
        m = re.fullmatch(r"book/(\d\d)_\w+", f)
        if m:
            chapters[int(m.group(1))] = f
    return chapters


def _texts():
    """(where, text) for every markdown and code cell of every notebook and every .md file."""
    for path in sorted(BOOK.rglob("*")):
        if "_build" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.relative_to(ROOT)
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            for k, cell in enumerate(nb["cells"]):
                if cell["cell_type"] in ("markdown", "code"):
                    yield f"{rel} cell {k}", "".join(cell["source"])
        elif path.suffix == ".md":
            yield str(rel), path.read_text(encoding="utf-8")


def _numbers(match) -> list[int]:
    """The chapter numbers of one match, ranges expanded."""
    first = int(match.group(1))
    numbers, prev = [first], first
    for sep, num in re.findall(r"\s*(,\s*(?:and\s+|or\s+)?|\band\b|\bor\b|\bto\b|-|–)\s*(\d+)",
                               match.group(2) or ""):
        n = int(num)
        if sep.strip() in ("-", "–", "to") and n > prev:
            numbers.extend(range(prev + 1, n + 1))
        else:
            numbers.append(n)
        prev = n
    return numbers


def _sentence(text, start, end) -> str:
    """The sentence (or list item) of ``text`` around ``text[start:end]``."""
    before = [m.end() for m in SENTENCE_END.finditer(text, 0, start)]
    after = SENTENCE_END.search(text, end)
    return text[(before[-1] if before else 0):(after.start() if after else len(text))]


def _chapter_refs():
    """(where, number, says planned, the sentence) for every "chapter N" in the book."""
    refs = []
    for where, text in _texts():
        for m in CHAPTER.finditer(text):
            sentence = _sentence(text, m.start(), m.end())
            for n in _numbers(m):
                refs.append((where, n, bool(PLANNED.search(sentence)), sentence.strip()))
    return refs


def test_the_scanner_finds_what_it_should():
    text = "As chapter 5 shows. Chapters 7 and 9 (planned) do more. See chapters 12-14."
    found = [(n, planned) for _, n, planned, _ in
             [("x", n, bool(PLANNED.search(_sentence(text, m.start(), m.end()))), "")
              for m in CHAPTER.finditer(text) for n in _numbers(m)]]
    assert found == [(5, False), (7, True), (9, True), (12, False), (13, False), (14, False)]
    assert DOC_ROLE.findall("{doc}`06_training` and {doc}`the appendix <appendix_x>`") == [
        "06_training", "appendix_x"]
    assert _resolve("book/api/nn.md", "../04_lstm_cell") == "book/04_lstm_cell"
    assert _resolve("book/api/index.md", "tensors") == "book/api/tensors"
    assert _resolve("book/05_bptt.ipynb cell 3", "api/kernels") == "book/api/kernels"


def _resolve(where, target) -> str:
    """The document a {doc} target names: relative to the referring file's folder, or to the
    source root when it starts with '/' (Sphinx's rules), without a suffix."""
    target = target.strip()
    if target.startswith("/"):
        doc = target.lstrip("/")
    else:
        folder = PurePosixPath(where.split(" cell ")[0]).parent
        doc = os.path.normpath(str(folder / target)).replace(os.sep, "/")
    for suffix in (".ipynb", ".md"):
        doc = doc[:-len(suffix)] if doc.endswith(suffix) else doc
    return doc


def test_doc_roles_point_into_the_toc():
    toc = _toc_files()
    bad = []
    for where, text in _texts():
        for target in DOC_ROLE.findall(text):
            doc = _resolve(where, target)
            if doc not in toc:
                bad.append(f"{where}: {{doc}}`{target}`")
    assert not bad, "references to documents that are not in _toc.yml:\n" + "\n".join(bad)


def test_every_chapter_number_exists_or_is_planned():
    chapters = _chapters(_toc_files())
    bad = [f"{where}: chapter {n} is not in _toc.yml and the sentence does not say it is "
           f"planned: {sentence!r}"
           for where, n, planned, sentence in _chapter_refs()
           if n not in chapters and not planned]
    assert not bad, "\n".join(bad)


def test_chapters_that_exist_are_not_called_planned():
    chapters = _chapters(_toc_files())
    stale = []
    for where, text in _texts():
        for m in CHAPTER.finditer(text):
            numbers = _numbers(m)
            # "chapter 12 (planned)", "the planned chapter 12": the word right next to it
            window = text[max(0, m.start() - 12):m.start()] + text[m.end():m.end() + 12]
            if len(numbers) == 1 and numbers[0] in chapters and PLANNED.search(window):
                stale.append(f"{where}: chapter {numbers[0]} exists "
                             f"({chapters[numbers[0]]}): make this a {{doc}} link: "
                             f"{text[max(0, m.start() - 12):m.end() + 12]!r}")
    assert not stale, "\n".join(stale)


CITE_ROLE = re.compile(r"\{cite(?::[tp])?\}`([^`]+)`")


def test_the_bibliography_parses_and_has_every_cited_key():
    """``references.bib`` parses (a missing brace drops every entry after it and the build
    reports each citation as missing), has no key twice, gives every entry an author, a title and
    a year, and has every key the book cites."""
    pybtex = pytest.importorskip("pybtex.database")
    text = (BOOK / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"(?m)^@\w+\{([^,\s]+),", text)
    assert len(keys) == len(set(keys)), "keys defined twice: " + ", ".join(
        sorted({k for k in keys if keys.count(k) > 1}))
    entries = pybtex.parse_string(text, "bibtex").entries
    assert set(entries) == set(keys)
    for key, entry in entries.items():
        assert entry.persons.get("author") and entry.fields.get("title") \
            and entry.fields.get("year"), f"{key}: author, title and year are required"
    cited = {k.strip() for _, text in _texts() for group in CITE_ROLE.findall(text)
             for k in group.split(",")}
    assert not cited - set(entries), "cited but not in references.bib: " + ", ".join(
        sorted(cited - set(entries)))

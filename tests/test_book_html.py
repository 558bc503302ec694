"""Checks on the built book in ``_build/html`` (made by ``jupyter-book build . -W -n --keep-going``).

* every page named in ``_toc.yml`` was built;
* every local link resolves: the file exists and, where a ``#fragment`` is given, an element with
  that id exists in the target page; local scripts, stylesheets and images exist too;
* math is rendered by the MathJax bundled in ``_static`` (sphinx-mathjax-offline), never by a
  MathJax fetched over the network, and at least one page has math.

Skipped when the book has not been built, unless ``LFS_REQUIRE_BUILD=1`` (set by ``.ci/run``,
which runs this file after the build), in which case a missing build fails.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

bs4 = pytest.importorskip("bs4")
yaml = pytest.importorskip("yaml")
from book_toc import toc_files  # noqa: E402  (tests/book_toc.py; needs yaml)

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("LFS_BUILD_DIR", ROOT / "_build" / "html")).resolve()
REQUIRE = os.environ.get("LFS_REQUIRE_BUILD", "") not in ("", "0")

# a MathJax element as Sphinx writes it: inline <span class="math ...">, display <div class="math">
MATH_CLASS = "math"


def _sources() -> list[Path]:
    """What the build is made from: the table of contents, the configuration, the chapters."""
    book = [p for p in (ROOT / "book").rglob("*") if p.suffix in (".ipynb", ".md", ".bib")]
    return [ROOT / "_toc.yml", ROOT / "_config.yml", *book]


@pytest.fixture(scope="module", autouse=True)
def _built():
    if not (HTML / "index.html").is_file():
        msg = f"the book is not built ({HTML} has no index.html); run: jupyter-book build . -W -n"
        if REQUIRE:
            pytest.fail(msg + " (LFS_REQUIRE_BUILD is set)")
        pytest.skip(msg)
    # a build older than its sources (a developer's _build after a pull) says nothing about
    # them: skip, unless the caller built it just now and asks for the check
    built = max(p.stat().st_mtime for p in HTML.rglob("*.html"))
    newer = [p for p in _sources() if p.is_file() and p.stat().st_mtime > built]
    if newer and not REQUIRE:
        pytest.skip(f"the build in {HTML} is older than {len(newer)} source file(s), e.g. "
                    f"{newer[0].relative_to(ROOT)}; rebuild: jupyter-book build . -W -n")


def _pages() -> list[Path]:
    """Every HTML page of the book (theme assets under _static excluded)."""
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts)


@lru_cache(maxsize=None)
def _soup(path: Path):
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@lru_cache(maxsize=None)
def _ids(path: Path) -> frozenset[str]:
    soup = _soup(path)
    ids = {el["id"] for el in soup.find_all(id=True)}
    ids |= {el["name"] for el in soup.find_all("a", attrs={"name": True})}
    return frozenset(ids)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def _toc_files() -> list[str]:
    """The documents named in _toc.yml (root, chapters, sections), without extension."""
    return toc_files()


def test_every_toc_page_is_built():
    missing = [f for f in _toc_files() if not (HTML / f"{f}.html").is_file()]
    assert not missing, f"pages in _toc.yml with no HTML in {HTML}: {missing}"


def test_internal_links_resolve():
    broken = []
    checked = 0
    for page in _pages():
        soup = _soup(page)
        refs = [("a", a["href"]) for a in soup.find_all("a", href=True)]
        refs += [("link", el["href"]) for el in soup.find_all("link", href=True)
                 if not set(el.get("rel", [])) & {"canonical", "alternate", "preconnect"}]
        refs += [(el.name, el["src"]) for el in soup.find_all(["script", "img"], src=True)]
        # the root index.html is a redirect: <meta http-equiv="refresh" content="0; url=...">
        for meta in soup.find_all("meta", attrs={"http-equiv": re.compile("refresh", re.I)}):
            m = re.search(r"url=(.+)$", meta.get("content", ""), re.I)
            if m:
                refs.append(("meta", m.group(1).strip().strip("'\"")))
        for tag, url in refs:
            if not _is_local(url) or url.startswith(("mailto:", "javascript:", "data:")):
                continue
            parts = urlsplit(url)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            where = f"{page.relative_to(HTML)}: <{tag}> {url}"
            if not target.is_file():
                broken.append(f"{where} -> missing file")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _ids(target):
                    broken.append(f"{where} -> no element with id {parts.fragment!r}")
    assert checked > 0, "no local links found at all: is this really the built book?"
    assert not broken, "broken links:\n" + "\n".join(broken)


def _mathjax_scripts(soup) -> list[str]:
    return [s["src"] for s in soup.find_all("script", src=True) if "mathjax" in s["src"].lower()]


def test_math_renders_from_local_mathjax():
    pages_with_math = []
    problems = []
    for page in _pages():
        soup = _soup(page)
        scripts = _mathjax_scripts(soup)
        remote = [s for s in scripts if not _is_local(s)]
        if remote:
            problems.append(f"{page.relative_to(HTML)} loads MathJax over the network: {remote}")
        if not soup.find(class_=MATH_CLASS):
            continue
        pages_with_math.append(page)
        local = [s for s in scripts if _is_local(s)]
        if not local:
            problems.append(f"{page.relative_to(HTML)} has math but no local MathJax script")
        for src in local:
            if not (page.parent / urlsplit(src).path).resolve().is_file():
                problems.append(f"{page.relative_to(HTML)}: MathJax script {src} does not exist")
    assert pages_with_math, "no page contains math: the math markup is not being rendered"
    assert not problems, "\n".join(problems)
    # the bundle must carry its fonts, or math renders as boxes offline
    assert list((HTML / "_static" / "mathjax").rglob("*.woff")), "MathJax fonts were not bundled"

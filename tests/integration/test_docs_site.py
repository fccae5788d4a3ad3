"""The docs site as readers get it: built with mkdocs (strict), read as HTML.

The API reference is rendered from the docstrings by mkdocstrings: cross-references must
render as links, never as Sphinx roles shown literally (``:class:`Server```), and reST
literal blocks (``Example::``) must not leak through as text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|exc|mod|obj|const):`")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (`make install`)")
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [str(mkdocs if mkdocs.exists() else "mkdocs"), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_no_page_shows_a_sphinx_role_or_a_rest_literal_block(site: Path) -> None:
    pages = _pages(site)
    assert len(pages) > 20
    for page in pages:
        text = page.read_text("utf-8")
        assert not ROLE.search(text), f"{page.relative_to(site)} shows a Sphinx role"
        assert not re.search(r"\w::</p>", text), f"{page.relative_to(site)} shows a '::' block"


def test_the_api_reference_links_its_types(site: Path) -> None:
    page = (site / "reference" / "server" / "index.html").read_text("utf-8")
    # a cross-reference in the Server docstring and in its signature, both links
    assert re.search(r'<a [^>]*href="#socketwire\.RecoveryOptions"', page)
    assert page.count('href="#socketwire.BroadcastOperator"') >= 2
    # parameters as a list (a table's Default column did not fit the page)
    assert "connection_state_recovery" in page
    assert "<table" not in page.split('id="socketwire.Server"', 1)[1].split("</details>", 1)[0]
    # an example in a docstring is a highlighted code block, not text
    assert re.search(
        r'<div class="highlight"><pre><span></span><code><span class="n">reply</span>', page
    )

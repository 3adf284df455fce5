"""ARCHITECTURE.md and the README's layout table name only paths that exist:
the pages are kept true as files move."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATH = re.compile(r"`([\w./-]+(?:/|\.py|\.proto|\.md|\.yml))`")


def _paths(text: str) -> list[str]:
    """Paths from the root (with a slash); bare file names are left to the reader."""
    return sorted({p for p in PATH.findall(text) if "/" in p and not p.startswith("../")})


@pytest.mark.parametrize("page", ["ARCHITECTURE.md", "README.md"])
def test_every_path_named_exists(page):
    named = _paths((ROOT / page).read_text())
    assert len(named) > 10  # the pattern still finds the paths
    assert [p for p in named if not (ROOT / p).exists()] == []


def test_the_readme_links_the_architecture_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "](ARCHITECTURE.md)" in readme
    assert "../shared/" not in readme

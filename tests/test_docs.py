"""The front door: README.md is short, and every relative link in README.md and docs/ leads to a file of the
repository (a moved page or a renamed figure shows up here, not as a broken link on the Space's card)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target), outside code spans; the target up to a space, ')' or '#'
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s#]+)(?:#[^)\s]*)?(?:\s+\"[^\"]*\")?\)")


def relative_links(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_readme_fits_a_screen_or_three():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves_to_a_file_in_the_repository(page):
    links = relative_links(page)
    missing = [t for t in links if not (page.parent / t).resolve().exists()]
    outside = [t for t in links if ROOT not in (page.parent / t).resolve().parents]
    assert not missing and not outside, f"{page.name}: missing {missing}, outside the repository {outside}"


def test_the_link_finder_sees_links_and_images_but_not_code():
    page = ROOT / "test-output" / "links.md"
    page.parent.mkdir(exist_ok=True)
    page.write_text("[a](a.md) ![b](figures/b.png \"t\") [c](https://x.org) [d](d.md#part)\n`[e](e.md)`\n"
                    "```\n[f](f.md)\n```\n")
    assert relative_links(page) == ["a.md", "figures/b.png", "d.md"]


def test_every_bench_script_is_named_in_the_benchmarks_page():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    unnamed = [p.name for p in sorted((ROOT / "bench").iterdir()) if p.is_file() and p.name not in page]
    assert unnamed == []

"""Every relative link and anchor in README.md and docs/*.md resolves (a newcomer never hits a 404)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without code blocks and inline code, where brackets are not links."""
    return _CODE.sub("", _FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a markdown file offers, numbered as GitHub numbers repeated headings."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        slug = github_anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """The relative links of one file whose target file or anchor does not exist."""
    broken = []
    for target in _LINK.findall(_prose(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    return broken


def test_the_anchor_rule_matches_githubs():
    assert github_anchor("Put it in a Telegram group") == "put-it-in-a-telegram-group"
    assert github_anchor("What the bot stores, and for how long") == "what-the-bot-stores-and-for-how-long"
    assert github_anchor("Scale-out: adding GPU machines") == "scale-out-adding-gpu-machines"
    assert github_anchor("`/admin` and metrics") == "admin-and-metrics"


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n[ok](#top) [bad](#nowhere) [gone](missing.md) [web](https://example.org)\n"
        "```\n[not a link](nope.md)\n```\n"
    )
    assert broken_links(page) == ["#nowhere (no heading #nowhere in page.md)", "missing.md (no such file)"]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_the_readme_links_every_operator_reference():
    readme = (ROOT / "README.md").read_text()
    for name in (
        "models",
        "render",
        "scale-out",
        "web",
        "provenance",
        "benchmarks",
        "security",
        "architecture",
        "pictures",
        "fast-clips",
        "deploy",
        "troubleshooting",
    ):
        assert f"(docs/{name}.md)" in readme, name


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 350, f"README.md has {lines} lines; move detail into docs/"

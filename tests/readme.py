"""The README's commands as a newcomer copies them: the indented code blocks of one of its sections,
in order. The tests run these, never a copy of them, so a change of the README changes what they run.
"""

from __future__ import annotations

import re
from pathlib import Path

from peakready import ROOT

README = ROOT / "README.md"
QUICKSTART = "Real servers (production quickstart)"
# The address the README names a server by: a documentation address (RFC 5737), never a real host.
# A test puts its own VPS's address in its place, and nothing else.
DOC_ADDRESS = "203.0.113.10"


def section(markdown: str, title: str) -> str:
    """The text under the level-2 heading `title`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if not match:
        raise ValueError(f"README.md has no section '## {title}'")
    return match.group(1)


def code_blocks(markdown: str) -> list[str]:
    """Markdown's indented code blocks (four spaces, after a blank line), each without its indent."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    previous_blank = True
    for line in markdown.splitlines():
        if line.startswith("    ") and (current is not None or previous_blank):
            if current is None:
                current = []
                blocks.append(current)
            current.append(line[4:])
        elif not line.strip() and current is not None:
            current.append("")
        else:
            current = None
        previous_blank = not line.strip()
    return ["\n".join(block).strip("\n") + "\n" for block in blocks]


def quickstart(readme: Path = README) -> list[str]:
    """The production quickstart's commands, block by block, as the README shows them."""
    blocks = code_blocks(section(readme.read_text(), QUICKSTART))
    if not blocks:
        raise ValueError(f"README.md's '## {QUICKSTART}' has no indented command block")
    return blocks

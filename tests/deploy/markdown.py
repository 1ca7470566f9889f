"""The parts of a Markdown file the deploy tests read: a section, and the shell commands in it."""

from __future__ import annotations

import re
from pathlib import Path


def markdown_section(path: Path, title: str) -> str:
    """The text under a `## title` heading, up to the next heading of that level."""
    text = path.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def shell_commands(section: str) -> list[str]:
    """The lines of the section's first ```sh block, as a reader types them (comments kept)."""
    match = re.search(r"^```sh\n(.*?)^```", section, re.M | re.S)
    assert match, "no ```sh block"
    return [line for line in match[1].splitlines() if line.strip()]

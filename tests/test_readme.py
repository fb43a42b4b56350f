"""The README is a page, its links lead somewhere, and its commands are the tested ones.

The install half of the quick start is resolved with a fresh venv's pip in tests/test_demo.py,
and its review command runs on the real model in tests/test_cli.py; this module keeps the
page itself honest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
QUICK_START = [
    "pip install '.[demo]' && gemma-review review samples/streak.py",
    "pip install -e '.[test]' && python -m pytest",
]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text: str) -> str:
    """The text outside fenced code blocks and inline code."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def quick_start_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start") : text.index("### Everyday set-up")]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", quick, re.S)]


def test_the_readme_is_a_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(without_code(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(REPO)}")
    assert broken == [], f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_quick_start_is_the_two_tested_commands() -> None:
    assert quick_start_commands() == QUICK_START
    # The review runs on a file that is there (tests/test_cli.py reviews it on the real model).
    assert (REPO / "samples" / "streak.py").is_file()
    # The test command is the one CI runs and the development page explains.
    assert "python -m pytest" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert QUICK_START[1] in (REPO / "docs" / "development.md").read_text(encoding="utf-8")


def test_the_readme_says_which_form_the_config_file_takes() -> None:
    text = README.read_text(encoding="utf-8")
    assert "top-level keys" in text and "[tool.gemma-review]" in text


def test_the_hook_warning_in_the_docs_is_the_real_one() -> None:
    from gemma_review.backends.select import no_model_message
    from gemma_review.config import Settings

    real = (
        f"gemma-review: warning: the model is unavailable: {no_model_message(Settings(), allow_demo=False)}; "
        "not reviewed: src/streak.py (1 of 1 unit); letting the commit through (pass --strict to block instead)"
    )
    for page in (README, REPO / "docs" / "hook.md"):
        assert real in page.read_text(encoding="utf-8"), page.name


@pytest.mark.parametrize("page", ["editors.md"])
def test_each_editor_shows_how_to_try_it_without_ollama(page: str) -> None:
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    editors = [s for s in sections if s.startswith(("VS Code", "Neovim", "Helix", "Emacs"))]
    assert len(editors) == 5
    for section in editors:
        assert "without Ollama" in section and "demo" in section, section.splitlines()[0]

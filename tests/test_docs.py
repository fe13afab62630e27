"""The README's reference tables are generated from the code: they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from collab import openapi, settings_table
from collab.errors import CloseCode

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_configuration_reference_matches_settings() -> None:
    assert settings_table.markdown_table() in README


def test_api_table_matches_openapi() -> None:
    assert openapi.markdown_table() in README


def test_readme_starts_with_the_two_commands() -> None:
    head = README[:1500]
    assert "./scripts/serve" in head and "./scripts/test" in head


def test_the_contents_link_every_section() -> None:
    """The contents near the top list every ``##`` and ``###`` heading (outside code blocks)
    in order, each by its GitHub anchor."""
    headings, fenced = [], False
    for line in README.splitlines():
        fenced ^= line.startswith("```")
        match = None if fenced else re.match(r"#{2,3} (.+)", line)
        if match and match[1] != "Contents":
            headings.append(match[1])
    contents = README.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", contents)
    anchors = [re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for title in headings]
    assert links == list(zip(headings, anchors, strict=True))


def test_the_close_code_table_lists_every_close_code_in_numeric_order() -> None:
    table = README.split("| code | meaning | retry? |\n|---|---|---|\n", 1)[1].split("\n\n")[0]
    codes = [int(code) for row in table.splitlines() for code in re.findall(r"\d{4}", row[:14])]
    assert codes == sorted(int(code) for code in CloseCode)


def test_every_command_has_a_help_page() -> None:
    """argparse formats help texts with ``%``: a setting's help saying ``90%`` crashed
    ``collab serve --help`` (found by a fresh user's trial)."""
    import contextlib
    import io

    from collab.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            command.print_help()
        assert "usage: collab " + name in out.getvalue()

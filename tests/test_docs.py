"""The README's reference tables are generated from the code: they cannot drift."""

from __future__ import annotations

from pathlib import Path

from collab import openapi, settings_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_configuration_reference_matches_settings() -> None:
    assert settings_table.markdown_table() in README


def test_api_table_matches_openapi() -> None:
    assert openapi.markdown_table() in README


def test_readme_starts_with_the_two_commands() -> None:
    head = README[:1500]
    assert "./scripts/serve" in head and "./scripts/test" in head


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

"""The settings as a table: one row per field of :class:`collab.settings.Settings` (its flag,
environment variable, default, type and help), which the CLI's parser reads, and the README's
configuration reference in Markdown.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from collab.setting_names import env_name, flag_name
from collab.settings import Settings

__all__ = ["describe", "markdown_table"]


def describe() -> list[dict[str, Any]]:
    """One row per setting: name, flag, env, default, type and help (for the CLI and docs)."""
    rows = []
    for f in fields(Settings):
        assert f.default is not MISSING
        rows.append(
            {
                "name": f.name,
                "flag": flag_name(f.name),
                "env": env_name(f.name),
                "default": f.default,
                "type": type(f.default),
                "help": f.metadata["help"],
            }
        )
    return rows


def markdown_table() -> str:
    """The configuration reference as a Markdown table (the README embeds it verbatim)."""
    lines = [
        "| flag | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for row in describe():
        default = row["default"] if row["default"] not in ("", ()) else "(empty)"
        lines.append(f"| `{row['flag']}` | `{row['env']}` | `{default}` | {row['help']} |")
    return "\n".join(lines)

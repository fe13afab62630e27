"""How users name a setting: its ``collab serve`` flag and ``COLLAB_*`` environment variable
(:mod:`collab.settings` holds the settings themselves), and the error that names them."""

from __future__ import annotations

__all__ = ["FLAGS", "SettingsError", "env_name", "flag_name", "named"]


class SettingsError(ValueError):
    """A setting with a value of the wrong type or out of range; the message names the
    setting's flag and environment variable."""


FLAGS = {
    "allowed_hosts": "--allowed-host",
    "allowed_origins": "--allowed-origin",
    "webhook_urls": "--webhook-url",
}
"""Flags that are not the field's name (a repeated flag names one value)."""


def env_name(field_name: str) -> str:
    """The environment variable of a setting, e.g. ``COLLAB_MAX_MESSAGE_BYTES``."""
    return "COLLAB_" + field_name.upper()


def flag_name(field_name: str) -> str:
    """The CLI flag of a setting, e.g. ``--max-message-bytes`` (``--allowed-origin``)."""
    return FLAGS.get(field_name) or "--" + field_name.replace("_", "-")


def named(field_name: str) -> str:
    """A setting as the user gives it, for messages: ``--max-message-bytes
    (COLLAB_MAX_MESSAGE_BYTES)`` (never the Python field name, which nobody types)."""
    return f"{flag_name(field_name)} ({env_name(field_name)})"

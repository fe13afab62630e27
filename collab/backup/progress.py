"""A one-line progress bar on a terminal (plain ANSI-free text, redrawn with ``\\r``)."""

from __future__ import annotations

import shutil
from typing import TextIO

__all__ = ["Progress"]

_BAR = 24


class Progress:
    """Counts ``total`` steps; draws on ``stream`` only when ``enabled`` (a terminal)."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = enabled and total > 0
        self._drawn = False

    def step(self, label: str) -> None:
        """One more step done; ``label`` says which."""
        self.done += 1
        if self.enabled:
            self._draw(label)

    def say(self, line: str) -> None:
        """Print ``line`` above the bar."""
        self._clear()
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Remove the bar."""
        self._clear()

    def _draw(self, label: str) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        filled = _BAR * self.done // self.total
        text = f"[{'#' * filled}{'.' * (_BAR - filled)}] {self.done}/{self.total} {label}"
        text = text[: max(width - 1, 10)]
        self.stream.write("\r" + text.ljust(max(width - 1, 10)))
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            width = shutil.get_terminal_size((80, 24)).columns
            self.stream.write("\r" + " " * max(width - 1, 10) + "\r")
            self.stream.flush()
            self._drawn = False

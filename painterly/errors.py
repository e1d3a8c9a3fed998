"""Errors a user can fix: the CLI shows them as one line and exits with status 2."""

from __future__ import annotations


class PainterlyError(Exception):
    """A problem with the user's input, files or settings, described in one line."""


class SettingsError(PainterlyError, ValueError):
    """A setting has a bad value; ``field`` names the setting (``content_weight``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

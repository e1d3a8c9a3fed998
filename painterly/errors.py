"""Errors a user can fix. Each carries, where one applies, the name of the setting that
fixes it; the CLI words that as an option (``--size``) and the studio as its own control.
"""

from __future__ import annotations


class PainterlyError(Exception):
    """A problem with the user's input, files or settings, described in one line.

    ``setting`` names the settings field (``max_input_pixels``) that would fix it, if
    one would; the message itself names no command-line option.
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting

    def __reduce__(self) -> tuple:
        # Whole across processes and machines (a batch's workers send errors back): the
        # default pickling calls the class with ``args``, which the subclasses don't take.
        return _restore, (type(self), str(self), self.__dict__)


def first_line(error: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name if it has none:
    other libraries' errors can span pages."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _restore(cls: type, message: str, state: dict) -> PainterlyError:
    error = Exception.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class SettingsError(PainterlyError, ValueError):
    """A setting has a bad value; ``field`` names the setting (``content_weight``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", setting=field)
        self.field = field
        self.problem = problem


class MemoryRefused(PainterlyError):
    """A run refused before it starts because its estimated memory is over the limit.

    ``needed`` and ``limit`` are bytes; ``largest_size`` is the largest ``size`` that
    fits (None if none does); ``from_setting`` says whether the limit is ``max_memory``
    (else it is the memory the machine has free).
    """

    def __init__(
        self, needed: int, limit: int, largest_size: int | None, from_setting: bool,
    ) -> None:
        gb = 1024**3
        where = "max_memory" if from_setting else "the free memory"
        fits = f"size {largest_size} fits" if largest_size is not None else "no size fits"
        super().__init__(
            f"this run needs about {needed / gb:.1f} GB but {where} allows {limit / gb:.1f} GB;"
            f" {fits}",
            setting="size" if largest_size is not None else "max_memory",
        )
        self.needed = needed
        self.limit = limit
        self.largest_size = largest_size
        self.from_setting = from_setting

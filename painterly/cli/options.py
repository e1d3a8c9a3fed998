"""Command-line options made from the settings dataclasses: one option per field, with
its help and default, read by a parser chosen by the field's type. The settings check
the values; here only their form (a number, a list) is read."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import NoReturn

from ..errors import MemoryRefused, PainterlyError, SettingsError
from ..layers import LAYERS, canonical_layer
from ..settings import RunSettings
from ..settings_text import NUMERIC, READERS, name_list

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def option(field_name: str) -> str:
    """The option of a settings field: ``style_weight`` -> ``--style-weight``."""
    return "--" + field_name.replace("_", "-")


def describe(error: PainterlyError) -> str:
    """An error in the command line's words: settings named as their options."""
    if isinstance(error, SettingsError):
        return f"{option(error.field)}: {error.problem}"
    if isinstance(error, MemoryRefused):
        gb = 1024**3
        source = "--max-memory" if error.from_setting else "this machine's free memory"
        advice = (f"--size {error.largest_size} fits" if error.largest_size is not None
                  else "no size fits; free memory or lower the style scale")
        return (f"this run needs about {error.needed / gb:.1f} GB but {source} allows "
                f"{error.limit / gb:.1f} GB; {advice} (or set --max-memory)")
    if error.setting is not None:
        return f"{error} ({option(error.setting)})"
    return str(error)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def layer_choice(text: str) -> tuple[str, ...]:
    """``all``, or a comma list of layer names in any accepted form."""
    if text.strip().lower() == "all":
        return LAYERS
    try:
        return tuple(canonical_layer(name) for name in name_list(text))
    except (PainterlyError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _reader(field: dataclasses.Field) -> Callable[[str], object]:
    """The text reader of ``field``'s type, its errors as argparse's."""
    read = READERS[str(field.type)]

    def parse(text: str) -> object:
        try:
            return read(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = read.__name__  # argparse names the type in its messages
    return parse


def _single_value(field: dataclasses.Field) -> Callable[[str], object]:
    """Reader of one value; a comma list for a numeric option is refused by name."""
    read = _reader(field)

    def parse(text: str) -> object:
        if str(field.type) in NUMERIC and "," in text:
            raise argparse.ArgumentTypeError(
                f"takes one value, got {text!r} (use 'painterly sweep' to try several)"
            )
        return read(text)

    parse.__name__ = read.__name__  # argparse names the type in its messages
    return parse


def _value_list(field: dataclasses.Field) -> Callable[[str], list[object]]:
    """Reader of the values a sweep tries: commas separate them, or semicolons where one
    value is itself a comma list (--style-layers 'conv1_1,conv2_1;conv1_1')."""
    read = _reader(field)
    separator = ";" if str(field.type).startswith("tuple") else ","

    def parse(text: str) -> list[object]:
        items = [item.strip() for item in text.split(separator)]
        if not text.strip() or any(not item for item in items):
            raise argparse.ArgumentTypeError(f"expected a list of values, got {text!r}")
        return [read(item) for item in items]

    parse.__name__ = read.__name__
    return parse


def _show_default(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _help(field: dataclasses.Field, default: object = dataclasses.MISSING) -> str:
    text = field.metadata.get("help", "")
    if "default" in text or field.type == "bool":  # the help says it better
        return text
    shown = field.default if default is dataclasses.MISSING else default
    return f"{text} (default: {_show_default(shown)})"


def _field_groups(settings_class: type) -> list[tuple[str, list[dataclasses.Field]]]:
    """The class's own fields first, then those every run shares."""
    every = dataclasses.fields(settings_class)
    if not issubclass(settings_class, RunSettings) or settings_class is RunSettings:
        return [("settings", list(every))]
    shared = {f.name for f in dataclasses.fields(RunSettings)}
    return [("settings", [f for f in every if f.name not in shared]),
            ("run settings", [f for f in every if f.name in shared])]


def add_settings_options(
    parser: argparse.ArgumentParser,
    settings_class: type,
    skip: tuple[str, ...] = (),
    sweep: bool = False,
    defaults: dict[str, object] | None = None,
    title: str | None = None,
) -> None:
    """One option per field of ``settings_class`` with its help and default (``defaults``
    overrides some for this command); with ``sweep``, each takes a list of values.
    ``title`` names the options' group in --help (default: by the class)."""
    defaults = defaults or {}
    for group_title, group_fields in _field_groups(settings_class):
        suffix = " (each may be a list of values to try)" if sweep else ""
        group = parser.add_argument_group((title or group_title) + suffix)
        for field in group_fields:
            if field.name not in skip:
                _add_option(group, field, sweep, defaults)


def _add_option(group: argparse._ArgumentGroup, field: dataclasses.Field, sweep: bool,
                defaults: dict[str, object]) -> None:
    if field.type == "bool":
        group.add_argument(option(field.name), dest=field.name, action="store_true",
                           default=argparse.SUPPRESS, help=_help(field))
        return
    group.add_argument(
        option(field.name),
        dest=field.name,
        type=_value_list(field) if sweep else _single_value(field),
        # Unset options fall back to the dataclass default.
        default=defaults.get(field.name, argparse.SUPPRESS),
        metavar=field.metadata.get("metavar", field.name.split("_")[-1].upper()),
        help=_help(field, defaults.get(field.name, dataclasses.MISSING)),
    )


def given_settings(settings_class: type, args: argparse.Namespace) -> dict[str, object]:
    """The settings fields given on the command line (or defaulted by the command)."""
    names = {field.name for field in dataclasses.fields(settings_class)}
    return {k: v for k, v in vars(args).items() if k in names}


def settings_from_args(settings_class: type, args: argparse.Namespace):  # noqa: ANN201
    return settings_class(**given_settings(settings_class, args))


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw the loss curves to FILE (.png, .svg or .pdf)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")

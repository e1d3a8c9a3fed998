"""``painterly serve``: the web studio (the ``[web]`` extra)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import PainterlyError
from ..studio import StudioSettings, serve
from .options import add_settings_options, settings_from_args


def register(commands: argparse._SubParsersAction) -> None:
    studio = commands.add_parser(
        "serve", help="start the web studio (needs painterly[web])",
        description="Serve a page where anyone who can reach it paints a photo in the style "
        "of a painting, watching it emerge. Listens on loopback unless --host says otherwise.",
    )
    add_settings_options(studio, StudioSettings)
    studio.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(StudioSettings, args)

    def ready(url: str, workdir: Path) -> None:
        print(f"painterly: studio running; open {url} (Ctrl-C to stop). Uploads and "
              f"results are kept in {workdir} until it stops, each visitor's apart from the "
              f"others' and for at most {settings.keep_minutes:g} minutes.", file=sys.stderr,
              flush=True)
        print(url, flush=True)

    try:
        serve(settings, ready)
    except ImportError as missing:
        raise PainterlyError(
            f"the studio needs the web extra ({missing.name} is missing): "
            "pip install 'painterly[web]'"
        ) from None
    except OSError as error:  # the port is taken, or the address is not this machine's
        raise PainterlyError(f"cannot listen on {settings.host}:{settings.port} "
                             f"({error.strerror or error})", setting="port") from None
    except KeyboardInterrupt:
        print("\npainterly: studio stopped", file=sys.stderr)
    return 0

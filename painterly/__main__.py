"""``python -m painterly``: the same as the ``painterly`` command."""

from .launch import main

raise SystemExit(main())

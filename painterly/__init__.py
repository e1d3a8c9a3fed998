"""painterly: paint a photograph in the style of a painting (Gatys et al., CVPR 2016).

The names below load on first use, so that importing the package (and starting the
command line) does not wait for PyTorch before it can answer a Ctrl-C.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

#: Public name -> the module that defines it.
_EXPORTS = {
    "LAYERS": "layers",
    "Checkpoint": "events",
    "Interrupted": "events",
    "Progress": "events",
    "StopRequested": "events",
    "MemoryRefused": "errors",
    "PainterlyError": "errors",
    "SettingsError": "errors",
    "ReconstructSettings": "settings",
    "TransferSettings": "settings",
    "stylize": "transfer",
    "VideoSettings": "video",
    "stylize_video": "video",
}

__all__ = [
    "LAYERS",
    "Checkpoint",
    "Interrupted",
    "MemoryRefused",
    "PainterlyError",
    "Progress",
    "ReconstructSettings",
    "SettingsError",
    "StopRequested",
    "TransferSettings",
    "VideoSettings",
    "__version__",
    "stylize",
    "stylize_video",
]

if TYPE_CHECKING:
    from .errors import MemoryRefused, PainterlyError, SettingsError
    from .events import Checkpoint, Interrupted, Progress, StopRequested
    from .layers import LAYERS
    from .settings import ReconstructSettings, TransferSettings
    from .transfer import stylize
    from .video import VideoSettings, stylize_video


def __getattr__(name: str) -> object:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("painterly")
        except PackageNotFoundError:  # a source tree that was not installed
            return "0+unknown"
    if name not in _EXPORTS:
        raise AttributeError(f"module 'painterly' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value

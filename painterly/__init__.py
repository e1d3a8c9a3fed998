"""painterly: paint a photograph in the style of a painting (Gatys et al., CVPR 2016)."""

from importlib.metadata import PackageNotFoundError, version

from .errors import MemoryRefused, PainterlyError, SettingsError
from .events import Checkpoint, Interrupted, Progress, StopRequested
from .layers import LAYERS
from .settings import ReconstructSettings, TransferSettings
from .transfer import stylize

try:
    __version__ = version("painterly")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

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
    "__version__",
    "stylize",
]

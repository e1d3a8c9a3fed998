"""painterly: paint a photograph in the style of a painting (Gatys et al., CVPR 2016)."""

from importlib.metadata import PackageNotFoundError, version

from .errors import PainterlyError, SettingsError
from .layers import LAYERS
from .transfer import Progress, TransferSettings, stylize

try:
    __version__ = version("painterly")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "LAYERS",
    "PainterlyError",
    "Progress",
    "SettingsError",
    "TransferSettings",
    "__version__",
    "stylize",
]

"""The report's experiments: reconstructions from one layer, tables of layers, sweeps,
and where their results go on disk."""

from ..settings import TARGETS, ReconstructSettings
from .files import GridFiles, SweepFiles
from .reconstruction import GRID_SIZE, GridTile, grid, reconstruct
from .sweeps import SweepPoint, format_value, point_record, sweep, sweep_settings

__all__ = [
    "GRID_SIZE",
    "TARGETS",
    "GridFiles",
    "GridTile",
    "ReconstructSettings",
    "SweepFiles",
    "SweepPoint",
    "format_value",
    "grid",
    "point_record",
    "reconstruct",
    "sweep",
    "sweep_settings",
]

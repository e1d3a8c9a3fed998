"""The command line, called as a function and once as ``python -m painterly``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from painterly import __version__
from painterly.cli import describe, main
from painterly.errors import MemoryRefused, PainterlyError, SettingsError


def test_version_and_layers(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"painterly {__version__}"
    assert main(["layers"]) == 0
    listing = capsys.readouterr().out
    assert "conv4_2   block4_conv2   relu4_2" in listing
    assert len(listing.strip().splitlines()) == 17


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "painterly", "layers"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "conv5_4" in result.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "transfer" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (SettingsError("style_weight", "must be a finite number >= 0, got -1"),
         "--style-weight: must be a finite number >= 0, got -1"),
        (PainterlyError("photo.jpg: 9000x9000 is 81.0 megapixels, over the limit of 50",
                        setting="max_input_pixels"),
         "photo.jpg: 9000x9000 is 81.0 megapixels, over the limit of 50 "
         "(--max-input-pixels)"),
        (PainterlyError("photo.jpg: no such file"), "photo.jpg: no such file"),
        (MemoryRefused(3 * 1024**3, 2 * 1024**3, 700, from_setting=True),
         "this run needs about 3.0 GB but --max-memory allows 2.0 GB; --size 700 fits "
         "(or set --max-memory)"),
        (MemoryRefused(3 * 1024**3, 2 * 1024**3, None, from_setting=False),
         "this run needs about 3.0 GB but this machine's free memory allows 2.0 GB; no size "
         "fits; free memory or lower the style scale (or set --max-memory)"),
    ],
)
def test_errors_name_settings_as_options(error, line):
    # The library's messages name settings by field; only the CLI speaks of options.
    assert "--" not in str(error)
    assert describe(error) == line


def test_the_package_loads_its_names_on_first_use():
    import painterly

    assert set(painterly.__all__) == {*painterly._EXPORTS, "__version__"}
    for name in painterly.__all__:
        assert getattr(painterly, name) is not None
    with pytest.raises(AttributeError):
        painterly.no_such_name  # noqa: B018

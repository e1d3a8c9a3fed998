"""The command line's OpenMP setting: made before PyTorch loads, never over a user's."""

from __future__ import annotations

import os
import subprocess
import sys

from painterly.openmp import SPIN_COUNT, spin_less, wait_settings


def test_the_spin_count_is_set_where_nothing_was_chosen():
    environ = {"PATH": "/bin"}
    assert spin_less(environ)
    assert environ == {"PATH": "/bin", "GOMP_SPINCOUNT": str(SPIN_COUNT)}


def test_a_users_own_choice_is_kept():
    for chosen in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "infinite"}):
        environ = dict(chosen)
        assert not spin_less(environ)
        assert environ == chosen


def test_the_command_sets_it_before_pytorch_loads():
    # libgomp reads the setting once, when PyTorch loads it.
    code = ("import os, sys; import painterly.launch as launch; "
            "assert 'torch' not in sys.modules; sys.argv = ['painterly', '--version']; "
            "launch.main(); assert 'torch' in sys.modules; print(os.environ['GOMP_SPINCOUNT'])")
    environ = {key: value for key, value in os.environ.items()
               if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == str(SPIN_COUNT)  # after the version


def test_the_wait_settings_are_what_is_set():
    assert wait_settings({"GOMP_SPINCOUNT": "10", "PATH": "/bin"}) == {"GOMP_SPINCOUNT": "10"}
    assert wait_settings({"OMP_WAIT_POLICY": "PASSIVE"}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert wait_settings({}) == {}

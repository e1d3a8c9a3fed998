"""Checkpoint files (painterly/checkpoints.py) are untrusted: their fields are checked
before use, and ``resume`` writes its recorded output only over nothing or its own
picture so far."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import StopRequested, TransferSettings, stylize
from painterly.checkpoints import CheckpointFile, read_checkpoint, write_checkpoint
from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.events import Interrupted
from painterly.images import save_image
from painterly.recipes import encode, make_recipe

SETTINGS = TransferSettings(size=32, iterations=4, scales=())


@pytest.fixture()
def saved(inputs):
    """A real checkpoint of a run stopped at its second iteration, and its recipe."""

    def stop(progress):
        if progress.iteration == 2:
            raise StopRequested

    with pytest.raises(Interrupted) as stopped:
        stylize(*map(str, inputs), SETTINGS, callback=stop)
    recipe = make_recipe("transfer", SETTINGS, {"content": [str(inputs[0])],
                                                "style": [str(inputs[1])]})
    return stopped.value, recipe


def _state(saved, output):
    stopped, recipe = saved
    return {"format": "painterly-checkpoint-1", "recipe": recipe, "output": str(output),
            "every": 20, "stage": 0, "done": 2, "image": stopped.checkpoint.image,
            "optimizer": stopped.checkpoint.optimizer}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"every": 0}, "'every' must be a whole number >= 1"),
        ({"every": "20"}, "'every'"),
        ({"stage": -1}, "no stage"),
        ({"output": None}, "no output path"),
        ({"image": torch.zeros(3, 8, 8)}, "(1, 3, H, W) float32"),
        ({"image": torch.zeros(1, 3, 8, 8, dtype=torch.float64)}, "float32"),
        ({"optimizer": [1, 2]}, "no optimiser state"),
        ({"optimizer": {"iteration": -5, "step": 1.0, "optimizer": {}}}, "no optimiser state"),
        ({"recipe": None}, "recipe is damaged"),
        ({"recipe": {"command": "transfer", "settings": None}}, "recipe is damaged"),
    ],
)
def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path, saved, capsys, change, message):
    path = tmp_path / "run.ckpt"
    torch.save({**_state(saved, tmp_path / "out.png"), **change}, path)
    with pytest.raises(PainterlyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_checkpoint(path)
    assert main(["resume", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_resume_will_not_overwrite_another_picture(tmp_path, saved, capsys):
    victim = tmp_path / "holiday.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(victim)
    before = victim.read_bytes()
    path = tmp_path / "handed.ckpt"
    torch.save(_state(saved, victim), path)
    assert main(["resume", str(path), "-q"]) == 2
    assert "holds another picture; choose where to write with -o" in capsys.readouterr().err
    assert victim.read_bytes() == before
    mine = tmp_path / "mine.png"
    assert main(["resume", str(path), "-o", str(mine), "-q"]) == 0  # -o says where: fine
    assert Image.open(mine).size == (32, 24)


def test_resume_finishes_into_its_own_picture_so_far(tmp_path, saved):
    stopped, recipe = saved
    output = tmp_path / "out.png"
    save_image(stopped.picture, output, encode(recipe))  # what an interrupt leaves there
    path = tmp_path / "run.ckpt"
    write_checkpoint(path, CheckpointFile(recipe, str(output), 20, stopped.checkpoint))
    assert main(["resume", str(path), "-q"]) == 0
    straight = stylize(*[e["path"] for e in (recipe["inputs"]["content"][0],
                                             recipe["inputs"]["style"][0])], SETTINGS)
    assert np.array_equal(np.asarray(Image.open(output)), np.asarray(straight))


def test_a_checkpoint_of_another_size_is_refused(tmp_path, saved, capsys):
    state = _state(saved, tmp_path / "out.png")
    state["image"] = torch.zeros(1, 3, 10, 10)
    path = tmp_path / "run.ckpt"
    torch.save(state, path)
    assert main(["resume", str(path), "-q"]) == 2
    assert "the checkpoint's image is 10x10 but stage 0" in capsys.readouterr().err


def test_a_checkpoint_whose_recipe_names_no_photo_is_one_line(tmp_path, saved, capsys):
    state = _state(saved, tmp_path / "out.png")
    recipe = dict(state["recipe"])
    recipe["inputs"] = {"style": recipe["inputs"]["style"]}
    path = tmp_path / "run.ckpt"
    torch.save({**state, "recipe": recipe}, path)
    assert main(["resume", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "names no photo or painting" in err and len(err.strip().splitlines()) == 1

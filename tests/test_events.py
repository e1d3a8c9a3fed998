"""What a run reports (painterly/events.py)."""

from __future__ import annotations

import pickle

import torch
from PIL import Image

from painterly import Checkpoint, Interrupted, Progress


def test_progress_numbers_drop_the_image_and_callables_and_pickle():
    progress = Progress(3, 10, 64, 1.5, 0.5, 0.1, 0.0, 2.0, image=torch.zeros(1, 3, 2, 2),
                        checkpoint=lambda: None, picture=lambda: None)
    kept = progress.numbers()
    assert (kept.image, kept.checkpoint, kept.picture) == (None, None, None)
    assert pickle.loads(pickle.dumps(kept)) == progress  # equal: images are not compared
    assert (kept.iteration, kept.iterations, kept.total) == (3, 10, 1.5)


def test_interrupted_carries_the_picture_and_where_it_stood():
    progress = Progress(7, 30, 64, 1.0, 0.2, 0.1, 0.0, 1.0)
    checkpoint = Checkpoint(1, 7, torch.zeros(1, 3, 4, 4), {"iteration": 7})
    stop = Interrupted(Image.new("RGB", (4, 4)), progress, checkpoint)
    assert str(stop) == "stopped at iteration 7 of 30"
    assert stop.checkpoint.done == 7 and stop.picture.size == (4, 4)

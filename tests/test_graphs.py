"""CUDA graphs (painterly/graphs.py): a replayed evaluation gives the eager one's values
at every iterate, falls back to running eagerly where it cannot be captured, and paints
the eager run's picture. The CUDA tests run where a GPU is (benchmarks/gpu.sh runs
them on a lent one); a CPU run only checks that nothing changes there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import TransferSettings, graphs, stylize
from painterly.graphs import GraphedEvaluation, replayed
from painterly.images import fit_long_side, to_tensor
from painterly.stage import stage_objective
from painterly.transfer import Inputs, paint
from painterly.vgg import load_extractor

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _evaluation(loss_of, image: torch.Tensor):
    """(loss, gradient) at ``image`` as it is at the call, as L-BFGS's closure does."""

    def evaluate():
        with torch.enable_grad():
            pixels = image.detach().requires_grad_(True)
            loss = loss_of(pixels)
            (gradient,) = torch.autograd.grad(loss, pixels)
        return loss.detach(), gradient

    return evaluate


def test_on_a_cpu_the_evaluation_is_left_as_it_is():
    image = torch.rand(1, 3, 8, 8)
    evaluate = _evaluation(lambda x: x.square().sum(), image)
    assert replayed(evaluate, image) is evaluate


@cuda
def test_a_picture_above_the_limit_is_left_as_it_is(monkeypatch):
    image = torch.rand(1, 3, 8, 8, device="cuda")
    evaluate = _evaluation(lambda x: x.square().sum(), image)
    assert isinstance(replayed(evaluate, image), GraphedEvaluation)
    monkeypatch.setattr(graphs, "MAX_PIXELS", 63)
    assert replayed(evaluate, image) is evaluate


@cuda
def test_replays_give_the_eager_values_at_each_iterate(small_content, small_style):
    settings = TransferSettings(size=64, precision="fp32", device="cuda")
    photo = to_tensor(fit_long_side(small_content, 64)).cuda()
    extractor = load_extractor(None, "max", "cuda")
    objective, target = stage_objective(extractor, photo, [small_style], None, None, (1.0,),
                                        settings, None, None)
    image = target.clone()
    evaluate = _evaluation(lambda x: objective(x).total, image)
    graphed = GraphedEvaluation(evaluate, image.device)
    generator = torch.Generator("cuda").manual_seed(0)
    kept = []
    for _ in range(5):
        loss, gradient = graphed()
        want_loss, want_gradient = evaluate()
        torch.testing.assert_close(loss, want_loss, rtol=1e-5, atol=0)
        torch.testing.assert_close(gradient, want_gradient, rtol=1e-4,
                                   atol=1e-4 * float(want_gradient.abs().max()))
        kept.append((gradient, gradient.clone()))
        image.add_(torch.randn(image.shape, device="cuda", generator=generator), alpha=0.02)
    assert graphed.graph is not None and not graphed.eager  # replayed, not run eagerly
    # Each call's gradient is the caller's: later replays did not overwrite it.
    assert all(torch.equal(returned, copy) for returned, copy in kept)
    assert not torch.equal(kept[1][0], kept[4][0])


@cuda
def test_an_evaluation_that_reads_a_value_back_runs_eagerly():
    image = torch.rand(1, 3, 16, 16, device="cuda")
    # float() of a device value waits for the GPU: no graph can hold that.
    evaluate = _evaluation(lambda x: x.square().sum() * float(x.detach().max() >= 0), image)
    graphed = GraphedEvaluation(evaluate, image.device)
    for _ in range(3):
        loss, gradient = graphed()
        torch.testing.assert_close(loss, image.square().sum())
        torch.testing.assert_close(gradient, 2 * image)
        image.mul_(0.5)
    assert graphed.eager and graphed.graph is None
    # CUDA still works, its random numbers too (a failed capture left torch's generator
    # capturing: every later draw raised).
    assert float(torch.ones(4, device="cuda").sum()) == 4.0
    assert torch.rand(4, device="cuda").max() < 1


def _difference(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(diff.mean()), float(diff.max())


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_painting_with_graphs_is_the_eager_painting(small_content, small_style, monkeypatch,
                                                      precision):
    settings = TransferSettings(size=128, iterations=20, device="cuda", precision=precision)
    graphed = stylize(small_content, small_style, settings)
    monkeypatch.setattr(graphs, "MAX_PIXELS", 0)
    eager = stylize(small_content, small_style, settings)
    mean, largest = _difference(graphed, eager)
    assert mean < 0.5 and largest <= 16, (mean, largest)


@cuda
def test_a_painting_by_regions_paints_on_a_gpu(small_content, small_style):
    mask = Image.new("L", small_content.size, 0)
    mask.paste(255, (0, 0, small_content.size[0] // 2, small_content.size[1]))
    settings = TransferSettings(size=64, iterations=5, scales=(), masks=("left.png",),
                                device="cuda")
    picture = paint(Inputs(small_content, [small_style], masks=[mask]), settings)
    assert picture.size == (64, 48) and np.asarray(picture).std() > 5
    # Its objective picks the region's positions by a mask (a shape only the GPU knows):
    # no graph holds that, and the failed capture must leave nothing behind.
    noise = stylize(small_content, small_style, TransferSettings(
        size=64, iterations=3, scales=(), init="noise", device="cuda"))
    assert np.asarray(noise).std() > 5

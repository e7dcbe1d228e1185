"""Keras models of HINT: the generator backbone, the discriminator and named presets."""

from hint.models.cross_plane_dncnn import CrossPlaneDnCNN
from hint.models.dip_skip import DIPSkip, meshgrid_code, noise_code
from hint.models.dncnn import DnCNN
from hint.models.fid_inception import FIDInceptionV3
from hint.models.hint_backbone import HINTBackbone
from hint.models.lpips_network import LPIPSNetwork
from hint.models.model_registry import model_class, registered_models
from hint.models.patch_discriminator import PatchDiscriminator
from hint.models.presets import PRESETS, get_preset, preset_names
from hint.models.tunable_cnn import TunableCNN

__all__ = [
    "CrossPlaneDnCNN",
    "DIPSkip",
    "DnCNN",
    "FIDInceptionV3",
    "HINTBackbone",
    "LPIPSNetwork",
    "PRESETS",
    "PatchDiscriminator",
    "TunableCNN",
    "get_preset",
    "meshgrid_code",
    "model_class",
    "noise_code",
    "preset_names",
    "registered_models",
]

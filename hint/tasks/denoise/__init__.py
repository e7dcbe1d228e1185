"""The denoising task: remove noise from an image, blind or given its level."""

from hint.tasks.denoise.denoiser import Denoiser
from hint.tasks.denoise.plugin import DenoisePlugin
from hint.tasks.denoise.shipped_denoisers import ShippedDenoisers

__all__ = ["DenoisePlugin", "Denoiser", "ShippedDenoisers"]

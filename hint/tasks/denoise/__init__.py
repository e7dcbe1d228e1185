"""The denoising task: remove noise from an image, blind or given its level."""

from hint.tasks.denoise.denoiser import Denoiser

__all__ = ["Denoiser"]

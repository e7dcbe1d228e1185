"""Tasks: one subpackage per restoration task, each with the Keras training model it trains.

A training model (`Inpainter`, `Denoiser`) owns `train_step`, the losses and a default
`compile()`.
"""

from hint.tasks.denoise import Denoiser
from hint.tasks.inpaint import Inpainter

__all__ = ["Denoiser", "Inpainter"]

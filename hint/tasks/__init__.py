"""Task models: they own `train_step`, the losses and a default `compile()`."""

from hint.tasks.inpainter import Inpainter

__all__ = ["Inpainter"]

"""The inpainting task: fill the holes of an image given a mask (1 = hole)."""

from hint.tasks.inpaint.inpainter import Inpainter
from hint.tasks.inpaint.plugin import InpaintPlugin

__all__ = ["InpaintPlugin", "Inpainter"]

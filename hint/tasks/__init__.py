"""The task plug-ins, one subpackage each; importing this package registers them.

Each subpackage holds a task's `hint.task_plugin.TaskPlugin` (what the generic commands, the
training loop, evaluation and export ask of it) and the Keras training model it trains (which
owns `train_step`, the losses and a default `compile()`):

- `hint.tasks.inpaint`: `InpaintPlugin`, `Inpainter` (HINT, SN-PatchGAN).
- `hint.tasks.denoise`: `DenoisePlugin`, `Denoiser` (DnCNN and its relatives).

`docs/extending.md` shows how to add a task.
"""

from hint.tasks.denoise import DenoisePlugin, Denoiser
from hint.tasks.inpaint import Inpainter, InpaintPlugin

__all__ = ["DenoisePlugin", "Denoiser", "InpaintPlugin", "Inpainter"]

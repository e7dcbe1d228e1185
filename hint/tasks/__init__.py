"""The task plug-ins; importing this package registers every one of them.

Each module or subpackage here holds a task's `hint.task_plugin.TaskPlugin` (what the generic
commands, the training loop, evaluation and export ask of it) and the Keras training model it
trains (which owns `train_step`, the losses and a default `compile()`):

- `hint.tasks.inpaint`: `InpaintPlugin`, `Inpainter` (HINT, SN-PatchGAN).
- `hint.tasks.denoise`: `DenoisePlugin`, `Denoiser` (DnCNN and its relatives).

A task is added by a new module or subpackage in this folder (every one is imported, so it
registers itself), or from another installed package through the `hint.tasks` entry-point
group (`docs/extending.md`).
"""

import importlib
import importlib.metadata
import pkgutil

from hint.tasks.denoise import DenoisePlugin, Denoiser
from hint.tasks.inpaint import Inpainter, InpaintPlugin

ENTRY_POINT_GROUP = "hint.tasks"

for _module in pkgutil.iter_modules(__path__, prefix=__name__ + "."):
    importlib.import_module(_module.name)
for _entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
    _entry.load()

__all__ = ["DenoisePlugin", "Denoiser", "InpaintPlugin", "Inpainter"]

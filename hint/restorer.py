"""`hint.load`: a shipped model, a run or a `.keras` file, ready to restore images.

Example:

>>> import hint
>>> denoiser = hint.load("denoise_color")
>>> clean = denoiser.restore(noisy, sigma=25)          # float32 [H, W, 3] in [0, 1]
>>> inpainter = hint.load("runs/my_run")
>>> filled = inpainter.restore(photo, mask=mask)       # mask [H, W, 1], 1 = hole

Names: a *shipped model* is a trained network in `hint/weights/` (`hint.pretrained.PRETRAINED`:
`denoise_gray`, `denoise_color`, `inpaint`); an *architecture preset* (`hint_tiny`, `dncnn_gray`,
... in `hint.models.presets`) is a set of constructor arguments with random weights, chosen in a
config with `model.preset`. `hint.load` takes the former, never the latter.
"""

from __future__ import annotations

import os

import numpy as np

from hint import inference, pretrained, training
from hint.task_plugin import get_task, task_for_network


class Restorer:
    """A network with its task and its inference defaults.

    Args:
        network: The loaded Keras network.
        task: Its task's plug-in (`hint.task_plugin.TaskPlugin`).
        name: Where it came from (a shipped name or a path).
        defaults: Inference options this network wants unless the call says otherwise (e.g.
            the shipped inpainter's measured working size, `max_side=256`). Defaults to None:
            `task.network_options(network)` (those saved with the network over the task's).
    """

    def __init__(self, network, task, name: str, defaults: dict | None = None):
        self.network = network
        self.task = task
        self.name = name
        if defaults is None:
            defaults = task.network_options(network)
        self.defaults = dict(defaults)

    def options(self, **given) -> dict:
        """The inference options of a call: `given` over the network's `defaults`."""
        return {**self.defaults, **given}

    def restore(self, image, **options) -> np.ndarray:
        """The restored image: the task's inference function (`TaskPlugin.restore`).

        Args:
            image: float [H, W, C] in [0, 1] (a noisy image may leave that range).
            **options: the task's options: `mask=` for inpainting (required) and `max_side`,
                `blend`, `ensemble`, `color_space`; `sigma=` (0-255) or `blind=True` for
                denoising, and `ensemble`, `color_space`.

        Returns:
            float32 [H, W, C].
        """
        return self.task.restore(
            self.network, np.asarray(image, np.float32), **self.options(**options)
        )

    def __repr__(self):
        return f"Restorer({self.name!r}, task={self.task.name!r})"


def load(source: str, precision: str | None = None) -> Restorer:
    """Loads a shipped model by name, a run directory or a `.keras` file, for inference.

    Args:
        source: A name of `hint.pretrained.PRETRAINED`, a run directory (its `config.yaml`
            names the task) or a `.keras` file (its task is the one whose inputs it has).
        precision: `"float32"`, `"mixed_bfloat16"` or `"auto"` (`hint.precision`), or None
            for the policy the network was saved with. Defaults to None.

    Raises:
        hint.inference.InferenceError: no network at `source` (naming what it looked for).
        hint.task_plugin.UnknownTaskError: a `.keras` file whose task cannot be told.
    """
    if source in pretrained.PRETRAINED:
        entry = pretrained.PRETRAINED[source]
        network = pretrained.load(source, precision=precision, fold_batch_norm=True)
        return Restorer(network, get_task(entry.task), source)
    # A run directory or a .keras file; a clear error when neither holds a network.
    network = inference.load_model(source, precision=precision, fold_batch_norm=True)
    if os.path.isdir(source):
        return Restorer(network, get_task(training.load_run_config(source).task), source)
    return Restorer(network, task_for_network(network), source)

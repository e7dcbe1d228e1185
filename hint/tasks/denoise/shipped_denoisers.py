"""The shipped gray and colour denoisers behind one object that picks per image."""

from __future__ import annotations

from hint import pretrained
from hint.precision import resolve_precision

GRAY, COLOR = "denoise_gray", "denoise_color"


def denoiser_for(channels: int) -> str:
    """The shipped denoiser that serves images with `channels` channels.

    Colour images get `denoise_color` when this installation has it, else `denoise_gray`, which
    `hint.inference.denoise_array` then runs on the three planes of an opponent colour
    transform: what `denoise_color` computed before it was trained on colour images (it is
    that gray network with cross-plane mixing, `hint.models.CrossPlaneDnCNN`), so a checkout
    without the colour file still denoises colour images well.
    """
    if channels not in (1, 3):
        raise pretrained.PretrainedError(
            f"Images must have 1 or 3 channels. Received: channels={channels}"
        )
    if channels == 3 and COLOR in pretrained.available():
        return COLOR
    return GRAY


class ShippedDenoisers:
    """The shipped gray and colour denoisers, each loaded the first time an image needs it.

    `hint.inference.denoise_paths` picks `denoisers.for_channels(c)` per image, so a folder
    mixing gray and colour photos loads each model once; without the colour file, colour
    images go through the gray model in an opponent colour space (`denoiser_for`).

    Args:
        precision: `"float32"`, `"mixed_bfloat16"` or `"auto"` (see
            `hint.inference.load_model`); `"auto"` is resolved once, here. Defaults to
            `"float32"`.
    """

    def __init__(self, precision: str = "float32"):
        # Here, not at the first image: a bad value fails before anything is written.
        self.precision = resolve_precision(precision)
        self._models = {}

    def for_channels(self, channels: int):
        name = denoiser_for(1 if channels == 1 else 3)
        if name not in self._models:
            self._models[name] = pretrained.load(
                name, precision=self.precision, fold_batch_norm=True
            )
        return self._models[name]

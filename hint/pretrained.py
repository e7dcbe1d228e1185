"""The networks the project trained itself, shipped in `hint/weights/` with a model card each.

`denoise` and `inpaint` use them when no `--run` is given, `model.init_from: pretrained`
fine-tunes from them, and the benchmarks measure them. Each entry names its `.keras` file (a
backbone saved by a training run, loaded with `safe_mode=True`), its model card and the
training config that produced it (under `configs/`).

Example:

>>> from hint import pretrained
>>> denoiser = pretrained.load("denoise_gray")
>>> pretrained.for_task("denoise", channels=3)
'denoise_color'
"""

from __future__ import annotations

import dataclasses
import os

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


class PretrainedError(ValueError):
    """A shipped model that is unknown or missing from this installation."""


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """One shipped network.

    Args:
        file: The `.keras` file in `hint/weights/`.
        card: Its model card (Markdown) in `hint/weights/`.
        task: `"denoise"` or `"inpaint"`.
        channels: Image channels the network takes (1 gray, 3 colour).
        config: The training config, relative to the repository root.
        max_side: For inpainting, the largest side the network is run at (larger images and
            hole windows are downscaled to it, see `hint.inference.inpaint_array`), chosen by
            measurement (see its card). None for denoisers.
    """

    file: str
    card: str
    task: str
    channels: int
    config: str
    max_side: int | None = None


PRETRAINED = {
    "denoise_gray": Pretrained(
        "denoise_gray.keras", "denoise_gray.md", "denoise", 1, "configs/dncnn_gray.yaml"
    ),
    "denoise_color": Pretrained(
        "denoise_color.keras",
        "denoise_color.md",
        "denoise",
        3,
        "configs/dncnn_color_planes_r16.yaml",
    ),
    "inpaint": Pretrained(
        "hint_inpaint.keras", "hint_inpaint.md", "inpaint", 3, "configs/hint_inpaint.yaml", 256
    ),
}


def for_task(task: str, channels: int = 3) -> str:
    """The shipped model's name for a task and a number of image channels."""
    if task == "inpaint":
        return "inpaint"
    if task == "denoise":
        if channels not in (1, 3):
            raise PretrainedError(f"Images must have 1 or 3 channels. Received: {channels=}")
        return "denoise_gray" if channels == 1 else "denoise_color"
    raise PretrainedError(f"No shipped model for task {task!r}; tasks: denoise, inpaint.")


def denoiser_for(channels: int) -> str:
    """The shipped denoiser that serves images with `channels` channels.

    Colour images get `denoise_color` when this installation has it, else `denoise_gray`, which
    `hint.inference.denoise_array` then runs on the three planes of an opponent colour
    transform: what `denoise_color` computed before it was trained on colour images (it is
    that gray network with cross-plane mixing, `hint.models.CrossPlaneDnCNN`), so a checkout
    without the colour file still denoises colour images well.
    """
    name = for_task("denoise", channels)
    if name == "denoise_color" and name not in available():
        return "denoise_gray"
    return name


def inpaint_max_side(run_dir: str | None = None) -> int:
    """The working size `inpaint` uses: the shipped model's own, or 512 for a run's model."""
    from hint import inference

    if run_dir is None:
        return PRETRAINED["inpaint"].max_side or inference.MAX_SIDE
    return inference.MAX_SIDE


def path(name: str) -> str:
    """The path of a shipped model's `.keras` file; a clear error when it is not installed."""
    if name not in PRETRAINED:
        raise PretrainedError(
            f"Unknown shipped model {name!r}; available: {', '.join(sorted(PRETRAINED))}."
        )
    entry = PRETRAINED[name]
    file = os.path.join(WEIGHTS_DIR, entry.file)
    if not os.path.isfile(file):
        raise PretrainedError(
            f"The shipped {name!r} weights are not in this installation (expected {file}). "
            f"Train one with `python main.py --config {entry.config}` and pass its run "
            "directory with --run."
        )
    return file


def available() -> list[str]:
    """Names of the shipped models present in this installation."""
    return [n for n, e in PRETRAINED.items() if os.path.isfile(os.path.join(WEIGHTS_DIR, e.file))]


def load(name: str, precision: str = "float32", fold_batch_norm: bool = False):
    """Loads a shipped network (a functional backbone) with `safe_mode=True`, uncompiled.

    Args:
        name: A key of `PRETRAINED`.
        precision: `"float32"`, `"mixed_bfloat16"` or `"auto"` (see
            `hint.training.load_model`). Defaults to `"float32"`.
        fold_batch_norm: fold a denoiser's batch norms into its convolutions, for inference
            (see `hint.training.load_model`). Defaults to `False`.
    """
    from hint import training

    return training.load_model(path(name), precision=precision, fold_batch_norm=fold_batch_norm)


class ShippedDenoisers:
    """The shipped gray and colour denoisers, each loaded the first time an image needs it.

    `hint.inference.denoise_paths` picks `denoisers.for_channels(c)` per image, so a folder
    mixing gray and colour photos loads each model once; without the colour file, colour
    images go through the gray model in an opponent colour space (`denoiser_for`).

    Args:
        precision: `"float32"`, `"mixed_bfloat16"` or `"auto"` (see
            `hint.training.load_model`); `"auto"` is resolved once, here. Defaults to
            `"float32"`.
    """

    def __init__(self, precision: str = "float32"):
        from hint import training

        # Here, not at the first image: a bad value fails before anything is written.
        self.precision = training.resolve_precision(precision)
        self._models = {}

    def for_channels(self, channels: int):
        name = denoiser_for(1 if channels == 1 else 3)
        if name not in self._models:
            self._models[name] = load(name, precision=self.precision, fold_batch_norm=True)
        return self._models[name]

"""The networks the project trained itself, shipped in `hint/weights/` with a model card each.

`denoise` and `inpaint` use them when no `--run` is given, `model.init_from: pretrained`
fine-tunes from them, and the benchmarks measure them. Each entry names its `.keras` file (a
backbone saved by a training run, loaded with `safe_mode=True`), its model card and the
training config that produced it (under `configs/`).

Example:

>>> from hint import pretrained
>>> denoiser = pretrained.load("denoise_gray")
>>> pretrained.available()
['denoise_gray', 'denoise_color', 'inpaint']
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
        discriminator: For a GAN-trained network, its discriminator's weights file in
            `hint/weights/` (what `model.init_from: pretrained` fine-tunes with), or None.
    """

    file: str
    card: str
    task: str
    channels: int
    config: str
    discriminator: str | None = None


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
        "hint_inpaint.keras",
        "hint_inpaint.md",
        "inpaint",
        3,
        "configs/hint_inpaint.yaml",
        discriminator="hint_inpaint_discriminator.weights.h5",
    ),
}


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


def discriminator_path(name: str) -> str | None:
    """The weights file of a shipped network's discriminator, or None when it has none."""
    entry = PRETRAINED.get(name)
    if entry is None or entry.discriminator is None:
        return None
    file = os.path.join(WEIGHTS_DIR, entry.discriminator)
    return file if os.path.isfile(file) else None


def load(name: str, precision: str | None = None, fold_batch_norm: bool = False):
    """Loads a shipped network (a functional backbone) with `safe_mode=True`, uncompiled.

    Args:
        name: A key of `PRETRAINED`.
        precision: `"float32"`, `"mixed_bfloat16"` or `"auto"` (see
            `hint.inference.load_model`), or None for the policy the network was saved with.
            Defaults to None.
        fold_batch_norm: fold a denoiser's batch norms into its convolutions, for inference
            (see `hint.inference.load_model`). Defaults to `False`.
    """
    from hint.inference import load_model

    return load_model(path(name), precision=precision, fold_batch_norm=fold_batch_norm)

"""The `inpaint:` section of a config: hole masks, the HINT losses, the discriminator."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hint.classical import CLASSICAL_METHODS
from hint.config import ConfigError, check_choice, check_positive
from hint.datasets.masks import MASK_KINDS
from hint.losses import ADVERSARIAL_KINDS


@dataclass
class MaskConfig:
    """Hole masks made on the fly inside tf.data (see `hint.datasets.masks`)."""

    kind: str = "mix"
    weights: dict[str, float] = field(
        default_factory=lambda: {"freeform": 0.5, "wide": 0.25, "rect": 0.25}
    )
    folder: str | None = None
    drop: float = 0.5  # hole probability of each pixel for kind: pixels


@dataclass
class InpaintLossConfig:
    """Loss weights (official HINT defaults) and the adversarial loss kind."""

    l1: float = 1.0
    perceptual: float = 0.1
    style: float = 250.0
    adversarial: float = 0.01
    gan: str = "lsgan"
    vgg_weights: str = "imagenet"
    l1_valid: float = 1.0  # weight of the known pixels in the L1 term (1 = official HINT)
    ssim: float = 0.0  # weight of 1 - SSIM of the composite (not in the paper)


@dataclass
class DiscriminatorConfig:
    """The SN-PatchGAN discriminator (`hint.models.PatchDiscriminator`)."""

    type: str = "PatchDiscriminator"
    filters: int = 64
    spectral_norm: bool = True


@dataclass
class InpaintConfig:
    """Everything specific to inpainting; the common sections hold the rest."""

    mask: MaskConfig = field(default_factory=MaskConfig)
    loss: InpaintLossConfig = field(default_factory=InpaintLossConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    # Evaluation: masks per hole-ratio bucket (0-20 %, 20-40 %, 40-60 %).
    per_bucket: int = 8
    # Classical methods evaluated beside the network (`hint.classical`); the OpenCV ones are
    # left out, with a note, where OpenCV is not installed.
    baselines: list[str] = field(default_factory=lambda: ["biharmonic", "telea"])


# Where these keys were before they had a section of their own (hint 0.1).
MOVED_KEYS = {
    "data.mask": "inpaint.mask",
    "discriminator": "inpaint.discriminator",
    "eval.per_bucket": "inpaint.per_bucket",
    **{
        f"loss.{name}": f"inpaint.loss.{name}"
        for name in ("l1", "perceptual", "style", "adversarial", "gan", "vgg_weights")
        + ("l1_valid", "ssim")
    },
}


def validate(section: InpaintConfig) -> None:
    """Raises `ConfigError` for impossible values of the `inpaint:` section."""
    m = section.mask
    check_choice(m.kind, MASK_KINDS, "inpaint.mask.kind")
    for k, w in m.weights.items():
        check_choice(k, [kind for kind in MASK_KINDS if kind != "mix"], "inpaint.mask.weights key")
        check_positive(w, f"inpaint.mask.weights.{k}", allow_zero=True)
    if m.kind == "mix" and sum(m.weights.values()) <= 0:
        raise ConfigError(
            "'inpaint.mask.weights' must have a positive weight when inpaint.mask.kind=mix. "
            f"Received: inpaint.mask.weights={m.weights}"
        )
    if not 0 < m.drop < 1:
        raise ConfigError(
            f"'inpaint.mask.drop' must be in (0, 1). Received: inpaint.mask.drop={m.drop!r}"
        )
    uses_folder = m.kind == "folder" or (m.kind == "mix" and m.weights.get("folder", 0) > 0)
    if uses_folder and (not m.folder or not os.path.isdir(m.folder)):
        raise ConfigError(
            "'inpaint.mask.folder' must be an existing folder of mask images when folder masks "
            f"are used. Received: inpaint.mask.folder={m.folder!r}"
        )
    loss = section.loss
    for name in ("l1", "perceptual", "style", "adversarial", "l1_valid", "ssim"):
        check_positive(getattr(loss, name), f"inpaint.loss.{name}", allow_zero=True)
    check_choice(loss.gan, ADVERSARIAL_KINDS, "inpaint.loss.gan")
    check_positive(section.discriminator.filters, "inpaint.discriminator.filters")
    check_positive(section.per_bucket, "inpaint.per_bucket")
    for name in section.baselines:
        check_choice(name, CLASSICAL_METHODS, "inpaint.baselines entry")

"""The `denoise:` section of a config: the noise model, the pixel loss, the noise levels."""

from __future__ import annotations

from dataclasses import dataclass, field

from hint.config import ConfigError, check_choice, check_positive
from hint.datasets.degradations import DEGRADATION_KINDS
from hint.tasks.denoise.denoiser import PIXEL_LOSSES


@dataclass
class NoiseConfig:
    """The degradation made on the fly (see `hint.datasets.degradations`); sigma in 0-255."""

    kind: str = "gaussian"
    sigma: float = 25.0
    sigma_range: list[float] | None = None
    clip: bool = False
    peak: float = 30.0  # poisson
    amount: float = 0.05  # salt_pepper
    bits: int = 4  # quantization, dither
    rate: float = 0.5  # dropout: the share of pixels dropped


@dataclass
class DenoiseConfig:
    """Everything specific to denoising; the common sections hold the rest."""

    noise: NoiseConfig = field(default_factory=NoiseConfig)
    pixel_loss: str = "mse"
    # Evaluation: Gaussian noise levels (0-255) added with fixed seeds.
    sigmas: list[float] = field(default_factory=lambda: [15.0, 25.0, 50.0])


# Where these keys were before they had a section of their own (hint 0.1).
MOVED_KEYS = {
    "data.noise": "denoise.noise",
    "loss.pixel": "denoise.pixel_loss",
    "eval.sigmas": "denoise.sigmas",
}


def validate(section: DenoiseConfig) -> None:
    """Raises `ConfigError` for impossible values of the `denoise:` section."""
    n = section.noise
    check_choice(n.kind, DEGRADATION_KINDS, "denoise.noise.kind")
    check_positive(n.sigma, "denoise.noise.sigma", allow_zero=True)
    if n.sigma_range is not None:
        lo_hi = n.sigma_range
        if len(lo_hi) != 2 or lo_hi[0] < 0 or lo_hi[1] < lo_hi[0]:
            raise ConfigError(
                "'denoise.noise.sigma_range' must be [low, high] with 0 <= low <= high (0-255 "
                f"units). Received: denoise.noise.sigma_range={lo_hi}"
            )
    check_positive(n.peak, "denoise.noise.peak")
    if not 0.0 <= n.amount <= 1.0:
        raise ConfigError(
            f"'denoise.noise.amount' must be in [0, 1]. Received: denoise.noise.amount={n.amount}"
        )
    if not 1 <= n.bits <= 16:
        raise ConfigError(
            f"'denoise.noise.bits' must be in 1..16. Received: denoise.noise.bits={n.bits}"
        )
    if not 0.0 <= n.rate < 1.0:
        raise ConfigError(
            f"'denoise.noise.rate' must be in [0, 1). Received: denoise.noise.rate={n.rate}"
        )
    check_choice(section.pixel_loss, PIXEL_LOSSES, "denoise.pixel_loss")
    for s in section.sigmas:
        check_positive(s, "denoise.sigmas", allow_zero=True)

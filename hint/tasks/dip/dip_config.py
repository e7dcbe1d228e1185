"""The `dip:` section of a config and the official settings of Deep Image Prior's jobs.

Every setting left at null takes the job's value from `JOBS`, which follows the official
notebooks of Ulyanov, Vedaldi, Lempitsky (github.com/DmitryUlyanov/deep-image-prior:
`denoising.ipynb` for `denoise`, `inpainting.ipynb` for `text`, `holes` and `inpaint`,
`restoration.ipynb` for `pixels`, `super-resolution.ipynb` for `sr`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hint.config import ConfigError, check_choice, check_positive

INPUT_KINDS = ("noise", "meshgrid")
"""The fixed input code: uniform noise x 1/10 with `input_depth` channels, or the 2-channel grid."""

STOPS = ("none", "discrepancy")
"""When a fit stops before its iteration count: never, or (`denoise`) when its loss, averaged
over `dip.stop_window` iterations, falls to the noise variance (Morozov's discrepancy principle:
a fit closer to the noisy image than the clean one is fitting the noise)."""

RESULTS = ("ema", "final", "best-loss")
"""What `--out` gets: the moving average of the outputs, the last output, or the output of
the iteration with the lowest loss."""


@dataclass(frozen=True)
class Job:
    """One of Deep Image Prior's restoration jobs, with the official settings.

    Args:
        summary: What the job restores.
        preset: The `hint.models.DIPSkip` preset (`hint.models.presets`).
        input: `"noise"` or `"meshgrid"` (`INPUT_KINDS`).
        input_depth: Channels of the input code (2 for the meshgrid).
        lr: Adam's learning rate.
        iterations: Optimisation steps.
        reg_noise_std: Standard deviation of the fresh perturbation added to the code at every
            step.
        result: What `--out` gets by default (`RESULTS`).
        needs_mask: Whether the job needs a mask (1 = hole, as everywhere in `hint`).
        mask_kind: For jobs that make their own mask when none is given (`pixels`), the
            `hint.datasets.masks` kind; None otherwise.
        stop: When the fit stops before `iterations` (`STOPS`).
    """

    summary: str
    preset: str
    input: str
    input_depth: int
    lr: float
    iterations: int
    reg_noise_std: float
    result: str
    needs_mask: bool = False
    mask_kind: str | None = None
    stop: str = "none"


JOBS = {
    "denoise": Job(
        "remove Gaussian noise (any sigma); the moving average is the result, as the paper "
        "reports it, taken when the fit reaches the noise level (at most 3000 iterations)",
        "dip_denoise",
        "noise",
        32,
        0.01,
        3000,
        1.0 / 30.0,
        "ema",
        # The official notebook runs all 3000 iterations, set for 512 px images; smaller
        # ones are fitted sooner and the fit then learns the noise (benchmarks/dip.py:
        # 3-6 dB lost at 128 px). Stopping at the noise level reads the loss only.
        stop="discrepancy",
    ),
    "text": Job(
        "remove text overlaid on the image (the mask marks the text)",
        "dip_text",
        "noise",
        32,
        0.01,
        6001,
        0.03,
        "final",
        needs_mask=True,
    ),
    "holes": Job(
        "fill large holes (the meshgrid input and no skip connections, as the paper does)",
        "dip_holes",
        "meshgrid",
        2,
        0.01,
        5001,
        0.03,
        "final",
        needs_mask=True,
    ),
    "pixels": Job(
        "reconstruct an image from a random share of its pixels (50 % by default; the mask "
        "marks the missing ones, or pass none to drop them at random with dip.drop)",
        "dip_pixels",
        "noise",
        32,
        0.001,
        11000,
        0.03,
        "final",
        mask_kind="pixels",
    ),
    "inpaint": Job(
        "fill the holes of any mask",
        "dip_text",
        "noise",
        32,
        0.01,
        6001,
        0.03,
        "final",
        needs_mask=True,
    ),
    "sr": Job(
        "super-resolution by dip.sr_factor: the loss compares the downsampled output with the "
        "low-resolution input",
        "dip_denoise",
        "noise",
        32,
        0.01,
        2000,
        0.03,
        "final",
    ),
}
"""The jobs by name (`--job`), with the official settings."""


@dataclass
class DIPConfig:
    """Deep Image Prior (`python main.py dip`): a network fitted to one image at a time.

    null means the job's own value (`JOBS`).
    """

    job: str = "denoise"
    preset: str | None = None
    input: str | None = None
    input_depth: int | None = None
    lr: float | None = None
    iterations: int | None = None
    reg_noise_std: float | None = None
    result: str | None = None
    # The moving average of the outputs: avg = exp_weight * avg + (1 - exp_weight) * output.
    exp_weight: float = 0.99
    # Backtracking: when the PSNR of the output against the degraded image (its known pixels)
    # falls more than this many dB below the last accepted check, the weights and Adam's
    # moments go back to that check and the step is skipped; 0 = off.
    backtrack_db: float = 5.0
    check_every: int = 1  # iterations between backtracking checks
    drop: float = 0.5  # `pixels` without a mask: the share of pixels dropped at random
    sr_factor: int = 4  # `sr`: the output is this many times the input's size
    seed: int = 0  # seeds the weights, the input code and its perturbations
    snapshot_every: int = 0  # iterations between snapshots in the sheet; 0 = iterations / 8
    checkpoint_every: int = 200  # iterations between resumable checkpoints; 0 = none
    # Early stopping (`STOPS`; null = the job's: `discrepancy` for `denoise`, else `none`): at
    # the noise level `sigma` (0-255 units; null = estimated from the image by scikit-image's
    # wavelet estimator), over `stop_window` iterations, since the loss of one iteration moves
    # with the input perturbation.
    stop: str | None = None
    sigma: float | None = None
    stop_window: int = 50


def job_settings(section: DIPConfig) -> dict:
    """The effective settings: the section's values, the job's where the section has null."""
    job = JOBS[section.job]
    out = {}
    for name in (
        "preset",
        "input",
        "input_depth",
        "lr",
        "iterations",
        "reg_noise_std",
        "result",
        "stop",
    ):
        value = getattr(section, name)
        out[name] = getattr(job, name) if value is None else value
    if section.input == "meshgrid" and section.input_depth is None:
        out["input_depth"] = 2
    return out


def validate(section: DIPConfig) -> None:
    """Raises `ConfigError` for impossible values of the `dip:` section."""
    check_choice(section.job, list(JOBS), "dip.job")
    if section.input is not None:
        check_choice(section.input, INPUT_KINDS, "dip.input")
    if section.result is not None:
        check_choice(section.result, RESULTS, "dip.result")
    for name in ("input_depth", "lr", "iterations", "sr_factor"):
        value = getattr(section, name)
        if value is not None:
            check_positive(value, f"dip.{name}")
    for name in ("reg_noise_std", "backtrack_db", "snapshot_every", "checkpoint_every"):
        value = getattr(section, name)
        if value is not None:
            check_positive(value, f"dip.{name}", allow_zero=True)
    check_positive(section.check_every, "dip.check_every")
    if section.stop is not None:
        check_choice(section.stop, STOPS, "dip.stop")
    check_positive(section.stop_window, "dip.stop_window")
    if section.sigma is not None:
        check_positive(section.sigma, "dip.sigma")
    if section.stop == "discrepancy" and section.job != "denoise":
        raise ConfigError(
            "'dip.stop: discrepancy' needs a noisy image to measure the fit against: it is for "
            f"--job denoise. Received: dip.job={section.job!r}"
        )
    if not 0.0 <= section.exp_weight < 1.0:
        raise ConfigError(
            f"'dip.exp_weight' must be in [0, 1). Received: dip.exp_weight={section.exp_weight}"
        )
    if not 0.0 < section.drop < 1.0:
        raise ConfigError(f"'dip.drop' must be in (0, 1). Received: dip.drop={section.drop}")
    if section.input == "meshgrid" and section.input_depth not in (None, 2):
        raise ConfigError(
            "'dip.input_depth' must be 2 with dip.input=meshgrid (x and y). "
            f"Received: dip.input_depth={section.input_depth}"
        )

"""Deep Image Prior's plug-in: `python main.py dip` restores one image with no training data.

Reference: Ulyanov, Vedaldi, Lempitsky, "Deep Image Prior", CVPR 2018 / IJCV 2020. A randomly
initialised encoder-decoder (`hint.models.DIPSkip`) is fitted to the degraded image itself
(`PriorFit`); the network's structure is the prior. No training set, no trained model, no
serving signature: the task has an inference command only.
"""

from __future__ import annotations

import math
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from hint import config as config_lib
from hint import inference
from hint.datasets import image_io, masks
from hint.models import DIPSkip
from hint.models.dip_skip import meshgrid_code, noise_code
from hint.task_plugin import TaskPlugin, register_task
from hint.tasks.dip import dip_config
from hint.tasks.dip.fit_result import FitResult
from hint.tasks.dip.prior_fit import PriorFit, discrepancy_stop

# Beside `--out`: the checkpoint folder of a run in progress, the curve and the snapshots.
CHECKPOINT_SUFFIX = ".dip-checkpoint"
CURVE_SUFFIX = "_curve.png"
SNAPSHOTS_SUFFIX = "_snapshots.png"
# Snapshots in the sheet when `dip.snapshot_every` is 0.
DEFAULT_SNAPSHOTS = 8


class DIPError(inference.InferenceError):
    """Bad `dip` input: reported in one line, exit code 2, nothing written."""


class DIPPlugin(TaskPlugin):
    """Deep Image Prior: one degraded image, restored by fitting a network to it.

    Jobs (`--job`, `hint.tasks.dip.dip_config.JOBS`): `denoise`, `text`, `holes`, `pixels`,
    `inpaint` and `sr`, each with the official settings; the `dip:` config section overrides
    any of them (`--set dip.lr=0.001`).
    """

    name = "dip"
    summary = "restore one image with Deep Image Prior (no training data): denoise, text, ..."
    config_section = dip_config.DIPConfig

    def validate_config(self, cfg) -> None:
        dip_config.validate(cfg.dip)

    # ------------------------------------------------------------------ the fit

    def fit(
        self,
        image,
        mask=None,
        clean=None,
        section: dip_config.DIPConfig | None = None,
        checkpoint: str | None = None,
        resume: bool = False,
        progress: bool = True,
        on_snapshot=None,
    ) -> FitResult:
        """Fits a network to one degraded image; returns the fit's images at the image's size.

        Args:
            image: float32 [H, W, C] in [0, 1], the degraded image (for `sr`, the small one).
            mask: float32 [H, W, 1], 1 = hole (missing pixels), or None (for `pixels`, a random
                mask of `dip.drop` is made; other jobs that need one raise `DIPError`).
            clean: float32 [H', W', C], a clean reference for the history only, or None.
            section: The `dip:` settings. Defaults to None: `DIPConfig()` (job `denoise`).
            checkpoint: A folder for resumable checkpoints, or None.
            resume: Continue from `checkpoint`.
            progress: Print the estimate and a progress bar.
            on_snapshot: `on_snapshot(iteration, output, ema)`, with images at the result's
                size, every `dip.snapshot_every` iterations.

        Returns:
            The `FitResult`, its images cropped to the result's size ([H, W] or, for `sr`,
            the input's size times `dip.sr_factor`), not yet composited with known pixels.
        """
        section = section or dip_config.DIPConfig()
        dip_config.validate(section)
        settings = dip_config.job_settings(section)
        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[..., None]
        inference.check_finite(image)
        h, w, c = image.shape
        hole = self._hole(section, image, mask)
        known = 1.0 - hole
        factor = _factor(section)
        out_h, out_w = h * factor, w * factor
        if clean is not None:
            clean = np.asarray(clean, np.float32)
            clean = clean[..., None] if clean.ndim == 2 else clean
            if clean.shape != (out_h, out_w, c):
                raise DIPError(
                    f"--clean must have the result's shape {(out_h, out_w, c)}. "
                    f"Received: clean.shape={clean.shape}"
                )
        keras.utils.set_random_seed(section.seed)
        network = DIPSkip.from_preset(
            settings["preset"], input_channels=settings["input_depth"], output_channels=c
        )
        # The padded size: a multiple of the network's at the result's resolution, and at
        # least its smallest side (reflection padding needs more pixels than it pads).
        multiple = network.size_multiple
        low = multiple // math.gcd(multiple, factor)  # the input's multiple
        least = -(-network.min_side // factor)
        size = [max(-(-s // low), -(-least // low)) * low for s in (h, w)]
        target = inference.pad_to(image, *size)
        known = inference.pad_to(known, *size)
        known[h:], known[:, w:] = 0.0, 0.0  # padding is not observed
        ph, pw = target.shape[0] * factor, target.shape[1] * factor
        if settings["input"] == "meshgrid":
            code = meshgrid_code(ph, pw)
        else:
            code = noise_code(ph, pw, settings["input_depth"], section.seed)
        operator = None
        if factor > 1:
            size = target.shape[:2]

            def operator(x):
                # The antialiased bicubic downscaling most low-resolution images come from.
                return tf.image.resize(x, size, method="bicubic", antialias=True)

        fit = PriorFit(
            network,
            code,
            target,
            known,
            lr=settings["lr"],
            reg_noise_std=settings["reg_noise_std"],
            exp_weight=section.exp_weight,
            backtrack_db=section.backtrack_db,
            check_every=section.check_every,
            seed=section.seed,
            operator=operator,
            clean=clean,
        )
        if resume:
            fit.restore(checkpoint)
        iterations = settings["iterations"]
        every = section.snapshot_every or max(1, iterations // DEFAULT_SNAPSHOTS)

        def snapshot(i, out, ema):
            on_snapshot(i, out[:out_h, :out_w], ema[:out_h, :out_w])

        stop_below = None
        if settings["stop"] == "discrepancy":
            sigma = noise_sigma(image, section.sigma)
            stop_below = (sigma / 255.0) ** 2
            if progress:
                given = "given" if section.sigma is not None else "estimated from the image"
                print(
                    f"Stopping when the fit reaches the noise level: sigma {sigma:.1f} ({given})."
                )
        result = fit.run(
            iterations,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_every=section.checkpoint_every,
            on_snapshot=snapshot if on_snapshot is not None else None,
            snapshot_every=every,
            stop_below=stop_below,
            stop_window=section.stop_window,
        )
        result.final = result.final[:out_h, :out_w]
        result.ema = result.ema[:out_h, :out_w]
        result.best_loss = result.best_loss[:out_h, :out_w]
        return result

    def _hole(self, section, image, mask) -> np.ndarray:
        """The mask to fit with (1 = hole): the given one, a random one, or none."""
        job = dip_config.JOBS[section.job]
        h, w = image.shape[:2]
        if mask is None:
            if job.needs_mask:
                raise DIPError(f"--job {section.job} needs a --mask (white = missing).")
            if job.mask_kind == "pixels":
                seed = tf.constant([section.seed, 0], tf.int64)
                drop = masks.pixel_dropout_mask(seed, [h, w, 1], section.drop)
                return drop.numpy().astype(np.float32)
            return np.zeros((h, w, 1), np.float32)
        mask = np.asarray(mask, np.float32)
        mask = mask[..., None] if mask.ndim == 2 else mask
        if mask.shape[:2] != (h, w):
            raise DIPError(
                f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}: give a "
                "mask of the image's size."
            )
        if section.job == "sr":
            raise DIPError("--job sr takes no --mask.")
        return inference.binarize_mask(mask)

    # ------------------------------------------------------------------ inference

    def restore(self, network, image, mask=None, clean=None, **settings):
        """The restored image (`fit`, composited with the known pixels); `network` is unused.

        `settings` are `dip:` keys (`job`, `iterations`, `lr`, ...). Deep Image Prior has no
        trained network: pass `None`.
        """
        if network is not None:
            raise DIPError("Deep Image Prior fits a new network per image: pass network=None.")
        section = dip_config.DIPConfig(**settings)
        result = self.fit(image, mask, clean, section, progress=False)
        which = dip_config.job_settings(section)["result"]
        return self.composite(result.image(which), image, mask, section)

    def composite(self, out, image, mask, section):
        """The known pixels of the input, the fit elsewhere (mask jobs), clipped to [0, 1]."""
        out = np.clip(out, 0.0, 1.0)
        if mask is None or section.job in ("denoise", "sr"):
            return out.astype(np.float32)
        hole = inference.binarize_mask(np.asarray(mask, np.float32).reshape(*out.shape[:2], 1))
        image = np.asarray(image, np.float32).reshape(out.shape)
        return (out * hole + image * (1.0 - hole)).astype(np.float32)

    def add_inference_arguments(self, parser) -> None:
        jobs = ", ".join(f"{k}: {v.summary}" for k, v in dip_config.JOBS.items())
        parser.description = f"Jobs: {jobs}."
        parser.add_argument("--job", choices=list(dip_config.JOBS), help="default: dip.job")
        parser.add_argument("--image", required=True, help="degraded image file or folder")
        parser.add_argument("--out", required=True, help="output file or folder")
        parser.add_argument("--mask", help="mask file or folder (white = missing pixels)")
        parser.add_argument("--clean", help="clean reference (file or folder): PSNR / SSIM only")
        parser.add_argument("--iterations", type=int, help="default: the job's")
        parser.add_argument(
            "--result",
            choices=dip_config.RESULTS,
            help="what --out gets (default: the job's: ema for denoise, final otherwise)",
        )
        parser.add_argument(
            "--max-side",
            type=int,
            metavar="N",
            help="fit at most N px a side (the image is downscaled and the result brought "
            "back to its size)",
        )
        parser.add_argument(
            "--resume", action="store_true", help="continue an interrupted run of this --out"
        )
        parser.add_argument("--config", help="a YAML config whose dip: section to use")
        parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")

    def run_inference(self, args) -> list[str]:
        cfg = config_lib.load_config(args.config, list(args.set))
        # A config of another task has a dip: section only when it writes one.
        section = cfg.sections.get(self.name) or dip_config.DIPConfig()
        if args.job is not None:
            section.job = args.job
        if args.iterations is not None:
            section.iterations = args.iterations
        if args.result is not None:
            section.result = args.result
        try:
            dip_config.validate(section)
        except config_lib.ConfigError as e:
            raise DIPError(str(e)) from None
        return self.command(
            args.image, args.out, section, args.mask, args.clean, args.max_side, args.resume
        )

    def command(
        self, image, out, section, mask=None, clean=None, max_side=None, resume=False
    ) -> list[str]:
        """`python main.py dip`: fits each image (file or folder) and writes its result.

        Beside each output: `<stem>_curve.png` (loss and PSNR per iteration, backtracking
        marked) and `<stem>_snapshots.png` (outputs and moving averages during the fit).
        """
        jobs = self._jobs(image, out, mask, clean, section)
        if max_side is not None and max_side < 32:
            raise DIPError(f"--max-side must be at least 32. Received: --max-side={max_side}")
        written = []
        for job in jobs:
            written += self._one(*job, section, max_side, resume)
        return written

    def _jobs(self, image, out, mask, clean, section):
        """(image, mask, clean, out) paths, all checked before anything is fitted."""
        if not os.path.exists(image):
            raise DIPError(f"--image does not exist: {image}")
        needs = dip_config.JOBS[section.job].needs_mask
        if needs and mask is None:
            raise DIPError(f"--job {section.job} needs a --mask (white = missing).")
        if not os.path.isdir(image):
            return [(image, mask, clean, out)]
        if mask is not None and not os.path.isdir(mask):
            raise DIPError("With a folder of images, --mask must be a folder of masks.")
        pairs = (
            inference.pair_files(image, mask)
            if mask
            else [(p, None) for p in image_io.list_images(image)]
        )
        if not pairs:
            raise DIPError(f"No images found in {image}")
        refs = dict(inference.pair_files(image, clean)) if clean else {}
        return [(p, m, refs.get(p), inference.output_path_for(p, out)) for p, m in pairs]

    def _read(self, path, what):
        try:
            array = image_io.read_image(path)
        except (image_io.ImageReadError, OSError, ValueError) as e:
            raise DIPError(f"{what} {path}: {e}") from None
        array = array[..., None] if array.ndim == 2 else array
        inference.check_finite(array, path)
        return array

    def _one(self, image_path, mask_path, clean_path, out, section, max_side, resume):
        image = self._read(image_path, "--image")
        mask = (
            None if mask_path is None else inference.binarize_mask(self._read(mask_path, "--mask"))
        )
        clean = None if clean_path is None else self._read(clean_path, "--clean")
        if mask is not None and mask.shape[:2] != image.shape[:2]:
            raise DIPError(
                f"The mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but the image is "
                f"{image.shape[1]}x{image.shape[0]}: give a mask of the image's size."
            )
        if clean is not None and clean.shape[-1] != image.shape[-1]:
            clean = clean.mean(-1, keepdims=True) if image.shape[-1] == 1 else clean
        checkpoint = out + CHECKPOINT_SUFFIX
        if resume and not os.path.isdir(checkpoint):
            raise DIPError(f"--resume: no checkpoint of {out} to continue ({checkpoint}).")
        if not resume and os.path.isdir(checkpoint):
            raise DIPError(
                f"{checkpoint} holds an interrupted run of {out}: --resume continues it, or "
                "delete the folder to start again."
            )
        h, w = image.shape[:2]
        work_image, work_mask, work_clean = image, mask, clean
        if max_side is not None and max(h, w) > max_side:
            scale = max_side / max(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            work_image = tf.image.resize(image, size, method="area").numpy()
            if mask is not None:
                work_mask = (tf.image.resize(mask, size, method="area").numpy() > 0).astype(
                    np.float32
                )
            if clean is not None:
                factor = _factor(section)
                csize = (size[0] * factor, size[1] * factor)
                work_clean = tf.image.resize(clean, csize, method="area").numpy()
            print(
                f"Fitting at {size[1]}x{size[0]} (--max-side {max_side}); the result is "
                f"brought back to {w}x{h}."
            )
        snapshots = []
        result = self.fit(
            work_image,
            work_mask,
            work_clean,
            section,
            checkpoint=checkpoint,
            resume=resume,
            on_snapshot=lambda i, o, e: snapshots.append((i, o, e)),
        )
        which = dip_config.job_settings(section)["result"]
        restored = result.image(which)
        factor = _factor(section)
        full = (h * factor, w * factor)
        if restored.shape[:2] != full:
            restored = tf.image.resize(restored, full, method="bicubic").numpy()
        restored = self.composite(restored, image, mask if factor == 1 else None, section)
        image_io.write_image(out, restored)
        written = [out]
        stem = os.path.splitext(out)[0]
        written.append(self._curve(result, stem + CURVE_SUFFIX))
        written.append(self._sheet(snapshots, stem + SNAPSHOTS_SUFFIX))
        stopped = ", stopped at the noise level" if result.stopped_at is not None else ""
        line = f"Restored ({which}, {result.iterations} iterations{stopped}): {out}"
        if clean is not None:
            from hint.evaluation import image_metrics

            m = image_metrics(restored[None], clean[None])
            line += f"; against --clean: PSNR {m['psnr'][0]:.2f} dB, SSIM {m['ssim'][0]:.4f}"
        print(line)
        hint_line = _stop_hint(section, work_image, result)
        if hint_line:
            print(hint_line)
        if result.interrupted:
            print(f"Interrupted: `--resume` continues it from {checkpoint}.")
        else:
            shutil.rmtree(checkpoint, ignore_errors=True)
        return written

    def _curve(self, result: FitResult, path: str) -> str:
        from hint import plots

        return plots.plot_fit_curve(result.history, result.backtracks, path)

    def _sheet(self, snapshots, path: str) -> str:
        from hint import plots

        rows = [(o, e) for _, o, e in snapshots]
        labels = [f"iteration {i}" for i, _, _ in snapshots]
        return plots.sample_grid(rows, path, titles=("output", "moving average"), row_labels=labels)


def _factor(section) -> int:
    """How many times larger than the input the result is (`dip.sr_factor` for `sr`)."""
    return section.sr_factor if section.job == "sr" else 1


register_task(DIPPlugin())


def noise_sigma(image, sigma: float | None) -> float:
    """The noise level in 0-255 units: `sigma` when given, else estimated from `image`.

    The estimate is scikit-image's `estimate_sigma` (Donoho's median absolute deviation of the
    finest wavelet coefficients), averaged over the channels.
    """
    if sigma is not None:
        return float(sigma)
    from skimage.restoration import estimate_sigma

    image = np.asarray(image, np.float64)
    return float(estimate_sigma(image, channel_axis=-1, average_sigmas=True)) * 255.0


def _stop_hint(section, image, result: FitResult) -> str | None:
    """For a denoising fit run to its count: where it reached the noise level, if well before.

    The official iteration counts were set for large images; a small one is fitted sooner and
    then the fit learns the noise, so the user is told where `dip.stop=discrepancy` would stop.
    """
    stop = dip_config.job_settings(section)["stop"]
    if section.job != "denoise" or stop != "none" or result.interrupted:
        return None
    sigma = noise_sigma(image, section.sigma)
    n = discrepancy_stop(result.history["loss"], (sigma / 255.0) ** 2, section.stop_window)
    if n is None or n > 0.9 * result.iterations:
        return None
    return (
        f"Note: the fit reached the noise level (sigma {sigma:.1f}) at iteration {n} of "
        f"{result.iterations} and then fitted the noise; --set dip.stop=discrepancy stops there."
    )

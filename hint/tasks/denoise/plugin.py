"""The denoising task's plug-in: noise models, the `Denoiser`, noise levels, `denoise`.

Reference: Zhang, Zuo, Chen, Meng, Zhang, "Beyond a Gaussian Denoiser: Residual Learning of
Deep CNN for Image Denoising", IEEE TIP 2017.
"""

from __future__ import annotations

import os

import numpy as np

from hint import config as config_lib
from hint import evaluation, inference, training
from hint.datasets import degradations, image_io, pipelines
from hint.precision import precision_policy
from hint.task_plugin import TaskPlugin, register_task
from hint.tasks.denoise import denoise_config
from hint.tasks.denoise.shipped_denoisers import COLOR, GRAY, ShippedDenoisers


class DenoisePlugin(TaskPlugin):
    """Denoising: remove noise from an image, blind or given its level (sigma, 0-255).

    Training pairs come from clean crops and a noise model applied on the fly (`denoise.noise`);
    the training model is `Denoiser` (a pixel loss); the evaluation adds Gaussian noise of each
    `denoise.sigmas` level with fixed seeds to whole images or validation crops; `python main.py
    denoise` cleans a user's images (`hint.inference.denoise_paths`); export serves
    `hint.export.DenoisingServing`.
    """

    name = "denoise"
    summary = "denoise an image (or a folder): shipped models or a run"
    eval_label = "noise"
    sample_titles = ("noisy", "denoised", "clean")
    config_section = denoise_config.DenoiseConfig
    moved_keys = denoise_config.MOVED_KEYS

    def validate_config(self, cfg) -> None:
        denoise_config.validate(cfg.denoise)

    # ------------------------------------------------------------------ training

    def degradation(self, cfg) -> degradations.Degradation:
        """The configured noise model (`denoise.noise`)."""
        n = cfg.denoise.noise
        params = {
            "gaussian": {"sigma": n.sigma, "sigma_range": n.sigma_range, "clip": n.clip},
            "poisson": {"peak": n.peak},
            "salt_pepper": {"amount": n.amount},
            "speckle": {"sigma": n.sigma},
            "quantization": {"bits": n.bits},
            "dither": {"bits": n.bits},
            "dropout": {"rate": n.rate},
        }[n.kind]
        return degradations.make_degradation(n.kind, **params)

    def make_data(self, cfg):
        train_clean, val_clean = training.clean_sources(cfg)
        noise, batch = self.degradation(cfg), cfg.data.batch_size
        train = pipelines.denoising_pipeline(
            train_clean, noise, batch, seed=cfg.run.seed, training=True
        )
        val = pipelines.denoising_pipeline(
            val_clean, noise, batch, seed=cfg.eval.seed, training=False
        )
        return train, val

    def build_model(self, cfg):
        from hint.tasks.denoise.denoiser import Denoiser

        with precision_policy(cfg.train.precision):
            backbone = training.build_generator(cfg)
            if cfg.model.init_from:
                training.init_from(backbone, training.init_source(cfg))
            training.freeze(backbone, cfg.model.freeze)
            model = Denoiser(backbone, name="denoiser")
            t = cfg.train
            model.compile(
                optimizer=t.optimizer,
                learning_rate=training.learning_rate(cfg),
                beta_1=t.beta_1,
                beta_2=t.beta_2,
                loss=cfg.denoise.pixel_loss,
                ema_momentum=t.ema_momentum,
                jit_compile=t.jit_compile,
            )
            size, channels = cfg.data.image_size, cfg.data.channels
            model(
                {
                    "image": np.zeros((1, size, size, channels), np.float32),
                    "noise_level": np.zeros((1, size, size, 1), np.float32),
                }
            )
        return model

    def sample_rows(self, network, inputs, target):
        pred = np.asarray(network(inputs, training=False)).clip(0, 1)
        noisy = inputs["image"].clip(0, 1)
        return [(noisy[i], pred[i], target[i]) for i in range(len(pred))]

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, network, cfg, out_dir, data=None, verbose=True, references=None):
        # Denoisers are measured on whole images (the benchmark convention) when a folder is
        # given or the run validated on a separate folder; otherwise on the validation crops.
        folder = data if data is not None else cfg.data.val_path
        if folder is not None:
            files = image_io.list_images(folder)
            if not files:
                raise training.TrainingError(f"No images found in {folder}")
            images = [image_io.read_image(f, channels=cfg.data.channels) for f in files]
        else:
            images = evaluation.evaluation_images(cfg, None)
        sigmas, seed, clip = cfg.denoise.sigmas, cfg.eval.seed, cfg.denoise.noise.clip
        rows = []
        # The same noisy images for every network: the noise depends on the seed only.
        for label, net in {evaluation.THIS_RUN: network, **(references or {})}.items():
            per_image = evaluation.evaluate_denoising(
                net, images, sigmas, seed=seed, clip=clip, progress=verbose
            )
            rows += [{"method": label, **r} for r in evaluation.summary_table(per_image)]
        self._figure(network, images, sigmas, seed, clip, os.path.join(out_dir, "samples.png"))
        return rows

    def _figure(self, network, images, sigmas, seed, clip, path, crop=96, rows=3):
        """noisy | denoised | clean crops at the middle evaluation sigma."""
        from hint import plots

        sigma = sigmas[len(sigmas) // 2]
        grid = []
        for i, clean in enumerate(images[:rows]):
            noisy = evaluation.add_noise(clean[None], sigma, seed + i, clip)[0]
            out = inference.denoise_array(network, noisy, sigma=sigma)
            h, w = clean.shape[:2]
            t, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
            window = (slice(t, t + crop), slice(left, left + crop))
            grid.append((noisy[window].clip(0, 1), out[window], clean[window]))
        plots.sample_grid(grid, path, titles=(f"noisy (sigma {sigma:g})", "denoised", "clean"))

    # ------------------------------------------------------------------ inference

    def restore(self, network, image, sigma=None, blind=False, ensemble="none", **options):
        """Denoises `image` [H, W, C] (`denoise_array`); `sigma` in 0-255, or `blind=True`."""
        if image.ndim == 2:
            image = image[..., None]
        conditioned = "noise_level" in {t.name for t in network.inputs}
        if sigma is None and blind and conditioned:
            sigma = inference.estimate_sigma(image)
        return inference.denoise_array(network, image, sigma=sigma, ensemble=ensemble, **options)

    def accepts(self, network) -> bool:
        names = {t.name for t in getattr(network, "inputs", None) or []}
        return names in ({"image"}, {"image", "noise_level"})

    def add_inference_arguments(self, parser) -> None:
        parser.add_argument("--run", metavar="RUN_DIR", help="a run (default: shipped models)")
        parser.add_argument("--image", required=True, help="noisy image file or folder")
        parser.add_argument("--out", required=True, help="output file or folder")
        level = parser.add_mutually_exclusive_group()
        level.add_argument("--sigma", type=float, help="noise level, 0-255 (conditioned models)")
        level.add_argument(
            "--blind",
            action="store_true",
            help="no noise level given: estimated from each image for noise-conditioned models",
        )
        parser.add_argument(
            "--ensemble",
            choices=config_lib.ENSEMBLES,
            default="none",
            help="dihedral: average 8 rotated/flipped passes (+0.10-0.17 dB measured, 8x the time)",
        )
        inference.add_precision_argument(parser)

    def run_inference(self, args) -> list[str]:
        return self.command(
            args.run,
            args.image,
            args.out,
            sigma=args.sigma,
            blind=args.blind,
            precision=args.precision,
            ensemble=args.ensemble,
        )

    def command(
        self, run_dir, image, out, sigma=None, blind=False, precision="auto", ensemble="none"
    ) -> list[str]:
        """`python main.py denoise`: cleans a file or a folder with a run's or shipped networks.

        Without a run, the shipped gray or colour denoiser is chosen per image. `precision` is
        the one the network computes in (`"auto"` is bfloat16 on CPUs that compute it
        natively); `ensemble="dihedral"` averages eight rotated / flipped passes
        (`inference.denoise_array`).
        """
        inference.check_denoise_request(image, sigma, ensemble)  # before the slower model load
        precision = inference.announce_precision(precision)
        if run_dir is not None:
            from hint import restorer

            model = restorer.load(run_dir, precision=precision)
            if model.task is not self:
                raise inference.InferenceError(
                    f"{run_dir} is a {model.task.name} model, not a denoising one."
                )
            network = model.network
        else:
            print("Using the shipped denoisers (hint/weights/, see their model cards)")
            network = ShippedDenoisers(precision=precision)
        outs = inference.denoise_paths(
            network, image, out, sigma=sigma, blind=blind, ensemble=ensemble
        )
        where = outs[0] if len(outs) == 1 else f"{len(outs)} images in {out}"
        print(f"Denoised: {where}")
        return outs

    # ------------------------------------------------------------------ serving

    def serving_module(self, network):
        from hint.export import DenoisingServing

        return DenoisingServing(network)

    # ------------------------------------------------------------------ shipped model, card

    def shipped_model(self, channels: int) -> str | None:
        return {1: GRAY, 3: COLOR}.get(channels)

    def card_settings(self, cfg) -> dict[str, dict]:
        data = cfg.to_dict()
        return {"data": data["data"], "denoise": data["denoise"]}

    def card_evaluation(self) -> str:
        return "whole validation images, Gaussian noise added without clipping, fixed seeds"


register_task(DenoisePlugin())

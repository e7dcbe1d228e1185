"""The inpainting task's plug-in: masks, the HINT training model, hole-ratio buckets, `inpaint`.

Reference: Chen, Atapour-Abarghouei, Shum, "HINT: High-quality INpainting Transformer with
Mask-Aware Encoding and Enhanced Attention", IEEE TMM 2024 (arXiv 2402.14185).
"""

from __future__ import annotations

import os

import numpy as np

from hint import config as config_lib
from hint import evaluation, inference, perceptual_evaluation, training
from hint.datasets import masks, pipelines
from hint.models.model_registry import model_class
from hint.perceptual_evaluation import PerceptualMetrics
from hint.precision import precision_policy
from hint.task_plugin import TaskPlugin, register_task
from hint.tasks.inpaint import inpaint_config

# What `--max-side` is for a run's network (the shipped one has its own, see its card).
RUN_MAX_SIDE = inference.MAX_SIDE


class InpaintPlugin(TaskPlugin):
    """Inpainting: fill the holes of an image given a mask (1 = hole).

    Training pairs come from clean crops and masks made on the fly (`inpaint.mask`); the training
    model is `Inpainter` (generator + optional SN-PatchGAN discriminator, the HINT losses); the
    evaluation reports the composite's metrics per hole-ratio bucket; `python main.py inpaint`
    fills a user's images (`hint.inference.inpaint_paths`); export serves
    `hint.export.InpaintingServing`.
    """

    name = "inpaint"
    summary = "inpaint an image (or folders): shipped model or a run"
    eval_label = "hole ratio"
    sample_titles = None  # masked input | mask | output | ground truth
    config_section = inpaint_config.InpaintConfig
    moved_keys = inpaint_config.MOVED_KEYS

    def validate_config(self, cfg) -> None:
        inpaint_config.validate(cfg.inpaint)

    # ------------------------------------------------------------------ training

    def mask_generator(self, cfg, image_size: int | None = None) -> masks.MaskGenerator:
        """The configured mask generator, for `image_size` (default: the training crops)."""
        m = cfg.inpaint.mask
        return masks.MaskGenerator(
            kind=m.kind,
            image_size=image_size or cfg.data.image_size,
            weights=m.weights,
            folder=m.folder,
            drop=m.drop,
        )

    def make_data(self, cfg):
        train_clean, val_clean = training.clean_sources(cfg)
        d = cfg.data
        mask_gen = self.mask_generator(cfg)
        train = pipelines.inpainting_pipeline(
            train_clean, mask_gen, d.batch_size, seed=cfg.run.seed, training=True
        )
        # Validation crops may be larger than training crops (data.val_size): masks of theirs.
        val_masks = self.mask_generator(cfg, d.val_size) if d.val_size else mask_gen
        val = pipelines.validation_pipeline(val_clean, val_masks, d.batch_size, seed=cfg.eval.seed)
        return train, val

    def critics(self, cfg) -> dict:
        """The SN-PatchGAN discriminator, or nothing without an adversarial loss."""
        if cfg.inpaint.loss.adversarial <= 0:
            return {}
        d = cfg.inpaint.discriminator
        cls = model_class(d.type)
        return {
            "discriminator": cls(
                image_channels=cfg.data.channels, filters=d.filters, spectral_norm=d.spectral_norm
            )
        }

    def load_discriminator(self, cfg, source: str):
        """The discriminator `source` was trained with, as this run's, or None.

        Args:
            cfg: This run's config (its `inpaint.discriminator` must match the source's).
            source: A run directory (its last `checkpoints/discriminator.weights.h5`) or a
                shipped network's file (`hint.pretrained.discriminator_path`); anything else
                gives None.
        """
        from hint import pretrained

        discriminator = self.critics(cfg).get("discriminator")
        path = os.path.join(source, "checkpoints", training.DISCRIMINATOR_FILE)
        if not os.path.isdir(source):
            shipped = self.shipped_model(cfg.data.channels)
            is_shipped = os.path.abspath(source) == os.path.abspath(pretrained.path(shipped))
            path = pretrained.discriminator_path(shipped) if is_shipped else None
        if discriminator is None or path is None or not os.path.isfile(path):
            return None
        try:
            discriminator.load_weights(path)
        except ValueError as e:
            raise training.TrainingError(
                f"model.init_from: the discriminator in {path} does not match "
                f"inpaint.discriminator ({e}). Use the source's discriminator settings, or "
                "inpaint.loss.adversarial=0."
            ) from None
        return discriminator

    def build_model(self, cfg):
        from hint import losses
        from hint.tasks.inpaint.inpainter import Inpainter

        vgg_weights = cfg.inpaint.loss.vgg_weights
        if cfg.inpaint.loss.perceptual > 0 or cfg.inpaint.loss.style > 0:
            # Fails before the first step with instructions when VGG19 weights are missing.
            vgg_weights = losses.resolve_vgg_weights(vgg_weights)
        with precision_policy(cfg.train.precision):
            generator = training.build_generator(cfg)
        # The SN-PatchGAN stays float32: it costs a few percent of a step, and its spectral-norm
        # power iteration and logits keep full precision.
        discriminator = self.critics(cfg).get("discriminator")
        if cfg.model.init_from:
            source = training.init_source(cfg)
            training.init_from(generator, source)
            # "HINT Initial": the source's discriminator comes along when this run has one.
            donor = self.load_discriminator(cfg, source) if discriminator is not None else None
            if donor is not None:
                discriminator.set_weights(donor.get_weights())
        training.freeze(generator, cfg.model.freeze)
        model = Inpainter(generator, discriminator, name="inpainter")
        t, loss = cfg.train, cfg.inpaint.loss
        model.compile(
            optimizer=t.optimizer,
            learning_rate=training.learning_rate(cfg),
            d_learning_rate=training.learning_rate(cfg, scale=t.d_lr_ratio),
            beta_1=t.beta_1,
            beta_2=t.beta_2,
            d_lr_ratio=t.d_lr_ratio,
            l1=loss.l1,
            perceptual=loss.perceptual,
            style=loss.style,
            adversarial=loss.adversarial,
            l1_valid=loss.l1_valid,
            ssim=loss.ssim,
            ema_momentum=t.ema_momentum,
            gan=loss.gan,
            vgg_weights=vgg_weights,
            jit_compile=t.jit_compile,
        )
        size, channels = cfg.data.image_size, cfg.data.channels
        model(
            {
                "image": np.zeros((1, size, size, channels), np.float32),
                "mask": np.zeros((1, size, size, 1), np.float32),
            }
        )
        return model

    def sample_rows(self, network, inputs, target):
        from hint.metrics import composite

        image, mask = inputs["image"], inputs["mask"]
        pred = np.asarray(composite(network(inputs, training=False), image, mask))
        return [(image[i], mask[i], pred[i], target[i]) for i in range(len(pred))]

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, network, cfg, out_dir, data=None, verbose=True, references=None):
        """Metrics per hole-ratio bucket of the network run as `inpaint` runs it.

        The networks of `references` and the classical methods of `inpaint.baselines` get the
        same images and masks; their rows carry their `method`, and `out_dir/comparison.png`
        shows a few examples of every method side by side.
        """
        from hint import classical

        images = evaluation.evaluation_images(cfg, data)
        # The crops' size: data.val_size when the run validated on a separate folder.
        eval_masks = masks.evaluation_masks(
            images.shape[1], per_bucket=cfg.inpaint.per_bucket, seed=cfg.eval.seed
        )
        methods = {evaluation.THIS_RUN: self._as_method(network)}
        methods |= {label: self._as_method(ref) for label, ref in (references or {}).items()}
        for name in cfg.inpaint.baselines:
            if name in classical.available_methods():
                methods[classical.TITLES[name]] = classical.classical_inpainter(name)
            elif verbose:
                print(f"Note: inpaint.baselines: {name!r} needs OpenCV, which is not installed.")
        perceptual = PerceptualMetrics.from_config(cfg.eval)
        if verbose:
            if perceptual is None:
                print(f"Note: {perceptual_evaluation.HOW_TO_ENABLE}.")
            elif perceptual.fid_network is not None and not perceptual.comparable:
                print(f"Note: {perceptual_evaluation.NOT_COMPARABLE}.")
        per_method, examples = evaluation.evaluate_inpainting(
            methods,
            images,
            eval_masks,
            progress=verbose,
            examples=cfg.eval.samples if len(methods) > 1 else 0,
            perceptual=perceptual,
        )
        if examples:
            from hint import plots

            plots.sample_grid(
                examples,
                os.path.join(out_dir, "comparison.png"),
                titles=("masked input", "mask", *methods, "ground truth"),
            )
        return evaluation.method_rows(per_method, perceptual)

    def _as_method(self, network):
        """`(masked image, mask) -> output` of `network` under its saved inference defaults."""
        options = self.network_options(network)
        return lambda image, mask: self.restore(network, image, mask, **options)

    # ------------------------------------------------------------------ inference

    def restore(
        self,
        network,
        image,
        mask=None,
        max_side=RUN_MAX_SIDE,
        blend="poisson",
        ensemble="none",
        color_space=config_lib.INPAINT_COLOR_SPACE,
    ):
        """Fills the holes of `image` [H, W, C] where `mask` [H, W, 1] is 1 (`inpaint_array`)."""
        if mask is None:
            raise inference.InferenceError("Inpainting needs a mask: restore(image, mask=...).")
        mask = inference.binarize_mask(np.asarray(mask, np.float32))
        if image.ndim == 2:
            image = image[..., None]
        return inference.inpaint_array(network, image, mask, max_side, blend, ensemble, color_space)

    def inference_defaults(self, cfg) -> dict:
        # Plane by plane with Poisson blending: the measured best for every inpainter trained
        # here (docs/inpainting.md); a network trained on single channels expects it.
        return {
            "max_side": RUN_MAX_SIDE,
            "blend": "poisson",
            "color_space": config_lib.INPAINT_COLOR_SPACE,
        }

    def accepts(self, network) -> bool:
        return {t.name for t in getattr(network, "inputs", None) or []} == {"image", "mask"}

    def add_inference_arguments(self, parser) -> None:
        parser.add_argument("--run", metavar="RUN_DIR", help="a run (default: the shipped model)")
        parser.add_argument("--image", required=True, help="image file or folder")
        parser.add_argument(
            "--mask", required=True, help="mask file or folder (white/non-zero = hole)"
        )
        parser.add_argument("--out", required=True, help="output file or folder")
        parser.add_argument(
            "--max-side",
            type=int,
            metavar="N",
            help="largest side the network runs at; larger images are filled hole by hole in "
            "downscaled windows (default: the model's own: 256 for the shipped model, 512 for a "
            "run)",
        )
        parser.add_argument(
            "--blend",
            choices=config_lib.BLENDS,
            help="poisson: blend the fill in seamlessly (Poisson image editing; +0.4-0.8 dB "
            "measured); none: paste the network's fill as it is (default: the model's own, "
            "poisson for the shipped model and runs)",
        )
        parser.add_argument(
            "--ensemble",
            choices=config_lib.ENSEMBLES,
            help="dihedral: average 8 rotated/flipped passes (+0.07-0.16 dB measured, 8x the "
            "time; default: none)",
        )
        parser.add_argument(
            "--color-space",
            choices=config_lib.INPAINT_COLOR_SPACES,
            help="how colour images go through the network: rgb or opponent run the three "
            "planes as gray images (+0.5-1.2 dB measured on saturated photos, 3x the time); "
            "joint runs R, G, B together (default: the model's own, rgb for the shipped model "
            "and runs)",
        )
        inference.add_precision_argument(parser)

    def run_inference(self, args) -> list[str]:
        return self.command(
            args.run,
            args.image,
            args.mask,
            args.out,
            max_side=args.max_side,
            precision=args.precision,
            blend=args.blend,
            ensemble=args.ensemble,
            color_space=args.color_space,
        )

    def command(
        self,
        run_dir,
        image,
        mask,
        out,
        max_side=None,
        precision="auto",
        blend=None,
        ensemble=None,
        color_space=None,
    ) -> list[str]:
        """`python main.py inpaint`: fills a file or folders with a run's or the shipped network.

        `max_side` is the largest side the network runs at (`inference.inpaint_array`);
        `blend` is how the fill is pasted in: `"poisson"` (seamless) or `"none"`;
        `ensemble="dihedral"` averages eight rotated / flipped passes; `color_space` is how
        colour images go through the network (`"joint"`, or plane by plane: `"rgb"` or
        `"opponent"`). Each option left at None takes the network's saved inference defaults
        (`Backbone.inference_defaults`: the shipped model's are `max_side=256`, `blend="poisson"`,
        `color_space="rgb"`), else `restore`'s. `precision` is the one the network computes in
        (`hint.precision.resolve_precision`: `"auto"` is bfloat16 on CPUs that compute it
        natively).
        """
        from hint import pretrained, restorer

        given = {
            "max_side": max_side,
            "blend": blend,
            "ensemble": ensemble,
            "color_space": color_space,
        }
        given = {k: v for k, v in given.items() if v is not None}
        inference.check_inpaint_options(**{k: v for k, v in given.items() if k != "max_side"})
        precision = inference.announce_precision(precision)
        source = run_dir
        if run_dir is None:
            source = self.shipped_model(3)
            card = pretrained.PRETRAINED[source].card
            print(f"Using the shipped {source!r} model (hint/weights/{card})")
        model = restorer.load(source, precision=precision)
        if model.task is not self:
            raise inference.InferenceError(
                f"{source} is a {model.task.name} model, not an inpainting one."
            )
        options = model.options(**given)
        outs = inference.inpaint_paths(model.network, image, mask, out, **options)
        where = outs[0] if len(outs) == 1 else f"{len(outs)} images in {out}"
        print(f"Inpainted: {where}")
        return outs

    # ------------------------------------------------------------------ serving

    serving_note = (
        "Note: the served graph runs the network as `inpaint` does under this model's saved "
        "colour handling and blending, on the whole image: images larger than the model's "
        "max_side, which `inpaint` fills window by window, and --ensemble are not served."
    )

    def serving_module(self, network):
        from hint.export import InpaintingServing

        options = self.network_options(network)
        return InpaintingServing(
            network, color_space=options["color_space"], blend=options["blend"]
        )

    # ------------------------------------------------------------------ shipped model, card

    def shipped_model(self, channels: int) -> str | None:
        return "inpaint"

    def card_settings(self, cfg) -> dict[str, dict]:
        data = cfg.to_dict()
        return {"data": data["data"], "inpaint": data["inpaint"]}

    def card_evaluation(self) -> str:
        return "fixed masks per hole-ratio bucket; metrics on the composite output"


register_task(InpaintPlugin())

"""JPEG artefact removal as a `hint` task: the worked example of `docs/extending.md`.

One file adds the task: its config section (`dejpeg:`), its data pipeline (clean crops
compressed on the fly by `tf.image.adjust_jpeg_quality` at a random quality), its training
model (the denoising task's `Denoiser`: a network trained with a pixel loss from a degraded
image to the clean one), its evaluation (PSNR / SSIM per JPEG quality), its inference command
(`python main.py dejpeg --run RUN --image in.jpg --out out.png`) and its serving signature.
Importing the file registers it; `tests/test_extending.py` registers it, trains it for a step,
evaluates it, runs its command and exports it.

DnCNN was trained for JPEG deblocking in its paper (Zhang et al., "Beyond a Gaussian Denoiser:
Residual Learning of Deep CNN for Image Denoising", IEEE TIP 2017), so its backbone fits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from hint import evaluation, export, inference, training
from hint.config import ConfigError
from hint.datasets import image_io
from hint.task_plugin import TaskPlugin, register_task
from hint.tasks.denoise import Denoiser


@dataclass
class DejpegConfig:
    """The `dejpeg:` section: JPEG qualities (1-100) to train and to evaluate on."""

    quality: list[int] = field(default_factory=lambda: [10, 40])  # training: [low, high]
    eval_qualities: list[int] = field(default_factory=lambda: [10, 20, 40])


def compress(image, quality):
    """An [H, W, C] float image in [0, 1] after a JPEG round trip at `quality` (an int tensor)."""
    return tf.image.adjust_jpeg_quality(image, quality)


class DejpegPlugin(TaskPlugin):
    """Removes the blocking and ringing of JPEG compression."""

    name = "dejpeg"
    summary = "remove JPEG artefacts from an image (a run of task dejpeg)"
    eval_label = "JPEG quality"
    sample_titles = ("JPEG", "restored", "original")
    config_section = DejpegConfig

    def validate_config(self, cfg) -> None:
        low_high = cfg.dejpeg.quality
        if len(low_high) != 2 or not 1 <= low_high[0] <= low_high[1] <= 100:
            raise ConfigError(
                "'dejpeg.quality' must be [low, high] with 1 <= low <= high <= 100. "
                f"Received: dejpeg.quality={low_high}"
            )
        for q in cfg.dejpeg.eval_qualities:
            if not 1 <= q <= 100:
                raise ConfigError(
                    f"'dejpeg.eval_qualities' must be in 1..100. Received: dejpeg.eval_qualities="
                    f"{cfg.dejpeg.eval_qualities}"
                )

    # ------------------------------------------------------------------ training

    def make_data(self, cfg):
        train_clean, val_clean = training.clean_sources(cfg)
        low, high = cfg.dejpeg.quality

        def pairs(ds, seed):
            def degrade(index, clean):
                # A quality drawn from (seed, example index): the same stream on every run.
                q = tf.random.stateless_uniform(
                    [], tf.stack([tf.cast(seed, tf.int64), index]), low, high + 1, tf.int32
                )
                return {"image": compress(clean, q)}, clean

            return ds.enumerate().map(degrade, num_parallel_calls=tf.data.AUTOTUNE)

        batch = cfg.data.batch_size
        train = pairs(train_clean, cfg.run.seed).batch(batch, drop_remainder=True)
        val = pairs(val_clean, cfg.eval.seed).batch(batch)
        return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)

    def build_model(self, cfg):
        network = training.build_generator(cfg)
        if cfg.model.init_from:
            training.init_from(network, training.init_source(cfg))
        training.freeze(network, cfg.model.freeze)
        model = Denoiser(network, name="dejpeg")
        model.compile(learning_rate=training.learning_rate(cfg), loss="l1")
        size, channels = cfg.data.image_size, cfg.data.channels
        model({"image": np.zeros((1, size, size, channels), np.float32)})
        return model

    def sample_rows(self, network, inputs, target):
        pred = np.asarray(network(inputs, training=False)).clip(0, 1)
        return [(inputs["image"][i], pred[i], target[i]) for i in range(len(pred))]

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, network, cfg, out_dir, data=None, verbose=True):
        images = evaluation.evaluation_images(cfg, data)
        per_quality = {}
        for q in cfg.dejpeg.eval_qualities:
            jpeg = np.stack([compress(image, q).numpy() for image in images])
            out = self.restore(network, jpeg)
            per_quality[f"quality={q}"] = evaluation.image_metrics(out, images)
        return evaluation.summary_table(per_quality)

    # ------------------------------------------------------------------ inference

    def restore(self, network, images: np.ndarray) -> np.ndarray:
        """Restored [N, H, W, C] images in [0, 1], for [N, H, W, C] JPEG-decoded ones."""
        inference.check_finite(images)
        padded = inference.pad_to_multiple(images.astype(np.float32))
        out = inference.forward(network, {"image": padded})[:, : images.shape[1], : images.shape[2]]
        return np.clip(out, 0.0, 1.0)

    def add_inference_arguments(self, parser) -> None:
        parser.add_argument("--run", required=True, metavar="RUN_DIR", help="a dejpeg run")
        parser.add_argument("--image", required=True, help="a JPEG (or any) image file")
        parser.add_argument("--out", required=True, help="output file")

    def run_inference(self, args) -> list[str]:
        if not os.path.isfile(args.image):
            raise inference.InferenceError(f"The image path does not exist: {args.image}")
        network = inference.load_model(args.run)
        image = image_io.read_image(args.image, channels=network.inputs[0].shape[-1])
        image_io.write_image(args.out, self.restore(network, image[None])[0])
        print(f"Restored: {args.out}")
        return [args.out]

    # ------------------------------------------------------------------ serving

    def serving_module(self, network):
        return DejpegServing(network)


class DejpegServing(export.ServingModule):
    """`serving_default`: `image` float32 [N, H, W, C] in [0, 1] to `restored`."""

    ENDPOINTS = {"serving_default": "restore"}

    def __init__(self, network, name=None):
        super().__init__(name=name)
        self.network = network
        self.channels = export.image_channels(network)

    def models(self):
        return [self.network]

    def input_signature(self, key):
        return [tf.TensorSpec(None, tf.float32, name="image")]

    def restore(self, image):
        image = export.check_float_input(image, "image", self.channels)
        h, w = tf.shape(image)[1], tf.shape(image)[2]
        padded, _ = export.pad_to_multiple(image, image[..., :1], self.network.size_multiple)
        out = self.network({"image": padded}, training=False)[:, :h, :w]
        return {"restored": tf.clip_by_value(out, 0.0, 1.0)}


register_task(DejpegPlugin())

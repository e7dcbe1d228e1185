"""The inpainting task: a generator, an optional discriminator, their losses and train step."""

from __future__ import annotations

import keras
import tensorflow as tf

from hint import losses as hint_losses
from hint import metrics as hint_metrics
from hint.tasks.restoration_model import RestorationModel, make_optimizer
from hint.training.memory import TrainingPass


@keras.saving.register_keras_serializable(package="hint")
class Inpainter(RestorationModel):
    """Trains an inpainting generator with the HINT recipe (L1, perceptual, style, adversarial).

    The generator takes `{"image": ..., "mask": ...}` (1 = hole) and returns the raw prediction
    in [0, 1]; `call()` returns that raw prediction and `inpaint()` the composite (prediction
    inside the hole, input outside), which is what evaluation reports.

    Each training step follows the official HINT code: one generator forward pass; the
    discriminator sees the ground truth and the (detached) prediction; the generator loss is
    `l1 * L1(pred, gt) / mean(mask) + perceptual * P + style * S(pred*m, gt*m) + adversarial * A`.
    Two optional terms go beyond the paper (both off by default): `l1_valid` below 1 weights
    the known pixels less in the L1 term, and `ssim` adds `1 - SSIM` of the composite.
    With `adversarial=0` the discriminator is skipped entirely, which makes a plain
    reconstruction trainer. Losses are per-replica means divided by `num_replicas_in_sync`, so
    the summed gradients of `tf.distribute` are global means.

    Args:
        generator: a Keras model with inputs `image` and `mask`, e.g. `hint.models.HINTBackbone`.
        discriminator: a Keras model mapping an image to patch logits, e.g.
            `hint.models.PatchDiscriminator`, or None for no adversarial loss.
            Defaults to None.

    Example:

    ```python
    task = Inpainter(HINTBackbone(**preset("hint_tiny")), PatchDiscriminator())
    task.compile(perceptual=0.0, style=0.0)
    task.fit(train_ds, validation_data=val_ds, epochs=1, steps_per_epoch=10)
    ```

    Reference: Chen, Atapour-Abarghouei, Shum, "HINT: High-quality INpainting Transformer with
    Mask-Aware Encoding and Enhanced Attention", IEEE TMM 2024 (arXiv 2402.14185).
    """

    def __init__(self, generator=None, discriminator=None, **kwargs):
        super().__init__(**kwargs)
        if generator is None:
            raise ValueError("Inpainter needs a generator. Received: generator=None")
        self.generator = generator
        self.discriminator = discriminator
        self.vgg = None

    # ------------------------------------------------------------------ compile

    def compile(
        self,
        optimizer="adam",
        learning_rate=1e-4,
        beta_1=0.9,
        beta_2=0.999,
        d_lr_ratio=0.1,
        d_learning_rate=None,
        l1=1.0,
        perceptual=0.1,
        style=250.0,
        adversarial=0.01,
        gan="lsgan",
        vgg_weights="imagenet",
        l1_valid=1.0,
        ssim=0.0,
        ema_momentum=0.0,
        **kwargs,
    ):
        """Configures optimizers and loss weights (official HINT defaults).

        Args:
            optimizer: "adam" or "rmsprop" (or a Keras optimizer for the generator).
                Defaults to "adam".
            learning_rate: generator learning rate. Defaults to 1e-4.
            beta_1: Adam beta 1 (RMSprop momentum is unused). Defaults to 0.9.
            beta_2: Adam beta 2. Defaults to 0.999.
            d_lr_ratio: discriminator / generator learning-rate ratio. Defaults to 0.1.
            d_learning_rate: discriminator learning rate (or schedule); overrides
                `d_lr_ratio` when given. Defaults to None.
            l1: weight of the hole-normalised L1 loss. Defaults to 1.0.
            perceptual: weight of the VGG19 perceptual loss. Defaults to 0.1.
            style: weight of the VGG19 style loss. Defaults to 250.0.
            adversarial: weight of the adversarial loss. Defaults to 0.01.
            gan: "nsgan", "lsgan" or "hinge". Defaults to "lsgan" (official config).
            vgg_weights: "imagenet", a local weights file, or None (random VGG, tests only).
                Only used when `perceptual` or `style` is above zero. Defaults to "imagenet".
            l1_valid: weight of the known pixels' error inside the L1 term
                (`hint.losses.hole_l1`'s `valid_weight`). Defaults to 1.0 (official HINT).
            ssim: weight of `1 - SSIM` of the composite (`hint.losses.ssim_loss`).
                Defaults to 0.0 (official HINT has no such term).
            ema_momentum: above 0, the generator's optimizer keeps an exponential moving
                average of the generator's weights (Keras' `use_ema`), which
                `keras.callbacks.SwapEMAWeights` swaps in for validation and checkpoints.
                Defaults to 0.0 (off).
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`).
        """
        for name, value in (
            ("l1", l1),
            ("perceptual", perceptual),
            ("style", style),
            ("adversarial", adversarial),
            ("d_lr_ratio", d_lr_ratio),
            ("l1_valid", l1_valid),
            ("ssim", ssim),
        ):
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
        if gan not in hint_losses.ADVERSARIAL_KINDS:
            raise ValueError(
                f"`gan` must be one of {hint_losses.ADVERSARIAL_KINDS}. Received: gan={gan}"
            )
        if adversarial > 0 and self.discriminator is None:
            raise ValueError(
                "An adversarial loss needs a discriminator. Received: adversarial="
                f"{adversarial} with discriminator=None"
            )
        self.loss_weights_ = {
            "l1": float(l1),
            "perceptual": float(perceptual),
            "style": float(style),
            "adversarial": float(adversarial),
            "ssim_loss": float(ssim),
        }
        self.l1_valid = float(l1_valid)
        self.gan = gan
        self.g_optimizer = make_optimizer(optimizer, learning_rate, beta_1, beta_2, ema_momentum)
        self.d_optimizer = None
        if self.use_discriminator:
            self.d_optimizer = make_optimizer(
                optimizer if isinstance(optimizer, str) else "adam",
                d_learning_rate if d_learning_rate is not None else learning_rate * d_lr_ratio,
                beta_1,
                beta_2,
            )
        if perceptual > 0 or style > 0:
            self.vgg = hint_losses.VGGFeatures(weights=vgg_weights)
        self._init_metrics(
            ("loss", "l1", "perceptual", "style", "adversarial", "ssim_loss", "d_loss")
        )
        super().compile(optimizer=self.g_optimizer, **kwargs)
        # Optimizer slots must exist before `BackupAndRestore` / `load_weights` restore them.
        self.g_optimizer.build(self.generator.trainable_variables)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        if self.g_optimizer.use_ema:
            # At the end of `fit`, Keras writes the optimizer's averages into the task's
            # trainable weights in order: the generator's must come first (the discriminator
            # has no averages).
            ours = [id(v) for v in self.generator.trainable_variables]
            if [id(v) for v in self.trainable_weights[: len(ours)]] != ours:
                raise ValueError(
                    "The weight average needs the generator's weights first in the task's "
                    "trainable weights. Received: ema_momentum="
                    f"{ema_momentum} with another order"
                )

    @property
    def backbone(self):
        """The network a run ships: the generator."""
        return self.generator

    def training_passes(self):
        """The generator once, the discriminator three times and VGG19 four (`train_step`)."""
        passes = super().training_passes()
        if self.use_discriminator:
            discriminator = self.discriminator
            passes.append(
                TrainingPass(
                    "discriminator",
                    lambda image, mask: discriminator(image, training=True),
                    3,
                    tuple(discriminator.trainable_weights),
                    discriminator,
                )
            )
        if self.vgg is not None:
            vgg = self.vgg
            passes.append(TrainingPass("vgg19", lambda image, mask: vgg(image), 4, (), vgg.model))
        return passes

    @property
    def use_discriminator(self):
        weights = getattr(self, "loss_weights_", {})
        return self.discriminator is not None and weights.get("adversarial", 0) > 0

    # ------------------------------------------------------------------ forward

    def call(self, inputs, training=False):
        # float32 whatever the generator computes in (mixed_bfloat16 training): the losses,
        # metrics and composites take float32 images.
        return tf.cast(self.generator(inputs, training=training), tf.float32)

    def inpaint(self, image, mask):
        """Composite output: the prediction inside the hole, the input elsewhere."""
        pred = self({"image": image, "mask": mask}, training=False)
        return hint_metrics.composite(pred, image, mask)

    # ------------------------------------------------------------------ steps

    def _generator_losses(self, target, pred, mask, fake_logits):
        w = self.loss_weights_
        parts = {"l1": hint_losses.hole_l1(target, pred, mask, valid_weight=self.l1_valid)}
        if w["ssim_loss"] > 0:
            # The composite: the known pixels are the target's, so only the hole is pushed.
            parts["ssim_loss"] = hint_losses.ssim_loss(
                target, hint_metrics.composite(pred, target, mask)
            )
        if self.vgg is not None:
            real_f = self.vgg(target)
            fake_f = self.vgg(pred)
            parts["perceptual"] = hint_losses.perceptual_loss(real_f, fake_f)
            if w["style"] > 0:
                parts["style"] = hint_losses.style_loss(
                    self.vgg(target * mask), self.vgg(pred * mask)
                )
        if fake_logits is not None:
            parts["adversarial"] = hint_losses.adversarial_loss(
                fake_logits, target_is_real=True, for_discriminator=False, kind=self.gan
            )
        total = tf.add_n([w[k] * v for k, v in parts.items() if w[k] > 0])
        return total, parts

    def train_step(self, data):
        x, target = data[0], data[1]
        mask = x["mask"]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            pred = self(x, training=True)
            fake_logits = d_loss = None
            if self.use_discriminator:
                real_logits = self.discriminator(target, training=True)
                detached = self.discriminator(tf.stop_gradient(pred), training=True)
                d_loss = 0.5 * (
                    hint_losses.adversarial_loss(real_logits, True, True, kind=self.gan)
                    + hint_losses.adversarial_loss(detached, False, True, kind=self.gan)
                )
                fake_logits = self.discriminator(pred, training=True)
            g_loss, parts = self._generator_losses(target, pred, mask, fake_logits)
            g_scaled = g_loss / replicas
            d_scaled = d_loss / replicas if d_loss is not None else None

        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(
            zip(g_tape.gradient(g_scaled, g_vars), g_vars, strict=True)
        )
        if d_scaled is not None:
            d_vars = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(
                zip(d_tape.gradient(d_scaled, d_vars), d_vars, strict=True)
            )
            self._trackers["d_loss"].update_state(d_loss)

        self._trackers["loss"].update_state(g_loss)
        for name, value in parts.items():
            self._trackers[name].update_state(value)
        out = hint_metrics.composite(pred, target, mask)
        self._psnr.update_state(target, out)
        self._ssim.update_state(target, out)
        return self._logs()

    def test_step(self, data):
        x, target = data[0], data[1]
        mask = x["mask"]
        pred = self(x, training=False)
        # The official L1 whatever the training weights, so val_l1 compares across runs.
        self._trackers["l1"].update_state(hint_losses.hole_l1(target, pred, mask))
        out = hint_metrics.composite(pred, target, mask)
        self._psnr.update_state(target, out)
        self._ssim.update_state(target, out)
        # Only what validation measures: no zero-valued GAN/VGG entries in val_ logs.
        return {m.name: m.result() for m in (self._trackers["l1"], self._psnr, self._ssim)}

    def _logs(self):
        logs = {m.name: m.result() for m in self.metrics}
        if not self.use_discriminator:
            logs.pop("d_loss", None)
            logs.pop("adversarial", None)
        if self.vgg is None:
            logs.pop("perceptual", None)
            logs.pop("style", None)
        if not self.loss_weights_.get("ssim_loss"):
            logs.pop("ssim_loss", None)
        return logs

    # ------------------------------------------------------------------ config

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator)
                if self.discriminator is not None
                else None,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        if config.get("discriminator") is not None:
            config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)

"""The denoising task: a backbone that maps a noisy image (and optionally a noise map) to clean."""

from __future__ import annotations

import keras
import tensorflow as tf

from hint.tasks.restoration_model import RestorationModel, make_optimizer

PIXEL_LOSSES = ("mse", "l1")


@keras.saving.register_keras_serializable(package="hint")
class Denoiser(RestorationModel):
    """Trains a denoising backbone with a pixel loss; reports PSNR and SSIM.

    The backbone takes `{"image": noisy}` and, when it is noise-level conditioned, also
    `{"noise_level": sigma_map}` (per-pixel sigma in [0, 1] units, [B, H, W, 1]); it returns the
    denoised image. Inputs the backbone does not declare are dropped, so blind and conditioned
    models train on the same pipeline. The loss is a per-replica mean divided by
    `num_replicas_in_sync`, so the summed gradients of `tf.distribute` are global means.

    Args:
        backbone: a Keras model with an input named `image`, e.g. `hint.models.DnCNN`.

    Example:

    ```python
    task = Denoiser(DnCNN(**get_preset("dncnn_gray")))
    task.compile(learning_rate=1e-3)
    task.fit(train_ds, validation_data=val_ds, epochs=1, steps_per_epoch=10)
    ```

    Reference: Zhang, Zuo, Chen, Meng, Zhang, "Beyond a Gaussian Denoiser: Residual Learning
    of Deep CNN for Image Denoising", IEEE TIP 2017.
    """

    def __init__(self, backbone=None, **kwargs):
        super().__init__(**kwargs)
        if backbone is None:
            raise ValueError("Denoiser needs a backbone. Received: backbone=None")
        self.backbone = backbone
        self.input_names_ = tuple(t.name.split(":")[0] for t in backbone.inputs) or ("image",)

    def compile(
        self,
        optimizer="adam",
        learning_rate=1e-3,
        beta_1=0.9,
        beta_2=0.999,
        loss="mse",
        ema_momentum=0.0,
        **kwargs,
    ):
        """Configures the optimizer and the pixel loss.

        Args:
            optimizer: "adam" or "rmsprop" or a Keras optimizer. Defaults to "adam".
            learning_rate: Defaults to 1e-3.
            beta_1: Adam beta 1. Defaults to 0.9.
            beta_2: Adam beta 2. Defaults to 0.999.
            loss: "mse" (DnCNN's) or "l1". Defaults to "mse".
            ema_momentum: above 0, the optimizer keeps an exponential moving average of the
                backbone's weights (Keras' `use_ema`; see `Inpainter.compile`). Defaults to
                0.0 (off).
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`).
        """
        if loss not in PIXEL_LOSSES:
            raise ValueError(f"`loss` must be one of {PIXEL_LOSSES}. Received: loss={loss}")
        self.pixel_loss = loss
        optimizer = make_optimizer(optimizer, learning_rate, beta_1, beta_2, ema_momentum)
        self._init_metrics(("loss",))
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self.backbone.trainable_variables)

    def _inputs(self, x):
        if not isinstance(x, dict):
            x = {"image": x}
        return {k: v for k, v in x.items() if k in self.input_names_}

    def call(self, inputs, training=False):
        # float32 out whatever the backbone computes in (mixed precision): losses and metrics.
        return tf.cast(self.backbone(self._inputs(inputs), training=training), tf.float32)

    def _loss(self, target, pred):
        diff = pred - target
        per_pixel = tf.square(diff) if self.pixel_loss == "mse" else tf.abs(diff)
        return tf.reduce_mean(per_pixel)

    def train_step(self, data):
        x, target = data[0], data[1]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.backbone.trainable_variables
        with tf.GradientTape() as tape:
            pred = self(x, training=True)
            loss = self._loss(target, pred)
            scaled = loss / replicas  # inside the tape, or it has no gradient
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        return self._update(loss, target, pred)

    def test_step(self, data):
        x, target = data[0], data[1]
        pred = self(x, training=False)
        return self._update(self._loss(target, pred), target, pred)

    def _update(self, loss, target, pred):
        self._trackers["loss"].update_state(loss)
        clipped = tf.clip_by_value(pred, 0.0, 1.0)
        self._psnr.update_state(target, clipped)
        self._ssim.update_state(target, clipped)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

"""What the training models share: optimizer construction and the metrics they report."""

from __future__ import annotations

import keras

from hint import metrics as hint_metrics
from hint.optimizers import FusedAdam
from hint.training.memory import TrainingPass

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(name, learning_rate, beta_1=0.9, beta_2=0.999, ema_momentum=0.0):
    """An optimizer by name ("adam" or "rmsprop"); a Keras optimizer is returned as it is.

    "adam" is `FusedAdam`: Keras' Adam with one fused kernel per variable, which keeps the
    traced training step of a network with many variables (HINT has 976) small.

    `ema_momentum` above 0 makes the optimizer keep an exponential moving average of the
    variables it updates (Keras' `use_ema`; `keras.callbacks.SwapEMAWeights` puts it in the
    model for validation and checkpoints).
    """
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    if not 0.0 <= ema_momentum < 1.0:
        raise ValueError(f"`ema_momentum` must be in [0, 1). Received: ema_momentum={ema_momentum}")
    ema = {"use_ema": ema_momentum > 0, "ema_momentum": ema_momentum}
    if name == "adam":
        return FusedAdam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, **ema)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate, **ema)
    raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}. Received: optimizer={name}")


class RestorationModel(keras.Model):
    """Base of the task models (`Inpainter`, `Denoiser`): loss trackers plus PSNR and SSIM.

    A task calls `_init_metrics(names)` in `compile()`; `metrics` then lists the loss trackers
    (`self._trackers[name]`, means over the epoch) followed by `self._psnr` and `self._ssim`,
    so Keras resets all of them every epoch. Before `compile()` there are none.
    """

    def _init_metrics(self, names):
        self._trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self._psnr = hint_metrics.PSNRMetric(name="psnr")
        self._ssim = hint_metrics.SSIMMetric(name="ssim")

    def training_passes(self):
        """The networks a training step runs, for the memory estimate (`hint.training.memory`).

        The backbone once; tasks with more networks (a discriminator, a loss network) add them.
        """
        backbone = self.backbone
        names = {t.name for t in backbone.inputs}

        def call(image, mask):
            inputs = {"image": image, "mask": mask}
            return backbone({k: v for k, v in inputs.items() if k in names}, training=True)

        return [TrainingPass("generator", call, 1, tuple(backbone.trainable_weights), backbone)]

    @property
    def metrics(self):
        trackers = getattr(self, "_trackers", None)
        if trackers is None:
            return []
        return [*trackers.values(), self._psnr, self._ssim]

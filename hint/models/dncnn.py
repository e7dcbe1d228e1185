"""DnCNN: a residual-learning CNN denoiser, with FFDNet-style noise maps and pixel-unshuffle."""

import keras
import numpy as np

from hint.layers.pixel_shuffle import PixelShuffle
from hint.layers.pixel_unshuffle import PixelUnshuffle
from hint.models.backbone import Backbone
from hint.models.presets import preset_arguments
from hint.validation import is_int

CONDITIONINGS = ("none", "noise_map")
DOWNSAMPLES = ("none", "pixel_unshuffle")
PREDICTIONS = ("noise", "clean")

# FFDNet's sub-image factor: the conv stack runs on (H/2, W/2, 4C) tensors.
UNSHUFFLE_FACTOR = 2


def check_trunk_arguments(depth, filters, conditioning, min_depth=2):
    """Validates the arguments DnCNN-style networks share; a `ValueError` naming the bad one."""
    if not is_int(depth, min_depth):
        raise ValueError(f"`depth` must be an int >= {min_depth}. Received: depth={depth!r}")
    if not is_int(filters):
        raise ValueError(f"`filters` must be a positive int. Received: filters={filters!r}")
    if conditioning not in CONDITIONINGS:
        raise ValueError(
            f"`conditioning` must be one of {CONDITIONINGS}. "
            f"Received: conditioning={conditioning!r}"
        )


def trunk_conv(units, use_bias, name, dtype=None):
    """A DnCNN 3x3 convolution: "same" zero padding, orthogonal kernel with gain 0.2 (KAIR)."""
    return keras.layers.Conv2D(
        units,
        3,
        padding="same",
        use_bias=use_bias,
        kernel_initializer=keras.initializers.Orthogonal(gain=0.2),
        name=name,
        dtype=dtype,
    )


@keras.saving.register_keras_serializable(package="hint")
class DnCNN(Backbone):
    """DnCNN denoiser as a functional Keras model.

    A plain stack of 3x3 convolutions, all with `filters` channels and "same" zero padding:
    conv + ReLU, then `depth - 2` times conv + batch norm + ReLU, then a conv back to the image
    channels. By default the network predicts the noise and the model returns the input minus
    that prediction (residual learning), so an untrained or zeroed last convolution leaves the
    image unchanged. The middle convolutions have no bias (the batch norm that follows has a shift);
    the first has one; the last has none (the noise is zero-mean). With `depth=17`, 64 filters
    and one channel (DnCNN-S) this gives 556,096 trainable parameters (see the tests).

    Two FFDNet options turn it into a flexible and faster denoiser:

    - `conditioning="noise_map"`: a second input `noise_level` (B, H, W, 1), the per-pixel noise
      standard deviation in [0, 1] units (sigma / 255 for Gaussian noise, as made by
      `hint.datasets.degradations`), is concatenated to the network input as an extra channel, so
      one model serves every noise level it was trained on (FFDNet: sigma in [0, 75]).
    - `downsample="pixel_unshuffle"`: the image is pixel-unshuffled by 2 into (H/2, W/2, 4C)
      (odd sizes are padded by repeating the last row / column), the noise map is average-pooled
      to (H/2, W/2, 1), the conv stack runs at half resolution (4x fewer pixels per conv), and
      its 4C-channel estimate is pixel-shuffled back and cropped to (H, W).
    - `prediction="clean"`: the network predicts the clean image itself, as FFDNet does, instead
      of the noise (the last convolution then has a bias: images are not zero-mean). Measured
      here for the 12 x 96 half-resolution colour network (batch 32 of 64 px, sigma in 0-75,
      Adam 1e-3): predicting the noise, the loss sat at the noise power ("output = input") for
      all of the first 400 steps; predicting the clean image it was at 0.66 of the noise power
      after 100 steps. Full-resolution DnCNNs leave that plateau quickly either way, and keep
      DnCNN's residual learning.

    Any height and width work at inference (the model is fully convolutional).

    Batch norm uses momentum 0.9 and epsilon 1e-4 (KAIR's DnCNN); Keras' 0.99 lets the moving
    statistics lag far behind in short CPU runs. Kernels use an orthogonal initialisation with
    gain 0.2 (KAIR's DnCNN training recipe), so the first prediction is small noise. For
    inference, `fold_batch_norm()` returns an equivalent network with each batch norm folded
    into the convolution before it.

    Inputs: `{"image": (B, H, W, image_channels)}` and, with `conditioning="noise_map"`,
    `{"noise_level": (B, H, W, 1)}`. Output (named `denoised`): (B, H, W, image_channels), not
    clipped.

    Args:
        depth: Number of convolution layers, at least 2. Defaults to `17` (DnCNN-S for gray;
            DnCNN-B and colour use 20).
        filters: Channels of the hidden layers. Defaults to `64`.
        image_channels: 1 (gray) or 3 (colour). Defaults to `1`.
        conditioning: `"none"` (blind) or `"noise_map"` (FFDNet-style noise level input).
            Defaults to `"none"`.
        downsample: `"none"` or `"pixel_unshuffle"` (FFDNet-style half resolution).
            Defaults to `"none"`.
        prediction: `"noise"` (residual learning: the output is the input minus the network's
            output) or `"clean"` (the network's output is the denoised image). Defaults to
            `"noise"`.
        batch_norm: whether the middle convolutions are followed by batch norm; without it they
            have a bias instead. `fold_batch_norm()` makes the second form from the first.
            Defaults to `True`.
        **kwargs: Base model keyword arguments, such as `name` and `dtype`.

    Example:

    >>> model = DnCNN.from_preset("dncnn_tiny")
    >>> model({"image": np.random.rand(1, 33, 31, 1).astype("float32")}).shape
    TensorShape([1, 33, 31, 1])
    >>> ffdnet = DnCNN.from_preset("ffdnet_color")
    >>> ffdnet({"image": noisy, "noise_level": np.full((1, 64, 64, 1), 25 / 255, "float32")})

    References:

    - [Zhang et al., 2017. Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
      Denoising](https://arxiv.org/abs/1608.03981), IEEE TIP 26(7).
    - [Zhang et al., 2018. FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image
      Denoising](https://arxiv.org/abs/1710.04026), IEEE TIP 27(9).
    """

    def __init__(
        self,
        depth=17,
        filters=64,
        image_channels=1,
        conditioning="none",
        downsample="none",
        prediction="noise",
        batch_norm=True,
        **kwargs,
    ):
        check_trunk_arguments(depth, filters, conditioning)
        if image_channels not in (1, 3) or isinstance(image_channels, bool):
            raise ValueError(
                f"`image_channels` must be 1 or 3. Received: image_channels={image_channels!r}"
            )
        if downsample not in DOWNSAMPLES:
            raise ValueError(
                f"`downsample` must be one of {DOWNSAMPLES}. Received: downsample={downsample!r}"
            )
        if prediction not in PREDICTIONS:
            raise ValueError(
                f"`prediction` must be one of {PREDICTIONS}. Received: prediction={prediction!r}"
            )
        if not isinstance(batch_norm, bool):
            raise ValueError(f"`batch_norm` must be a bool. Received: batch_norm={batch_norm!r}")
        unshuffle = downsample == "pixel_unshuffle"
        out_channels = image_channels * (UNSHUFFLE_FACTOR**2 if unshuffle else 1)

        # === Layers ===
        head = trunk_conv(filters, True, "conv_1")
        body = [
            (
                trunk_conv(filters, not batch_norm, f"conv_{i}"),
                keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-4, name=f"bn_{i}")
                if batch_norm
                else None,
            )
            for i in range(2, depth)
        ]
        clean = prediction == "clean"
        # Under a mixed policy the output stays float32: a bfloat16 output (8-bit mantissa)
        # would round the image itself, an error of up to 2e-3 at 0.5.
        tail = trunk_conv(out_channels, clean, f"conv_{depth}", dtype="float32")

        # === Functional Model ===
        image = keras.Input(shape=(None, None, image_channels), name="image")
        inputs = {"image": image}
        x = image
        if unshuffle:
            x = PixelUnshuffle(UNSHUFFLE_FACTOR, name="pixel_unshuffle")(x)
        if conditioning == "noise_map":
            noise_level = keras.Input(shape=(None, None, 1), name="noise_level")
            inputs["noise_level"] = noise_level
            level = noise_level
            if unshuffle:
                # "same" pooling averages only the pixels inside the image at odd edges, so a
                # constant map stays constant; the size matches the padded unshuffle.
                level = keras.layers.AveragePooling2D(
                    UNSHUFFLE_FACTOR, padding="same", name="noise_level_half"
                )(level)
            x = keras.layers.Concatenate(name="network_input")([x, level])
        x = keras.layers.ReLU(name="relu_1")(head(x))
        for i, (conv_i, bn_i) in enumerate(body, start=2):
            x = conv_i(x)
            x = keras.layers.ReLU(name=f"relu_{i}")(bn_i(x) if bn_i else x)
        estimate = tail(x)
        if unshuffle:
            estimate = PixelShuffle(UNSHUFFLE_FACTOR, name="estimate", dtype="float32")(
                [estimate, image]
            )
        if clean:
            denoised = keras.layers.Identity(name="denoised", dtype="float32")(estimate)
        else:
            denoised = keras.layers.Subtract(name="denoised", dtype="float32")([image, estimate])

        super().__init__(inputs=inputs, outputs=denoised, **kwargs)

        # === Config ===
        self.depth = depth
        self.filters = filters
        self.image_channels = image_channels
        self.conditioning = conditioning
        self.downsample = downsample
        self.prediction = prediction
        self.batch_norm = batch_norm

    def fold_batch_norm(self):
        """An equivalent `DnCNN(batch_norm=False)`, built in the current dtype policy.

        Each batch norm, with its moving statistics, is folded into the convolution before it:
        `conv(x) * s + (beta - mean * s)` with `s = gamma / sqrt(variance + epsilon)` becomes one
        convolution with a bias, so inference skips an elementwise pass per layer: 1.21x faster
        in float32 and 1.81x in bfloat16 for a 15 x 48 network on 512 x 512 images here
        (`benchmarks/dncnn_inference_speed.py`). Outputs match `training=False` ones to float
        rounding. Trained further (`model.batch_norm: false` with `model.init_from`), the copy
        learns as it runs at inference, with no batch statistics.

        Returns:
            A new `DnCNN`, or this model when it has no batch norm.
        """
        if not self.batch_norm:
            return self
        folded = DnCNN(**{**self.get_config(), "batch_norm": False})
        for name in ("conv_1", f"conv_{self.depth}"):
            folded.get_layer(name).set_weights(self.get_layer(name).get_weights())
        for i in range(2, self.depth):
            bn = self.get_layer(f"bn_{i}")
            gamma, beta, mean, variance = (
                keras.ops.convert_to_numpy(w).astype("float64")
                for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)
            )
            scale = gamma / np.sqrt(variance + bn.epsilon)
            kernel = keras.ops.convert_to_numpy(self.get_layer(f"conv_{i}").kernel)
            folded.get_layer(f"conv_{i}").set_weights(
                [
                    (kernel.astype("float64") * scale).astype("float32"),
                    (beta - mean * scale).astype("float32"),
                ]
            )
        return folded

    def deepened(self, depth):
        """An equivalent `DnCNN(batch_norm=False)` of greater `depth`, for further training.

        Net2DeeperNet (Chen, Goodfellow, Shlens, ICLR 2016): the new middle layers, spread
        evenly between the trained ones, start as identities (a centre-tap identity kernel, zero
        bias), which a ReLU after a ReLU leaves unchanged, so the deeper network computes
        exactly this one's function and training continues from it with a larger receptive
        field. Batch-normed networks are folded first (`fold_batch_norm`).

        Args:
            depth: the new number of convolution layers, at least this model's depth.

        Returns:
            A new `DnCNN` built in the current dtype policy, or this model (folded) when
            `depth` equals its depth.
        """
        if not is_int(depth, self.depth):
            raise ValueError(
                f"`depth` must be an int >= this model's depth ({self.depth}). "
                f"Received: depth={depth!r}"
            )
        source = self.fold_batch_norm()
        if depth == self.depth:
            return source
        deeper = DnCNN(**{**self.get_config(), "depth": depth, "batch_norm": False})
        middle = depth - 2
        # Trained layers at evenly spread positions (a step of at least 1: distinct when rounded).
        kept = {int(k) for k in np.round(np.linspace(0, middle - 1, self.depth - 2))}
        identity = np.zeros((3, 3, self.filters, self.filters), "float32")
        identity[1, 1] = np.eye(self.filters, dtype="float32")
        zero = np.zeros(self.filters, "float32")
        trained = iter(range(2, self.depth))
        deeper.get_layer("conv_1").set_weights(source.get_layer("conv_1").get_weights())
        for k in range(middle):
            target = deeper.get_layer(f"conv_{k + 2}")
            if k in kept:
                target.set_weights(source.get_layer(f"conv_{next(trained)}").get_weights())
            else:
                target.set_weights([identity, zero])
        tail = source.get_layer(f"conv_{self.depth}").get_weights()
        deeper.get_layer(f"conv_{depth}").set_weights(tail)
        return deeper

    def noise_model(self):
        """A model sharing this one's layers that returns the noise estimate (input - output)."""
        if self.prediction == "clean":
            image = self.get_layer("image").output
            noise = keras.layers.Subtract(name="noise")([image, self.outputs[0]])
            return keras.Model(self.inputs, noise, name="noise")
        return keras.Model(self.inputs, self.get_layer("denoised").input[1], name="noise")

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Builds a DnCNN from a named preset (see `hint.models.presets`).

        Args:
            preset: Preset name, e.g. `"dncnn_gray"`, `"ffdnet_color"` or `"dncnn_tiny"`.
            **kwargs: Constructor arguments overriding the preset's.

        Returns:
            A new, randomly initialised `DnCNN`.
        """
        return cls(**preset_arguments(cls, preset, **kwargs))

    @classmethod
    def multiple_for(cls, downsample="none", **args) -> int:
        return UNSHUFFLE_FACTOR if downsample == "pixel_unshuffle" else 1

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "filters": self.filters,
            "image_channels": self.image_channels,
            "conditioning": self.conditioning,
            "downsample": self.downsample,
            "prediction": self.prediction,
            "batch_norm": self.batch_norm,
        }

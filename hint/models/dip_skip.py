"""Deep Image Prior's `skip` encoder-decoder, and the fixed codes `z` it is fed."""

import keras
import numpy as np

from hint.models.backbone import Backbone
from hint.models.presets import check_spatial_multiple, preset_arguments
from hint.validation import is_int

UPSAMPLES = ("bilinear", "nearest")

# `get_noise(..., "noise", var=1./10)` of the official code: uniform noise scaled by 1/10.
NOISE_SCALE = 0.1


def _pytorch_conv_initializers(fan_in):
    """PyTorch's default `nn.Conv2d` initialisation, which the DIP prior was tuned with.

    The kernel is `kaiming_uniform_(a=sqrt(5))`, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which
    is a uniform fan-in variance scaling with scale 1/3; the bias is uniform in the same range.
    Keras' Glorot kernels and zero biases would start the optimisation from another prior.
    """
    bound = 1.0 / np.sqrt(fan_in)
    kernel = keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )
    return kernel, keras.initializers.RandomUniform(-bound, bound)


@keras.saving.register_keras_serializable(package="hint")
class _ReflectionPadding2D(keras.layers.Layer):
    """Reflection-pads height and width by `padding` on each side (`nn.ReflectionPad2d`)."""

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, inputs):
        p = self.padding
        return keras.ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape

        def grow(side):
            return None if side is None else side + 2 * self.padding

        return (batch, grow(height), grow(width), channels)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="hint")
class _UpSampling2D(keras.layers.UpSampling2D):
    """Keras' `UpSampling2D` (channels last), whose bilinear mode also runs in a graph with
    unknown height and width.

    Keras 3.15's `ops.image.resize` checks `size[0] <= 0` in Python, which fails on the
    symbolic size a `tf.function` with a dynamic input signature gives it. The computation is
    the one Keras does: `tf.image.resize` with half-pixel centres and no antialiasing, i.e.
    PyTorch's `nn.Upsample(mode="bilinear", align_corners=False)`.
    """

    def call(self, inputs):
        if self.interpolation != "bilinear":
            return super().call(inputs)
        import tensorflow as tf

        size = tf.shape(inputs)[1:3] * tf.constant(self.size, tf.int32)
        resized = tf.image.resize(inputs, size, method="bilinear", antialias=False)
        return tf.cast(resized, self.compute_dtype)


@keras.saving.register_keras_serializable(package="hint")
class _BatchStatisticsNormalization(keras.layers.BatchNormalization):
    """Batch norm that always normalises with the statistics of the batch it is given.

    The official DIP code never calls `net.eval()`, so every forward pass, also the one that
    produces the final image, runs PyTorch's batch norm in training mode. A plain Keras batch
    norm inside a functional model cannot reproduce that: `model(z, training=False)` overrides a
    `training=True` fixed at graph construction, and a non-trainable (frozen) layer uses its
    moving statistics even in training mode. This layer ignores `training` and `trainable` for
    the normalisation. The moving statistics are still updated, as PyTorch updates its running
    statistics in training mode (here with the biased batch variance, which PyTorch uses only
    to normalise), but nothing reads them.
    """

    def call(self, inputs, training=None, mask=None):
        # As Keras' batch norm: statistics in float32 even under a mixed-precision policy.
        x = keras.ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        rank = len(x.shape)
        axis = self.axis % rank
        axes = [i for i in range(rank) if i != axis]
        mean, variance = keras.ops.moments(x, axes=axes, synchronized=self.synchronized)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        outputs = keras.ops.batch_normalization(
            x,
            mean,
            variance,
            axis=axis,
            offset=keras.ops.cast(self.beta, x.dtype) if self.center else None,
            scale=keras.ops.cast(self.gamma, x.dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return keras.ops.cast(outputs, self.compute_dtype)


def _check_channels(name, channels, minimum):
    if not isinstance(channels, (list, tuple)) or not all(is_int(c, minimum) for c in channels):
        raise ValueError(
            f"`{name}` must be a list of ints >= {minimum}, one per scale. "
            f"Received: {name}={channels!r}"
        )


def _check_odd(name, size):
    if not is_int(size) or size % 2 == 0:
        raise ValueError(f"`{name}` must be a positive odd int. Received: {name}={size!r}")


@keras.saving.register_keras_serializable(package="hint")
class DIPSkip(Backbone):
    """Deep Image Prior's `skip` encoder-decoder as a functional Keras model.

    The network of the official DIP code (`models/skip.py`): a fixed code `z` (uniform noise or
    a meshgrid, see `noise_code` and `meshgrid_code`) goes through a U-net whose weights are
    optimised to reproduce one degraded image; the architecture itself is the prior. With `S`
    scales, level `i` (outermost first) takes `c` channels at resolution `H / 2**i`:

    - skip branch (only when `channels_skip[i] > 0`): conv `filter_size_skip` ->
      `channels_skip[i]`, BN, LeakyReLU;
    - deeper branch: conv `filter_size_down` with stride 2 -> `channels_down[i]`, BN,
      LeakyReLU; conv `filter_size_down` -> `channels_down[i]`, BN, LeakyReLU; level `i + 1`
      (none at the innermost level), whose output has `channels_up[i + 1]` channels; x2
      upsampling (`upsample`);
    - merge: concatenation [skip, deeper] (only the deeper branch without skip channels), BN,
      conv `filter_size_up` -> `channels_up[i]`, BN, LeakyReLU, and with `need1x1_up` a 1x1
      conv -> `channels_up[i]`, BN, LeakyReLU.

    The head is a 1x1 conv -> `output_channels` and a sigmoid, so the output is an image in
    [0, 1] (float32 under a mixed-precision policy). As in the official net with
    `pad="reflection"`, every convolution reflection-pads by `(k - 1) // 2` and then runs
    unpadded ("valid"), and every convolution has a bias; kernels and biases start from
    PyTorch's default initialisation. The LeakyReLUs have slope 0.2 (the official one, not
    Keras' 0.3).

    Batch norm uses PyTorch's epsilon 1e-5 and momentum 0.1 (Keras momentum 0.9) and always
    normalises with the statistics of the current batch, whatever `training` says: the
    official code never switches the network to evaluation mode, so its outputs, also the
    final image, are always computed with batch statistics. The moving statistics are kept up
    to date but never used.

    The input is one tensor named `code`, (B, H, W, input_channels). H and W must be multiples
    of `2 ** S` (32 for the official five scales) and at least `min_side_for(...)`, `2 ** (S + 1)`
    with the default filter sizes (64 for five scales): the innermost 3x3 convolution runs at
    `H / 2**S` pixels, and reflection padding needs more pixels than it pads (PyTorch's
    `nn.ReflectionPad2d` too). The official `Concat` centre-crops mismatched branches so that
    any size runs; here other sizes raise a `ValueError` (an `InvalidArgumentError` inside a
    graph with unknown shapes): crop the image to a multiple first, as the official notebooks
    do (`crop_image(img, d=32)`).

    Args:
        input_channels: Channels of the code `z` (32 for noise, 2 for a meshgrid).
            Defaults to `32`.
        output_channels: Channels of the output image. Defaults to `3`.
        channels_down: Channels of the deeper branch per scale, outermost first; its length is
            the number of scales `S`. Defaults to `(128,) * 5`.
        channels_up: Channels after the merge per scale. Defaults to `(128,) * 5`.
        channels_skip: Channels of the skip branch per scale, 0 for none.
            Defaults to `(4,) * 5`.
        filter_size_down: Odd kernel size of the deeper-branch convolutions. Defaults to `3`.
        filter_size_up: Odd kernel size of the merge convolution. Defaults to `3`.
        filter_size_skip: Odd kernel size of the skip convolution. Defaults to `1`.
        upsample: `"bilinear"` (half-pixel centres, PyTorch's `align_corners=False`) or
            `"nearest"`. Defaults to `"bilinear"`.
        need1x1_up: Whether each merge ends with a 1x1 conv, BN and LeakyReLU.
            Defaults to `True`.
        negative_slope: Slope of the LeakyReLUs for negative inputs. Defaults to `0.2`.
        **kwargs: Base model keyword arguments, such as `name` and `dtype`.

    Example:

    >>> model = DIPSkip.from_preset("dip_denoise")
    >>> z = noise_code(64, 64, model.input_channels, seed=0)
    >>> model(z).shape
    TensorShape([1, 64, 64, 3])

    Reference:

    - [Ulyanov, Vedaldi, Lempitsky, 2018. Deep Image Prior](https://arxiv.org/abs/1711.10925),
      CVPR 2018 / IJCV 128 (2020); official code: github.com/DmitryUlyanov/deep-image-prior.
    """

    SIZE_MULTIPLE = 2**5

    def __init__(
        self,
        input_channels=32,
        output_channels=3,
        channels_down=(128,) * 5,
        channels_up=(128,) * 5,
        channels_skip=(4,) * 5,
        filter_size_down=3,
        filter_size_up=3,
        filter_size_skip=1,
        upsample="bilinear",
        need1x1_up=True,
        negative_slope=0.2,
        **kwargs,
    ):
        if not is_int(input_channels):
            raise ValueError(
                "`input_channels` must be a positive int. "
                f"Received: input_channels={input_channels!r}"
            )
        if not is_int(output_channels):
            raise ValueError(
                "`output_channels` must be a positive int. "
                f"Received: output_channels={output_channels!r}"
            )
        _check_channels("channels_down", channels_down, 1)
        _check_channels("channels_up", channels_up, 1)
        _check_channels("channels_skip", channels_skip, 0)
        channels_down = tuple(channels_down)
        channels_up = tuple(channels_up)
        channels_skip = tuple(channels_skip)
        if not channels_down or not len(channels_down) == len(channels_up) == len(channels_skip):
            raise ValueError(
                "`channels_down`, `channels_up` and `channels_skip` must have the same "
                "non-zero length (the number of scales). "
                f"Received: channels_down={channels_down}, channels_up={channels_up}, "
                f"channels_skip={channels_skip}"
            )
        _check_odd("filter_size_down", filter_size_down)
        _check_odd("filter_size_up", filter_size_up)
        _check_odd("filter_size_skip", filter_size_skip)
        if upsample not in UPSAMPLES:
            raise ValueError(
                f"`upsample` must be one of {UPSAMPLES}. Received: upsample={upsample!r}"
            )
        if not isinstance(need1x1_up, bool):
            raise ValueError(f"`need1x1_up` must be a bool. Received: need1x1_up={need1x1_up!r}")
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, (int, float))
            or negative_slope < 0
        ):
            raise ValueError(
                "`negative_slope` must be a number >= 0. "
                f"Received: negative_slope={negative_slope!r}"
            )
        scales = len(channels_down)

        # === Layers (made as the graph is wired: each is used once) ===
        def conv(x, filters, size, name, stride=1, dtype=None):
            padding = (size - 1) // 2
            if padding:
                x = _ReflectionPadding2D(padding, name=f"{name}_pad", dtype=dtype)(x)
            kernel, bias = _pytorch_conv_initializers(size * size * x.shape[-1])
            return keras.layers.Conv2D(
                filters,
                size,
                strides=stride,
                padding="valid",
                kernel_initializer=kernel,
                bias_initializer=bias,
                name=name,
                dtype=dtype,
            )(x)

        def batch_norm(x, name):
            # PyTorch's BatchNorm2d defaults: eps 1e-5, momentum 0.1 (0.9 in Keras' convention).
            return _BatchStatisticsNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)

        def conv_block(x, filters, size, name, stride=1):
            x = batch_norm(conv(x, filters, size, name, stride), f"{name}_bn")
            return keras.layers.LeakyReLU(negative_slope, name=f"{name}_act")(x)

        def level(x, i):
            """Level `i` (0 = outermost) on `x`; returns `channels_up[i]` channels, same size."""
            prefix = f"level_{i + 1}"
            if channels_skip[i]:
                skip = conv_block(x, channels_skip[i], filter_size_skip, f"{prefix}_skip")
            deeper = conv_block(x, channels_down[i], filter_size_down, f"{prefix}_down", 2)
            deeper = conv_block(deeper, channels_down[i], filter_size_down, f"{prefix}_conv")
            if i + 1 < scales:
                deeper = level(deeper, i + 1)
            deeper = _UpSampling2D(2, interpolation=upsample, name=f"{prefix}_upsample")(deeper)
            if channels_skip[i]:
                # Skip first, as the official `Concat(1, skip, deeper)`.
                x = keras.layers.Concatenate(name=f"{prefix}_concat")([skip, deeper])
            else:
                x = deeper
            x = batch_norm(x, f"{prefix}_merge_bn")
            x = conv_block(x, channels_up[i], filter_size_up, f"{prefix}_up")
            if need1x1_up:
                x = conv_block(x, channels_up[i], 1, f"{prefix}_up_1x1")
            return x

        # === Functional Model ===
        code = keras.Input(shape=(None, None, input_channels), name="code")
        x = level(code, 0)
        # Under a mixed policy the image stays float32, as the other networks' outputs.
        x = conv(x, output_channels, 1, "output_conv", dtype="float32")
        image = keras.layers.Activation("sigmoid", name="image", dtype="float32")(x)

        super().__init__(inputs=code, outputs=image, **kwargs)

        # === Config ===
        self.input_channels = input_channels
        self.output_channels = output_channels
        self.channels_down = channels_down
        self.channels_up = channels_up
        self.channels_skip = channels_skip
        self.filter_size_down = filter_size_down
        self.filter_size_up = filter_size_up
        self.filter_size_skip = filter_size_skip
        self.upsample = upsample
        self.need1x1_up = need1x1_up
        self.negative_slope = negative_slope

    @classmethod
    def multiple_for(cls, channels_down=(128,) * 5, **args) -> int:
        return 2 ** len(channels_down)

    @classmethod
    def min_side_for(
        cls, channels_down=(128,) * 5, filter_size_down=3, filter_size_up=3, filter_size_skip=1
    ) -> int:
        """The smallest height and width a network with these arguments accepts.

        Reflection padding needs more pixels than it pads (`nn.ReflectionPad2d` and `tf.pad`
        alike): the innermost level's second `filter_size_down` convolution runs at
        `H / 2**S` pixels, its skip and merge convolutions at `2 * H / 2**S`; every other
        convolution sees more pixels.
        """
        multiple = cls.multiple_for(channels_down=channels_down)
        merge_pad = max(filter_size_up, filter_size_skip) // 2
        innermost = max(filter_size_down // 2 + 1, merge_pad // 2 + 1)
        return multiple * innermost

    @property
    def min_side(self) -> int:
        """The smallest height and width this network accepts (`min_side_for`)."""
        return self.min_side_for(
            channels_down=self.channels_down,
            filter_size_down=self.filter_size_down,
            filter_size_up=self.filter_size_up,
            filter_size_skip=self.filter_size_skip,
        )

    def call(self, inputs, training=None, mask=None, **kwargs):
        import tensorflow as tf

        if isinstance(inputs, dict):
            code = inputs["code"]
        elif isinstance(inputs, (list, tuple)):
            (code,) = inputs
        else:
            code = inputs
        (code,) = check_spatial_multiple("DIPSkip", [code], self.size_multiple)
        min_side = self.min_side_for(
            channels_down=self.channels_down,
            filter_size_down=self.filter_size_down,
            filter_size_up=self.filter_size_up,
            filter_size_skip=self.filter_size_skip,
        )
        message = (
            f"DIPSkip needs a code height and width of at least {min_side}: reflection padding "
            "needs more pixels than it pads at the innermost level."
        )
        height, width = code.shape[1], code.shape[2]
        if isinstance(height, int) and isinstance(width, int):
            if min(height, width) < min_side:
                raise ValueError(f"{message} Received: (height, width)=({height}, {width})")
        else:
            check = tf.debugging.assert_greater_equal(
                tf.shape(code)[1:3], min_side, message=message
            )
            with tf.control_dependencies([check]):
                code = tf.identity(code)
        return super().call(code, training=training, mask=mask, **kwargs)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Builds a DIP network from a named preset (see `hint.models.presets`).

        Args:
            preset: Preset name: `"dip_denoise"`, `"dip_text"`, `"dip_holes"` or
                `"dip_pixels"`.
            **kwargs: Constructor arguments overriding the preset's (and base model
                arguments such as `name`).

        Returns:
            A new, randomly initialised `DIPSkip`.
        """
        return cls(**preset_arguments(cls, preset, **kwargs))

    def get_config(self):
        return {
            **super().get_config(),
            "input_channels": self.input_channels,
            "output_channels": self.output_channels,
            "channels_down": list(self.channels_down),
            "channels_up": list(self.channels_up),
            "channels_skip": list(self.channels_skip),
            "filter_size_down": self.filter_size_down,
            "filter_size_up": self.filter_size_up,
            "filter_size_skip": self.filter_size_skip,
            "upsample": self.upsample,
            "need1x1_up": self.need1x1_up,
            "negative_slope": self.negative_slope,
        }


def noise_code(height, width, depth, seed):
    """The official DIP noise code: uniform noise in [0, 0.1), fixed for the whole run.

    `get_noise(depth, "noise", (height, width), noise_type="u", var=1./10)` of the official
    code, channels last, from a seeded NumPy generator so a run can be repeated.

    Args:
        height: Height of the image to restore.
        width: Width of the image to restore.
        depth: Channels of the code (`DIPSkip.input_channels`, 32 in the official notebooks).
        seed: Seed of the NumPy generator.

    Returns:
        A float32 array of shape (1, height, width, depth).
    """
    for name, value in (("height", height), ("width", width), ("depth", depth)):
        if not is_int(value):
            raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    rng = np.random.default_rng(seed)
    # float32 throughout, as the official torch tensor: the largest value stays below 0.1.
    return rng.random((1, height, width, depth), dtype=np.float32) * np.float32(NOISE_SCALE)


def meshgrid_code(height, width):
    """The official DIP meshgrid code (`get_noise(2, "meshgrid", (height, width))`).

    Channel 0 is the column coordinate `x / (width - 1)` and channel 1 the row coordinate
    `y / (height - 1)`, both from 0 at the top-left corner to 1 at the bottom-right one, as
    `np.meshgrid(arange(W) / (W - 1), arange(H) / (H - 1))` concatenated `[X, Y]` officially.

    Args:
        height: Height of the image to restore, at least 2.
        width: Width of the image to restore, at least 2.

    Returns:
        A float32 array of shape (1, height, width, 2).
    """
    for name, value in (("height", height), ("width", width)):
        if not is_int(value, 2):
            raise ValueError(f"`{name}` must be an int >= 2. Received: {name}={value!r}")
    x, y = np.meshgrid(np.arange(width) / float(width - 1), np.arange(height) / float(height - 1))
    return np.stack([x, y], axis=-1)[None].astype(np.float32)

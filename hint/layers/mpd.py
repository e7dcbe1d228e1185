"""Mask-aware Pixel-shuffle Down-sampling (MPD) of HINT."""

import math

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="hint")
class MaskAwarePixelShuffleDownsample(keras.layers.Layer):
    """Mask-aware pixel-shuffle down-sampling (MPD): `(H, W, C) -> (H/2, W/2, 2C)`.

    Definition (official `Downsample` of HINT):

    1. `y = conv3x3(features)` with `C -> C/2` channels and no bias;
    2. `y = space_to_depth(y, 2)` (`2C` channels) and
       `m = space_to_depth(hole_mask, 2)` (4 channels, one per sub-pixel offset `o`);
    3. interleave each feature channel with the mask channel of the *same*
       sub-pixel offset, giving `4C` channels;
    4. a grouped 3x3 convolution with `2C` groups, each `(feature, mask)` pair
       giving one output channel.

    The grouped convolution is computed with two depthwise convolutions, which is
    exactly equivalent and much faster on CPU than `Conv2D(groups=...)`:
    `depthwise(y) + depthwise(m, depth_multiplier=C/2)`. In TF's `space_to_depth`
    order feature channel `k = o * (C/2) + c` comes from sub-pixel offset `o`, and
    the depthwise output channel `o * (C/2) + j` reads mask channel `o`, so each
    output channel sees its feature channel and the mask of that same offset.

    Channel order differs from PyTorch's `PixelUnshuffle` (`c * 4 + o`) by a fixed
    permutation: our output channel `o * (C/2) + c` is the official channel
    `c * 4 + o`. Weights ported from PyTorch must be permuted accordingly.

    Kernels use PyTorch's default `Conv2d` initialisation
    (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, `fan_in = 18` for the grouped
    convolution).

    Call arguments:
        inputs: A list `[features, hole_mask]`: features of shape `(B, H, W, C)`
            and a hole mask of shape `(B, H, W, 1)` (1 = hole) at the same
            resolution. `C`, `H` and `W` must be even.

    Args:
        use_bias: Whether the convolutions have biases (the official model has
            none). Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 32, 32, 16).astype("float32")
    >>> m = (np.random.rand(2, 32, 32, 1) > 0.5).astype("float32")
    >>> MaskAwarePixelShuffleDownsample()([x, m]).shape
    TensorShape([2, 16, 16, 32])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    """

    def __init__(self, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.use_bias = use_bias

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                "`MaskAwarePixelShuffleDownsample` expects a list [features, hole_mask]. "
                f"Received: input_shape={input_shape}"
            )
        feature_shape, mask_shape = (tuple(s) for s in input_shape)
        channels = feature_shape[-1]
        if channels is None or channels % 2:
            raise ValueError(
                "`MaskAwarePixelShuffleDownsample` needs an even, defined number of "
                f"feature channels. Received: channels={channels}"
            )
        if mask_shape[-1] != 1:
            raise ValueError(
                "`MaskAwarePixelShuffleDownsample` needs a single-channel hole mask. "
                f"Received: mask_shape={mask_shape}"
            )
        self._check_spatial_size(feature_shape[1], feature_shape[2])
        half = channels // 2
        self.conv = keras.layers.Conv2D(
            half,
            3,
            padding="same",
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            dtype=self.dtype_policy,
            name="conv",
        )
        # The two depthwise kernels are the two input slices of the grouped kernel,
        # whose fan-in is 2 * 3 * 3 = 18.
        bound = 1.0 / math.sqrt(18.0)
        self.feature_depthwise = keras.layers.DepthwiseConv2D(
            3,
            padding="same",
            use_bias=self.use_bias,
            depthwise_initializer=keras.initializers.RandomUniform(-bound, bound),
            dtype=self.dtype_policy,
            name="feature_depthwise",
        )
        self.mask_depthwise = keras.layers.DepthwiseConv2D(
            3,
            padding="same",
            depth_multiplier=half,
            use_bias=False,
            depthwise_initializer=keras.initializers.RandomUniform(-bound, bound),
            dtype=self.dtype_policy,
            name="mask_depthwise",
        )
        self.conv.build(feature_shape)
        self.feature_depthwise.build((feature_shape[0], None, None, 2 * channels))
        self.mask_depthwise.build((feature_shape[0], None, None, 4))

    def _check_spatial_size(self, height, width):
        for name, size in (("height", height), ("width", width)):
            if isinstance(size, int) and size % 2:
                raise ValueError(
                    "`MaskAwarePixelShuffleDownsample` needs an even input height and "
                    f"width. Received: {name}={size}"
                )

    def call(self, inputs):
        features, hole_mask = inputs
        height, width = features.shape[1], features.shape[2]
        if isinstance(height, int) and isinstance(width, int):
            self._check_spatial_size(height, width)
        else:
            check = tf.debugging.assert_equal(
                tf.math.floormod(tf.shape(features)[1:3], 2),
                0,
                message="MaskAwarePixelShuffleDownsample needs an even input height and width",
            )
            # Both inputs depend on the check, or a space_to_depth may fail first, unreadably.
            with tf.control_dependencies([check]):
                features, hole_mask = tf.identity(features), tf.identity(hole_mask)
        hole_mask = ops.cast(hole_mask, features.dtype)
        unshuffled = tf.nn.space_to_depth(self.conv(features), 2)
        mask_unshuffled = tf.nn.space_to_depth(hole_mask, 2)
        return self.feature_depthwise(unshuffled) + self.mask_depthwise(mask_unshuffled)

    def compute_output_shape(self, input_shape):
        feature_shape = input_shape[0]
        height, width = feature_shape[1], feature_shape[2]
        return (
            feature_shape[0],
            None if height is None else height // 2,
            None if width is None else width // 2,
            2 * feature_shape[-1],
        )

    def get_config(self):
        config = super().get_config()
        config.update({"use_bias": self.use_bias})
        return config

"""Pixel-shuffle up-sampling of HINT's decoder."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="hint")
class PixelShuffleUpsample(keras.layers.Layer):
    """Pixel-shuffle up-sampling: `(H, W, C) -> (2H, 2W, C/2)`.

    A 3x3 convolution `C -> 2C` followed by `depth_to_space(2)`, the official
    `Upsample` of HINT / Restormer. The channel order differs from PyTorch's
    `PixelShuffle` by a fixed permutation of the convolution's output channels
    (TF reads channel `o * (C/2) + c`, PyTorch `c * 4 + o`), which only matters
    when porting weights.

    The kernel uses PyTorch's default `Conv2d` initialisation
    (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`).

    Args:
        use_bias: Whether the convolution has a bias (the official model has
            none). Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
    >>> PixelShuffleUpsample()(x).shape
    TensorShape([2, 16, 16, 8])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    """

    def __init__(self, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.use_bias = use_bias

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % 2:
            raise ValueError(
                "`PixelShuffleUpsample` needs an even, defined number of input channels. "
                f"Received: channels={channels}"
            )
        self.conv = keras.layers.Conv2D(
            2 * channels,
            3,
            padding="same",
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            dtype=self.dtype_policy,
            name="conv",
        )
        self.conv.build(input_shape)

    def call(self, inputs):
        return tf.nn.depth_to_space(self.conv(inputs), 2)

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if height is None else 2 * height,
            None if width is None else 2 * width,
            input_shape[-1] // 2,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"use_bias": self.use_bias})
        return config

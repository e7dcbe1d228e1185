"""Pixel-unshuffle (space-to-depth) with edge padding to a multiple of the factor."""

import keras
import tensorflow as tf

from hint.layers.pixel_shuffle import check_factor


@keras.saving.register_keras_serializable(package="hint")
class PixelUnshuffle(keras.layers.Layer):
    """Pixel-unshuffle: `(H, W, C) -> (ceil(H/f), ceil(W/f), f*f*C)`, parameter free.

    `tf.nn.space_to_depth(x, factor)` after padding the bottom and right edges up to a multiple
    of `factor` by mirroring the last rows / columns (`SYMMETRIC`, so for `factor=2` the last
    row or column is repeated, as FFDNet does for odd sizes). The inverse is `PixelShuffle`,
    which can crop the padding away again. Channel order is TensorFlow's: output channel
    `(dy * factor + dx) * C + c` holds pixel `(factor * i + dy, factor * j + dx)` of channel `c`.

    Args:
        factor: Down-sampling factor (at least 2). Padding needs H and W of at least
            `factor - 1`. Defaults to `2`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 7, 8, 3).astype("float32")
    >>> PixelUnshuffle()(x).shape
    TensorShape([2, 4, 4, 12])

    Reference:

    - [Zhang et al., 2018. FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image
      Denoising](https://arxiv.org/abs/1710.04026)
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = check_factor(factor)

    def call(self, inputs):
        shape = tf.shape(inputs)
        pad_h = (-shape[1]) % self.factor
        pad_w = (-shape[2]) % self.factor
        padded = tf.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
        return tf.nn.space_to_depth(padded, self.factor)

    def compute_output_shape(self, input_shape):
        def reduce(size):
            return None if size is None else -(-size // self.factor)

        channels = input_shape[-1]
        return (
            input_shape[0],
            reduce(input_shape[1]),
            reduce(input_shape[2]),
            None if channels is None else channels * self.factor**2,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config

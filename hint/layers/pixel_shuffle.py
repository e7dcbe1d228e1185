"""Pixel-shuffle (depth-to-space), optionally cropped to a reference size."""

import keras
import tensorflow as tf

from hint.validation import is_int


def check_factor(factor):
    """Validates a pixel (un)shuffle factor: an int of at least 2; returns it."""
    if not is_int(factor, minimum=2):
        raise ValueError(f"`factor` must be an int >= 2. Received: factor={factor!r}")
    return factor


@keras.saving.register_keras_serializable(package="hint")
class PixelShuffle(keras.layers.Layer):
    """Pixel-shuffle: `(H, W, f*f*C) -> (f*H, f*W, C)`, parameter free.

    `tf.nn.depth_to_space(x, factor)`, the inverse of `PixelUnshuffle`. Called on a pair
    `[x, reference]`, the result is cropped to the reference's height and width (its top-left
    corner), which removes the padding `PixelUnshuffle` added to odd-sized inputs.

    Args:
        factor: Up-sampling factor (at least 2). Defaults to `2`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> image = np.random.rand(2, 7, 8, 3).astype("float32")
    >>> PixelShuffle()([PixelUnshuffle()(image), image]).shape
    TensorShape([2, 7, 8, 3])

    Reference:

    - [Shi et al., 2016. Real-Time Single Image and Video Super-Resolution Using an Efficient
      Sub-Pixel Convolutional Neural Network](https://arxiv.org/abs/1609.05158)
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = check_factor(factor)

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            inputs, reference = inputs
            shape = tf.shape(reference)
            return tf.nn.depth_to_space(inputs, self.factor)[:, : shape[1], : shape[2]]
        return tf.nn.depth_to_space(inputs, self.factor)

    def compute_output_shape(self, input_shape):
        reference = None
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape, reference = input_shape
        channels = input_shape[-1]
        if reference is not None:
            height, width = reference[1], reference[2]
        else:
            height, width = (None if s is None else s * self.factor for s in input_shape[1:3])
        return (
            input_shape[0],
            height,
            width,
            None if channels is None else channels // self.factor**2,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config

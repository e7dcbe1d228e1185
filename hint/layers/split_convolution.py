"""`depthwise(pointwise(x))` computed part by part from split kernels (GDFN, SCAL).

HINT's feed-forward network and attention both widen the features with a 1x1
convolution followed by a 3x3 depthwise one, then split the wide result into two
(gate, value) or three (q, k, v) parts. Splitting the kernels instead and computing
each part from its own gives the same values without copying the block's largest
activation into new tensors.
"""

import tensorflow as tf
from keras import ops


def split_kernels(pointwise, depthwise, parts, dtype):
    """The kernels of each part of `depthwise(pointwise(x))`.

    Args:
        pointwise: A built 1x1 `keras.layers.Conv2D` (bias optional).
        depthwise: A built `keras.layers.DepthwiseConv2D` with depth multiplier 1 on
            the pointwise layer's output (bias optional).
        parts: Into how many equal channel groups the output is split.
        dtype: The computation dtype (the kernels are cast to it).

    Returns:
        A list of `parts` tuples `(kernel, bias, depthwise_kernel, depthwise_bias)`,
        the biases `None` where the layer has none.
    """

    def split(weight, axis):
        if weight is None:
            return [None] * parts
        return tf.split(ops.cast(weight, dtype), parts, axis=axis)

    return list(
        zip(
            split(pointwise.kernel, -1),
            split(pointwise.bias, 0),
            split(depthwise.kernel, 2),
            split(depthwise.bias, 0),
            strict=True,
        )
    )


def pointwise_depthwise(inputs, part, padding="SAME"):
    """One part of `depthwise(pointwise(inputs))` from its kernels (`split_kernels`).

    Args:
        inputs: `(B, H, W, C)` tensor.
        part: `(kernel, bias, depthwise_kernel, depthwise_bias)`.
        padding: The depthwise convolution's padding, "SAME" or explicit.

    Returns:
        `(B, H', W', C_part)` tensor.
    """
    kernel, bias, depthwise, depthwise_bias = part
    x = tf.nn.conv2d(inputs, kernel, 1, "VALID")
    if bias is not None:
        x = x + bias
    x = tf.nn.depthwise_conv2d(x, depthwise, [1, 1, 1, 1], padding)
    if depthwise_bias is not None:
        x = x + depthwise_bias
    return x

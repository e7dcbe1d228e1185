"""Gated depthwise feed-forward network (Restormer's GDFN) used twice in HINT blocks."""

import contextlib

import keras
import tensorflow as tf
from keras import ops

from hint.layers.gelu_gate import gelu_gate
from hint.layers.split_convolution import pointwise_depthwise, split_kernels

BAND_BYTES = 8 * 2**20
"""Size of one half of the hidden activation per row band. Images whose half is more than
twice this are processed in bands of about this size, which with the depthwise results fit a
CPU's last-level cache; at two bands or fewer the split costs more than it saves
(`benchmarks/ffn_bands.py`)."""


_whole_image = False


@contextlib.contextmanager
def whole_image():
    """Within it, GDFNs traced for the first time compute the whole image in one pass.

    For counting the architecture's operations (`hint.summary.graph_flops`): bands
    recompute a halo row on each side, which is work the network does not define.
    """
    global _whole_image
    previous, _whole_image = _whole_image, True
    try:
        yield
    finally:
        _whole_image = previous


def band_rows(height, width, hidden, itemsize, budget=None):
    """Rows per band for a `height` x `width` input, or None for the whole image at once.

    None inside `whole_image()`, when the size is not known while tracing, or when the
    whole image's hidden half (`height * width * hidden * itemsize` bytes) is at most twice
    `budget` (default `BAND_BYTES`).
    """
    budget = BAND_BYTES if budget is None else budget
    if _whole_image or not isinstance(height, int) or not isinstance(width, int):
        return None
    row_bytes = width * hidden * itemsize
    if height * row_bytes <= 2 * budget:
        return None
    return max(1, budget // row_bytes)


@keras.saving.register_keras_serializable(package="hint")
class GatedFeedForward(keras.layers.Layer):
    """Gated-Dconv feed-forward network of Restormer, as used by HINT.

    With `C` input channels and `hidden = int(C * expansion)`:
    1x1 convolution `C -> 2 * hidden`, 3x3 depthwise convolution, split into
    halves `x1, x2`, `gelu(x1) * x2` (exact GELU), 1x1 convolution `hidden -> C`.

    Kernels use PyTorch's default `Conv2d` initialisation
    (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, `fan_in = 9` for the depthwise kernel),
    since the official generator keeps it; biases, if any, start at zero.

    Args:
        expansion: Hidden width as a multiple of the input channels; the hidden
            width is truncated to an integer like the official
            `int(dim * ffn_expansion_factor)`. Defaults to `2.66`.
        use_bias: Whether the convolutions have biases. Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 16, 16, 8).astype("float32")
    >>> GatedFeedForward(expansion=2.66)(x).shape
    TensorShape([2, 16, 16, 8])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    - [Zamir et al., 2022. Restormer](https://arxiv.org/abs/2111.09881)
    """

    def __init__(self, expansion=2.66, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(expansion, bool) or not isinstance(expansion, (int, float)) or expansion <= 0:
            raise ValueError(
                f"`expansion` must be a positive number. Received: expansion={expansion}"
            )
        self.expansion = expansion
        self.use_bias = use_bias

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = int(channels * self.expansion)
        if hidden < 1:
            raise ValueError(
                "`GatedFeedForward` needs a hidden width of at least 1 "
                f"(int(channels * expansion)). Received: channels={channels}, "
                f"expansion={self.expansion}"
            )
        self.hidden_units = hidden
        self.project_in = keras.layers.Conv2D(
            2 * hidden,
            1,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            dtype=self.dtype_policy,
            name="project_in",
        )
        self.depthwise = keras.layers.DepthwiseConv2D(
            3,
            padding="same",
            use_bias=self.use_bias,
            depthwise_initializer=keras.initializers.RandomUniform(-1.0 / 3.0, 1.0 / 3.0),
            dtype=self.dtype_policy,
            name="depthwise",
        )
        self.project_out = keras.layers.Conv2D(
            channels,
            1,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            dtype=self.dtype_policy,
            name="project_out",
        )
        hidden_shape = (*input_shape[:-1], 2 * hidden)
        self.project_in.build(input_shape)
        self.depthwise.build(hidden_shape)
        self.project_out.build((*input_shape[:-1], hidden))

    def _gated(self, inputs, halves, padding="SAME"):
        # `padding` "SAME", or explicit when `inputs` is a band of rows with a halo row on
        # each side that has a neighbour: zeros only where the band meets the image border,
        # as "same" padding of the whole image gives.
        gate_and_value = [pointwise_depthwise(inputs, half, padding) for half in halves]
        return self.project_out(gelu_gate(*gate_and_value))

    def call(self, inputs, training=None):
        height, width = inputs.shape[1], inputs.shape[2]
        itemsize = tf.as_dtype(keras.backend.standardize_dtype(inputs.dtype)).size
        band = band_rows(height, width, self.hidden_units, itemsize)
        # (gate, value): the GELU's input, then the values it gates.
        halves = split_kernels(self.project_in, self.depthwise, 2, inputs.dtype)
        # Training steps take the whole image: banded ones were faster (22.3 s against 36.9 s
        # for HINT at 256x256, batch 1, on 2 cores) but peaked higher (20.4 GB against 16.3
        # GB) and their larger graph made the first call 5 times a step.
        if band is None or training:
            return self._gated(inputs, halves)
        # Row bands: the hidden activations of one band stay in the CPU's cache from the
        # first 1x1 convolution to the last, where whole-image ones (hundreds of MB at
        # 256x256) go through memory between every step. benchmarks/ffn_bands.py measures it.
        outputs = []
        for first in range(0, height, band):
            stop = min(first + band, height)
            top, bottom = max(first - 1, 0), min(stop + 1, height)
            padding = [[0, 0], [int(top == first), int(bottom == stop)], [1, 1], [0, 0]]
            outputs.append(self._gated(inputs[:, top:bottom], halves, padding))
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"expansion": self.expansion, "use_bias": self.use_bias})
        return config

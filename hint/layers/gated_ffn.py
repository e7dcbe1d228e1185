"""Gated depthwise feed-forward network (Restormer's GDFN) used twice in HINT blocks."""

import keras
from keras import ops

from hint.layers.gelu_gate import gelu_gate


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

    def call(self, inputs):
        x = self.depthwise(self.project_in(inputs))
        x1, x2 = ops.split(x, 2, axis=-1)
        return self.project_out(gelu_gate(x1, x2))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"expansion": self.expansion, "use_bias": self.use_bias})
        return config

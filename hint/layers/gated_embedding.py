"""Gated patch embedding of HINT: a 3x3 convolution followed by a GELU gate."""

import keras
from keras import ops

from hint.layers.gelu_gate import gelu_gate
from hint.validation import is_int


@keras.saving.register_keras_serializable(package="hint")
class GatedEmbedding(keras.layers.Layer):
    """Gated embedding: `gelu(a) * b` where `[a, b]` is a 3x3 convolution of the input.

    The official `GatedEmb` of HINT: a 3x3 convolution ('same' padding) maps the
    input to `2 * dim` channels, which are split into two halves `a` and `b`; the
    output is `gelu(a) * b` with the exact (erf) GELU, as PyTorch's `F.gelu`.

    The kernel uses PyTorch's default `Conv2d` initialisation
    (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`), since the official generator keeps it;
    a bias, if any, starts at zero.

    Args:
        dim: Number of output channels. Defaults to `48`.
        use_bias: Whether the convolution has a bias. Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 32, 32, 4).astype("float32")
    >>> GatedEmbedding(dim=16)(x).shape
    TensorShape([2, 32, 32, 16])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    """

    def __init__(self, dim=48, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        if not is_int(dim):
            raise ValueError(f"`dim` must be a positive integer. Received: dim={dim}")
        self.dim = dim
        self.use_bias = use_bias
        self.projection = keras.layers.Conv2D(
            2 * dim,
            3,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            dtype=self.dtype_policy,
            name="projection",
        )

    def build(self, input_shape):
        self.projection.build(input_shape)

    def call(self, inputs):
        gate, value = ops.split(self.projection(inputs), 2, axis=-1)
        return gelu_gate(gate, value)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "use_bias": self.use_bias})
        return config

"""HINT's sandwich transformer block: FFN -> SCAL -> FFN, each pre-normed and residual."""

import keras

from hint.layers.gated_ffn import GatedFeedForward
from hint.layers.layer_norm import LayerNorm
from hint.layers.recompute import recompute_grad
from hint.layers.scal import SCAL

LAYER_NORM_TYPES = ("with_bias", "bias_free")


@keras.saving.register_keras_serializable(package="hint")
class SandwichBlock(keras.layers.Layer):
    """Sandwich block: `x += FFN1(LN1(x)); x += SCAL(LN2(x)); x += FFN2(LN3(x))`.

    The feed-forward networks before and after the attention follow the
    Macaron / Conformer "sandwich" design of the paper. Input and output have
    the same shape `(B, H, W, C)`; `H` and `W` must be even (SCAL's spatial
    branch) and `C` divisible by `num_heads`.

    With `remat=True` the block's activations are not kept for the backward pass
    but recomputed from its input (`hint.layers.recompute.recompute_grad`),
    trading compute for memory; outputs and gradients are unchanged.

    Args:
        num_heads: Number of SCAL attention heads. Defaults to `1`.
        expansion: Hidden-width factor of both feed-forward networks.
            Defaults to `2.66`.
        use_bias: Whether the FFN and SCAL projections have biases.
            Defaults to `False`.
        layer_norm: `"with_bias"` (mean-centred, with `beta`) or `"bias_free"`
            (Restormer's BiasFree variant) for the three block norms.
            Defaults to `"with_bias"`.
        remat: Whether to rematerialise the block in the backward pass.
            Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 16, 16, 8).astype("float32")
    >>> SandwichBlock(num_heads=2)(x).shape
    TensorShape([2, 16, 16, 8])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    """

    def __init__(
        self,
        num_heads=1,
        expansion=2.66,
        use_bias=False,
        layer_norm="with_bias",
        remat=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if layer_norm not in LAYER_NORM_TYPES:
            raise ValueError(
                f"`layer_norm` must be one of {LAYER_NORM_TYPES}. Received: layer_norm={layer_norm}"
            )
        if not isinstance(remat, bool):
            raise ValueError(f"`remat` must be a bool. Received: remat={remat}")
        self.num_heads = num_heads
        self.expansion = expansion
        self.use_bias = use_bias
        self.layer_norm = layer_norm
        self.remat = remat

        center = layer_norm == "with_bias"
        policy = self.dtype_policy
        self.norm_1 = LayerNorm(center=center, dtype=policy, name="norm_1")
        self.ffn_1 = GatedFeedForward(expansion, use_bias, dtype=policy, name="ffn_1")
        self.norm_2 = LayerNorm(center=center, dtype=policy, name="norm_2")
        self.attention = SCAL(num_heads, use_bias, dtype=policy, name="attention")
        self.norm_3 = LayerNorm(center=center, dtype=policy, name="norm_3")
        self.ffn_2 = GatedFeedForward(expansion, use_bias, dtype=policy, name="ffn_2")

    def build(self, input_shape):
        for layer in (
            self.norm_1,
            self.ffn_1,
            self.norm_2,
            self.attention,
            self.norm_3,
            self.ffn_2,
        ):
            layer.build(input_shape)

    def _forward(self, x):
        x = x + self.ffn_1(self.norm_1(x))
        x = x + self.attention(self.norm_2(x))
        return x + self.ffn_2(self.norm_3(x))

    def call(self, inputs):
        if self.remat:
            return recompute_grad(self._forward)(inputs)
        return self._forward(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "expansion": self.expansion,
                "use_bias": self.use_bias,
                "layer_norm": self.layer_norm,
                "remat": self.remat,
            }
        )
        return config

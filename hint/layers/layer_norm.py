"""Per-pixel channel LayerNorm of Restormer / HINT, with and without bias."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hint")
class LayerNorm(keras.layers.Layer):
    """Layer normalisation over the channel (last) axis, independently per pixel.

    This is the `LayerNorm` of the official HINT (and Restormer) code, which has
    two variants:

    - `center=True` ("WithBias"): `(x - mean) / sqrt(var + epsilon) * gamma + beta`.
    - `center=False` ("BiasFree"): `x / sqrt(var + epsilon) * gamma`. The variance
      is still the biased variance around the mean, but the numerator is *not*
      mean-centred and there is no `beta`. This differs from
      `keras.layers.LayerNormalization(center=False)`, which still subtracts the
      mean.

    Statistics are computed in float32 and the output is cast to the layer's
    compute dtype, so the layer is safe under mixed precision.

    Args:
        center: Whether to mean-centre the input and add a learned offset
            `beta` (Restormer's "WithBias" variant); `False` gives the
            "BiasFree" variant. Defaults to `True`.
        epsilon: Small float added to the variance to avoid dividing by zero.
            Defaults to `1e-5` (the PyTorch value).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
    >>> LayerNorm(center=False)(x).shape
    TensorShape([2, 8, 8, 16])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    - [Zamir et al., 2022. Restormer](https://arxiv.org/abs/2111.09881)
    """

    def __init__(self, center=True, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(center, bool):
            raise ValueError(f"`center` must be a bool. Received: center={center}")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")
        self.center = center
        self.epsilon = epsilon
        self.supports_masking = True
        # Statistics in float32 even under mixed precision.
        self.autocast = False

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel (last) axis of the input to `LayerNorm` must be defined. "
                f"Received: input_shape={input_shape}"
            )
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,), initializer="ones", autocast=False
        )
        if self.center:
            self.beta = self.add_weight(
                name="beta", shape=(channels,), initializer="zeros", autocast=False
            )
        else:
            self.beta = None

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean, variance = ops.moments(x, axes=[-1], keepdims=True)
        inv_std = ops.rsqrt(variance + self.epsilon)
        if self.center:
            outputs = (x - mean) * inv_std * self.gamma + self.beta
        else:
            outputs = x * inv_std * self.gamma
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"center": self.center, "epsilon": self.epsilon})
        return config

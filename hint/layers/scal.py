"""Spatially-activated Channel Attention Layer (SCAL) of HINT."""

import keras
import tensorflow as tf
from keras import ops

from hint.layers.layer_norm import LayerNorm
from hint.layers.split_convolution import pointwise_depthwise, split_kernels
from hint.validation import is_int


@keras.saving.register_keras_serializable(package="hint")
class SCAL(keras.layers.Layer):
    """Spatially-activated channel attention: transposed attention gated by a spatial branch.

    Channel branch (Restormer's MDTA): `qkv = depthwise3x3(conv1x1(x, 3C))`, split
    into `q, k, v`, reshaped per head to `(B, heads, C/heads, H*W)`; `q` and `k`
    are L2-normalised along the pixel axis, `attn = softmax(q @ k^T * temperature)`
    with a learnable temperature per head (initialised to 1), and
    `out = attn @ v`. The attention matrix is `(C/heads, C/heads)` per head, so
    the cost is linear in the number of pixels.

    Spatial branch on the layer input: 2x2 average pooling, then twice
    (3x3 convolution with bias -> `LayerNorm` with bias -> ReLU), then nearest
    2x upsampling. The channel branch output is multiplied by it and projected by
    a 1x1 convolution.

    Input height and width can be dynamic but must be even (the spatial branch
    pools by 2 and upsamples back).

    Kernels use PyTorch's default `Conv2d` initialisation
    (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, `fan_in = 9` for the depthwise kernel),
    since the official generator keeps it; biases start at zero.

    Args:
        num_heads: Number of attention heads; must divide the input channels.
            Defaults to `1`.
        use_bias: Whether the qkv, depthwise and output projections have biases.
            The spatial branch convolutions always have biases, as in the
            official model. Defaults to `False`.
        epsilon: Epsilon of the spatial branch's layer norms. Defaults to `1e-5`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(2, 16, 16, 8).astype("float32")
    >>> SCAL(num_heads=2)(x).shape
    TensorShape([2, 16, 16, 8])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    - [Zamir et al., 2022. Restormer](https://arxiv.org/abs/2111.09881)
    """

    def __init__(self, num_heads=1, use_bias=False, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if not is_int(num_heads):
            raise ValueError(
                f"`num_heads` must be a positive integer. Received: num_heads={num_heads}"
            )
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")
        self.num_heads = num_heads
        self.use_bias = use_bias
        self.epsilon = epsilon

    def _conv(self, filters, kernel_size, use_bias, name):
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.num_heads:
            raise ValueError(
                "`SCAL` needs input channels divisible by `num_heads`. "
                f"Received: channels={channels}, num_heads={self.num_heads}"
            )
        batch = input_shape[0]
        # === Channel branch ===
        self.qkv = self._conv(3 * channels, 1, self.use_bias, "qkv")
        self.qkv_depthwise = keras.layers.DepthwiseConv2D(
            3,
            padding="same",
            use_bias=self.use_bias,
            depthwise_initializer=keras.initializers.RandomUniform(-1.0 / 3.0, 1.0 / 3.0),
            dtype=self.dtype_policy,
            name="qkv_depthwise",
        )
        self.temperature = self.add_weight(
            name="temperature", shape=(self.num_heads, 1, 1), initializer="ones"
        )
        # === Spatial branch ===
        self.pool = keras.layers.AveragePooling2D(
            2, strides=2, dtype=self.dtype_policy, name="pool"
        )
        self.spatial_conv_1 = self._conv(channels, 3, True, "spatial_conv_1")
        self.spatial_norm_1 = LayerNorm(
            center=True, epsilon=self.epsilon, dtype=self.dtype_policy, name="spatial_norm_1"
        )
        self.spatial_conv_2 = self._conv(channels, 3, True, "spatial_conv_2")
        self.spatial_norm_2 = LayerNorm(
            center=True, epsilon=self.epsilon, dtype=self.dtype_policy, name="spatial_norm_2"
        )
        self.upsample = keras.layers.UpSampling2D(
            2, interpolation="nearest", dtype=self.dtype_policy, name="upsample"
        )
        self.project_out = self._conv(channels, 1, self.use_bias, "project_out")

        feature_shape = (batch, None, None, channels)
        self.qkv.build(feature_shape)
        self.qkv_depthwise.build((batch, None, None, 3 * channels))
        for layer in (
            self.spatial_conv_1,
            self.spatial_norm_1,
            self.spatial_conv_2,
            self.spatial_norm_2,
            self.project_out,
        ):
            layer.build(feature_shape)

    def _l2_normalize(self, x):
        # Along the pixel axis (2 of (B, heads, H*W, C/heads)). Same value as
        # torch.nn.functional.normalize (eps=1e-12), but rsqrt of the clamped squared norm
        # keeps the gradient finite for all-zero channels.
        sum_squares = ops.sum(ops.square(x), axis=2, keepdims=True)
        return x * ops.rsqrt(ops.maximum(sum_squares, 1e-24))

    def channel_attention(self, inputs):
        """Channel-attention weights of the channel branch.

        Args:
            inputs: Features of shape `(B, H, W, C)`.

        Returns:
            The softmax attention matrices, shape `(B, num_heads, C/num_heads,
            C/num_heads)`, independent of `H * W`.
        """
        inputs = ops.convert_to_tensor(inputs, self.compute_dtype)
        if not self.built:
            self.build(tuple(inputs.shape))
        return self._attention(*self._qkv(inputs, parts=2))

    def _qkv(self, inputs, parts=3):
        # q, k and v (the first `parts` of them) as (B, heads, H*W, C/heads):
        # `depthwise(qkv(inputs))` from the thirds of both kernels, the same values as
        # splitting the full 3C-channel result without copying it into three new tensors.
        # Pixels-major, so the official 'b (head c) h w -> b head c (h w)' needs no
        # transpose with one head (the first level, whose tensors are the largest): the
        # products transpose inside the matrix multiplication instead.
        dtype = inputs.dtype
        channels = inputs.shape[-1]
        shape = ops.shape(inputs)
        pixels = shape[1] * shape[2]
        head_dim = channels // self.num_heads

        out = []
        for part in split_kernels(self.qkv, self.qkv_depthwise, 3, dtype)[:parts]:
            x = pointwise_depthwise(inputs, part)
            if self.num_heads == 1:
                out.append(ops.reshape(x, (shape[0], 1, pixels, head_dim)))
            else:
                x = ops.reshape(x, (shape[0], pixels, self.num_heads, head_dim))
                out.append(ops.transpose(x, (0, 2, 1, 3)))
        return out

    def _attention(self, q, k):
        q = self._l2_normalize(q)
        k = self._l2_normalize(k)
        logits = tf.linalg.matmul(q, k, transpose_a=True)
        return ops.softmax(logits * ops.cast(self.temperature, q.dtype), axis=-1)

    def _check_spatial_size(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if isinstance(height, int) and isinstance(width, int):
            for name, size in (("height", height), ("width", width)):
                if size % 2:
                    raise ValueError(
                        f"`SCAL` needs an even input height and width. Received: {name}={size}"
                    )
        else:
            tf.debugging.assert_equal(
                tf.math.floormod(tf.shape(inputs)[1:3], 2),
                0,
                message="SCAL needs an even input height and width",
            )

    def call(self, inputs):
        self._check_spatial_size(inputs)
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        channels = inputs.shape[-1]

        # === Channel branch ===
        q, k, v = self._qkv(inputs)
        attention = self._attention(q, k)
        # out[n, i] = sum_j attention[i, j] v[n, j] per head, with pixels-major v.
        out = tf.linalg.matmul(v, attention, transpose_b=True)
        if self.num_heads > 1:
            out = ops.transpose(out, (0, 2, 1, 3))
        out = ops.reshape(out, (batch, height, width, channels))

        # === Spatial branch ===
        y = self.pool(inputs)
        y = ops.relu(self.spatial_norm_1(self.spatial_conv_1(y)))
        y = ops.relu(self.spatial_norm_2(self.spatial_conv_2(y)))
        y = self.upsample(y)

        return self.project_out(out * y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_heads": self.num_heads, "use_bias": self.use_bias, "epsilon": self.epsilon}
        )
        return config

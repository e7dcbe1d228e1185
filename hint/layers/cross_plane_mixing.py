"""A residual linear map across colour planes folded into the batch."""

import keras


@keras.saving.register_keras_serializable(package="hint")
class CrossPlaneMixing(keras.layers.Layer):
    """Adds to each plane's features a learned linear map of all planes' features.

    The input is `(P * B, H, W, F)`: the features of `P` planes of `B` images folded into the
    batch plane-major (as `ColorPlanes` makes them). For plane `p` the output is
    `x_p + sum_q x_q @ W[q, :, p, :]` with a kernel `W` of shape `(P, F, P, F)`, i.e. a 1x1
    convolution over the planes' concatenated features added to the input. The kernel starts
    at zero, so a network of plane-shared convolutions (a gray denoiser run on each colour
    plane) with these layers inserted computes exactly what it did without them, and training
    can only add cross-plane information (and, through the `W[p, :, p, :]` blocks, per-plane
    adjustments of the shared filters). Per pixel it costs `P * F` multiply-adds per feature,
    a third of a 3x3 `F -> F` convolution's `9 * F` on each of the `P = 3` planes.

    Args:
        planes: Number of planes `P` folded into the batch. Defaults to `3`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> x = np.random.rand(6, 8, 8, 16).astype("float32")  # 3 planes of 2 images
    >>> CrossPlaneMixing()(x).shape  # equal to x until trained
    TensorShape([6, 8, 8, 16])
    """

    def __init__(self, planes=3, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(planes, int) or isinstance(planes, bool) or planes < 2:
            raise ValueError(f"`planes` must be an int >= 2. Received: planes={planes!r}")
        self.planes = planes

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                "CrossPlaneMixing needs a known number of channels. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            shape=(self.planes, features, self.planes, features),
            initializer="zeros",
            name="kernel",
        )

    def call(self, inputs):
        ops = keras.ops
        shape = ops.shape(inputs)
        features = inputs.shape[-1]
        x = ops.reshape(inputs, (self.planes, -1, features))
        kernel = ops.reshape(ops.cast(self.kernel, x.dtype), (self.planes, features, -1))
        # sum over source planes q of (N, F) @ (F, P * F), then back to plane-major (P, N, F).
        mixed = ops.sum(ops.matmul(x, kernel), axis=0)
        mixed = ops.transpose(ops.reshape(mixed, (-1, self.planes, features)), (1, 0, 2))
        return inputs + ops.reshape(mixed, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"planes": self.planes})
        return config

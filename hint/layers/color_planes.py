"""Colour image <-> three gray planes folded into the batch, for plane-shared denoisers."""

import keras
import numpy as np

MODES = ("to_planes", "from_planes", "noise_level")

# An orthonormal opponent colour transform (rows: the channel sum, then two colour differences,
# each of unit norm), so white noise of level sigma in R, G, B stays white, of level sigma, in
# every difference plane.
OPPONENT = np.array(
    [
        [1.0 / np.sqrt(3.0)] * 3,
        [1.0 / np.sqrt(2.0), 0.0, -1.0 / np.sqrt(2.0)],
        [1.0 / np.sqrt(6.0), -2.0 / np.sqrt(6.0), 1.0 / np.sqrt(6.0)],
    ],
    np.float32,
)

# Plane p = scale[p] * (OPPONENT @ rgb)[p] + offset[p]: the first plane is the channel mean
# (noise sigma / sqrt(3)); the differences, in about [-0.8, 0.8], are centred on 0.5 so every
# plane lies in the range of the gray images a plane network is trained on.
PLANE_SCALE = {
    "opponent": np.array([1.0 / np.sqrt(3.0), 1.0, 1.0], np.float32),
    "rgb": np.ones(3, np.float32),
}
PLANE_OFFSET = {
    "opponent": np.array([0.0, 0.5, 0.5], np.float32),
    "rgb": np.zeros(3, np.float32),
}
PLANE_MATRIX = {"opponent": OPPONENT, "rgb": np.eye(3, dtype=np.float32)}
COLOR_SPACES = tuple(PLANE_MATRIX)


def plane_transform(color_space):
    """`(matrix, offset)`, float32 [3, 3] and [3], with planes = rgb @ matrix + offset."""
    matrix = (PLANE_SCALE[color_space][:, None] * PLANE_MATRIX[color_space]).T
    return matrix.astype(np.float32), PLANE_OFFSET[color_space]


@keras.saving.register_keras_serializable(package="hint")
class ColorPlanes(keras.layers.Layer):
    """Moves between a colour image and its three gray planes stacked in the batch.

    A gray network applied to each plane of a colour image needs the planes as a batch of
    one-channel images; folding them into the batch (plane-major: item `p * B + b` is plane `p`
    of image `b`) runs every convolution once on `3B` images instead of three times, and
    keeps the model a plain functional graph. Parameter free; three modes:

    - `"to_planes"`: `(B, H, W, 3)` colour image -> `(3B, H, W, 1)` planes. With
      `color_space="opponent"` the planes are the channel mean and the two colour differences
      of an orthonormal opponent transform centred on 0.5 (CBM3D's decorrelating transform);
      with `"rgb"`, R, G and B themselves.
    - `"from_planes"`: the exact inverse, `(3B, H, W, 1)` -> `(B, H, W, 3)`.
    - `"noise_level"`: `(B, H, W, 1)` noise standard deviation of the colour image ->
      `(3B, H, W, 1)` the standard deviation in each plane (white noise of level sigma in R, G
      and B has sigma / sqrt(3) in the mean plane and sigma in the orthonormal differences).

    Args:
        color_space: `"opponent"` or `"rgb"`. Defaults to `"opponent"`.
        mode: `"to_planes"`, `"from_planes"` or `"noise_level"`. Defaults to `"to_planes"`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    >>> rgb = np.random.rand(2, 8, 8, 3).astype("float32")
    >>> planes = ColorPlanes()(rgb)
    >>> planes.shape
    TensorShape([6, 8, 8, 1])
    >>> ColorPlanes(mode="from_planes")(planes)  # rgb again, to float rounding

    Reference: Dabov, Foi, Katkovnik, Egiazarian, "Color image denoising via sparse 3D
    collaborative filtering with grouping constraint in luminance-chrominance space", ICIP 2007.
    """

    def __init__(self, color_space="opponent", mode="to_planes", **kwargs):
        super().__init__(**kwargs)
        if color_space not in COLOR_SPACES:
            raise ValueError(
                f"`color_space` must be one of {COLOR_SPACES}. "
                f"Received: color_space={color_space!r}"
            )
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        self.color_space = color_space
        self.mode = mode

    def call(self, inputs):
        ops = keras.ops
        x = ops.cast(inputs, self.compute_dtype)
        matrix, offset = plane_transform(self.color_space)
        scale = ops.cast(PLANE_SCALE[self.color_space], x.dtype)
        offset = ops.cast(offset, x.dtype)
        if self.mode == "from_planes":
            shape = ops.shape(x)
            planes = ops.reshape(x, (3, -1, shape[1], shape[2]))
            planes = ops.transpose(planes, (1, 2, 3, 0)) - offset
            inverse = np.linalg.inv(matrix).astype(np.float32)
            return ops.matmul(planes, ops.cast(inverse, x.dtype))
        if self.mode == "to_planes":
            planes = ops.matmul(x, ops.cast(matrix, x.dtype)) + offset
        else:
            planes = x * scale  # (B, H, W, 1) * (3,) -> (B, H, W, 3)
        shape = ops.shape(planes)
        planes = ops.transpose(planes, (3, 0, 1, 2))
        return ops.reshape(planes, (-1, shape[1], shape[2], 1))

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[:3]
        if self.mode == "from_planes":
            return (None if batch is None else batch // 3, height, width, 3)
        return (None if batch is None else batch * 3, height, width, 1)

    def get_config(self):
        config = super().get_config()
        config.update({"color_space": self.color_space, "mode": self.mode})
        return config

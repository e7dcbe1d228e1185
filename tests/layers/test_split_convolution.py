import keras
import numpy as np
import pytest

from hint.layers.split_convolution import pointwise_depthwise, split_kernels


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("use_bias", [False, True])
def test_parts_equal_the_split_full_result(parts, use_bias):
    rng = np.random.default_rng(parts)
    x = rng.normal(size=(2, 6, 5, 4)).astype("float32")
    pointwise = keras.layers.Conv2D(6 * parts, 1, use_bias=use_bias)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=use_bias)
    depthwise(pointwise(x))  # builds both
    for layer in (pointwise, depthwise):
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.weights])
    full = keras.ops.convert_to_numpy(depthwise(pointwise(x)))
    kernels = split_kernels(pointwise, depthwise, parts, "float32")
    assert len(kernels) == parts
    assert all((part[1] is None) == (not use_bias) for part in kernels)
    for expected, part in zip(np.split(full, parts, axis=-1), kernels, strict=True):
        np.testing.assert_allclose(pointwise_depthwise(x, part).numpy(), expected, atol=1e-5)


def test_explicit_padding_of_a_band_matches_the_whole_image():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 8, 5, 3)).astype("float32")
    pointwise = keras.layers.Conv2D(4, 1)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same")
    whole = keras.ops.convert_to_numpy(depthwise(pointwise(x)))
    (part,) = split_kernels(pointwise, depthwise, 1, "float32")
    # Rows 3-5 with a halo row on each side: no zero rows, zero columns.
    band = pointwise_depthwise(x[:, 2:7], part, [[0, 0], [0, 0], [1, 1], [0, 0]])
    np.testing.assert_allclose(band.numpy(), whole[:, 3:6], atol=1e-5)

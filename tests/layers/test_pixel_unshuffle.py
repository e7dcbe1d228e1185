import numpy as np
import pytest
import tensorflow as tf

from hint.layers.pixel_shuffle import PixelShuffle
from hint.layers.pixel_unshuffle import PixelUnshuffle


def test_space_to_depth_with_edge_padding():
    x = np.random.rand(2, 5, 6, 3).astype("float32")
    y = PixelUnshuffle()(x).numpy()
    assert y.shape == (2, 3, 3, 12)
    padded = np.concatenate([x, x[:, -1:]], axis=1)  # the last row repeated
    np.testing.assert_array_equal(y, tf.nn.space_to_depth(padded, 2).numpy())
    assert PixelUnshuffle(3).compute_output_shape((None, 7, None, 2)) == (None, 3, None, 18)


def test_inverse_of_pixel_shuffle_and_serialisation():
    x = np.random.rand(1, 7, 9, 2).astype("float32")
    layer = PixelUnshuffle(factor=2, name="unshuffle")
    y = PixelShuffle()([layer(x), x]).numpy()
    np.testing.assert_array_equal(y, x)
    clone = PixelUnshuffle.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.factor == 2


def test_bad_factor_raises():
    with pytest.raises(ValueError, match="Received: factor=1"):
        PixelUnshuffle(1)

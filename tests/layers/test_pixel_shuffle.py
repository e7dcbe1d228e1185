import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.layers.pixel_shuffle import PixelShuffle
from hint.layers.pixel_unshuffle import PixelUnshuffle


def test_depth_to_space_and_crop():
    x = np.random.rand(2, 3, 4, 8).astype("float32")
    full = PixelShuffle()(x).numpy()
    np.testing.assert_array_equal(full, tf.nn.depth_to_space(x, 2).numpy())
    reference = np.zeros((2, 5, 7, 1), "float32")
    np.testing.assert_array_equal(PixelShuffle()([x, reference]).numpy(), full[:, :5, :7])
    layer = PixelShuffle()
    assert layer.compute_output_shape((None, 3, 4, 8)) == (None, 6, 8, 2)
    assert layer.compute_output_shape([(None, 3, 4, 8), (None, 5, 7, 1)]) == (None, 5, 7, 2)


def test_keras_round_trip_in_a_model():
    image = keras.Input((None, None, 3), name="image")
    out = PixelShuffle(name="shuffle")([PixelUnshuffle(name="unshuffle")(image), image])
    model = keras.Model(image, out)
    x = np.random.rand(1, 9, 6, 3).astype("float32")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), x)


def test_bad_factor_raises():
    with pytest.raises(ValueError, match="Received: factor=True"):
        PixelShuffle(True)

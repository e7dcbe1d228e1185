import numpy as np
import pytest
import tensorflow as tf

from hint.layers import PixelShuffleUpsample
from tests.layer_checks import check_layer


def test_layer_checks():
    x = np.random.rand(2, 8, 8, 16).astype("float32")
    check_layer(PixelShuffleUpsample(), x, (2, 16, 16, 8))


def test_is_conv_then_depth_to_space():
    x = np.random.randn(1, 4, 4, 8).astype("float32")
    layer = PixelShuffleUpsample()
    y = layer(x).numpy()
    (kernel,) = layer.get_weights()
    assert kernel.shape == (3, 3, 8, 16)
    expected = tf.nn.depth_to_space(tf.nn.conv2d(x, kernel, 1, "SAME"), 2).numpy()
    np.testing.assert_allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize(("channels", "params"), [(384, 2654208), (192, 663552), (96, 165888)])
def test_parameter_counts_match_official(channels, params):
    layer = PixelShuffleUpsample()
    layer.build((None, None, None, channels))
    assert layer.count_params() == params


def test_odd_channels_raise():
    with pytest.raises(ValueError, match="Received: channels=5"):
        PixelShuffleUpsample()(np.zeros((1, 4, 4, 5), "float32"))

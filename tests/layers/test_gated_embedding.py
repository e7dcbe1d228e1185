import math

import numpy as np
import pytest
import tensorflow as tf

from hint.layers import GatedEmbedding
from tests.layer_checks import check_layer

_erf = np.vectorize(math.erf)


@pytest.mark.parametrize("use_bias", [False, True])
def test_layer_checks(use_bias):
    x = np.random.rand(2, 32, 32, 4).astype("float32")
    check_layer(GatedEmbedding(dim=8, use_bias=use_bias), x, (2, 32, 32, 8))


def test_matches_reference_with_exact_gelu():
    x = np.random.randn(2, 16, 16, 4).astype("float32")
    layer = GatedEmbedding(dim=6)
    y = layer(x).numpy()
    (kernel,) = layer.get_weights()
    assert kernel.shape == (3, 3, 4, 12)
    conv = tf.nn.conv2d(x, kernel, 1, "SAME").numpy().astype("float64")
    a, b = conv[..., :6], conv[..., 6:]
    expected = 0.5 * a * (1.0 + _erf(a / math.sqrt(2.0))) * b
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_parameter_count_matches_official():
    # Official patch embedding: 3x3 conv 4 -> 96 channels, no bias.
    layer = GatedEmbedding(dim=48)
    layer.build((None, None, None, 4))
    assert layer.count_params() == 3456


def test_invalid_dim():
    with pytest.raises(ValueError, match="Received: dim=0"):
        GatedEmbedding(dim=0)

import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.layers import LayerNorm
from tests.layer_checks import check_layer


@pytest.mark.parametrize("center", [True, False])
def test_layer_checks(center):
    x = np.random.rand(2, 8, 8, 16).astype("float32")
    check_layer(LayerNorm(center=center), x, (2, 8, 8, 16))


def _set_random_weights(layer, channels):
    rng = np.random.default_rng(1)
    layer.build((None, None, None, channels))
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.weights])


def test_with_bias_numerics_match_numpy():
    x = (3.0 * np.random.randn(2, 4, 4, 8) + 1.5).astype("float32")
    layer = LayerNorm(center=True)
    _set_random_weights(layer, 8)
    gamma, beta = (w.numpy() for w in layer.weights)
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_bias_free_numerics_match_numpy():
    # Restormer's BiasFree_LayerNorm: variance around the mean, numerator not centred.
    x = (3.0 * np.random.randn(2, 4, 4, 8) + 1.5).astype("float32")
    layer = LayerNorm(center=False)
    _set_random_weights(layer, 8)
    assert len(layer.weights) == 1
    (gamma,) = (w.numpy() for w in layer.weights)
    expected = x / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * gamma
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # Not the same as mean-centring (the input has a non-zero mean).
    centred = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * gamma
    assert np.max(np.abs(layer(x).numpy() - centred)) > 0.1


def test_with_bias_matches_keras_layer_normalization():
    x = np.random.randn(2, 4, 4, 8).astype("float32")
    ours, reference = LayerNorm(), keras.layers.LayerNormalization(epsilon=1e-5)
    np.testing.assert_allclose(ours(x).numpy(), reference(x).numpy(), atol=1e-5)


def test_per_pixel_normalisation():
    x = np.random.randn(1, 3, 3, 32).astype("float32") * 5.0 + 2.0
    y = LayerNorm()(x).numpy()
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1.0, atol=1e-3)


@pytest.mark.parametrize("kwargs", [{"epsilon": 0.0}, {"center": "with_bias"}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        LayerNorm(**kwargs)


def _autodiff_reference(x, gamma, beta, epsilon, center):
    """The layer as plain TensorFlow ops, differentiated automatically."""
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    inv_std = tf.math.rsqrt(variance + epsilon)
    if center:
        return (x - mean) * inv_std * gamma + beta
    return x * inv_std * gamma


@pytest.mark.parametrize("center", [True, False])
def test_closed_form_gradient_equals_automatic_differentiation(center):
    rng = np.random.default_rng(2)
    x = tf.constant((3.0 * rng.standard_normal((2, 5, 3, 12)) + 1.5).astype("float32"))
    upstream = tf.constant(rng.standard_normal((2, 5, 3, 12)).astype("float32"))
    layer = LayerNorm(center=center)
    _set_random_weights(layer, 12)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(layer(x) * upstream)
        reference = tf.reduce_sum(
            _autodiff_reference(
                x, layer.gamma.value, layer.beta.value if center else None, 1e-5, center
            )
            * upstream
        )
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5)
    targets = [x, *layer.trainable_variables]
    pairs = zip(tape.gradient(ours, targets), tape.gradient(reference, targets), strict=True)
    for got, want in pairs:
        scale = np.abs(want.numpy()).max()
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5 * scale)

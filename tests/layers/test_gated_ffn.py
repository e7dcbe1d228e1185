import math

import numpy as np
import pytest
import tensorflow as tf

from hint.layers import GatedFeedForward, gated_ffn
from tests.layer_checks import check_layer

_erf = np.vectorize(math.erf)


@pytest.mark.parametrize("use_bias", [False, True])
def test_layer_checks(use_bias):
    x = np.random.rand(2, 16, 16, 8).astype("float32")
    check_layer(GatedFeedForward(expansion=2.66, use_bias=use_bias), x, (2, 16, 16, 8))


def test_hidden_width_and_parameter_count_match_official():
    layer = GatedFeedForward(expansion=2.66)
    layer.build((None, None, None, 48))
    # hidden = int(48 * 2.66) = 127: 48*254 + 254*9 + 127*48
    assert layer.hidden_units == 127
    assert layer.count_params() == 20574


def test_matches_reference():
    x = np.random.randn(1, 8, 8, 4).astype("float32")
    layer = GatedFeedForward(expansion=1.5)
    y = layer(x).numpy()
    w_in, w_dw, w_out = layer.get_weights()
    assert (w_in.shape, w_dw.shape, w_out.shape) == ((1, 1, 4, 12), (3, 3, 12, 1), (1, 1, 6, 4))
    h = tf.nn.conv2d(x, w_in, 1, "SAME")
    h = tf.nn.depthwise_conv2d(h, w_dw, [1, 1, 1, 1], "SAME").numpy().astype("float64")
    gated = 0.5 * h[..., :6] * (1.0 + _erf(h[..., :6] / math.sqrt(2.0))) * h[..., 6:]
    expected = tf.nn.conv2d(gated.astype("float32"), w_out, 1, "SAME").numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_invalid_expansion():
    with pytest.raises(ValueError, match="Received: expansion=0"):
        GatedFeedForward(expansion=0)


def test_band_rows():
    # 16 px wide, 12 hidden channels, float32: 768 bytes per row.
    assert gated_ffn.band_rows(16, 16, 12, 4, budget=2 * 768) == 2
    assert gated_ffn.band_rows(16, 16, 12, 4, budget=3 * 768 + 5) == 3
    assert gated_ffn.band_rows(16, 16, 12, 2, budget=2 * 768) == 4
    assert gated_ffn.band_rows(16, 16, 12, 4, budget=100) == 1
    assert gated_ffn.band_rows(16, 16, 12, 4, budget=7 * 768) == 7
    # Two bands or fewer: the whole image in one pass.
    assert gated_ffn.band_rows(16, 16, 12, 4, budget=8 * 768) is None
    assert gated_ffn.band_rows(16, 16, 12, 4, budget=16 * 768) is None
    assert gated_ffn.band_rows(None, 16, 12, 4, budget=100) is None


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("rows", [1, 3, 7])
def test_row_bands_equal_the_whole_image(monkeypatch, use_bias, rows):
    # Bands of 1, 3 and 7 rows (the last ones shorter) against one pass over the image:
    # the same outputs and gradients, borders included.
    x = tf.constant(np.random.randn(2, 16, 12, 4).astype("float32"))
    layer = GatedFeedForward(expansion=1.5, use_bias=use_bias)
    layer.build(x.shape)
    for weight in layer.weights:
        weight.assign(np.random.randn(*weight.shape).astype("float32") * 0.5)

    def run():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.sin(y))
        return y, tape.gradient(loss, [x, *layer.trainable_weights])

    monkeypatch.setattr(gated_ffn, "BAND_BYTES", 1 << 30)
    y_whole, grads_whole = run()
    per_row = 12 * layer.hidden_units * 4
    monkeypatch.setattr(gated_ffn, "BAND_BYTES", rows * per_row)
    assert gated_ffn.band_rows(16, 12, layer.hidden_units, 4) == rows
    y_bands, grads_bands = run()
    np.testing.assert_allclose(y_bands, y_whole, rtol=1e-5, atol=1e-6)
    for band, whole in zip(grads_bands, grads_whole, strict=True):
        np.testing.assert_allclose(band, whole, rtol=1e-4, atol=1e-5)


def test_whole_image_turns_bands_off(monkeypatch):
    monkeypatch.setattr(gated_ffn, "BAND_BYTES", 1)
    assert gated_ffn.band_rows(16, 16, 12, 4) == 1
    with gated_ffn.whole_image():
        assert gated_ffn.band_rows(16, 16, 12, 4) is None
    assert gated_ffn.band_rows(16, 16, 12, 4) == 1


def test_training_calls_take_the_whole_image(monkeypatch):
    monkeypatch.setattr(gated_ffn, "BAND_BYTES", 1)
    layer = GatedFeedForward(expansion=1.5)
    x = tf.zeros((1, 8, 8, 4))

    def concat_ops(training):
        fn = tf.function(lambda: layer(x, training=training))
        return [op.type for op in fn.get_concrete_function().graph.get_operations()]

    assert "ConcatV2" in concat_ops(False)
    assert "ConcatV2" not in concat_ops(True)

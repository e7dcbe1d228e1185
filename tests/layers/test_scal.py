import numpy as np
import pytest
import tensorflow as tf

from hint.layers import SCAL
from tests.layer_checks import check_layer


def _float_ops(fn, *specs):
    graph = tf.function(fn).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


@pytest.mark.parametrize("num_heads", [1, 2])
def test_layer_checks(num_heads):
    x = np.random.rand(2, 16, 16, 8).astype("float32")
    check_layer(SCAL(num_heads=num_heads), x, (2, 16, 16, 8))


def test_layer_checks_with_bias():
    x = np.random.rand(1, 8, 8, 4).astype("float32")
    check_layer(SCAL(num_heads=2, use_bias=True), x, (1, 8, 8, 4))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("heads, use_bias", [(1, False), (2, False), (2, True), (4, True)])
def test_matches_official_formula(heads, use_bias):
    # NCHW reference of the official Attention.forward on the layer's own weights.
    channels, size = 8, 8
    x = np.random.randn(2, size, size, channels).astype("float32")
    layer = SCAL(num_heads=heads, use_bias=use_bias)
    layer.build(x.shape)
    temperature = np.linspace(0.5, 2.0, heads).astype("float32")
    layer.temperature.assign(temperature.reshape(heads, 1, 1))
    for weight in layer.weights:
        if "bias" in weight.path:
            weight.assign(np.random.randn(*weight.shape).astype("float32") * 0.1)
    y = layer(x).numpy()

    qkv = layer.qkv_depthwise(layer.qkv(x)).numpy().transpose(0, 3, 1, 2)  # NCHW
    q, k, v = np.split(qkv, 3, axis=1)
    b = x.shape[0]
    q, k, v = (t.reshape(b, heads, channels // heads, size * size) for t in (q, k, v))
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    k = k / np.maximum(np.linalg.norm(k, axis=-1, keepdims=True), 1e-12)
    attn = _softmax(q @ k.transpose(0, 1, 3, 2) * temperature.reshape(heads, 1, 1))
    out = (attn @ v).reshape(b, channels, size, size).transpose(0, 2, 3, 1)

    pooled = x.reshape(b, size // 2, 2, size // 2, 2, channels).mean(axis=(2, 4))
    s = np.maximum(layer.spatial_norm_1(layer.spatial_conv_1(pooled)).numpy(), 0)
    s = np.maximum(layer.spatial_norm_2(layer.spatial_conv_2(s)).numpy(), 0)
    s = s.repeat(2, axis=1).repeat(2, axis=2)
    expected = layer.project_out(out * s).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_weights_match_official_layout():
    layer = SCAL(num_heads=4)
    layer.build((None, None, None, 48))
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in layer.weights}
    assert shapes["temperature"] == (4, 1, 1)
    assert shapes["qkv/kernel"] == (1, 1, 48, 144)
    assert shapes["qkv_depthwise/kernel"] == (3, 3, 144, 1)
    assert shapes["spatial_conv_1/bias"] == (48,)  # always with bias
    np.testing.assert_array_equal(layer.temperature.numpy(), 1.0)
    # qkv 6912 + depthwise 1296 + proj 2304 + temperature 4 + spatial 2*(20736+48) + 2 LN 192
    assert layer.count_params() == 52276


def test_attention_matrix_is_channels_by_channels_for_any_size():
    layer = SCAL(num_heads=2)
    for size in (8, 16, 32):
        x = np.random.randn(1, size, size, 8).astype("float32")
        assert tuple(layer.channel_attention(x).shape) == (1, 2, 4, 4)


def test_cost_is_linear_in_pixels():
    layer = SCAL(num_heads=2)
    layer.build((1, None, None, 8))
    flops = {size: _float_ops(layer, tf.TensorSpec([1, size, size, 8])) for size in (16, 32, 64)}
    assert 3.9 < flops[32] / flops[16] < 4.1
    assert 3.9 < flops[64] / flops[32] < 4.1

    # Control: the profiler does count batched matmuls, so pixel-by-pixel attention
    # would show up as a 16x growth for 4x pixels.
    def spatial_attention(x):
        tokens = tf.reshape(x, (1, -1, 8))
        return tf.matmul(tf.matmul(tokens, tokens, transpose_b=True), tokens)

    quadratic = {
        size: _float_ops(spatial_attention, tf.TensorSpec([1, size, size, 8])) for size in (16, 32)
    }
    assert quadratic[32] / quadratic[16] > 12


def test_dynamic_spatial_size():
    layer = SCAL(num_heads=2)
    run = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 8])])
    for height, width in ((8, 16), (12, 4)):
        x = np.random.randn(2, height, width, 8).astype("float32")
        np.testing.assert_allclose(run(x).numpy(), layer(x).numpy(), atol=1e-5)


def test_odd_spatial_size_raises():
    layer = SCAL()
    with pytest.raises(ValueError, match="Received: width=5"):
        layer(np.zeros((1, 4, 5, 8), "float32"))
    run = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 8])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="even input height"):
        run(np.zeros((1, 3, 4, 8), "float32"))


def test_channels_not_divisible_by_heads_raise():
    with pytest.raises(ValueError, match="Received: channels=6, num_heads=4"):
        SCAL(num_heads=4)(np.zeros((1, 4, 4, 6), "float32"))


@pytest.mark.parametrize("kwargs", [{"num_heads": 0}, {"epsilon": -1.0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        SCAL(**kwargs)

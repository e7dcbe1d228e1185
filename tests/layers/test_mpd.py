import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.layers import MaskAwarePixelShuffleDownsample
from tests.layer_checks import check_layer


def _inputs(height=16, channels=8, batch=2):
    features = np.random.randn(batch, height, height, channels).astype("float32")
    mask = (np.random.rand(batch, height, height, 1) > 0.5).astype("float32")
    return features, mask


def _grouped_conv(interleaved, kernel):
    groups = kernel.shape[-1]
    conv = keras.layers.Conv2D(groups, 3, padding="same", groups=groups, use_bias=False)
    conv.build(interleaved.shape)
    conv.set_weights([kernel])
    return conv(interleaved).numpy()


@pytest.mark.parametrize("use_bias", [False, True])
def test_layer_checks(use_bias):
    features, mask = _inputs()
    check_layer(MaskAwarePixelShuffleDownsample(use_bias=use_bias), [features, mask], (2, 8, 8, 16))


def test_fast_path_equals_grouped_conv_definition():
    features, mask = _inputs(channels=8)
    half = 4
    layer = MaskAwarePixelShuffleDownsample()
    fast = layer([features, mask]).numpy()
    feature_kernel = layer.feature_depthwise.get_weights()[0]  # (3, 3, 2C, 1)
    mask_kernel = layer.mask_depthwise.get_weights()[0]  # (3, 3, 4, C/2)

    unshuffled = tf.nn.space_to_depth(layer.conv(features), 2).numpy()
    mask_unshuffled = tf.nn.space_to_depth(mask, 2).numpy()
    k = np.arange(2 * 8)
    offsets = k // half  # TF space_to_depth: channel k = offset * (C/2) + c
    interleaved = np.stack([unshuffled, mask_unshuffled[..., offsets]], axis=-1)
    interleaved = interleaved.reshape(*unshuffled.shape[:-1], 4 * 8)
    kernel = np.stack([feature_kernel[:, :, k, 0], mask_kernel[:, :, offsets, k % half]], axis=2)
    np.testing.assert_allclose(fast, _grouped_conv(interleaved, kernel), atol=1e-5)


def test_equals_official_pytorch_channel_order_up_to_permutation():
    # Official: PixelUnshuffle (channel c*4+o), t[2n] = y[n], t[2n+1] = mask[n % 4],
    # grouped conv with 2C groups. Our channel o*(C/2)+c is its channel c*4+o.
    channels, half = 8, 4
    features, mask = _inputs(channels=channels)
    layer = MaskAwarePixelShuffleDownsample()
    ours = layer([features, mask]).numpy()
    feature_kernel = layer.feature_depthwise.get_weights()[0]
    mask_kernel = layer.mask_depthwise.get_weights()[0]

    y = layer.conv(features).numpy()
    b, h, w, _ = y.shape
    torch_unshuffled = (
        y.reshape(b, h // 2, 2, w // 2, 2, half).transpose(0, 1, 3, 5, 2, 4).reshape(b, h // 2, -1)
    ).reshape(b, h // 2, w // 2, 2 * channels)
    mask_unshuffled = tf.nn.space_to_depth(mask, 2).numpy()
    n = np.arange(2 * channels)
    interleaved = np.stack([torch_unshuffled, mask_unshuffled[..., n % 4]], axis=-1)
    interleaved = interleaved.reshape(b, h // 2, w // 2, 4 * channels)
    c, o = n // 4, n % 4
    ours_index = o * half + c
    kernel = np.stack([feature_kernel[:, :, ours_index, 0], mask_kernel[:, :, o, c]], axis=2)
    official = _grouped_conv(interleaved, kernel)
    np.testing.assert_allclose(ours[..., ours_index], official, atol=1e-5)


def test_mask_changes_output():
    features, mask = _inputs()
    layer = MaskAwarePixelShuffleDownsample()
    assert np.max(np.abs(layer([features, mask]).numpy() - layer([features, 1 - mask]).numpy())) > 0


@pytest.mark.parametrize(("channels", "params"), [(48, 12096), (96, 44928), (192, 172800)])
def test_parameter_counts_match_official(channels, params):
    layer = MaskAwarePixelShuffleDownsample()
    layer.build([(None, None, None, channels), (None, None, None, 1)])
    # 3x3 conv C -> C/2 (9 C^2 / 2) + grouped conv with 2C groups of 2 inputs (36 C).
    assert layer.count_params() == params == 9 * channels * channels // 2 + 36 * channels


def test_odd_spatial_size_raises():
    features, mask = _inputs(height=16)
    layer = MaskAwarePixelShuffleDownsample()
    layer([features, mask])
    with pytest.raises(ValueError, match="Received: height=15"):
        layer([features[:, :15, :15], mask[:, :15, :15]])


def test_odd_dynamic_spatial_size_raises_in_graph():
    features, mask = _inputs(height=16)
    layer = MaskAwarePixelShuffleDownsample()
    spec = [tf.TensorSpec([None, None, None, 8]), tf.TensorSpec([None, None, None, 1])]
    run = tf.function(lambda f, m: layer([f, m]), input_signature=spec)
    assert run(features, mask).shape == (2, 8, 8, 16)
    with pytest.raises(tf.errors.InvalidArgumentError, match="even input height"):
        run(features[:, :14, :13], mask[:, :14, :13])


def test_odd_channels_raise():
    features, mask = _inputs(channels=5)
    with pytest.raises(ValueError, match="Received: channels=5"):
        MaskAwarePixelShuffleDownsample()([features, mask])

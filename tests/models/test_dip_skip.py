import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.models import DIPSkip, get_preset, meshgrid_code, noise_code, registered_models
from hint.precision import precision_policy
from tests.layer_checks import check_saved_round_trip

PRESETS = ("dip_denoise", "dip_text", "dip_holes", "dip_pixels")


def _tiny(scales=3, width=8, skip=4, **kwargs):
    return DIPSkip(
        **{
            "input_channels": 4,
            "output_channels": 3,
            "channels_down": (width,) * scales,
            "channels_up": (width,) * scales,
            "channels_skip": (skip,) * scales,
            **kwargs,
        }
    )


def _code(batch=2, size=32, depth=4):
    return np.concatenate([noise_code(size, size, depth, seed) for seed in range(batch)])


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _parameters(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize(
    ("preset", "input_channels", "output_channels", "skip", "upsample", "trainable"),
    [
        ("dip_denoise", 32, 3, 4, "bilinear", 2_217_831),
        ("dip_text", 32, 3, 128, "nearest", 3_002_627),
        ("dip_holes", 2, 3, 0, "nearest", 2_157_955),
        ("dip_pixels", 32, 1, 4, "bilinear", 2_217_573),
    ],
)
def test_official_presets_have_the_official_parameter_counts(
    preset, input_channels, output_channels, skip, upsample, trainable
):
    """The counts of the official PyTorch nets (`sum(p.numel() for p in net.parameters())`),
    batch norm scales and shifts included; the moving statistics are Keras' only extras."""
    config = get_preset(preset)
    assert config.pop("type") == "DIPSkip"
    assert config == {
        "input_channels": input_channels,
        "output_channels": output_channels,
        "channels_down": (128,) * 5,
        "channels_up": (128,) * 5,
        "channels_skip": (skip,) * 5,
        "upsample": upsample,
    }
    model = DIPSkip.from_preset(preset)
    assert _parameters(model.trainable_weights) == trainable
    bn_channels = sum(layer.gamma.shape[0] for layer in _batch_norms(model))
    assert _parameters(model.non_trainable_weights) == 2 * bn_channels
    assert model.size_multiple == DIPSkip.multiple_for(**config) == 32
    assert DIPSkip.min_side_for() == 64


def test_output_is_an_image_in_the_unit_range():
    model = _tiny()
    assert [t.name.split(":")[0] for t in model.inputs] == ["code"]
    assert model.output_names == ["image"]
    assert model.get_layer("image").get_config()["activation"] == "sigmoid"
    out = _numpy(model(_code()))
    assert out.shape == (2, 32, 32, 3)
    assert np.all((out > 0) & (out < 1))
    assert out.std() > 1e-3  # not a constant image
    # A dict input works too.
    np.testing.assert_allclose(_numpy(model({"code": _code()})), out, atol=1e-6)


def test_merge_channel_bookkeeping_follows_skip_py():
    # The merge of level i sees skip_i + up_{i+1} channels (skip_i + down_i at the innermost
    # level); a level without skip channels has no concatenation.
    model = DIPSkip(
        input_channels=2,
        output_channels=1,
        channels_down=(4, 6, 8),
        channels_up=(5, 7, 9),
        channels_skip=(2, 0, 3),
    )
    merged = [model.get_layer(f"level_{n}_merge_bn").gamma.shape[0] for n in (1, 2, 3)]
    assert merged == [2 + 7, 0 + 9, 3 + 8]
    names = {layer.name for layer in model.layers}
    assert {"level_1_concat", "level_3_concat"} <= names
    assert not {"level_2_concat", "level_2_skip"} & names
    assert model.get_layer("level_1_up_1x1").kernel.shape == (1, 1, 5, 5)
    assert model.get_layer("output_conv").kernel.shape == (1, 1, 5, 1)
    assert model(_code(1, 32, 2)).shape == (1, 32, 32, 1)
    no_1x1 = _tiny(need1x1_up=False)
    assert not any("up_1x1" in layer.name for layer in no_1x1.layers)


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((30, 32), r"multiples of 8.*Received: \(height, width\)=\(30, 32\)"),
        ((8, 16), r"at least 16.*Received: \(height, width\)=\(8, 16\)"),
    ],
)
def test_bad_sizes_raise_readable_errors(size, message):
    model = _tiny()
    with pytest.raises(ValueError, match=message):
        model(_code(1, 32)[:, : size[0], : size[1]])


@pytest.mark.parametrize("upsample", ["bilinear", "nearest"])
def test_dynamic_shapes_in_graph_and_bad_sizes_raise_there(upsample):
    model = _tiny(scales=2, upsample=upsample)
    run = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, 4])])
    code = _code(1, 8)
    np.testing.assert_allclose(_numpy(run(code)), _numpy(model(code)), atol=1e-6)
    assert run(_code(1, 16)[:, :, :12]).shape == (1, 16, 12, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 4"):
        run(_code(1, 16)[:, :10, :8])
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 8"):
        run(_code(1, 4))


def test_every_convolution_reflection_pads_then_runs_valid():
    model = _tiny(filter_size_down=5)
    assert DIPSkip.min_side_for(channels_down=(8,) * 3, filter_size_down=5) == 24
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    # Per level: skip, down, conv, up, 1x1 up; then the head.
    assert len(convs) == 3 * 5 + 1
    for conv in convs:
        assert conv.padding == "valid" and conv.use_bias, conv.name
        size = conv.kernel_size[0]
        assert conv.strides == ((2, 2) if conv.name.endswith("_down") else (1, 1)), conv.name
        if size == 1:
            assert f"{conv.name}_pad" not in {layer.name for layer in model.layers}
            continue
        pad = model.get_layer(f"{conv.name}_pad")
        assert type(pad).__name__ == "_ReflectionPadding2D"
        assert pad.get_config()["padding"] == (size - 1) // 2
        assert conv.input is pad.output, conv.name
    assert model.get_layer("level_1_down").kernel_size == (5, 5)
    image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    padded = _numpy(model.get_layer("level_1_down_pad")(image))
    np.testing.assert_array_equal(padded[0, ..., 0], np.pad(image[0, ..., 0], 2, mode="reflect"))
    # One scale at its smallest size: the innermost 3x3 conv reflects a 2x2 map.
    single = _tiny(scales=1)
    out = _numpy(single(_code(1, 4)))
    assert out.shape == (1, 4, 4, 3) and np.all(np.isfinite(out))


def test_leaky_relu_slope_is_the_official_one():
    model = _tiny()
    slopes = {
        layer.get_config()["negative_slope"]
        for layer in model.layers
        if isinstance(layer, keras.layers.LeakyReLU)
    }
    assert slopes == {0.2}
    other = _tiny(negative_slope=0.1)
    assert other.get_layer("level_1_up_act").get_config()["negative_slope"] == 0.1


@pytest.mark.parametrize(
    ("upsample", "row"), [("bilinear", [0, 0.25, 0.75, 1]), ("nearest", [0, 0, 1, 1])]
)
def test_upsampling_matches_pytorch(upsample, row):
    # PyTorch's nn.Upsample(scale_factor=2) with align_corners=False (half-pixel centres).
    layer = _tiny(upsample=upsample).get_layer("level_1_upsample")
    out = _numpy(layer(np.array([[[[0.0], [1.0]]]], "float32")))
    assert out.shape == (1, 2, 4, 1)
    np.testing.assert_allclose(out[0, 0, :, 0], row, atol=1e-6)


def test_batch_norm_always_uses_batch_statistics():
    model = _tiny()
    code = _code()
    reference = _numpy(model(code, training=True))
    np.testing.assert_allclose(_numpy(model(code, training=False)), reference, atol=1e-6)
    np.testing.assert_allclose(_numpy(model(code)), reference, atol=1e-6)
    batch_norms = _batch_norms(model)
    assert all(bn.epsilon == 1e-5 and bn.momentum == 0.9 for bn in batch_norms)
    # Absurd moving statistics change nothing, even in a frozen model.
    for bn in batch_norms:
        bn.moving_mean.assign(np.full(bn.moving_mean.shape, 5.0, "float32"))
        bn.moving_variance.assign(np.full(bn.moving_variance.shape, 100.0, "float32"))
    np.testing.assert_allclose(_numpy(model(code, training=False)), reference, atol=1e-6)
    model.trainable = False
    np.testing.assert_allclose(_numpy(model(code, training=False)), reference, atol=1e-6)
    # The statistics are the batch's: the first code alone gives another image.
    assert not np.allclose(_numpy(model(code[:1])), reference[:1], atol=1e-4)
    # One layer against the formula (gamma 1, beta 0, biased variance as PyTorch).
    x = np.random.default_rng(0).normal(2.0, 3.0, (2, 5, 5, 3)).astype("float32")
    layer = type(batch_norms[0])(momentum=0.9, epsilon=1e-5)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(
        _numpy(layer(x, training=False)), (x - mean) / np.sqrt(var + 1e-5), atol=1e-5
    )
    # The moving statistics follow the batches, as PyTorch's running statistics do.
    np.testing.assert_allclose(_numpy(layer.moving_mean), 0.1 * mean, atol=1e-5)


def test_gradients_reach_every_weight_but_the_biases_batch_norm_cancels():
    """Every conv but the head is followed by a batch norm with batch statistics, which
    subtracts the per-channel mean: the official net's biases there (`need_bias=True`) get a
    zero gradient. They are kept, so that the parameter counts match."""
    model = _tiny()
    code = _code()
    projection = tf.constant(np.random.default_rng(0).standard_normal((2, 32, 32, 3)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(code) * projection)
    variables = model.trainable_variables
    gradients = dict(zip([v.path for v in variables], tape.gradient(loss, variables), strict=True))
    for path, gradient in gradients.items():
        gradient = _numpy(gradient)
        assert np.all(np.isfinite(gradient)), path
        if path.endswith("/bias") and not path.startswith("output_conv"):
            kernel = _numpy(gradients[path.replace("/bias", "/kernel")])
            assert np.abs(gradient).max() < 1e-3 * np.abs(kernel).max(), path
        else:
            assert np.any(gradient != 0), path


def test_config_and_keras_round_trip(tmp_path):
    model = _tiny(channels_skip=(4, 0, 2), upsample="nearest", negative_slope=0.1)
    config = model.get_config()
    assert config["channels_skip"] == [4, 0, 2] and config["negative_slope"] == 0.1
    clone = DIPSkip.from_config(config)
    assert clone.get_config() == config
    assert _parameters(clone.trainable_weights) == _parameters(model.trainable_weights)
    loaded = check_saved_round_trip(model, tf.constant(_code()), str(tmp_path), atol=1e-6)
    assert type(loaded) is DIPSkip and loaded.get_config() == config
    assert keras.saving.get_registered_object("hint>DIPSkip") is DIPSkip
    assert "DIPSkip" in registered_models()


def test_mixed_precision_keeps_the_image_in_float32():
    with precision_policy("mixed_bfloat16"):
        model = _tiny()
    assert model.get_layer("level_1_down").compute_dtype == "bfloat16"
    out = model(_code())
    assert out.dtype == "float32"
    assert np.all(np.isfinite(_numpy(out)))


def test_from_preset_overrides_and_rejects_other_types():
    model = DIPSkip.from_preset(
        "dip_holes", channels_down=(8,) * 2, channels_up=(8,) * 2, channels_skip=(0,) * 2
    )
    assert (model.input_channels, model.upsample, model.size_multiple) == (2, "nearest", 4)
    with pytest.raises(ValueError, match="Received: preset='dncnn_tiny'"):
        DIPSkip.from_preset("dncnn_tiny")


@pytest.mark.parametrize(
    ("kwargs", "ending"),
    [
        ({"input_channels": 0}, "Received: input_channels=0"),
        ({"output_channels": 2.0}, "Received: output_channels=2.0"),
        ({"channels_down": (8, 0, 8)}, "Received: channels_down=(8, 0, 8)"),
        ({"channels_skip": (4, -1, 4)}, "Received: channels_skip=(4, -1, 4)"),
        ({"channels_up": (8, 8)}, "channels_skip=(4, 4, 4)"),
        ({"filter_size_down": 4}, "Received: filter_size_down=4"),
        ({"filter_size_skip": 0}, "Received: filter_size_skip=0"),
        ({"upsample": "bicubic"}, "Received: upsample='bicubic'"),
        ({"need1x1_up": 1}, "Received: need1x1_up=1"),
        ({"negative_slope": -0.2}, "Received: negative_slope=-0.2"),
    ],
)
def test_invalid_arguments(kwargs, ending):
    with pytest.raises(ValueError) as error:
        _tiny(**kwargs)
    assert str(error.value).endswith(ending)


def test_noise_code_is_the_official_scaled_uniform_noise():
    code = noise_code(64, 32, 32, seed=3)
    assert code.shape == (1, 64, 32, 32) and code.dtype == np.float32
    assert code.min() >= 0 and code.max() < 0.1
    # U(0, 1) / 10: mean 0.05, standard deviation 0.1 / sqrt(12).
    assert abs(code.mean() - 0.05) < 1e-3 and abs(code.std() - 0.1 / np.sqrt(12)) < 1e-3
    np.testing.assert_array_equal(noise_code(64, 32, 32, seed=3), code)
    assert not np.array_equal(noise_code(64, 32, 32, seed=4), code)
    with pytest.raises(ValueError, match="Received: depth=0$"):
        noise_code(8, 8, 0, seed=0)


def test_meshgrid_code_corners_and_axes():
    code = meshgrid_code(4, 5)
    assert code.shape == (1, 4, 5, 2) and code.dtype == np.float32
    # Channel 0 is x (the column), channel 1 is y (the row), both in [0, 1].
    np.testing.assert_array_equal(code[0, 0, 0], [0, 0])
    np.testing.assert_array_equal(code[0, 0, -1], [1, 0])
    np.testing.assert_array_equal(code[0, -1, 0], [0, 1])
    np.testing.assert_array_equal(code[0, -1, -1], [1, 1])
    np.testing.assert_allclose(code[0, 2, :, 0], [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(code[0, :, 3, 1], [0, 1 / 3, 2 / 3, 1])
    with pytest.raises(ValueError, match="Received: width=1$"):
        meshgrid_code(4, 1)

import keras
import numpy as np
import pytest

from hint.models import DnCNN, get_preset
from hint.precision import precision_policy
from tests.layer_checks import check_layer

OPTIONS = [
    ("none", "none"),
    ("noise_map", "none"),
    ("none", "pixel_unshuffle"),
    ("noise_map", "pixel_unshuffle"),
]


def _inputs(model, batch=2, height=16, width=16, sigma=25.0, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"image": rng.random((batch, height, width, model.image_channels), np.float32)}
    if model.conditioning == "noise_map":
        inputs["noise_level"] = np.full((batch, height, width, 1), sigma / 255, np.float32)
    return inputs


def _tiny(**kwargs):
    return DnCNN(**{"depth": 3, "filters": 4, **kwargs})


@pytest.mark.parametrize(("conditioning", "downsample"), OPTIONS)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_any_size(conditioning, downsample, channels):
    model = _tiny(image_channels=channels, conditioning=conditioning, downsample=downsample)
    expected_names = {"image"} | ({"noise_level"} if conditioning == "noise_map" else set())
    assert {t.name.split(":")[0] for t in model.inputs} == expected_names
    assert model.output_names == ["denoised"]
    for height, width in ((16, 16), (17, 15), (1, 1)):
        out = model(_inputs(model, 2, height, width))
        assert tuple(out.shape) == (2, height, width, channels)
    # FFDNet layout: the conv stack sees 4C image channels (+1 noise channel) at half size.
    first = model.get_layer("conv_1")
    factor = 4 if downsample == "pixel_unshuffle" else 1
    assert first.kernel.shape[2] == factor * channels + (conditioning == "noise_map")
    assert model.get_layer("conv_3").kernel.shape[3] == factor * channels


@pytest.mark.parametrize(
    ("conditioning", "downsample", "prediction"),
    [(*OPTIONS[0], "noise"), (*OPTIONS[3], "noise"), (*OPTIONS[3], "clean")],
)
def test_layer_checks_and_keras_round_trip(conditioning, downsample, prediction):
    model = _tiny(
        image_channels=3, conditioning=conditioning, downsample=downsample, prediction=prediction
    )
    check_layer(model, _inputs(model, 2, 12, 10), (2, 12, 10, 3), atol=1e-5)


@pytest.mark.parametrize(("conditioning", "downsample"), OPTIONS)
def test_residual_formulation(conditioning, downsample):
    model = _tiny(image_channels=3, conditioning=conditioning, downsample=downsample)
    inputs = _inputs(model, 2, 11, 13)
    # Output = input - the network's noise prediction.
    noise = keras.ops.convert_to_numpy(model.noise_model()(inputs))
    out = keras.ops.convert_to_numpy(model(inputs))
    assert np.abs(noise).max() > 0
    np.testing.assert_allclose(out, inputs["image"] - noise, atol=1e-6)
    # With the last convolution zeroed the model is exactly the identity.
    last = model.get_layer(f"conv_{model.depth}")
    last.kernel.assign(np.zeros(last.kernel.shape, np.float32))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(inputs)), inputs["image"])


@pytest.mark.parametrize("downsample", ["none", "pixel_unshuffle"])
def test_mixed_precision_keeps_the_image_in_float32(downsample):
    # Under mixed_bfloat16 the hidden layers compute in bfloat16 but the output path does not:
    # a bfloat16 subtraction would round the image itself (8-bit mantissa).
    with precision_policy("mixed_bfloat16"):
        model = _tiny(conditioning="noise_map", downsample=downsample)
    assert model.get_layer("conv_2").compute_dtype == "bfloat16"
    last = model.get_layer(f"conv_{model.depth}")
    assert last.compute_dtype == "float32"
    inputs = _inputs(model, 1, 16, 16)
    last.kernel.assign(np.zeros(last.kernel.shape, np.float32))
    out = model(inputs)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), inputs["image"])


@pytest.mark.parametrize("downsample", ["none", "pixel_unshuffle"])
def test_clean_prediction(downsample):
    model = _tiny(image_channels=3, downsample=downsample, prediction="clean")
    inputs = _inputs(model, 2, 11, 13)
    last = model.get_layer(f"conv_{model.depth}")
    assert last.use_bias  # images are not zero-mean
    # The output is the network's estimate itself: a zeroed last convolution gives its bias,
    # not the input.
    last.kernel.assign(np.zeros(last.kernel.shape, np.float32))
    last.bias.assign(np.full(last.bias.shape, 0.5, np.float32))
    out = keras.ops.convert_to_numpy(model(inputs))
    np.testing.assert_array_equal(out, np.full_like(inputs["image"], 0.5))
    noise = keras.ops.convert_to_numpy(model.noise_model()(inputs))
    np.testing.assert_allclose(noise, inputs["image"] - 0.5, atol=1e-6)
    restored = DnCNN.from_config(model.get_config())
    assert restored.prediction == "clean"


def test_noise_map_changes_the_output():
    model = _tiny(conditioning="noise_map", downsample="pixel_unshuffle")
    low, high = _inputs(model, sigma=5), _inputs(model, sigma=50)
    assert not np.allclose(model(low), model(high))


def test_training_reduces_the_loss():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:24] / 24.0
    phases = rng.random((16, 1, 1)) * 2 * np.pi
    clean = (0.5 + 0.4 * np.sin(4 * x[None] + 3 * y[None] + phases))[..., None].astype("float32")
    noisy = clean + rng.normal(0, 50 / 255, clean.shape).astype("float32")
    noise_mse = float(np.mean((noisy - clean) ** 2))
    model = DnCNN.from_preset("dncnn_tiny")
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    losses = [float(model.train_on_batch({"image": noisy}, clean)) for _ in range(40)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses
    # It denoises: well below the MSE of returning the noisy input (about 0.0385).
    assert np.mean(losses[-5:]) < 0.5 * noise_mse, (losses, noise_mse)


def test_dncnn_s_parameter_count_matches_the_paper():
    """DnCNN-S (17 layers, 64 filters, gray), counted layer by layer:

    - conv 1: 3 * 3 * 1 * 64 weights + 64 biases = 640;
    - convs 2-16: 15 * 3 * 3 * 64 * 64 = 552,960 weights, no bias (the batch norm that follows
      has a shift, so a bias would be redundant);
    - batch norms 2-16: 15 * (64 gamma + 64 beta) = 1,920 trainable, plus 15 * (64 mean + 64
      variance) = 1,920 non-trainable moving statistics;
    - conv 17: 3 * 3 * 64 * 1 = 576 weights, no bias (the predicted noise is zero-mean).

    Trainable: 640 + 552,960 + 1,920 + 576 = 556,096, the paper's count with batch norm's
    scale and shift included; 558,016 with the moving statistics.
    """
    model = DnCNN(depth=17, filters=64, image_channels=1)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert trainable == 640 + 552_960 + 1_920 + 576 == 556_096
    assert non_trainable == 1_920
    assert model.count_params() == 558_016
    assert model.get_layer("conv_1").use_bias
    assert not any(model.get_layer(f"conv_{i}").use_bias for i in range(2, 18))


@pytest.mark.parametrize(
    ("preset", "depth", "filters", "channels", "conditioning", "downsample", "prediction"),
    [
        ("dncnn_gray", 17, 64, 1, "none", "none", "noise"),
        ("dncnn_color", 20, 64, 3, "none", "none", "noise"),
        ("ffdnet_gray", 15, 64, 1, "noise_map", "pixel_unshuffle", "clean"),
        ("ffdnet_color", 12, 96, 3, "noise_map", "pixel_unshuffle", "clean"),
        ("dncnn_tiny", 5, 8, 1, "none", "none", "noise"),
    ],
)
def test_presets(preset, depth, filters, channels, conditioning, downsample, prediction):
    config = get_preset(preset)
    assert config.pop("type") == "DnCNN"
    assert config.pop("prediction", "noise") == prediction
    assert config == {
        "depth": depth,
        "filters": filters,
        "image_channels": channels,
        "conditioning": conditioning,
        "downsample": downsample,
    }
    if preset == "dncnn_tiny":
        model = DnCNN.from_preset(preset, filters=4)
        assert (model.depth, model.filters) == (5, 4)
        assert keras.saving.get_registered_object("hint>DnCNN") is DnCNN


def test_from_preset_rejects_other_types():
    with pytest.raises(ValueError, match="Received: preset='hint_tiny'"):
        DnCNN.from_preset("hint_tiny")


@pytest.mark.parametrize(
    ("kwargs", "ending"),
    [
        ({"depth": 1}, "Received: depth=1"),
        ({"depth": 3.0}, "Received: depth=3.0"),
        ({"filters": 0}, "Received: filters=0"),
        ({"image_channels": 2}, "Received: image_channels=2"),
        ({"conditioning": "film"}, "Received: conditioning='film'"),
        ({"downsample": "stride"}, "Received: downsample='stride'"),
        ({"prediction": "residual"}, "Received: prediction='residual'"),
        ({"batch_norm": "yes"}, "Received: batch_norm='yes'"),
    ],
)
def test_invalid_arguments(kwargs, ending):
    with pytest.raises(ValueError) as error:
        _tiny(**kwargs)
    assert str(error.value).endswith(ending)


def _trained_statistics(model, seed=0):
    """Moves every batch norm's statistics and affine weights away from their initial values."""
    rng = np.random.default_rng(seed)
    for i in range(2, model.depth):
        bn = model.get_layer(f"bn_{i}")
        n = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
        bn.beta.assign(rng.normal(0, 0.3, n).astype("float32"))
        bn.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.05, 3.0, n).astype("float32"))


@pytest.mark.parametrize(
    ("conditioning", "downsample", "prediction"),
    [(*OPTIONS[0], "noise"), (*OPTIONS[3], "noise"), (*OPTIONS[3], "clean")],
)
def test_fold_batch_norm_gives_the_same_outputs(conditioning, downsample, prediction):
    model = DnCNN(
        depth=5,
        filters=8,
        image_channels=3,
        conditioning=conditioning,
        downsample=downsample,
        prediction=prediction,
    )
    _trained_statistics(model)
    inputs = _inputs(model, 2, 13, 18)
    folded = model.fold_batch_norm()
    assert isinstance(folded, DnCNN) and not folded.batch_norm and model.batch_norm
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert all(folded.get_layer(f"conv_{i}").use_bias for i in range(2, 5))
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    out = keras.ops.convert_to_numpy(folded(inputs, training=False))
    assert np.abs(expected - inputs["image"]).max() > 1e-2  # the statistics matter
    np.testing.assert_allclose(out, expected, atol=2e-5)
    # Inference-only: training mode would use batch statistics, so they differ there.
    batch = keras.ops.convert_to_numpy(model(inputs, training=True))
    assert not np.allclose(batch, expected, atol=1e-3)
    assert folded.fold_batch_norm() is folded
    assert DnCNN.from_config(folded.get_config()).batch_norm is False


def test_without_batch_norm_layer_checks():
    model = _tiny(image_channels=3, conditioning="noise_map", batch_norm=False)
    assert model.get_layer("conv_2").use_bias
    check_layer(model, _inputs(model, 2, 12, 10), (2, 12, 10, 3), atol=1e-5)


def test_deepened_computes_the_same_function_with_identity_layers():
    model = DnCNN(depth=5, filters=8, conditioning="noise_map")
    _trained_statistics(model)
    inputs = _inputs(model, 2, 14, 12)
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    deeper = model.deepened(9)
    assert (deeper.depth, deeper.batch_norm, model.depth) == (9, False, 5)
    # Trained as it runs: training mode gives the inference outputs too (no batch statistics).
    out = keras.ops.convert_to_numpy(deeper(inputs, training=True))
    np.testing.assert_allclose(out, expected, atol=2e-5)
    folded = model.fold_batch_norm()
    identity = np.zeros((3, 3, 8, 8), "float32")
    identity[1, 1] = np.eye(8)
    kinds = []
    for i in range(2, 9):
        kernel = keras.ops.convert_to_numpy(deeper.get_layer(f"conv_{i}").kernel)
        kinds.append("I" if np.array_equal(kernel, identity) else "T")
    # The three trained (T) middle layers keep their order, first and last at the ends.
    assert "".join(kinds) == "TIITIIT"
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(deeper.get_layer("conv_5").kernel),
        keras.ops.convert_to_numpy(folded.get_layer("conv_3").kernel),
    )
    # Every layer of a deepened network trains (non-zero gradients), and it round-trips.
    fresh = _tiny(conditioning="noise_map").deepened(6)
    check_layer(fresh, _inputs(fresh, 2, 12, 10), (2, 12, 10, 1), atol=1e-5)
    assert model.deepened(5).batch_norm is False
    with pytest.raises(ValueError, match=r"Received: depth=4$"):
        model.deepened(4)

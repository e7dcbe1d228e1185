import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.layers import SandwichBlock
from hint.models import HINTBackbone, get_preset, preset_names
from tests.layer_checks import check_layer

OFFICIAL_TOTAL = 72_265_248
OFFICIAL_COMPONENTS = {
    "embedding": 3_456,
    "encoder_1": 374_836,
    "mpd_1": 12_096,
    "encoder_2": 2_175_348,
    "mpd_2": 44_928,
    "encoder_3": 8_546_280,
    "mpd_3": 172_800,
    "latent": 45_185_248,
    "upsample_3": 2_654_208,
    "reduce_3": 73_728,
    "decoder_3": 8_546_280,
    "upsample_2": 663_552,
    "reduce_2": 18_432,
    "decoder_2": 2_175_348,
    "upsample_1": 165_888,
    "decoder_1": 1_450_228,
    "output": 2_592,
}


def _inputs(size=32, batch=2, channels=3):
    rng = np.random.default_rng(7)
    image = rng.random((batch, size, size, channels), dtype=np.float32)
    mask = np.zeros((batch, size, size, 1), np.float32)
    mask[:, size // 4 : size // 2, size // 8 : 3 * size // 4] = 1.0
    return {"image": image, "mask": mask}


def _tiny(**kwargs):
    return HINTBackbone.from_preset("hint_tiny", **kwargs)


@pytest.fixture(scope="module")
def official():
    # Built only (about 5 s), never run at this size.
    return HINTBackbone()


def test_official_parameter_count(official):
    assert sum(int(np.prod(w.shape)) for w in official.trainable_weights) == OFFICIAL_TOTAL


def test_official_parameter_count_per_component(official):
    counts = official.component_parameter_counts()
    assert list(counts) == list(HINTBackbone.COMPONENTS)
    assert counts == OFFICIAL_COMPONENTS
    assert sum(counts.values()) == OFFICIAL_TOTAL


def test_official_config_equals_preset(official):
    config = official.get_config()
    preset = get_preset("hint")
    for key, value in preset.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value)


def test_every_trainable_layer_belongs_to_a_component():
    model = _tiny()
    counts = model.component_parameter_counts()
    assert sum(counts.values()) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    names = [layer.name for layer in model.layers if layer.trainable_weights]
    assert all(any(n == p or n.startswith(p + "_") for p in HINTBackbone.COMPONENTS) for n in names)


@pytest.mark.slow
def test_layer_checks_tiny_round_trip():
    inputs = _inputs()
    check_layer(_tiny(), inputs, (2, 32, 32, 3), atol=1e-5)


def test_output_in_unit_range_and_shape_preserved():
    model = _tiny()
    for height, width in ((32, 32), (16, 48)):
        inputs = _inputs(size=48)
        inputs = {k: v[:, :height, :width] for k, v in inputs.items()}
        y = model(inputs).numpy()
        assert y.shape == (2, height, width, 3)
        assert y.min() >= 0.0 and y.max() <= 1.0


def test_image_values_under_the_hole_do_not_matter():
    model = _tiny()
    inputs = _inputs()
    changed = dict(inputs)
    noise = np.random.default_rng(3).random(inputs["image"].shape, dtype=np.float32)
    changed["image"] = np.where(inputs["mask"] > 0, noise, inputs["image"])
    assert np.any(changed["image"] != inputs["image"])
    np.testing.assert_array_equal(model(changed).numpy(), model(inputs).numpy())
    # ... while values outside the hole do.
    outside = dict(inputs)
    outside["image"] = np.where(inputs["mask"] > 0, inputs["image"], noise)
    assert np.max(np.abs(model(outside).numpy() - model(inputs).numpy())) > 0


def test_generator_input_is_masked_image():
    model = _tiny()
    probe = keras.Model(model.inputs, model.get_layer("masked_image").output)
    inputs = _inputs()
    expected = inputs["image"] * (1 - inputs["mask"]) + inputs["mask"]
    np.testing.assert_allclose(probe(inputs).numpy(), expected, atol=1e-7)


def test_downscaled_masks_are_nearest():
    model = _tiny()
    probe = keras.Model(
        model.inputs, [model.get_layer(n).output for n in ("mask_half", "mask_quarter")]
    )
    inputs = _inputs()
    inputs["mask"] = (np.random.rand(*inputs["mask"].shape) > 0.5).astype("float32")
    half, quarter = probe(inputs)
    np.testing.assert_array_equal(half.numpy(), inputs["mask"][:, ::2, ::2])
    np.testing.assert_array_equal(quarter.numpy(), inputs["mask"][:, ::4, ::4])


@pytest.mark.parametrize("size", [(36, 32), (32, 20), (40, 32)])
def test_size_not_multiple_of_16_raises(size):
    # 40 is a multiple of 8, but the latent SCAL at 40 / 8 = 5 pixels pools by 2.
    model = _tiny()
    inputs = {k: v[:, : size[0], : size[1]] for k, v in _inputs(size=48).items()}
    with pytest.raises(ValueError, match="multiples of 16"):
        model(inputs)


@pytest.mark.slow
def test_size_not_multiple_of_16_raises_in_graph_with_dynamic_shapes():
    model = _tiny()
    spec = {
        "image": tf.TensorSpec([None, None, None, 3]),
        "mask": tf.TensorSpec([None, None, None, 1]),
    }
    run = tf.function(model, input_signature=[spec])
    assert run(_inputs(size=16)).shape == (2, 16, 16, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 16"):
        run({k: v[:, :8, :16] for k, v in _inputs(size=16).items()})


@pytest.mark.slow
def test_remat_gives_same_outputs_and_gradients():
    inputs = _inputs(size=16, batch=1)
    plain, remat = _tiny(), _tiny(remat=True)
    remat.set_weights(plain.get_weights())
    results = []
    for model in (plain, remat):
        with tf.GradientTape() as tape:
            y = model(inputs)
            loss = tf.reduce_sum(tf.square(y - 0.5))
        results.append((y.numpy(), tape.gradient(loss, model.trainable_variables)))
    np.testing.assert_allclose(results[1][0], results[0][0], atol=1e-6)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)


def test_remat_switches_on_a_built_model():
    """`remat` is a call-time switch: setting it reaches every sandwich block and the config."""
    model = _tiny()
    blocks = [layer for layer in model.layers if isinstance(layer, SandwichBlock)]
    assert blocks and not any(block.remat for block in blocks)
    model.remat = True
    assert all(block.remat for block in blocks)
    assert model.get_config()["remat"] is True
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(_inputs(size=16, batch=1)))
    assert all(g is not None for g in tape.gradient(loss, model.trainable_variables))
    with pytest.raises(ValueError, match="Received: remat=yes"):
        model.remat = "yes"


def test_options_build():
    model = _tiny(layer_norm="bias_free", use_bias=True, image_channels=1)
    inputs = _inputs(size=16, batch=1, channels=1)
    assert model(inputs).shape == (1, 16, 16, 1)
    assert model.get_config()["layer_norm"] == "bias_free"


def test_get_config_round_trip():
    model = _tiny(remat=True, name="generator")
    config = model.get_config()
    assert config["remat"] is True and config["name"] == "generator"
    clone = HINTBackbone.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 15},
        {"num_blocks": (1, 1, 1)},
        {"num_blocks": (1, 0, 1, 1)},
        {"num_heads": (3, 1, 1, 1)},
        {"layer_norm": "BiasFree"},
        {"image_channels": 0},
        {"remat": 1},
        {"ffn_expansion": "2.66"},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        _tiny(**kwargs)


def test_presets():
    assert {"hint", "hint_tiny", "tunable_cnn"} <= set(preset_names())
    preset = get_preset("hint_tiny")
    preset["dim"] = 999
    assert get_preset("hint_tiny")["dim"] == 16
    with pytest.raises(ValueError, match=r"'hint', 'hint_tiny'.*\]. Received: name=huge"):
        get_preset("huge")

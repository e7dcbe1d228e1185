import numpy as np
import pytest

from hint.inference import denoise_array
from hint.models import CrossPlaneDnCNN, DnCNN
from hint.precision import precision_policy
from tests.layer_checks import check_layer


def _inputs(batch=2, height=12, width=10, sigma=25.0, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.random((batch, height, width, 3), np.float32),
        "noise_level": np.full((batch, height, width, 1), sigma / 255, np.float32),
    }


def _tiny(**kwargs):
    return CrossPlaneDnCNN(
        **{"depth": 5, "filters": 4, "conditioning": "noise_map", "mix_every": 2, **kwargs}
    )


def _randomise_mixing(model, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(2, model.depth):
        if i % model.mix_every == 0:
            kernel = 0.3 * rng.standard_normal((3, model.filters) * 2)
            model.get_layer(f"mix_{i}").assign_kernel(kernel)


@pytest.mark.parametrize("mix_rank", [None, 3])
def test_layer_checks_and_keras_round_trip(mix_rank):
    model = _tiny(mix_rank=mix_rank)
    _randomise_mixing(model)  # zero kernels would hide a save / load mistake
    check_layer(model, _inputs(), (2, 12, 10, 3), atol=1e-5)


@pytest.mark.parametrize("conditioning", ["none", "noise_map"])
def test_any_size_and_mixing_layers(conditioning):
    model = _tiny(conditioning=conditioning, depth=7, mix_every=2)
    assert {t.name.split(":")[0] for t in model.inputs} == (
        {"image", "noise_level"} if conditioning == "noise_map" else {"image"}
    )
    assert [layer.name for layer in model.layers if layer.name.startswith("mix_")] == [
        "mix_2",
        "mix_4",
        "mix_6",
    ]
    for height, width in ((16, 16), (17, 15), (1, 1)):
        inputs = _inputs(3, height, width)
        if conditioning == "none":
            inputs.pop("noise_level")
        assert tuple(model(inputs).shape) == (3, height, width, 3)


def test_residual_formulation():
    model = _tiny()
    tail = model.get_layer("conv_5")
    tail.kernel.assign(np.zeros(tail.kernel.shape, "float32"))
    inputs = _inputs()
    np.testing.assert_allclose(model(inputs).numpy(), inputs["image"], atol=1e-6)


@pytest.mark.parametrize("gray_depth", [3, 5])
def test_from_a_gray_network_it_denoises_as_that_network_on_opponent_planes(gray_depth):
    gray = DnCNN(depth=gray_depth, filters=4, conditioning="noise_map")  # batch-normed
    bn = gray.get_layer("bn_2")
    bn.moving_mean.assign(np.linspace(-0.2, 0.2, 4).astype("float32"))
    bn.gamma.assign(np.linspace(0.5, 1.5, 4).astype("float32"))
    model = _tiny()
    _randomise_mixing(model)
    model.load_gray(gray)  # folds, deepens and zeroes the mixing
    rng = np.random.default_rng(3)
    noisy = (rng.random((19, 23, 3)) + rng.normal(0, 0.1, (19, 23, 3))).astype("float32")
    expected = denoise_array(gray, noisy, 25.0, clip=False, color_space="opponent")
    np.testing.assert_allclose(denoise_array(model, noisy, 25.0, clip=False), expected, atol=1e-5)
    # Trained mixing makes each plane's estimate depend on the others.
    _randomise_mixing(model)
    assert np.abs(denoise_array(model, noisy, 25.0, clip=False) - expected).max() > 1e-4


def test_load_gray_rejects_networks_it_cannot_hold():
    model = _tiny()
    for bad, match in [
        (DnCNN(depth=3, filters=8, conditioning="noise_map"), "filters"),
        (DnCNN(depth=3, filters=4), "conditioning"),
        (DnCNN(depth=3, filters=4, conditioning="noise_map", image_channels=3), "image_channels"),
        (DnCNN(depth=7, filters=4, conditioning="noise_map"), "depth"),
    ]:
        with pytest.raises(ValueError, match=match):
            model.load_gray(bad)
    with pytest.raises(ValueError, match="must be a DnCNN"):
        model.load_gray(_tiny())


def test_more_mixing_starts_as_the_sparser_network():
    sparse = _tiny(depth=9, mix_every=4)
    _randomise_mixing(sparse, seed=1)
    rng = np.random.default_rng(2)
    for layer in sparse.layers:  # trained-looking trunk weights, not the initial ones
        if layer.name.startswith("conv_"):
            layer.set_weights(
                [w + 0.05 * rng.standard_normal(w.shape) for w in layer.get_weights()]
            )
    dense = _tiny(depth=9, mix_every=2)
    _randomise_mixing(dense)
    dense.load_cross_plane(sparse)  # copies mix_4 and mix_8, zeroes mix_2 and mix_6
    inputs = _inputs(seed=4)
    np.testing.assert_allclose(dense(inputs).numpy(), sparse(inputs).numpy(), atol=1e-6)
    assert not np.any(dense.get_layer("mix_2").kernel.numpy())
    np.testing.assert_array_equal(
        dense.get_layer("mix_4").kernel.numpy(), sparse.get_layer("mix_4").kernel.numpy()
    )
    for bad, match in [
        (_tiny(depth=9, mix_every=3), "multiple of 2"),
        (_tiny(depth=7, mix_every=4), "depth"),
        (_tiny(depth=9, mix_every=4, filters=8), "filters"),
        (_tiny(depth=9, mix_every=4, color_space="rgb"), "color_space"),
        (DnCNN(depth=9, filters=4, conditioning="noise_map"), "must be a CrossPlaneDnCNN"),
    ]:
        with pytest.raises(ValueError, match=match):
            dense.load_cross_plane(bad)


def test_factorised_mixing_starts_from_full_mixing():
    full = _tiny(depth=9, mix_every=4)
    _randomise_mixing(full, seed=1)
    inputs = _inputs(seed=4)
    exact = _tiny(depth=9, mix_every=2, mix_rank=12)  # 12 = 3 planes * 4 filters: any kernel
    exact.load_cross_plane(full)
    np.testing.assert_allclose(exact(inputs).numpy(), full(inputs).numpy(), atol=1e-5)
    cheap = _tiny(depth=9, mix_every=4, mix_rank=2)
    cheap.load_cross_plane(full)
    kernel = full.get_layer("mix_4").full_kernel()
    singular = np.linalg.svd(kernel.reshape(12, 12), compute_uv=False)
    error = np.linalg.norm(cheap.get_layer("mix_4").full_kernel() - kernel)
    np.testing.assert_allclose(error, np.sqrt(np.sum(singular[2:] ** 2)), rtol=1e-4)
    back = _tiny(depth=9, mix_every=4)  # and factorised back into full kernels, exactly
    back.load_cross_plane(cheap)
    np.testing.assert_allclose(back(inputs).numpy(), cheap(inputs).numpy(), atol=1e-5)


def test_mixed_precision_keeps_the_image_in_float32():
    inputs = _inputs(1, 32, 32)
    with precision_policy("mixed_bfloat16"):
        mixed = _tiny()
        assert mixed.get_layer("conv_2").compute_dtype == "bfloat16"
        assert mixed.get_layer("mix_2").compute_dtype == "bfloat16"
    exact = _tiny()
    exact.set_weights(mixed.get_weights())
    out = mixed(inputs)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), exact(inputs).numpy(), atol=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 2}, "Received: depth=2"),
        ({"filters": 0}, "Received: filters=0"),
        ({"conditioning": "map"}, "Received: conditioning='map'"),
        ({"color_space": "yuv"}, "Received: color_space='yuv'"),
        ({"mix_every": 0}, "Received: mix_every=0"),
        ({"mix_rank": 0}, "Received: mix_rank=0"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kwargs)

import keras
import numpy as np
import pytest

from hint import config
from hint.inference import from_planes, to_planes
from hint.layers.color_planes import COLOR_SPACES, ColorPlanes


def _rgb(batch=2, height=5, width=7, seed=0):
    return np.random.default_rng(seed).random((batch, height, width, 3)).astype("float32")


@pytest.mark.parametrize("color_space", COLOR_SPACES)
def test_planes_fold_into_the_batch_plane_major_and_invert(color_space):
    rgb = _rgb()
    planes = ColorPlanes(color_space)(rgb).numpy()
    assert planes.shape == (6, 5, 7, 1)
    for b in range(2):
        expected = to_planes(rgb[b], color_space)  # the numpy transform `denoise_array` uses
        for p in range(3):
            np.testing.assert_allclose(planes[p * 2 + b, ..., 0], expected[..., p], atol=1e-6)
    back = ColorPlanes(color_space, "from_planes")(planes).numpy()
    np.testing.assert_allclose(back, rgb, atol=1e-6)
    np.testing.assert_allclose(
        from_planes(to_planes(rgb[0], color_space), color_space), rgb[0], atol=1e-6
    )


def test_opponent_planes_are_the_mean_and_centred_differences():
    rgb = _rgb()
    planes = ColorPlanes()(rgb).numpy()[..., 0]
    np.testing.assert_allclose(planes[:2], rgb.mean(-1), atol=1e-6)
    r, g, b = np.moveaxis(rgb, -1, 0)
    np.testing.assert_allclose(planes[2:4], (r - b) / np.sqrt(2) + 0.5, atol=1e-6)
    np.testing.assert_allclose(planes[4:], (r - 2 * g + b) / np.sqrt(6) + 0.5, atol=1e-6)


def test_noise_level_is_the_standard_deviation_of_white_noise_in_each_plane():
    sigma = 0.1
    noise = np.random.default_rng(1).normal(0.0, sigma, (1, 256, 256, 3)).astype("float32")
    zero = np.zeros_like(noise)
    planes = ColorPlanes()(noise).numpy() - ColorPlanes()(zero).numpy()
    measured = planes.reshape(3, -1).std(axis=1)
    level = ColorPlanes(mode="noise_level")(np.full((1, 4, 4, 1), sigma, "float32")).numpy()
    assert level.shape == (3, 4, 4, 1)
    np.testing.assert_allclose(level[:, 0, 0, 0], [sigma / np.sqrt(3), sigma, sigma], rtol=1e-6)
    np.testing.assert_allclose(measured, level[:, 0, 0, 0], rtol=0.02)
    # Plane correlations vanish: the transform is orthogonal up to the mean plane's scale.
    assert abs(np.corrcoef(planes.reshape(3, -1))[0, 1]) < 0.01


def test_shapes_serialisation_and_saved_model_round_trip(tmp_path):
    layer = ColorPlanes("opponent", "to_planes", name="planes")
    assert layer.compute_output_shape((2, None, 8, 3)) == (6, None, 8, 1)
    assert ColorPlanes(mode="from_planes").compute_output_shape((6, 4, 4, 1)) == (2, 4, 4, 3)
    assert ColorPlanes(mode="noise_level").compute_output_shape((None, 4, 4, 1)) == (
        None,
        4,
        4,
        1,
    )
    clone = ColorPlanes.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    image = keras.Input((None, None, 3), name="image")
    model = keras.Model(image, ColorPlanes(mode="from_planes")(layer(image)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    rgb = _rgb(1, 9, 4)
    np.testing.assert_allclose(loaded(rgb).numpy(), rgb, atol=1e-6)


def test_color_spaces_agree_with_the_config_options():
    assert set(COLOR_SPACES) == set(config.COLOR_SPACES)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Received: color_space='lab'"):
        ColorPlanes("lab")
    with pytest.raises(ValueError, match="Received: mode='planes'"):
        ColorPlanes(mode="planes")

import os

import keras
import numpy as np
import pytest

from hint import inference
from hint.datasets import image_io


def conv_denoiser(channels=1, conditioned=False, depth=5):
    """A small residual conv net (receptive field 2 * depth + 1) standing in for DnCNN."""
    image = keras.Input((None, None, channels), name="image")
    inputs, x = [image], image
    if conditioned:
        level = keras.Input((None, None, 1), name="noise_level")
        inputs.append(level)
        x = keras.layers.Concatenate()([image, level])
    for _ in range(depth - 1):
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    noise = keras.layers.Conv2D(channels, 3, padding="same")(x)
    out = keras.layers.Subtract(name="denoised")([image, noise])
    return keras.Model(inputs, out)


def test_tiled_equals_whole_image():
    net = conv_denoiser(depth=5)  # receptive field 11 px < margin 16
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(100, 90, 1)).astype("float32")
    whole = inference.denoise_array(net, image, tile=512, margin=32)
    tiled = inference.denoise_array(net, image, tile=48, margin=16)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_conditioned_needs_sigma_and_uses_it():
    net = conv_denoiser(conditioned=True)
    image = np.random.default_rng(1).uniform(size=(32, 32, 1)).astype("float32")
    with pytest.raises(inference.InferenceError, match="--sigma"):
        inference.denoise_array(net, image)
    a = inference.denoise_array(net, image, sigma=10, clip=False)
    b = inference.denoise_array(net, image, sigma=50, clip=False)
    assert not np.allclose(a, b)


def test_negative_sigma_is_an_error():
    net = conv_denoiser(conditioned=True)
    with pytest.raises(inference.InferenceError, match="sigma must be >= 0"):
        inference.denoise_array(net, np.zeros((16, 16, 1), "float32"), sigma=-5)


def test_dihedral_ensemble_averages_the_eight_undone_views():
    net = conv_denoiser(channels=1)
    image = np.random.default_rng(4).uniform(size=(20, 28, 1)).astype("float32")
    views = []
    for k in range(8):
        view = np.rot90(image, k % 4)
        view = view[:, ::-1] if k >= 4 else view
        out = inference.denoise_array(net, np.ascontiguousarray(view), clip=False)
        out = out[:, ::-1] if k >= 4 else out
        views.append(np.rot90(out, -(k % 4)))
    expected = np.mean(views, axis=0)
    got = inference.denoise_array(net, image, clip=False, ensemble="dihedral")
    assert got.shape == image.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The views differ (a random conv net is not rotation invariant), so averaging changes it.
    assert not np.allclose(got, inference.denoise_array(net, image, clip=False), atol=1e-4)
    clipped = inference.denoise_array(net, image, ensemble="dihedral")
    np.testing.assert_allclose(clipped, np.clip(expected, 0, 1), atol=1e-5)


def test_ensemble_with_tiles_and_a_colour_image():
    net = conv_denoiser(channels=1, depth=5)
    image = np.random.default_rng(5).uniform(size=(70, 50, 3)).astype("float32")
    whole = inference.denoise_array(net, image, ensemble="dihedral")
    tiled = inference.denoise_array(net, image, tile=48, margin=16, ensemble="dihedral")
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_unknown_ensemble_is_an_error(tmp_path):
    net = conv_denoiser(channels=1)
    with pytest.raises(inference.InferenceError, match="Received: ensemble=x8"):
        inference.denoise_array(net, np.zeros((16, 16, 1), "float32"), ensemble="x8")
    src = tmp_path / "a.png"
    image_io.write_image(str(src), np.full((16, 16), 0.5, "float32"))
    with pytest.raises(inference.InferenceError, match="ensemble must be one of"):
        inference.denoise_paths(net, str(src), str(tmp_path / "b.png"), ensemble="mean")
    assert not (tmp_path / "b.png").exists()


def test_gray_model_on_colour_image_in_the_opponent_colour_space():
    image_in = keras.Input((None, None, 1), name="image")
    identity = keras.Model([image_in], keras.layers.Identity(name="denoised")(image_in))
    image = np.random.default_rng(6).uniform(size=(20, 24, 3)).astype("float32")
    # The transform is orthonormal and undone exactly: a network that changes nothing gives
    # the image back.
    out = inference.denoise_array(identity, image, color_space="opponent")
    np.testing.assert_allclose(out, image, atol=1e-5)

    # A conditioned network that returns the noise map it is given: the mean plane is told
    # sigma / sqrt(3), the two colour-difference planes sigma.
    image_in = keras.Input((None, None, 1), name="image")
    level_in = keras.Input((None, None, 1), name="noise_level")
    echo = keras.Model([image_in, level_in], keras.layers.Identity(name="denoised")(level_in))
    out = inference.denoise_array(echo, image, sigma=30.0, clip=False)
    s = 30.0 / 255.0
    planes = np.array([s, s - 0.5, s - 0.5])  # the mean plane's sigma / sqrt(3), times sqrt(3)
    transform = np.array(
        [[1, 1, 1] / np.sqrt(3.0), [1, 0, -1] / np.sqrt(2.0), [1, -2, 1] / np.sqrt(6.0)]
    )
    np.testing.assert_allclose(out, np.broadcast_to(planes @ transform, out.shape), atol=1e-5)

    net = conv_denoiser(channels=1)
    rgb = inference.denoise_array(net, image, color_space="rgb")
    planes = [inference.denoise_array(net, image[..., i : i + 1]) for i in range(3)]
    np.testing.assert_allclose(rgb, np.concatenate(planes, -1), atol=1e-6)
    assert not np.allclose(rgb, inference.denoise_array(net, image), atol=1e-4)
    with pytest.raises(inference.InferenceError, match="Received: color_space=yuv"):
        inference.denoise_array(net, image, color_space="yuv")


def test_gray_model_on_colour_image_and_odd_sizes():
    net = conv_denoiser(channels=1)
    image = np.random.default_rng(2).uniform(size=(21, 35, 3)).astype("float32")
    out = inference.denoise_array(net, image)
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("ext, depth", [(".png", 16), (".tif", 32), (".npy", 32), (".png", 8)])
def test_formats_are_kept(tmp_path, ext, depth):
    net = conv_denoiser(channels=1)
    rng = np.random.default_rng(3)
    noisy = (0.5 + rng.normal(0, 0.4, size=(24, 24))).astype("float32")  # outside [0, 1]
    src = str(tmp_path / f"noisy{ext}")
    image_io.write_image(src, noisy, bit_depth=depth)
    dst = str(tmp_path / f"clean{ext}")
    inference.denoise_paths(net, src, dst, progress=False)
    out, out_depth = image_io.read_image_and_depth(dst)
    assert out_depth == depth and out.shape == (24, 24, 1)
    expected = inference.denoise_array(net, image_io.read_image(src), clip=depth != 32)
    tol = 1e-6 if depth == 32 else 1.0 / (2**depth - 1)
    np.testing.assert_allclose(out, expected, atol=tol)
    if depth == 32:
        assert out.min() < 0 or out.max() > 1  # float formats are not clipped


def test_folder_and_bad_inputs(tmp_path):
    net = conv_denoiser(channels=1)
    os.makedirs(tmp_path / "in" / "sub")
    for name in ("a.png", "sub/b.png"):
        image_io.write_image(str(tmp_path / "in" / name), np.full((16, 16), 0.5, "float32"))
    outs = inference.denoise_paths(net, str(tmp_path / "in"), str(tmp_path / "out"), progress=False)
    assert sorted(os.path.relpath(p, tmp_path / "out") for p in outs) == ["a.png", "sub/b.png"]
    ens = inference.denoise_paths(
        net, str(tmp_path / "in"), str(tmp_path / "ens"), progress=False, ensemble="dihedral"
    )
    expected = inference.denoise_array(
        net, image_io.read_image(str(tmp_path / "in" / "a.png")), ensemble="dihedral"
    )
    np.testing.assert_allclose(image_io.read_image(ens[0]), expected, atol=1.0 / 255)

    with pytest.raises(inference.InferenceError, match="does not exist"):
        inference.denoise_paths(net, str(tmp_path / "missing.png"), str(tmp_path / "x.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(image_io.ImageReadError, match="bad.png"):
        inference.denoise_paths(net, str(bad), str(tmp_path / "y.png"))
    with pytest.raises(inference.InferenceError, match="sigma must be >= 0"):
        inference.denoise_paths(
            net, str(tmp_path / "in" / "a.png"), str(tmp_path / "z.png"), sigma=-1
        )
    assert not any((tmp_path / n).exists() for n in ("x.png", "y.png", "z.png"))

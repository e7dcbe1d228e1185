import numpy as np
import pytest
import tensorflow as tf

from hint.datasets import _seeds
from hint.datasets.degradations import (
    DEGRADATION_KINDS,
    SALT_DEGRADATION,
    Dither,
    GaussianNoise,
    degradation_config,
    degradation_from_config,
    floyd_steinberg,
    make_degradation,
)
from hint.datasets.pipelines import denoising_pipeline

SEED = tf.constant([3, 4], tf.int64)


def _run(degradation, clean, seed=SEED):
    return [np.asarray(t) for t in degradation(tf.constant(clean, tf.float32), seed)]


def _per_example(degradation, clean, count):
    """``count`` degradations of ``clean`` with the seeds fold_in((9, 0), k), stacked."""
    clean = tf.constant(clean, tf.float32)
    base = tf.constant([9, 0], tf.int64)
    ds = tf.data.Dataset.range(count).map(lambda k: degradation(clean, _seeds.fold_in(base, k)))
    return [np.asarray(t) for t in next(iter(ds.batch(count)))]


def _ramp(size=64, channels=1):
    ramp = np.linspace(0.0, 1.0, size * size, dtype=np.float32).reshape(size, size, 1)
    return np.repeat(ramp, channels, axis=-1)


def _floyd_steinberg_loop(image, bits):
    """The textbook raster-order loop, as the reference of the vectorised implementation."""
    x = image.astype(np.float32).copy()
    height, width, _ = x.shape
    levels = np.float32(2**bits - 1)
    out = np.empty_like(x)
    for y in range(height):
        for i in range(width):
            q = np.clip(np.floor(x[y, i] * levels + np.float32(0.5)), 0, levels) / levels
            out[y, i] = q
            e = x[y, i] - q
            if i + 1 < width:
                x[y, i + 1] += e * np.float32(7 / 16)
            if y + 1 < height:
                if i > 0:
                    x[y + 1, i - 1] += e * np.float32(3 / 16)
                x[y + 1, i] += e * np.float32(5 / 16)
                if i + 1 < width:
                    x[y + 1, i + 1] += e * np.float32(1 / 16)
    return out


# ------------------------------------------------------------------------------ gaussian


def test_gaussian_fixed_sigma_statistics_and_map():
    clean = np.full((64, 64, 3), 0.5, np.float32)
    noisy, level = _run(make_degradation("gaussian", sigma=25), clean)
    noise = noisy - clean
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    assert abs(noise.mean()) < 0.003
    assert noise.std() == pytest.approx(25 / 255, rel=0.03)
    # Channels are independent.
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.05
    assert level.shape == (64, 64, 1) and level.dtype == np.float32
    np.testing.assert_array_equal(level, np.float32(25 / 255))


def test_gaussian_sigma_units_and_clip():
    clean = np.full((32, 32, 1), 0.95, np.float32)
    _, level = _run(make_degradation("gaussian", sigma=255), clean)
    np.testing.assert_array_equal(level, 1.0)
    noisy, _ = _run(make_degradation("gaussian", sigma=50), clean)
    assert noisy.max() > 1.0 and noisy.min() < 0.95  # not clipped by default
    clipped, level = _run(make_degradation("gaussian", sigma=50, clip=True), clean)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    np.testing.assert_array_equal(level, np.float32(50 / 255))
    np.testing.assert_array_equal(clipped, np.clip(noisy, 0, 1))  # same seed, same noise


def test_gaussian_sigma_range_is_uniform_per_example():
    clean = np.full((16, 16, 1), 0.5, np.float32)
    noisy, level = _per_example(make_degradation("gaussian", sigma_range=[5, 55]), clean, 300)
    sigmas = level[:, 0, 0, 0] * 255
    assert np.all(level == level[:, :1, :1, :])  # one sigma per example
    assert sigmas.min() >= 5 and sigmas.max() <= 55
    assert sigmas.mean() == pytest.approx(30, abs=2.5)
    assert np.std(sigmas) == pytest.approx(50 / np.sqrt(12), rel=0.12)
    # The noise of each example has its own sigma.
    measured = (noisy - clean).reshape(300, -1).std(axis=1) * 255
    np.testing.assert_allclose(measured, sigmas, rtol=0.2, atol=0.5)


def test_deterministic_per_seed_and_different_per_seed():
    clean = np.full((16, 16, 3), 0.5, np.float32)
    for kind in ("gaussian", "poisson", "salt_pepper", "speckle", "dropout"):
        degradation = make_degradation(kind)
        first = _run(degradation, clean)
        tf.random.set_seed(99)
        for a, b in zip(first, _run(degradation, clean), strict=True):
            np.testing.assert_array_equal(a, b)
        other = _run(degradation, clean, tf.constant([3, 5], tf.int64))
        assert not np.array_equal(first[0], other[0]), kind


# ----------------------------------------------------------------------- other noise kinds


def test_poisson_statistics():
    clean = np.full((64, 64, 3), 0.3, np.float32)
    noisy, level = _run(make_degradation("poisson", peak=10), clean)
    assert noisy.mean() == pytest.approx(0.3, abs=0.01)
    assert noisy.var() == pytest.approx(0.3 / 10, rel=0.05)
    np.testing.assert_allclose(noisy * 10, np.round(noisy * 10), atol=1e-5)  # counts / peak
    assert noisy.min() >= 0
    np.testing.assert_allclose(level, np.sqrt(0.3 / 10), rtol=1e-6)
    _, level = _run(make_degradation("poisson", peak=10), np.zeros((4, 4, 1), np.float32))
    np.testing.assert_array_equal(level, 0.0)


def test_salt_pepper_statistics():
    clean = np.full((64, 64, 3), 0.5, np.float32)
    noisy, level = _run(make_degradation("salt_pepper", amount=0.2, salt_vs_pepper=0.25), clean)
    hit = noisy != 0.5
    assert set(np.unique(noisy)) == {0.0, 0.5, 1.0}
    assert hit.mean() == pytest.approx(0.2, abs=0.015)
    assert (noisy[hit] == 1.0).mean() == pytest.approx(0.25, abs=0.03)
    # The map is the expected RMS error: sqrt(0.2 * 0.5^2) for x = 0.5.
    np.testing.assert_allclose(level, np.sqrt(0.2 * 0.25), rtol=1e-6)
    assert np.sqrt(np.mean((noisy - clean) ** 2)) == pytest.approx(level[0, 0, 0], rel=0.05)


def test_speckle_is_multiplicative():
    clean = _ramp(64, channels=3)
    noisy, level = _run(make_degradation("speckle", sigma=51), clean)
    np.testing.assert_array_equal(noisy[clean == 0], 0.0)
    bright = clean > 0.2
    relative = (noisy - clean)[bright] / clean[bright]
    assert relative.std() == pytest.approx(0.2, rel=0.03)
    assert abs(relative.mean()) < 0.01
    np.testing.assert_allclose(level[..., 0], clean[..., 0] * 0.2, rtol=1e-5, atol=1e-7)


def test_quantization_statistics():
    clean = _ramp(64)
    quantized, level = _run(make_degradation("quantization", bits=3), clean)
    np.testing.assert_allclose(quantized * 7, np.round(quantized * 7), atol=1e-5)
    error = quantized - clean
    assert np.abs(error).max() <= 0.5 / 7 + 1e-6
    assert error.std() == pytest.approx(1 / 7 / np.sqrt(12), rel=0.03)
    np.testing.assert_allclose(level, 1 / 7 / np.sqrt(12), rtol=1e-6)


def test_dropout_statistics_and_mask():
    clean = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32) * 0.9 + 0.05
    degraded, level, mask = _run(make_degradation("dropout", rate=0.3, fill=1.0), clean)
    assert mask.shape == (64, 64, 1) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask.mean() == pytest.approx(0.3, abs=0.02)
    dropped = np.broadcast_to(mask > 0, clean.shape)
    np.testing.assert_array_equal(degraded[dropped], 1.0)
    np.testing.assert_array_equal(degraded[~dropped], clean[~dropped])
    np.testing.assert_array_equal(level, 0.0)


# ------------------------------------------------------------------------------- dither


def test_floyd_steinberg_equals_the_raster_loop():
    rng = np.random.default_rng(1)
    for shape, bits in (((13, 11, 2), 1), ((9, 3, 1), 2), ((1, 7, 3), 3), ((6, 1, 1), 4)):
        image = rng.random(shape, dtype=np.float32)
        np.testing.assert_array_equal(
            floyd_steinberg(image, bits), _floyd_steinberg_loop(image, bits)
        )


def test_floyd_steinberg_batches_and_checkerboard():
    image = np.random.default_rng(2).random((3, 10, 12, 2), dtype=np.float32)
    batched = floyd_steinberg(image, 2)
    assert batched.shape == image.shape and batched.dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(batched[i], floyd_steinberg(image[i], 2))
    board = floyd_steinberg(np.full((4, 4, 1), 0.5, np.float32), 1)[..., 0]
    np.testing.assert_array_equal(board, (np.indices((4, 4)).sum(0) + 1) % 2)


def test_dither_statistics():
    # Error diffusion keeps local averages: a flat 0.3 area becomes about 30 % ones (1 bit).
    flat, level = _run(make_degradation("dither", bits=1), np.full((32, 32, 1), 0.3, np.float32))
    assert set(np.unique(flat)) == {0.0, 1.0}
    assert flat.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(level, np.sqrt(0.3 * 0.7), rtol=1e-5)
    # On a ramp, block means follow the ramp and the map predicts the RMS error.
    clean = _ramp(64)
    dithered, level = _run(make_degradation("dither", bits=2), clean)
    np.testing.assert_allclose(dithered * 3, np.round(dithered * 3), atol=1e-5)
    blocks = (dithered - clean).reshape(8, 8, 8, 8).mean(axis=(1, 3))
    assert np.abs(blocks).max() < 0.06
    rms = np.sqrt(np.mean((dithered - clean) ** 2))
    assert rms == pytest.approx(np.sqrt(np.mean(level**2)), rel=0.2)


def test_dither_in_a_graph_and_on_batches():
    clean = np.random.default_rng(3).random((2, 12, 10, 3), dtype=np.float32)
    dither = Dither(bits=2)
    fn = tf.function(lambda x: dither(x, SEED))
    dithered, level = (np.asarray(t) for t in fn(tf.constant(clean)))
    assert dithered.shape == clean.shape and level.shape == (2, 12, 10, 1)
    np.testing.assert_array_equal(dithered, floyd_steinberg(clean, 2))
    np.testing.assert_array_equal(_run(dither, clean[1])[0], dithered[1])


# ------------------------------------------------------------------------ configuration


@pytest.mark.parametrize("kind", DEGRADATION_KINDS)
def test_config_round_trip(kind):
    degradation = make_degradation(kind)
    config = degradation_config(degradation)
    assert config["kind"] == kind
    assert degradation_from_config(config) == degradation
    assert repr(degradation).endswith(")")


@pytest.mark.parametrize(
    ("kind", "params", "ending"),
    [
        ("gaussian", {"sigma": -1}, "Received: sigma=-1"),
        ("gaussian", {"sigma": "25"}, "Received: sigma='25'"),
        ("gaussian", {"sigma_range": [30, 10]}, "Received: sigma_range=[30, 10]"),
        ("gaussian", {"sigma_range": [0, 300]}, "Received: sigma_range=[0, 300]"),
        ("gaussian", {"sigma": -5, "sigma_range": [0, 5]}, "Received: sigma=-5"),
        ("gaussian", {"clip": "yes"}, "Received: clip='yes'"),
        ("gaussian", {"sigmas": 5}, "Received: sigmas=5"),
        ("poisson", {"peak": 0}, "Received: peak=0"),
        ("salt_pepper", {"amount": 1.5}, "Received: amount=1.5"),
        ("speckle", {"sigma": float("nan")}, "Received: sigma=nan"),
        ("quantization", {"bits": 0}, "Received: bits=0"),
        ("dither", {"bits": 2.0}, "Received: bits=2.0"),
        ("dropout", {"rate": 1.0}, "Received: rate=1.0"),
        ("blur", {}, "Received: kind='blur'"),
    ],
)
def test_invalid_arguments(kind, params, ending):
    with pytest.raises(ValueError) as error:
        make_degradation(kind, **params)
    assert str(error.value).endswith(ending)


def test_sigma_is_converted_once_and_a_range_wins():
    noise = GaussianNoise(sigma_range=[0, 55])
    assert noise.get_config() == {"sigma": None, "sigma_range": [0.0, 55.0], "clip": False}
    assert noise._range == [0.0, 55 / 255]
    # A config's default sigma does not block blind training.
    assert make_degradation("gaussian", sigma=25.0, sigma_range=[0, 55]) == noise
    assert GaussianNoise(sigma=15)._sigma == 15 / 255


# ------------------------------------------------------------------------------ pipeline


def _clean(count=10, size=16, channels=3):
    return np.random.default_rng(0).random((count, size, size, channels), dtype=np.float32)


def test_pipeline_shapes_and_per_example_seeds():
    clean = _clean()
    noise = make_degradation("gaussian", sigma_range=[0, 55])
    ds = denoising_pipeline(tf.data.Dataset.from_tensor_slices(clean), noise, 4, seed=7)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 2  # the partial batch is dropped when training
    inputs, target = batches[1]
    assert set(inputs) == {"image", "noise_level"}
    assert inputs["image"].shape == (4, 16, 16, 3) and inputs["noise_level"].shape == (4, 16, 16, 1)
    np.testing.assert_array_equal(target, clean[4:8])
    # Example k uses the seed fold_in((seed, salt), k).
    base = _seeds.base_seed(7, SALT_DEGRADATION)
    noisy, level = _run(noise, clean[5], _seeds.fold_in(base, 5))
    np.testing.assert_array_equal(inputs["image"][1], noisy)
    np.testing.assert_array_equal(inputs["noise_level"][1], level)
    sigmas = np.concatenate([b[0]["noise_level"][:, 0, 0, 0] for b in batches])
    assert len(np.unique(sigmas)) == 8  # a sigma per example


def test_pipeline_is_deterministic_per_seed_and_accepts_configs():
    clean = tf.data.Dataset.from_tensor_slices(_clean())

    def images(seed, degradation="speckle"):
        ds = denoising_pipeline(clean, degradation, 5, seed, training=False)
        return np.concatenate([x["image"] for x, _ in ds.as_numpy_iterator()])

    first = images(1)
    tf.random.set_seed(5)
    np.testing.assert_array_equal(first, images(1))
    np.testing.assert_array_equal(first, images(1, {"kind": "speckle", "sigma": 25}))
    assert not np.array_equal(first, images(2))


def test_pipeline_dropout_mask_and_batched_dither():
    clean = _clean(count=5)
    ds = tf.data.Dataset.from_tensor_slices(clean)
    inputs, _ = next(iter(denoising_pipeline(ds, {"kind": "dropout", "rate": 0.5}, 5, seed=0)))
    assert set(inputs) == {"image", "noise_level", "mask"}
    assert inputs["mask"].shape == (5, 16, 16, 1)
    batches = list(denoising_pipeline(ds, Dither(bits=1), 2, seed=0, training=False))
    assert [b[1].shape[0] for b in batches] == [2, 2, 1]
    dithered = np.concatenate([b[0]["image"] for b in batches])
    np.testing.assert_array_equal(dithered, floyd_steinberg(clean, 1))


def test_pipeline_rejects_bad_arguments():
    ds = tf.data.Dataset.from_tensor_slices(_clean())
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        denoising_pipeline(ds, "gaussian", 0, seed=0)
    with pytest.raises(ValueError, match="Received: degradation=3"):
        denoising_pipeline(ds, 3, 2, seed=0)
    with pytest.raises(ValueError, match="clean_ds.element_spec"):
        denoising_pipeline(ds.batch(2), "gaussian", 2, seed=0)

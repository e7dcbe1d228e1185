import socket
import warnings

import numpy as np
import pytest
import tensorflow as tf

from hint.datasets import sources
from hint.datasets.image_io import write_image
from hint.datasets.sources import (
    ImageSource,
    embedded_image_names,
    embedded_images,
    fixed_crops,
    image_sources,
)
from tests.conftest import shared_data_path

SIZE = 32


def _take(ds, n):
    return np.stack(list(ds.take(n).as_numpy_iterator()))


def _make_folder(folder, count=6):
    rng = np.random.default_rng(0)
    for i in range(count):
        shape = (40 + 4 * i, 48, 3) if i % 2 == 0 else (44, 40 + 4 * i)
        write_image(folder / f"img_{i}.png", rng.random(shape, dtype=np.float32))
    write_image(folder / "sub" / "small.jpg", rng.random((20, 26, 3), dtype=np.float32))
    (folder / "readme.txt").write_text("not an image")
    return count + 1


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    count = _make_folder(folder)
    return folder, count


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught]


def test_corrupt_file_skipped_with_one_warning(image_folder):
    folder, count = image_folder
    (folder / "broken.png").write_bytes(b"garbage")
    truncated = (folder / "img_0.png").read_bytes()[:80]
    (folder / "truncated.png").write_bytes(truncated)  # header fine, pixels missing
    source, messages = _caught(lambda: ImageSource(folder, SIZE, val_count=1, seed=0))
    assert len(messages) == 1
    assert "broken.png" in messages[0] and "truncated.png" in messages[0]
    assert [p for p, _ in source.skipped] == [
        str(folder / "broken.png"),
        str(folder / "truncated.png"),
    ]
    assert len(source.train_files) + len(source.val_files) == count
    crops = _take(source.train(), 2 * count)
    assert crops.shape == (2 * count, SIZE, SIZE, 3)


def test_streaming_mode_skips_bad_file_mid_epoch(image_folder):
    folder, count = image_folder
    (folder / "truncated.png").write_bytes((folder / "img_0.png").read_bytes()[:80])
    source, messages = _caught(lambda: ImageSource(folder, SIZE, val_count=0, cache="none"))
    assert messages == [] and not source.cached  # the header looks fine
    assert len(source.train_files) == count + 1
    crops, messages = _caught(lambda: _take(source.train(), 3 * count))
    assert crops.shape == (3 * count, SIZE, SIZE, 3)
    assert len(messages) == 1 and "truncated.png" in messages[0]


def test_folder_without_readable_images_raises(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No readable images in folder .*empty"):
        ImageSource(empty, SIZE)
    (empty / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.jpg"):
        ImageSource(empty, SIZE)
    with pytest.raises(FileNotFoundError, match="missing"):
        ImageSource(tmp_path / "missing", SIZE)


def test_crops_shape_range_and_split(image_folder):
    folder, count = image_folder
    source = ImageSource(folder, SIZE, channels=1, val_count=2, seed=3, flips="both")
    assert source.cached
    assert len(source.val_files) == 2 and len(source.train_files) == count - 2
    assert not set(source.val_files) & set(source.train_files)
    train = _take(source.train(), 8)
    assert train.shape == (8, SIZE, SIZE, 1) and train.dtype == np.float32
    assert 0.0 <= train.min() and train.max() <= 1.0
    val = np.stack(list(source.validation().as_numpy_iterator()))
    assert val.shape == (2, SIZE, SIZE, 1)
    np.testing.assert_array_equal(val, np.stack(list(source.validation().as_numpy_iterator())))


def test_small_image_upscaled_and_val_crops(tmp_path):
    write_image(tmp_path / "a.png", np.random.default_rng(1).random((20, 12, 3)))
    write_image(tmp_path / "b.png", np.random.default_rng(2).random((16, 24, 3)))
    source = ImageSource(tmp_path, SIZE, val_count=1, val_crops=3)
    assert _take(source.train(), 3).shape == (3, SIZE, SIZE, 3)
    val = list(source.validation().as_numpy_iterator())
    assert len(val) == 3 and val[0].shape == (SIZE, SIZE, 3)


def test_determinism_for_a_seed(image_folder):
    folder, _ = image_folder
    first = _take(ImageSource(folder, SIZE, val_count=1, seed=5).train(), 10)
    tf.random.set_seed(987)  # the global seed must not matter
    again = _take(ImageSource(folder, SIZE, val_count=1, seed=5, cache="none").train(), 10)
    other = _take(ImageSource(folder, SIZE, val_count=1, seed=6).train(), 10)
    np.testing.assert_allclose(first, again, atol=1e-6)
    assert not np.allclose(first, other)


def test_channel_permutation_reorders_the_same_crops(image_folder):
    folder, _ = image_folder
    plain = _take(ImageSource(folder, SIZE, val_count=1, seed=2).train(), 48)
    source = ImageSource(folder, SIZE, val_count=1, seed=2, color_augment="channel_permutation")
    permuted = _take(source.train(), 48)
    # Same crops and flips as without it, each with one of the six channel orders.
    seen = []
    for a, b in zip(plain, permuted, strict=True):
        orders = [p for p in sources._CHANNEL_ORDERS if np.array_equal(a[..., list(p)], b)]
        assert orders, "a crop is not a channel permutation of the unaugmented one"
        seen.append(orders[0])
    assert len(set(seen)) == 6  # 48 draws: missing one of 6 orders has probability < 1e-3
    again = _take(source.train(), 48)
    np.testing.assert_array_equal(permuted, again)
    # Validation crops are never permuted.
    np.testing.assert_array_equal(
        _take(source.validation(), 1),
        _take(ImageSource(folder, SIZE, val_count=1, seed=2).validation(), 1),
    )


def test_saturation_scales_the_same_crops_saturation(tmp_path):
    from skimage.color import rgb2hsv

    # Dull colours (saturation at most 1/3), so that S * 2.5 stays below 1: no clipping.
    folder = tmp_path / "dull"
    rng = np.random.default_rng(1)
    for i in range(3):
        write_image(folder / f"img_{i}.tif", 0.45 + 0.15 * rng.random((40, 48, 3), np.float32))
    plain = _take(ImageSource(folder, SIZE, val_count=1, seed=2).train(), 24)
    source = ImageSource(folder, SIZE, val_count=1, seed=2, color_augment="saturation")
    saturated = _take(source.train(), 24)
    low, high = sources.SATURATION_RANGE
    factors = []
    for a, b in zip(plain, saturated, strict=True):
        ha, hb = rgb2hsv(a), rgb2hsv(b)
        # Same crop and flip, same value (max channel); hue kept where there is colour.
        np.testing.assert_allclose(hb[..., 2], ha[..., 2], atol=1e-5)
        coloured = ha[..., 1] > 0.05
        assert coloured.sum() > 100
        dh = np.abs(hb[..., 0] - ha[..., 0])[coloured]
        assert np.minimum(dh, 1 - dh).max() < 1e-3
        ratio = hb[..., 1][coloured] / ha[..., 1][coloured]
        # One factor per crop (S * f stays below 1 for these pixels: no clipping).
        assert ratio.max() - ratio.min() < 1e-3
        factors.append(ratio.mean())
    factors = np.array(factors)
    assert factors.min() >= low - 1e-3 and factors.max() <= high + 1e-3
    assert factors.min() < 1.0 < factors.max() and factors.max() - factors.min() > 1.0
    np.testing.assert_array_equal(saturated, _take(source.train(), 24))
    np.testing.assert_array_equal(
        _take(source.validation(), 1),
        _take(ImageSource(folder, SIZE, val_count=1, seed=2).validation(), 1),
    )


def test_gray_channel_gives_one_channel_of_the_same_crops(tmp_path):
    folder = tmp_path / "colour"
    rng = np.random.default_rng(2)
    for i in range(3):
        write_image(folder / f"img_{i}.tif", rng.random((40, 48, 3), np.float32))
    plain = _take(ImageSource(folder, SIZE, val_count=1, seed=3).train(), 24)
    source = ImageSource(folder, SIZE, val_count=1, seed=3, color_augment="gray_channel")
    gray = _take(source.train(), 24)
    picked = []
    for a, b in zip(plain, gray, strict=True):
        # R = G = B, and that plane is one channel of the same crop (and flip).
        np.testing.assert_array_equal(b, np.repeat(b[..., :1], 3, axis=-1))
        (channel,) = [c for c in range(3) if np.array_equal(b[..., 0], a[..., c])]
        picked.append(channel)
    assert set(picked) == {0, 1, 2}
    np.testing.assert_array_equal(gray, _take(source.train(), 24))
    # Validation crops: crop i is channel i mod 3 of the plain crop.
    plain_val = _take(ImageSource(folder, SIZE, val_count=1, seed=3, val_crops=4).validation(), 4)
    source = ImageSource(
        folder, SIZE, val_count=1, seed=3, val_crops=4, color_augment="gray_channel"
    )
    for i, crop in enumerate(_take(source.validation(), 4)):
        np.testing.assert_array_equal(crop, np.repeat(plain_val[i][..., i % 3 : i % 3 + 1], 3, -1))
    crops = rng.random((5, 4, 4, 3)).astype(np.float32)
    out = sources.gray_channels(crops, first=1).numpy()
    for i in range(5):
        np.testing.assert_array_equal(out[i], np.repeat(crops[i][..., (i + 1) % 3, None], 3, -1))


def test_argument_validation(image_folder):
    folder, count = image_folder
    with pytest.raises(ValueError, match=r"Received: flips='diagonal'$"):
        ImageSource(folder, SIZE, flips="diagonal")
    with pytest.raises(ValueError, match=r"Received: color_augment='hue'$"):
        ImageSource(folder, SIZE, color_augment="hue")
    with pytest.raises(ValueError, match=r"needs colour crops .*Received: color_augment="):
        ImageSource(folder, SIZE, channels=1, color_augment="channel_permutation")
    with pytest.raises(ValueError, match=r"Received: channels=2$"):
        ImageSource(folder, SIZE, channels=2)
    with pytest.raises(ValueError, match=r"Received: image_size=4$"):
        ImageSource(folder, 4)
    with pytest.raises(ValueError, match=rf"Received: val_count={count}$"):
        ImageSource(folder, SIZE, val_count=count)


def test_embedded_default_loads_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("embedded images must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    sources._embedded_native.cache_clear()
    images = embedded_images()
    names = embedded_image_names()
    assert len(images) == len(names) >= 10
    assert names[:4] == ["astronaut", "brick", "camera", "chelsea"]
    for image in images:
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[-1] == 3
        assert 0.0 <= image.min() and image.max() <= 1.0
    train, val = image_sources(None, SIZE, seed=0)
    assert _take(train, 4).shape == (4, SIZE, SIZE, 3)
    val = np.stack(list(val.as_numpy_iterator()))
    assert val.shape == (sources.EMBEDDED_VAL_COUNT * sources.EMBEDDED_VAL_CROPS, SIZE, SIZE, 3)


def test_fixed_crops_are_centre_crops(tmp_path):
    image = np.random.default_rng(3).random((40, 50, 3)).astype(np.float32)
    write_image(tmp_path / "a.tif", image, bit_depth=32)
    write_image(tmp_path / "b.png", image[:20, :16])  # upscaled to 32x40 first
    (tmp_path / "c.png").write_bytes(b"bad")
    crops, messages = _caught(lambda: fixed_crops(tmp_path, SIZE, channels=3))
    assert len(messages) == 1 and "c.png" in messages[0]
    assert crops.shape == (2, SIZE, SIZE, 3) and crops.dtype == np.float32
    np.testing.assert_array_equal(crops[0], image[4:36, 9:41])
    with pytest.warns(UserWarning, match="c.png"):
        gray = fixed_crops(tmp_path, SIZE, channels=1)
    assert gray.shape == (2, SIZE, SIZE, 1)


def test_shared_gray_set():
    folder = shared_data_path("val", "Set12")
    source = ImageSource(folder, SIZE, channels=1, val_count=2)
    assert len(source.train_files) == 10
    assert _take(source.train(), 2).shape == (2, SIZE, SIZE, 1)

import warnings

import numpy as np
import pytest
import tensorflow as tf

from hint.datasets import _seeds
from hint.datasets.degradations import PixelDropout
from hint.datasets.image_io import write_image
from hint.datasets.masks import MaskGenerator, evaluation_masks, hole_ratio

SIZE = 32


def _masks(generator, count, seed=0):
    """``count`` masks of seeds fold_in((seed, 1), i), generated inside tf.data."""
    return _masks_dataset(generator, count, seed).get_single_element()


def _masks_dataset(generator, count, seed=0):
    base = _seeds.base_seed(seed, 1)
    ds = tf.data.Dataset.range(count).map(
        lambda i: generator(_seeds.fold_in(base, i)), num_parallel_calls=2
    )
    return ds.batch(count)


# Hole-ratio bounds over 24 masks: (lowest allowed, highest allowed, mean range).
RATIOS = {
    "freeform": (0.005, 0.5, (0.08, 0.3)),
    "wide": (0.005, 0.75, (0.15, 0.45)),
    "rect": (0.01, 0.5, (0.08, 0.3)),
    "mix": (0.005, 0.75, (0.1, 0.35)),
}


# "mix" traces every kind of hole (about 3 s).
KINDS = [pytest.param(k, marks=pytest.mark.slow) if k == "mix" else k for k in sorted(RATIOS)]


@pytest.mark.parametrize("kind", KINDS)
def test_binary_shape_ratio_and_determinism(kind):
    generator = MaskGenerator(kind, SIZE)
    # Seeds 0 and 1 in one dataset (tracing a generator costs more than running it).
    ds = _masks_dataset(generator, 24, seed=0).concatenate(_masks_dataset(generator, 24, seed=1))
    masks, other = (b.numpy() for b in ds)
    assert masks.shape == (24, SIZE, SIZE, 1) and masks.dtype == np.float32
    assert set(np.unique(masks)) <= {0.0, 1.0}
    ratios = hole_ratio(masks)
    low, high, (mean_low, mean_high) = RATIOS[kind]
    assert ratios.min() >= low and ratios.max() <= high, ratios
    assert mean_low <= ratios.mean() <= mean_high, ratios.mean()
    np.testing.assert_array_equal(masks, next(iter(ds)).numpy())  # stateless: same again
    assert sum(not np.array_equal(a, b) for a, b in zip(masks, other, strict=True)) >= 20


def test_eager_call_seed_forms_and_non_square():
    generator = MaskGenerator("freeform", (24, 40))
    mask = generator(tf.constant([3, 4], tf.int64))
    assert mask.shape == (24, 40, 1)
    np.testing.assert_array_equal(mask, generator(np.array([3, 4], np.int32)))
    np.testing.assert_array_equal(generator(7), generator([7, 0]))
    assert not np.array_equal(mask, generator([3, 5]))


def test_unused_weights_and_folder_are_ignored(tmp_path):
    # One config can switch kinds without dropping its mix weights or mask folder.
    generator = MaskGenerator("rect", SIZE, weights={"freeform": 1}, folder=tmp_path / "none")
    plain = MaskGenerator("rect", SIZE)
    for seed in range(4):
        mask = generator(seed).numpy()
        assert mask.shape == (SIZE, SIZE, 1) and mask.any()
        np.testing.assert_array_equal(mask, plain(seed).numpy())  # the same rectangles


def test_center_is_a_fixed_quarter():
    mask = MaskGenerator("center", SIZE)([1, 2]).numpy()[..., 0]
    expected = np.zeros((SIZE, SIZE))
    expected[8:24, 8:24] = 1
    np.testing.assert_array_equal(mask, expected)


def _neighboured(mask):
    """Fraction of the holes of a [H, W] mask with a hole among their 4 neighbours."""
    padded = np.pad(mask > 0, 1)
    near = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    return (near & (mask > 0)).sum() / max(1, (mask > 0).sum())


def test_text_masks_are_lines_of_strokes():
    generator = MaskGenerator("text", 64)
    ds = _masks_dataset(generator, 16, seed=0).concatenate(_masks_dataset(generator, 16, seed=1))
    masks, other = (b.numpy() for b in ds)
    assert masks.shape == (16, 64, 64, 1) and masks.dtype == np.float32
    assert set(np.unique(masks)) <= {0.0, 1.0}
    ratios = hole_ratio(masks)
    assert ratios.min() >= 0.03 and ratios.max() <= 0.3, ratios
    assert 0.08 <= ratios.mean() <= 0.2, ratios.mean()
    np.testing.assert_array_equal(masks, next(iter(ds)).numpy())
    assert all(not np.array_equal(a, b) for a, b in zip(masks, other, strict=True))
    # Strokes, not scattered pixels: over 90 % of the holes touch another hole (measured), where
    # independent pixels at this ratio would give 1 - 0.86^4 = 45 %; and the holes lie in lines
    # with empty rows between them.
    for mask in masks[..., 0]:
        assert _neighboured(mask) >= 0.8
        assert (mask.sum(axis=1) == 0).mean() >= 0.1


def test_pixel_masks_follow_drop_and_match_the_dropout_degradation():
    generator = MaskGenerator("pixels", 64)
    masks = _masks(generator, 8).numpy()
    assert masks.shape == (8, 64, 64, 1) and set(np.unique(masks)) <= {0.0, 1.0}
    assert np.all(np.abs(hole_ratio(masks) - 0.5) <= 0.05), hole_ratio(masks)
    assert sum(not np.array_equal(a, b) for a, b in zip(masks, masks[1:], strict=False)) == 7
    sparse = MaskGenerator("pixels", 64, drop=0.2)([1, 2]).numpy()
    assert abs(sparse.mean() - 0.2) <= 0.05
    np.testing.assert_array_equal(sparse, MaskGenerator("pixels", 64, drop=0.2)([1, 2]))
    # One implementation: the degradation drops the same pixels for a seed and rate.
    _, _, dropped = PixelDropout(rate=0.2)(tf.zeros([64, 64, 3]), [1, 2])
    np.testing.assert_array_equal(dropped.numpy(), sparse)


def test_mix_of_text_and_pixels():
    generator = MaskGenerator("mix", SIZE, weights={"text": 1, "pixels": 1}, drop=0.6)
    masks = _masks(generator, 40).numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}
    # The two kinds apart: pixel masks have ~60 % holes, text masks at most ~20 %.
    pixels = hole_ratio(masks) > 0.4
    assert 0.25 <= pixels.mean() <= 0.75, hole_ratio(masks)


def test_max_ratio_caps_hole_ratio():
    masks = _masks(MaskGenerator("wide", SIZE, max_ratio=0.15), 16).numpy()
    assert hole_ratio(masks).max() <= 0.15


def test_mix_weights_respected_roughly():
    generator = MaskGenerator("mix", SIZE, weights={"center": 3, "rect": 1})
    masks = _masks(generator, 200).numpy()
    center = MaskGenerator("center", SIZE)(0).numpy()
    share = np.mean([np.array_equal(m, center) for m in masks])
    assert 0.65 <= share <= 0.85, share


def test_folder_masks_resized_binarised_and_flipped(tmp_path):
    tall = np.zeros((40, 20), np.uint8)
    tall[:10, :5] = 1  # the faintest non-zero value is still a hole
    wide = np.zeros((10, 30, 3), np.float32)
    wide[5:, 20:] = 0.7
    write_image(tmp_path / "tall.png", tall)
    write_image(tmp_path / "sub" / "wide.tif", wide, bit_depth=16)
    (tmp_path / "broken.png").write_bytes(b"no")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generator = MaskGenerator("folder", 16, folder=tmp_path)
    assert len(caught) == 1 and "broken.png" in str(caught[0].message)
    assert generator.folder_count == 2
    # Nearest-neighbour resize to 16x16 of each file, in any of the 4 flips.
    tall_16 = np.zeros((16, 16))
    tall_16[:4, :4] = 1
    wide_16 = np.zeros((16, 16))
    wide_16[8:, 11:] = 1
    allowed = [np.flip(m, axes) for m in (tall_16, wide_16) for axes in [(), (0,), (1,), (0, 1)]]
    masks = _masks(generator, 40).numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}
    seen = set()
    for mask in masks[..., 0]:
        matches = [i for i, a in enumerate(allowed) if np.array_equal(mask, a)]
        assert matches, mask
        seen.add(matches[0])
    assert len(seen) >= 6  # both files and several flips get used


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "blob"}, "Received: kind='blob'"),
        ({"image_size": 4}, "Received: image_size=4"),
        ({"kind": "rect", "weights": {"rect": -1}}, "Received: weights={'rect': -1}"),
        ({"kind": "mix", "weights": {"rect": 0}}, "Received: weights={'rect': 0}"),
        ({"kind": "mix", "weights": {"blob": 1}}, "Received: weights={'blob': 1}"),
        ({"kind": "mix", "weights": ["rect"]}, "Received: weights=['rect']"),
        ({"kind": "folder"}, "Received: folder=None"),
        ({"kind": "mix", "weights": {"folder": 1}}, "Received: folder=None"),
        ({"max_ratio": 1.5}, "Received: max_ratio=1.5"),
        ({"kind": "pixels", "drop": 1.5}, "Received: drop=1.5"),
        ({"kind": "pixels", "drop": 0}, "Received: drop=0"),
        ({"drop": True}, "Received: drop=True"),
    ],
)
def test_argument_validation(kwargs, message):
    with pytest.raises(ValueError) as info:
        MaskGenerator(**kwargs)
    assert str(info.value).endswith(message)


@pytest.mark.slow
def test_evaluation_masks_buckets_fixed_and_in_bounds():
    masks = evaluation_masks(SIZE, per_bucket=3, seed=0)
    assert list(masks) == ["0-20%", "20-40%", "40-60%"]
    bounds = {"0-20%": (0.0, 0.2), "20-40%": (0.2, 0.4), "40-60%": (0.4, 0.6)}
    for name, array in masks.items():
        assert array.shape == (3, SIZE, SIZE, 1) and array.dtype == np.float32
        assert set(np.unique(array)) <= {0.0, 1.0}
        low, high = bounds[name]
        ratios = hole_ratio(array)
        assert np.all((ratios > 0) & (ratios >= low) & (ratios < high)), (name, ratios)
    again = evaluation_masks(SIZE, per_bucket=3, seed=0)
    for name in masks:
        np.testing.assert_array_equal(masks[name], again[name])


def test_evaluation_masks_raise_when_a_bucket_cannot_be_filled():
    with pytest.raises(RuntimeError, match="90-100%"):
        evaluation_masks(SIZE, per_bucket=1, kind="center", buckets=((0.9, 1.0),), max_candidates=8)
    with pytest.raises(ValueError, match="Received: buckets="):
        evaluation_masks(SIZE, buckets=((0.5, 0.2),))

"""Tests for hint/blending.py: Poisson blending of a fill into the known image."""

import numpy as np
import pytest

from hint.blending import poisson_blend

RNG = np.random.default_rng(0)


def _hole(h=24, w=20, box=(6, 18, 5, 14)):
    mask = np.zeros((h, w, 1), np.float32)
    top, bottom, left, right = box
    mask[top:bottom, left:right] = 1.0
    mask[9, 3:5] = 1.0  # a ragged edge
    return mask


def test_known_pixels_are_the_image_bit_for_bit():
    image = RNG.random((24, 20, 3), dtype=np.float32)
    pred = RNG.random((24, 20, 3), dtype=np.float32)
    mask = _hole()
    out = poisson_blend(pred, image, mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    keep = np.broadcast_to(mask == 0, out.shape)
    np.testing.assert_array_equal(out[keep], image[keep])


def test_a_fill_off_by_a_harmonic_function_is_corrected_exactly():
    # A linear ramp is harmonic: a prediction that is the truth plus a ramp (a colour offset
    # and a gradient) is blended back to the truth, whatever the image's content.
    image = RNG.random((24, 20, 3), dtype=np.float32)
    yy, xx = np.mgrid[:24, :20].astype(np.float32)
    offset = (0.1 + 0.01 * yy - 0.02 * xx)[..., None] * np.array([1.0, -0.5, 2.0], np.float32)
    out = poisson_blend(image + offset, image, _hole())
    np.testing.assert_allclose(out, image, atol=1e-5)


def test_the_correction_is_discrete_harmonic_in_the_hole():
    image = RNG.random((24, 20, 2), dtype=np.float32)
    pred = RNG.random((24, 20, 2), dtype=np.float32)
    mask = _hole()
    out = poisson_blend(pred, image, mask).astype(np.float64)
    correction = out - pred  # equals image - pred outside the hole
    lap = (
        4 * correction[1:-1, 1:-1]
        - correction[:-2, 1:-1]
        - correction[2:, 1:-1]
        - correction[1:-1, :-2]
        - correction[1:-1, 2:]
    )
    hole = np.broadcast_to(mask[1:-1, 1:-1] > 0, lap.shape)
    np.testing.assert_allclose(lap[hole], 0.0, atol=1e-5)


def test_hole_on_the_border_and_gray_images():
    image = RNG.random((16, 16, 1), dtype=np.float32)
    mask = np.zeros((16, 16, 1), np.float32)
    mask[:6, :6] = 1.0  # touches two image borders: zero flux there
    out = poisson_blend(image + 0.25, image, mask)
    np.testing.assert_allclose(out, image, atol=1e-5)


def test_no_hole_and_all_hole():
    image = RNG.random((8, 8, 3), dtype=np.float32)
    pred = RNG.random((8, 8, 3), dtype=np.float32)
    np.testing.assert_array_equal(poisson_blend(pred, image, np.zeros((8, 8, 1))), image)
    # Nothing known to blend against: the prediction is returned as it is.
    out = poisson_blend(pred, image, np.ones((8, 8, 1)))
    np.testing.assert_allclose(out, pred, atol=1e-6)


def test_shape_mismatch_message():
    with pytest.raises(ValueError, match=r"Received: prediction.shape=\(8, 8, 3\), image.shape"):
        poisson_blend(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), np.zeros((8, 9, 1)))

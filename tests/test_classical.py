"""Classical inpainting baselines."""

import importlib.util

import numpy as np
import pytest

from hint import classical


def _ramp(size=32):
    """A smooth image (a linear ramp per channel) and a square hole in its middle."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    image = np.stack([x, y, 0.5 * (x + y)], axis=-1)
    mask = np.zeros((size, size, 1), np.float32)
    mask[10:20, 12:22] = 1
    return image, mask


def test_biharmonic_fills_a_ramp_exactly():
    image, mask = _ramp()
    masked = image * (1 - mask) + mask
    out = classical.classical_inpainter("biharmonic")(masked, mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    # A linear function is biharmonic: the fill is the ramp itself.
    np.testing.assert_allclose(out, image, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="OpenCV is not installed")
@pytest.mark.parametrize("name", ["telea", "ns"])
def test_opencv_methods_fill_the_hole(name):
    image, mask = _ramp()
    masked = image * (1 - mask) + mask
    out = classical.classical_inpainter(name)(masked, mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    hole = mask[..., 0] > 0
    # 8-bit and only approximately linear inside, but far from the white the hole was.
    assert np.abs(out[hole] - image[hole]).mean() < 0.05
    assert set(classical.available_methods()) == set(classical.CLASSICAL_METHODS)


def test_unknown_method():
    with pytest.raises(ValueError, match="Received: name='exemplar'"):
        classical.classical_inpainter("exemplar")
    assert "biharmonic" in classical.available_methods()

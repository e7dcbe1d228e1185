"""Classical inpainting: the baselines a learned inpainter is compared with.

- `biharmonic`: scikit-image's `inpaint_biharmonic` (Damelin, Hoang, "On Surface Completion and
  Image Inpainting by Biharmonic Functions", 2018): the smoothest fill that meets the known
  pixels; a core dependency, always available. Its time grows quickly with the hole: measured
  on this project's 2-core CPU, about 0.3 s for a 128x128 image and several seconds at 256x256
  with large holes.
- `telea`: OpenCV's fast marching method (Telea, "An Image Inpainting Technique Based on the
  Fast Marching Method", 2004), `cv2.inpaint(..., 5, cv2.INPAINT_TELEA)` on 8-bit images.
- `ns`: OpenCV's Navier-Stokes method (Bertalmio, Bertozzi, Sapiro, CVPR 2001),
  `cv2.INPAINT_NS`.

The OpenCV methods need `opencv-python-headless` (the `bench` and `dev` extras);
`available_methods()` lists what this installation has.

Example:

>>> fill = classical_inpainter("biharmonic")
>>> filled = fill(image, mask)          # float32 [H, W, C] in [0, 1]; mask [H, W, 1], 1 = hole
"""

from __future__ import annotations

import importlib.util

import numpy as np

CLASSICAL_METHODS = ("biharmonic", "telea", "ns")
"""Names accepted by `classical_inpainter`."""

TITLES = {"biharmonic": "biharmonic", "telea": "OpenCV Telea", "ns": "OpenCV NS"}
"""How tables and figures name each method."""

# The neighbourhood radius of cv2.inpaint, in pixels (OpenCV's documentation example uses 3;
# 5 fills large holes a little more smoothly).
OPENCV_RADIUS = 5


def available_methods() -> tuple[str, ...]:
    """The methods of `CLASSICAL_METHODS` this installation can run."""
    has_cv2 = importlib.util.find_spec("cv2") is not None
    return tuple(m for m in CLASSICAL_METHODS if m == "biharmonic" or has_cv2)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 by rounding (OpenCV's inpainting takes 8-bit images only)."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting (float64 inside), float32 out."""
    from skimage.restoration import inpaint_biharmonic

    out = inpaint_biharmonic(image, mask[..., 0] > 0, channel_axis=-1)
    return out.astype(np.float32)


def _opencv(flag: str):
    import cv2

    flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[flag]

    def run(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hole = (mask[..., 0] > 0).astype(np.uint8) * 255
        out = cv2.inpaint(to_uint8(image), hole, OPENCV_RADIUS, flags)
        return out.reshape(image.shape).astype(np.float32) / 255.0

    return run


def classical_inpainter(name: str):
    """The function `(image [H, W, C], mask [H, W, 1]) -> [H, W, C]` of a classical method.

    Args:
        name: One of `CLASSICAL_METHODS`.

    Raises:
        ValueError: an unknown name, or an OpenCV method without OpenCV installed.
    """
    if name not in CLASSICAL_METHODS:
        raise ValueError(f"name must be one of {CLASSICAL_METHODS}. Received: name={name!r}")
    if name not in available_methods():
        raise ValueError(
            f"The {name!r} method needs OpenCV: pip install opencv-python-headless. "
            f"Received: name={name!r}"
        )
    return biharmonic if name == "biharmonic" else _opencv(name)

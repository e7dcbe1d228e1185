"""Seamless blending of an inpainting network's fill into the known image (Poisson blending).

An inpainting network returns a whole image; only its hole is kept. Where its raw output does
not meet the known pixels exactly (a small model's colours drift by a few grey levels, more on
saturated colours), the pasted fill shows a seam and a colour offset. Poisson blending (Perez,
Gangnet, Blake, "Poisson Image Editing", SIGGRAPH 2003) keeps the fill's gradients and takes its
boundary values from the image: the blended hole `f` solves `laplace(f) = laplace(prediction)`
inside the hole with `f = image` on the known pixels around it. Equivalently
`f = prediction + h`, where `h` is the harmonic (smoothest) function in the hole that equals
`image - prediction` on the known pixels around it: a correction that is exact at the seam and
fades smoothly into the hole. Iizuka, Simo-Serra, Ishikawa ("Globally and Locally Consistent
Image Completion", SIGGRAPH 2017) post-process their network's fill the same way.

The system is the 5-point Laplacian over the hole pixels (zero-flux at the image border),
symmetric positive definite, solved directly with a sparse LU factorisation shared by the
channels. Time grows with the hole's pixel count: measured on this project's 2-core CPU, about
0.1-0.5 s for a 256x256 image and 2.3 s for a 157,000-pixel hole (60 % of 512x512).
"""

from __future__ import annotations

import numpy as np

# A hole component that touches no known pixel (an all-hole image) has no boundary values: its
# pure-Neumann Laplacian is singular. This diagonal shift makes the system regular and leaves
# such a component's correction at zero; for any component with a boundary it changes the
# solution by far less than one grey level.
_REGULARISER = 1e-9


def poisson_blend(prediction: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blends a prediction's hole into the image so that the seam is invisible.

    Args:
        prediction: float [H, W, C], the network's raw output (inside and around the hole).
        image: float [H, W, C], the input; only its pixels outside the hole are used.
        mask: [H, W, 1] (or [H, W]) of 0/1, 1 = hole.

    Returns:
        float32 [H, W, C]: `image` outside the hole (bit for bit) and, inside it, the
        prediction plus the harmonic correction that makes it meet the image at the seam.
        Not clipped.

    Example:
        >>> filled = poisson_blend(generator_output, photo, mask)
    """
    from scipy import sparse
    from scipy.sparse import linalg

    prediction = np.asarray(prediction, np.float64)
    image = np.asarray(image)
    hole = np.asarray(mask).reshape(image.shape[:2]) > 0.5
    if prediction.shape != image.shape or prediction.ndim != 3:
        raise ValueError(
            "`prediction` and `image` must be [H, W, C] arrays of the same shape. Received: "
            f"prediction.shape={prediction.shape}, image.shape={image.shape}"
        )
    out = image.astype(np.float32, copy=True)
    if not hole.any():
        return out
    h, w, c = image.shape
    ys, xs = np.nonzero(hole)
    n = len(ys)
    index = np.full((h, w), -1, np.int64)
    index[ys, xs] = np.arange(n)
    residual = image - prediction  # the correction's values on the known pixels
    degree = np.full(n, _REGULARISER)
    rhs = np.zeros((n, c))
    rows, cols = [], []
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = ys + dy, xs + dx
        inside = np.nonzero((ny >= 0) & (ny < h) & (nx >= 0) & (nx < w))[0]
        degree[inside] += 1.0
        neighbour = index[ny[inside], nx[inside]]
        unknown = neighbour >= 0
        rows.append(inside[unknown])
        cols.append(neighbour[unknown])
        known = inside[~unknown]
        rhs[known] += residual[ny[known], nx[known]]
    rows = np.concatenate(rows)
    cols = np.concatenate(cols)
    laplacian = sparse.csc_matrix(
        (
            np.concatenate([degree, -np.ones(len(rows))]),
            (np.concatenate([np.arange(n), rows]), np.concatenate([np.arange(n), cols])),
        ),
        shape=(n, n),
    )
    # Minimum-degree ordering on the symmetric pattern: 1.4x faster than SciPy's default
    # COLAMD on these grid Laplacians (measured, 157,000 unknowns).
    factor = linalg.splu(laplacian, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    correction = factor.solve(rhs)
    out[ys, xs] = (prediction[ys, xs] + correction).astype(np.float32)
    return out

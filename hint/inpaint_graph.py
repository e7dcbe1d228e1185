"""An inpainting network's inference pass as TensorFlow graph ops: what `inpaint` and serving run.

`inpaint_batch(generator, image, mask, color_space, blend)` pads a batch to the network's size
multiple, runs the network (R, G and B together, or plane by plane: the planes of every image
as one batch of gray images), crops back, Poisson-blends the fill into the known pixels and
pastes it into the holes: the steps of `hint.inference.inpaint_array` (the `inpaint` command
and evaluation) for an image within the model's `max_side`, as graph ops that
`hint.export.InpaintingServing` traces into the SavedModel. The two agree within 1e-4 (tests:
`tests/test_inpaint_graph.py`, and the served shipped model against `inpaint` within 1/255).

Poisson blending (Perez, Gangnet, Blake, "Poisson Image Editing", SIGGRAPH 2003; see
`hint.blending` for the SciPy version and the why) solves, per image and channel, the 5-point
Laplacian system over the hole pixels (zero flux at the image border) for the correction `h`
that makes the fill meet the image at the seam. Here it is solved by Jacobi-preconditioned
conjugate gradients (`tf.linalg.experimental.conjugate_gradient`) on the whole batch at once,
to a relative residual of `POISSON_TOLERANCE`: the system is symmetric positive definite, and
CG needs only the operator (four shifted copies of the image), which a graph can hold. It costs
more than the sparse LU factorisation `inpaint` uses, which is why the command keeps that one:
measured on this project's 2-core CPU, 0.6-0.9 s per 256x256 image (holes of 0-20 to 40-60 %)
against 0.03-0.1 s, and 3.1-6.6 s at 512x512 against 0.1-0.5 s.
"""

from __future__ import annotations

import tensorflow as tf

from hint.layers.color_planes import ColorPlanes

# Relative residual at which CG stops: the correction is then within 1e-4 of the exact solution
# on [0, 1] images (measured against `hint.blending.poisson_blend`: at most 1.6e-5 at 256x256,
# 6.4e-5 at 512x512; 1e-4 gave 3.5e-4 and 1e-3 gave 3.7e-3, an 8-bit grey level).
POISSON_TOLERANCE = 1e-5
# Enough for the largest holes the network is run on (CG needs about the hole's width in
# pixels times a small factor; measured: 340 iterations for a 60 % hole at 512 x 512).
POISSON_MAX_ITERATIONS = 4000
# Keeps an all-hole component (no boundary values) regular, as `hint.blending._REGULARISER`.
_REGULARISER = 1e-9


def _neighbour_sum(x):
    """Sum of the 4-neighbours of every pixel of [B, H, W, C], zero outside the image."""
    p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:]


class _HoleLaplacian(tf.linalg.LinearOperator):
    """The Poisson system of a batch of holes, on images flattened to vectors [B, C, H * W].

    Rows of hole pixels hold the 5-point Laplacian restricted to the hole (neighbours outside
    the image do not count: zero flux); rows of known pixels hold the identity, so the operator
    is symmetric positive definite on the whole image and the solution is 0 there.
    """

    def __init__(self, hole, degree):
        self._hole = hole  # [B, H, W, 1] of 0/1
        self._degree = degree  # [B, H, W, 1]: in-image neighbours (+ the regulariser)
        super().__init__(
            dtype=tf.float32,
            is_self_adjoint=True,
            is_positive_definite=True,
            is_square=True,
            name="hole_laplacian",
        )

    def _shape(self):
        return tf.TensorShape([None, 1, None, None])

    def _shape_tensor(self):
        s = tf.shape(self._hole)
        n = s[1] * s[2]
        return tf.stack([s[0], 1, n, n])

    def _matmul(self, x, adjoint=False, adjoint_arg=False):
        # x: [B, C, N, 1] (a batch of vectors as one-column matrices).
        s = tf.shape(self._hole)
        c = tf.shape(x)[1]
        img = tf.transpose(tf.reshape(x[..., 0], tf.stack([s[0], c, s[1], s[2]])), [0, 2, 3, 1])
        hole = self._hole
        y = hole * (self._degree * img - _neighbour_sum(hole * img)) + (1.0 - hole) * img
        return tf.reshape(tf.transpose(y, [0, 3, 1, 2]), tf.shape(x))


def _flatten(x):
    """[B, H, W, C] -> [B, C, H * W]."""
    s = tf.shape(x)
    return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), tf.stack([s[0], s[3], s[1] * s[2]]))


def poisson_blend(prediction, image, mask):
    """The prediction inside the holes, blended so that it meets the image at the seam.

    Args:
        prediction: float32 [B, H, W, C], the network's output.
        image: float32 [B, H, W, C]; only its pixels outside the holes are used.
        mask: float32 [B, H, W, 1] of 0/1, 1 = hole.

    Returns:
        float32 [B, H, W, C]: inside the holes, the prediction plus the harmonic correction
        that equals `image - prediction` at the known pixels around them; outside, `image`.
        Not clipped.
    """
    known = 1.0 - mask
    residual = image - prediction
    degree = _neighbour_sum(tf.ones_like(mask)) + _REGULARISER
    rhs = mask * _neighbour_sum(known * residual)
    operator = _HoleLaplacian(mask, degree)
    # Jacobi: the operator's diagonal, the degree on hole pixels and 1 elsewhere.
    diagonal = _flatten(mask * degree + known)[:, :1]  # [B, 1, N], shared by the channels
    result = tf.linalg.experimental.conjugate_gradient(
        operator,
        _flatten(rhs),
        preconditioner=tf.linalg.LinearOperatorDiag(1.0 / diagonal, is_positive_definite=True),
        tol=POISSON_TOLERANCE,
        max_iter=POISSON_MAX_ITERATIONS,
    )
    s = tf.shape(image)
    correction = tf.transpose(
        tf.reshape(result.x, tf.stack([s[0], s[3], s[1], s[2]])), [0, 2, 3, 1]
    )
    return mask * (prediction + correction) + known * image


def _pad_indices(size, padded, reflect):
    """Source indices that pad `size` to `padded` at the end (reflect or edge)."""
    i = tf.range(padded)
    return tf.where(i < size, i, tf.where(reflect, 2 * (size - 1) - i, size - 1))


def pad_to_multiple(image, mask, multiple):
    """Pads [N, H, W, C] images and masks at the bottom/right to a multiple of `multiple`.

    The graph version of `hint.inference.pad_to_multiple`: reflect padding, or edge padding of
    both axes when a pad would be at least as large as its side (`tf.pad`'s REFLECT needs a
    pad smaller than the side and SYMMETRIC one no larger, so neither handles a 5-pixel image).
    """
    h, w = tf.shape(image)[1], tf.shape(image)[2]
    ph, pw = (-h) % multiple, (-w) % multiple
    reflect = tf.logical_and(ph < h, pw < w)
    rows = _pad_indices(h, h + ph, reflect)
    cols = _pad_indices(w, w + pw, reflect)

    def pad(x):
        return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)

    return pad(image), pad(mask)


def network_fill(generator, image, mask, color_space="joint", multiple=16):
    """The network's output for a batch: [B, H, W, C] images and [B, H, W, 1] masks.

    `"joint"` runs the images as they are (a gray image through a 3-channel network is
    repeated to 3 channels and the output's channel mean kept). `"rgb"` / `"opponent"` run the
    three planes of every colour image (`hint.layers.ColorPlanes`) as one batch of gray images,
    each repeated to the network's channels and the output's channel mean kept.
    """
    h, w = tf.shape(image)[1], tf.shape(image)[2]
    channels = image.shape[-1]
    want = generator.inputs[0].shape[-1] if getattr(generator, "inputs", None) else channels
    planewise = color_space != "joint" and channels == 3 and want in (1, 3)
    x, m = image, mask
    if planewise:
        x = ColorPlanes(color_space, "to_planes")(image)
        m = tf.tile(mask, [3, 1, 1, 1])  # plane-major, as ColorPlanes stacks the planes
    if x.shape[-1] != want:
        x = tf.repeat(x, want, axis=-1)
    xp, mp = pad_to_multiple(x, m, multiple)
    out = tf.cast(generator({"image": xp, "mask": mp}, training=False), tf.float32)[:, :h, :w]
    if planewise:
        return ColorPlanes(color_space, "from_planes")(tf.reduce_mean(out, -1, keepdims=True))
    if out.shape[-1] != channels:
        out = tf.reduce_mean(out, -1, keepdims=True)
    return out


def inpaint_batch(generator, image, mask, color_space="joint", blend="poisson", multiple=16):
    """The composite and the network's raw output of a batch (see the module docstring).

    Args:
        generator: a network with inputs `image` and `mask` (1 = hole).
        image: float32 [B, H, W, C] in [0, 1], any H and W.
        mask: float32 [B, H, W, 1] of 0/1, 1 = hole.
        color_space: `"joint"`, `"rgb"` or `"opponent"` (`network_fill`).
        blend: `"poisson"` or `"none"`.
        multiple: the network's size multiple (`Backbone.size_multiple`).

    Returns:
        `(inpainted, raw)`: the composite clipped to [0, 1] (the input's pixels outside the
        holes, exactly) and the network's output.
    """
    raw = network_fill(generator, image, mask, color_space, multiple)
    fill = poisson_blend(raw, image, mask) if blend == "poisson" else raw
    inpainted = mask * tf.clip_by_value(fill, 0.0, 1.0) + (1.0 - mask) * image
    return inpainted, raw

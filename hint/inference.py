"""Inpainting a user's images with a trained generator: any size, one file or whole folders.

Images of any size are reflect-padded to the generator's multiple (16 for HINT) and cropped
back. The output is the composite: the prediction inside the hole, the input pixels elsewhere,
so pixels outside the hole are returned unchanged. A mask is read as gray, and any value above
zero is a hole (the same rule as the training mask folders); a mask of a different size is
resized with nearest neighbour, with a warning.

Large images (padded size above `max_side`, 512 by default) are not run whole: each group of
nearby holes is inpainted in a context window around it, downscaled to at most `max_side` when
needed, so memory and time are bounded by `max_side` squared per window rather than by the
photo's size (see `inpaint_array`).
"""

from __future__ import annotations

import os
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from hint.blending import poisson_blend
from hint.config import (
    BLENDS,
    COLOR_SPACES,
    ENSEMBLES,
    INFERENCE_PRECISIONS,
    INPAINT_COLOR_SPACE,
    INPAINT_COLOR_SPACES,
)
from hint.datasets import image_io
from hint.layers.color_planes import PLANE_SCALE, plane_transform
from hint.models.dncnn import DnCNN
from hint.precision import load_policy, precision_policy, resolve_precision

# A run directory's best network (`hint.training` writes it).
MODEL_FILE = "model.keras"
# HINT downsamples 3 times and SCAL pools the latent by 2 more: sizes must divide by 16.
MULTIPLE = 16
# Largest side the network runs at by default: HINT was trained on 64-256 px crops, and memory
# grows with the square of this.
MAX_SIDE = 512
# Least context kept around a hole on every side when a large image is inpainted by windows.
MIN_CONTEXT = 64


class InferenceError(ValueError):
    """Bad inputs to `inpaint` (missing files, unpaired folders, wrong shapes)."""


def load_model(
    run_dir: str, precision: str | None = None, fold_batch_norm: bool = False
) -> keras.Model:
    """Loads a run's best network (or a `.keras` file) with `safe_mode=True`.

    Args:
        run_dir: A run directory or a `.keras` file.
        precision: `None` for the dtype policy the network was saved with (float32 for a
            network saved without one), or `"float32"`, `"mixed_bfloat16"` (faster on CPUs
            with AVX512-BF16 / AMX; docs/denoising.md has measured speed and quality), or
            `"auto"` for the faster of the two on this machine
            (`hint.precision.resolve_precision`). Defaults to `None`.
        fold_batch_norm: for inference only: a `DnCNN`'s batch norms are folded into its
            convolutions (`DnCNN.fold_batch_norm`: the same outputs, faster); other networks
            are returned as they are. Defaults to `False`.
    """
    if precision is not None:
        precision = resolve_precision(precision)
    path = run_dir if run_dir.endswith(".keras") else os.path.join(run_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise InferenceError(f"No trained generator at {path}: train the run first.")
    with load_policy(precision):
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    if fold_batch_norm and isinstance(model, DnCNN):
        # Built in the loaded network's own policy.
        with precision_policy(model.dtype_policy.name):
            model = model.fold_batch_norm()
    return model


def announce_precision(precision: str) -> str:
    """`precision` with "auto" resolved, printed for the user (inference commands)."""
    precision = resolve_precision(precision)
    print(f"Computing in {precision} (--precision to choose)")
    return precision


def add_precision_argument(parser) -> None:
    """The `--precision` option of the inference commands."""
    parser.add_argument(
        "--precision",
        choices=INFERENCE_PRECISIONS,
        default="auto",
        help="what the network computes in: mixed_bfloat16 is faster on CPUs with AVX512-BF16 "
        "or AMX and slower elsewhere; auto picks it on those CPUs, float32 elsewhere "
        "(default: %(default)s; docs/ has measured speed and quality)",
    )


def check_finite(array: np.ndarray, what: str = "the image") -> None:
    """Raises `InferenceError` when `array` holds NaN or infinite values (naming `what`)."""
    if not np.isfinite(array).all():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InferenceError(
            f"{what} contains NaN or infinite values ({bad} of {np.size(array)}); a network "
            "cannot restore them."
        )


def pad_to_multiple(image: np.ndarray, multiple: int = MULTIPLE) -> np.ndarray:
    """Reflect-pads an [..., H, W, C] array at the bottom/right to a multiple of `multiple`."""
    h, w = image.shape[-3:-1]
    return pad_to(image, h + (-h) % multiple, w + (-w) % multiple)


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pads an [..., H, W, C] array at the bottom/right to `height` x `width`."""
    h, w = image.shape[-3:-1]
    ph, pw = height - h, width - w
    if ph == 0 and pw == 0:
        return image
    # Reflect needs a pad smaller than the side; tiny images fall back to edge padding.
    mode = "reflect" if ph < h and pw < w else "edge"
    lead = ((0, 0),) * (image.ndim - 3)
    return np.pad(image, lead + ((0, ph), (0, pw), (0, 0)), mode=mode)


def binarize_mask(mask: np.ndarray) -> np.ndarray:
    """[H, W] or [H, W, C] in [0, 1] to a float32 [H, W, 1] mask of 0/1 (>0 is hole)."""
    if mask.ndim == 3:
        mask = mask.max(axis=-1)
    return (mask > 0).astype(np.float32)[..., None]


def resize_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an [h, w, 1] mask (pixel centres, like tf.image)."""
    h, w = mask.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(int), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(int), w - 1)
    return mask[rows][:, cols]


def _check_max_side(max_side) -> None:
    if max_side is None:
        return
    if (
        isinstance(max_side, bool)
        or not isinstance(max_side, (int, np.integer))
        or max_side < MULTIPLE
        or max_side % MULTIPLE
    ):
        raise InferenceError(
            f"max_side must be None or a positive multiple of {MULTIPLE}. "
            f"Received: max_side={max_side!r}"
        )


# One graph-compiled forward pass per loaded network. Measured on one core of this CPU:
# HINT-tiny at 128x128 3.5-5.7x faster than eager calls, DnCNN 15x48 at 256x256 1.1-1.3x.
# Keyed weakly so a dropped network is not kept alive (the traced function captures its
# variables, not the model).
_FORWARD = weakref.WeakKeyDictionary()


def forward(network, inputs):
    """`network(inputs, training=False)` as a NumPy array, through a cached `tf.function`.

    The function is traced once for any batch, height and width (the network's named inputs
    with only their channel count fixed), so tiles, windows and images of every size share one
    graph instead of tracing again on the first new shape.
    """
    fn = _FORWARD.get(network)
    if fn is None:
        ref = weakref.ref(network)
        signature = None
        if getattr(network, "inputs", None):
            signature = [
                {
                    t.name: tf.TensorSpec((None,) * (len(t.shape) - 1) + (t.shape[-1],), "float32")
                    for t in network.inputs
                }
            ]
        fn = tf.function(
            # float32 out whatever the network computes in (e.g. loaded in mixed_bfloat16).
            lambda x: tf.cast(ref()(x, training=False), tf.float32),
            input_signature=signature,
            reduce_retracing=signature is None,
        )
        _FORWARD[network] = fn
    return np.asarray(fn({k: np.asarray(v, np.float32) for k, v in inputs.items()}))


def _dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The k-th (0-7) of the eight rotations / flips of an [H, W, C] array."""
    image = np.rot90(image, k % 4)
    return image[:, ::-1] if k >= 4 else image


def _dihedral_inverse(image: np.ndarray, k: int) -> np.ndarray:
    """Undoes `_dihedral(., k)`."""
    image = image[:, ::-1] if k >= 4 else image
    return np.rot90(image, -(k % 4))


def _dihedral_mean(run, *arrays: np.ndarray) -> np.ndarray:
    """The mean of `run(*views)` over the eight rotations / flips, each view's result undone.

    One view at a time, so memory stays that of a single pass (the self-ensemble of
    `--ensemble dihedral`).
    """
    total = None
    for k in range(8):
        views = (np.ascontiguousarray(_dihedral(a, k)) for a in arrays)
        out = _dihedral_inverse(run(*views), k)
        total = out if total is None else total + out
    return total / np.float32(8.0)


def to_planes(image: np.ndarray, color_space: str) -> np.ndarray:
    """A colour image [H, W, 3] as three gray planes [H, W, 3], each in about [0, 1].

    `"rgb"`: R, G and B themselves. `"opponent"`: the channel mean, then the two colour
    differences of an orthonormal opponent transform (in about [-0.8, 0.8]) centred on 0.5, so
    every plane lies in the range of training images (`hint.layers.ColorPlanes`, which does the
    same inside a network). `from_planes` undoes it.
    """
    forward, offset = plane_transform(color_space)
    return image.astype(np.float32) @ forward + offset


def from_planes(planes: np.ndarray, color_space: str) -> np.ndarray:
    """The colour image [H, W, 3] whose `to_planes(., color_space)` is `planes`."""
    forward, offset = plane_transform(color_space)
    return (planes - offset) @ np.linalg.inv(forward).astype(np.float32)


def _padded(side: int) -> int:
    return -(-side // MULTIPLE) * MULTIPLE


def size_multiple(network) -> int:
    """The side multiple `network` needs (`Backbone.size_multiple`; `MULTIPLE` for others)."""
    return getattr(network, "size_multiple", MULTIPLE)


def _run_generator(generator, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One forward pass on [N, h, w, C] / [N, h, w, 1], padded to the network's multiple."""
    h, w = x.shape[1:3]
    m = size_multiple(generator)
    out = forward(generator, {"image": pad_to_multiple(x, m), "mask": pad_to_multiple(mask, m)})
    return out[:, :h, :w]


def hole_windows(
    mask: np.ndarray, min_context: int = MIN_CONTEXT
) -> list[tuple[int, int, int, int]]:
    """Context windows around groups of holes, for the bounded-memory path of `inpaint_array`.

    Every connected hole (8-connectivity) gets its bounding box grown on each side by its own
    larger extent, and by at least `min_context` pixels, clipped to the image. Holes whose
    windows overlap form a group whose window is the bounding box of their windows; groups are
    merged again until no two windows overlap. So every hole pixel lies in exactly one window
    and a window never contains another group's holes. A group's context follows the size of
    its own holes, not the distance between them, so scattered small holes keep small windows.

    Args:
        mask: float32 [H, W, 1], 1 = hole.
        min_context: least context on each side, in pixels. Defaults to `MIN_CONTEXT` (64).

    Returns:
        `(top, bottom, left, right)` windows (end-exclusive), one per group, in no particular
        order; empty without holes.

    Example:
        >>> for top, bottom, left, right in hole_windows(mask): ...
    """
    from scipy import ndimage, sparse
    from scipy.sparse import csgraph

    hole = mask[..., 0] > 0
    h, w = hole.shape
    eight = np.ones((3, 3), bool)
    parts, count = ndimage.label(hole, structure=eight)
    if count == 0:
        return []
    boxes = np.array(
        [[s[0].start, s[0].stop, s[1].start, s[1].stop] for s in ndimage.find_objects(parts)]
    )
    grow = np.maximum(min_context, np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]))
    own = np.stack(
        [
            np.maximum(boxes[:, 0] - grow, 0),
            np.minimum(boxes[:, 1] + grow, h),
            np.maximum(boxes[:, 2] - grow, 0),
            np.minimum(boxes[:, 3] + grow, w),
        ],
        axis=1,
    )
    # Holes less than `min_context` apart have overlapping windows and would be merged below
    # anyway; grouping them first with a dilation keeps the pairwise overlap test small for
    # masks of thousands of specks.
    near, _ = ndimage.label(
        ndimage.maximum_filter(hole, size=min_context // 2 * 2 + 1), structure=eight
    )
    group = np.zeros(count + 1, np.int64)
    group[parts[hole]] = near[hole]
    _, group = np.unique(group[1:], return_inverse=True)
    while True:
        n = group.max() + 1
        win = np.stack(
            [
                np.full(n, h),
                np.zeros(n, np.int64),
                np.full(n, w),
                np.zeros(n, np.int64),
            ],
            axis=1,
        )
        np.minimum.at(win[:, 0], group, own[:, 0])
        np.maximum.at(win[:, 1], group, own[:, 1])
        np.minimum.at(win[:, 2], group, own[:, 2])
        np.maximum.at(win[:, 3], group, own[:, 3])
        overlap = (
            (win[:, None, 0] < win[None, :, 1])
            & (win[None, :, 0] < win[:, None, 1])
            & (win[:, None, 2] < win[None, :, 3])
            & (win[None, :, 2] < win[:, None, 3])
        )
        merged, label = csgraph.connected_components(sparse.csr_matrix(overlap), directed=False)
        if merged == n:
            return [tuple(int(v) for v in row) for row in win]
        group = label[group]


def check_inpaint_options(
    blend: str = "poisson", ensemble: str = "none", color_space: str = INPAINT_COLOR_SPACE
) -> None:
    """Raises `InferenceError` unless `blend`, `ensemble` and `color_space` are known names."""
    if blend not in BLENDS:
        raise InferenceError(f"blend must be one of {BLENDS}. Received: blend={blend}")
    if ensemble not in ENSEMBLES:
        raise InferenceError(f"ensemble must be one of {ENSEMBLES}. Received: ensemble={ensemble}")
    if color_space not in INPAINT_COLOR_SPACES:
        raise InferenceError(
            f"color_space must be one of {INPAINT_COLOR_SPACES}. "
            f"Received: color_space={color_space}"
        )


def _network_fill(generator, x: np.ndarray, mask: np.ndarray, color_space: str) -> np.ndarray:
    """One network pass on [h, w, C] / [h, w, 1]; plane by plane unless `color_space="joint"`.

    Plane by plane, the image's three planes (`to_planes`) go through as one batch of three
    gray images, each repeated to the network's channels; each output's channel mean is kept.
    """
    if color_space == "joint":
        return _run_generator(generator, x[None], mask[None])[0]
    planes = np.moveaxis(to_planes(x, color_space), -1, 0)[..., None]
    views = np.repeat(planes, _channels(generator), -1)
    out = _run_generator(generator, views, np.repeat(mask[None], 3, axis=0)).mean(axis=-1)
    return from_planes(np.moveaxis(out, 0, -1), color_space)


def _fill(
    generator,
    x: np.ndarray,
    mask: np.ndarray,
    blend: str,
    ensemble: str = "none",
    color_space: str = "joint",
) -> np.ndarray:
    """The network's output for [h, w, C] / [h, w, 1], averaged and Poisson-blended if asked."""
    if ensemble == "dihedral":
        pred = _dihedral_mean(lambda v, m: _network_fill(generator, v, m, color_space), x, mask)
    else:
        pred = _network_fill(generator, x, mask, color_space)
    return poisson_blend(pred, x, mask) if blend == "poisson" else pred


def _channels(network) -> int:
    """The channel count of the network's (first) image input; 3 when it has no known inputs."""
    return network.inputs[0].shape[-1] if getattr(network, "inputs", None) else 3


def _inpaint_window(
    generator,
    x: np.ndarray,
    mask: np.ndarray,
    max_side: int,
    blend: str = "poisson",
    ensemble: str = "none",
    color_space: str = "joint",
) -> np.ndarray:
    """Prediction for one context window, run at most `max_side` on its longer side."""
    h, w = x.shape[:2]
    if _padded(h) <= max_side and _padded(w) <= max_side:
        return _fill(generator, x, mask, blend, ensemble, color_space)
    scale = max_side / max(h, w)
    size = (max(1, min(max_side, round(h * scale))), max(1, min(max_side, round(w * scale))))
    # Area resizing averages exactly each low-resolution pixel's footprint, so marking every
    # pixel whose footprint touches the hole keeps the hole's content out of the known pixels
    # (an antialiased bilinear kernel reaches further than the footprint).
    small_x = tf.image.resize(x, size, method="area").numpy()
    small_m = (tf.image.resize(mask, size, method="area").numpy() > 0).astype(np.float32)
    pred = _fill(generator, small_x, small_m, blend, ensemble, color_space)
    # Known pixels in the low-resolution composite make the upsampled seam follow the image.
    pred = pred * small_m + small_x * (1.0 - small_m)
    return tf.image.resize(pred, (h, w), method="bicubic").numpy()


def inpaint_array(
    generator,
    image: np.ndarray,
    mask: np.ndarray,
    max_side: int | None = MAX_SIDE,
    blend: str = "poisson",
    ensemble: str = "none",
    color_space: str = INPAINT_COLOR_SPACE,
) -> np.ndarray:
    """Inpaints one image of any size, in bounded memory when it is large.

    An image whose padded size (each side rounded up to 16) fits in `max_side` x `max_side`
    goes through the network whole. A larger one is inpainted hole group by hole group (see
    `hole_windows`): each group's context window (the holes' bounding box grown on every side by
    the hole's extent, at least 64 px, clipped to the image) is run at its own resolution when
    it fits in `max_side`, else area-downscaled so that its longer side is `max_side`, inpainted
    and upscaled back (bicubic). Why: HINT is trained on small crops (64-256 px), so a hole far
    larger than that is better filled at the scale the network knows; the context within a few
    hole widths is what the fill depends on most; and the network's memory and time are bounded
    by `max_side` squared per window instead of growing with the photo (a 2000x1500 photo's
    activations would not fit on many machines). The price: a hole whose window is downscaled is
    filled at that lower resolution, so its fill is smoother than the image around it.

    With `blend="poisson"` the fill is Poisson-blended into the image at the resolution the
    network ran at (`hint.blending.poisson_blend`): it keeps the fill's gradients and meets the
    known pixels exactly at the seam. Measured with an earlier inpainter on the inpainting
    benchmark (McMaster 256x256 crops): +0.79 / +0.37 / +0.41 dB and higher SSIM in the 0-20 /
    20-40 / 40-60 % hole buckets, for 0.02 / 0.12 / 0.28 s more per image (a sparse solve
    whose time grows with the hole's pixel count).

    Args:
        generator: a Keras model with inputs `image` and `mask`.
        image: float32 [H, W, C] in [0, 1], C = 1 or 3 (gray is run as RGB and returned gray).
        mask: float32 [H, W, 1] of 0/1, 1 = hole, same H and W as `image`.
        max_side: largest side, a multiple of 16, the network is run at; `None` always runs the
            whole image at full resolution (today's behaviour for small images). Defaults to
            512.
        blend: `"poisson"` (seamless blending) or `"none"` (the network's fill as it is).
            Defaults to `"poisson"`.
        ensemble: `"none"`, or `"dihedral"` to average the network's outputs for the eight
            rotations and flips of the input (each undone before averaging; the average is
            then blended). Measured with an earlier inpainter on the inpainting benchmark:
            +0.16 / +0.07 / +0.16 dB and +0.001 / +0.003 / +0.005 SSIM in the 0-20 / 20-40 /
            40-60 % buckets, at 8x the network's time. Defaults to `"none"`.
        color_space: how a colour image goes through the network: `"joint"` (R, G and B
            together, as the network was trained), or plane by plane, each plane run as a gray
            image (repeated to the network's channels) and the three run as one batch: `"rgb"`
            (R, G, B) or `"opponent"` (the channel mean and two colour differences, see
            `to_planes`). Why plane by plane: the shipped network, trained on CBSD432's muted
            photos, does not reproduce strongly saturated colours, even outside the hole, while
            it fills gray images well. Measured with an earlier inpainter on the inpainting
            benchmark (McMaster, far more saturated than CBSD432): `"rgb"` against `"joint"`,
            +1.24 / +0.62 / +0.47 dB and +0.005 / +0.013 / +0.014 SSIM in the 0-20 / 20-40 /
            40-60 % buckets, at about 3x the network's time. A gray network (one channel)
            inpaints colour images this way too. Gray images are always run whole. Defaults to
            `"rgb"`.

    Returns:
        The composite float32 [H, W, C]: prediction inside the hole, `image` elsewhere (pixels
        outside the hole are the input's, bit for bit).

    Example:
        >>> filled = inpaint_array(generator, photo, mask)                 # any size
        >>> filled = inpaint_array(generator, photo, mask, max_side=None)  # whole image
    """
    if image.ndim != 3 or mask.shape[:2] != image.shape[:2]:
        raise InferenceError(
            f"Image {image.shape} and mask {mask.shape} must be [H, W, C] and [H, W, 1] with "
            "the same height and width."
        )
    _check_max_side(max_side)
    check_inpaint_options(blend, ensemble, color_space)
    check_finite(image)
    check_finite(mask, "the mask")
    if not mask.any():
        return image.copy()
    h, w, c = image.shape
    want = _channels(generator)
    x = image
    if c != 3 or want not in (1, 3):
        color_space = "joint"
    if color_space == "joint" and c != want:
        if c == 1 and want == 3:
            x = np.repeat(image, 3, axis=-1)
        else:
            raise InferenceError(
                f"The model expects {want} channels; the image has {c}."
                + (" Use a plane-wise color_space ('rgb' or 'opponent')." if c == 3 else "")
            )
    if max_side is None or (_padded(h) <= max_side and _padded(w) <= max_side):
        pred = _fill(generator, x, mask, blend, ensemble, color_space)
        if c == 1 and want == 3:
            pred = pred.mean(axis=-1, keepdims=True)
        out = pred * mask + image * (1.0 - mask)
        return np.clip(out, 0.0, 1.0).astype(np.float32)
    out = image.astype(np.float32, copy=True)
    for top, bottom, left, right in hole_windows(mask):
        window_mask = mask[top:bottom, left:right]
        pred = _inpaint_window(
            generator,
            x[top:bottom, left:right],
            window_mask,
            max_side,
            blend,
            ensemble,
            color_space,
        )
        if c == 1 and want == 3:
            pred = pred.mean(axis=-1, keepdims=True)
        hole = window_mask[..., 0] > 0
        region = out[top:bottom, left:right]  # a view: writes land in `out`
        region[hole] = np.clip(pred[hole], 0.0, 1.0)
    return out


def pair_files(image_dir: str, mask_dir: str) -> list[tuple[str, str]]:
    """Pairs images with masks by matching file stems, else by sorted order."""
    images = image_io.list_images(image_dir)
    mask_files = image_io.list_images(mask_dir)
    if not images:
        raise InferenceError(f"No images found in {image_dir}")
    by_stem = {os.path.splitext(os.path.basename(m))[0]: m for m in mask_files}
    stems = [os.path.splitext(os.path.basename(p))[0] for p in images]
    if all(s in by_stem for s in stems):
        return [(p, by_stem[s]) for p, s in zip(images, stems, strict=True)]
    if len(mask_files) != len(images):
        raise InferenceError(
            f"{len(images)} images in {image_dir} but {len(mask_files)} masks in {mask_dir}, "
            "and their file names do not match: give one mask per image (same name, or the "
            "same count in sorted order)."
        )
    return list(zip(images, mask_files, strict=True))


def load_pair(image_path: str, mask_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads an image and its mask, resizing the mask (nearest) with a warning if needed."""
    image = image_io.read_image(image_path)
    if image.ndim == 2:
        image = image[..., None]
    check_finite(image, image_path)
    raw_mask = image_io.read_image(mask_path)
    check_finite(raw_mask, mask_path)
    mask = binarize_mask(raw_mask)
    if mask.shape[:2] != image.shape[:2]:
        warnings.warn(
            f"Mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image_path} is "
            f"{image.shape[1]}x{image.shape[0]}: resizing the mask (nearest neighbour).",
            stacklevel=2,
        )
        mask = resize_nearest(mask, image.shape[0], image.shape[1])
    return image, mask


def output_path_for(image_path: str, out_dir: str) -> str:
    """Output file in `out_dir`; keeps the name, with `.png` for lossy or unknown formats."""
    stem, ext = os.path.splitext(os.path.basename(image_path))
    ext = ext.lower() if ext.lower() in (".png", ".tif", ".tiff", ".bmp") else ".png"
    return os.path.join(out_dir, stem + ext)


def inpaint_paths(
    generator,
    image: str,
    mask: str,
    out: str,
    progress: bool = True,
    max_side: int | None = MAX_SIDE,
    blend: str = "poisson",
    ensemble: str = "none",
    color_space: str = INPAINT_COLOR_SPACE,
) -> list[str]:
    """Inpaints a file (image, mask, out file) or folders (image dir, mask dir, out dir).

    Paths and pairings are checked before anything is written, images are read one at a time
    (bounded memory for large folders), and each output is written atomically, so a bad file
    stops the run with an error and leaves no partial output.

    Args:
        generator: a Keras model with inputs `image` and `mask`.
        image: an image file, or a folder of images.
        mask: the mask file, or a folder of masks paired with the images (see `pair_files`).
        out: the output file, or folder.
        progress: show a progress bar for folders. Defaults to True.
        max_side: images larger than this (padded to 16) are inpainted by context windows of
            at most `max_side` pixels a side; `None` runs every image whole (see
            `inpaint_array`). Defaults to 512.
        blend: `"poisson"` or `"none"` (see `inpaint_array`). Defaults to `"poisson"`.
        ensemble: `"none"` or `"dihedral"` (see `inpaint_array`). Defaults to `"none"`.
        color_space: `"joint"`, `"rgb"` or `"opponent"` (see `inpaint_array`). Defaults to
            `"rgb"`.

    Returns:
        The written output paths.
    """
    _check_max_side(max_side)
    check_inpaint_options(blend, ensemble, color_space)
    for path, what in ((image, "image"), (mask, "mask")):
        if not os.path.exists(path):
            raise InferenceError(f"The {what} path does not exist: {path}")
    if os.path.isdir(image) != os.path.isdir(mask):
        raise InferenceError("--image and --mask must both be files or both be folders.")
    if os.path.isdir(image):
        pairs = pair_files(image, mask)
        outs = [output_path_for(p, out) for p, _ in pairs]
    else:
        if os.path.isdir(out):
            raise InferenceError(f"--out must be a file name when --image is a file: {out}")
        pairs, outs = [(image, mask)], [out]
    bar = _progress(len(pairs)) if progress and len(pairs) > 1 else None
    for (image_path, mask_path), dst in zip(pairs, outs, strict=True):
        img, msk = load_pair(image_path, mask_path)
        filled = inpaint_array(generator, img, msk, max_side, blend, ensemble, color_space)
        image_io.write_image(dst, filled)
        if bar is not None:
            bar.add(1)
    return outs


def _progress(n):
    import keras

    return keras.utils.Progbar(n, unit_name="image")


# --------------------------------------------------------------------------- denoising


def _input_names(network) -> set[str]:
    return {t.name for t in network.inputs}


def _denoise_whole(network, image: np.ndarray, sigma: float | None) -> np.ndarray:
    """One forward pass on an [H, W, C] image whose sides are multiples of its multiple."""
    inputs = {"image": image[None]}
    if "noise_level" in _input_names(network):
        inputs["noise_level"] = np.full((1, *image.shape[:2], 1), sigma / 255.0, np.float32)
    return forward(network, inputs)[0]


def check_denoise_options(ensemble: str = "none", color_space: str = "opponent") -> None:
    """Raises `InferenceError` unless `ensemble` and `color_space` are known option names."""
    if ensemble not in ENSEMBLES:
        raise InferenceError(f"ensemble must be one of {ENSEMBLES}. Received: ensemble={ensemble}")
    if color_space not in COLOR_SPACES:
        raise InferenceError(
            f"color_space must be one of {COLOR_SPACES}. Received: color_space={color_space}"
        )


def _denoise_opponent(network, image, sigma, tile, margin, clip):
    """A gray network on a colour image, plane by plane in the opponent colour space."""
    planes = to_planes(image, "opponent")
    # The first plane, the channel mean, has noise sigma / sqrt(3), which a noise-conditioned
    # network is told; the orthonormal differences keep sigma.
    levels = [None] * 3 if sigma is None else [sigma * float(k) for k in PLANE_SCALE["opponent"]]
    out = [
        denoise_array(network, planes[..., i : i + 1], levels[i], tile, margin, clip=False)
        for i in range(3)
    ]
    rgb = from_planes(np.concatenate(out, axis=-1), "opponent")
    return np.clip(rgb, 0.0, 1.0) if clip else rgb


def denoise_array(
    network,
    image: np.ndarray,
    sigma: float | None = None,
    tile: int = 512,
    margin: int = 32,
    clip: bool = True,
    ensemble: str = "none",
    color_space: str = "opponent",
) -> np.ndarray:
    """Denoises one image of any size, in overlapping tiles when it is large.

    Large images are cut into `tile` x `tile` windows that overlap by `2 * margin`; each window
    contributes only its centre (its outer `margin` pixels are recomputed by the neighbour), so
    with `margin` at least half the network's receptive field (DnCNN-17: 17 px) the tiled
    result equals the whole-image result while memory stays bounded by the tile size.

    Args:
        network: a denoiser with input `image` (and `noise_level` when noise-conditioned).
        image: float32 [H, W, C] (values may lie outside [0, 1], e.g. unclipped noise).
        sigma: noise level in 0-255 units; required by noise-conditioned networks, ignored by
            blind ones. Defaults to None.
        tile: window side in pixels (a multiple of 16). Defaults to 512.
        margin: overlap half-width in pixels (a multiple of 16). Defaults to 32.
        clip: clip the output to [0, 1]. Defaults to True.
        ensemble: `"none"`, or `"dihedral"` to average the network's outputs for the eight
            rotations and flips of the image (each undone before averaging): +0.10-0.17 dB
            at 8x the time. Defaults to `"none"`.
        color_space: How a gray (1-channel) network denoises a colour image: `"opponent"`
            denoises the three planes of an orthonormal opponent colour transform (the channel
            mean, whose noise is sigma / sqrt(3), and two colour differences), as CBM3D does;
            `"rgb"` denoises R, G and B one by one. Measured with the shipped gray network on
            McMaster at sigma 15 / 25 / 50: +0.27 / +0.61 / +0.74 dB over `"rgb"`. Defaults
            to `"opponent"`.

    Returns:
        float32 [H, W, C] denoised image.
    """
    check_denoise_options(ensemble, color_space)
    check_finite(image)
    if ensemble == "dihedral":
        total = _dihedral_mean(
            lambda view: denoise_array(
                network, view, sigma, tile, margin, clip=False, color_space=color_space
            ),
            image,
        )
        return np.clip(total, 0.0, 1.0) if clip else total
    conditioned = "noise_level" in _input_names(network)
    if conditioned and sigma is None:
        raise InferenceError(
            "This model is noise-level conditioned: give --sigma (0-255), or --blind to "
            "estimate the level from the image."
        )
    if sigma is not None and sigma < 0:
        raise InferenceError(f"sigma must be >= 0 (0-255 units). Received: sigma={sigma}")
    if tile % MULTIPLE or margin % MULTIPLE or tile <= 2 * margin:
        raise InferenceError(
            f"tile and margin must be multiples of {MULTIPLE} with tile > 2 * margin. "
            f"Received: tile={tile}, margin={margin}"
        )
    want = _channels(network)
    h, w, c = image.shape
    if c != want:
        if want == 1 and c == 3 and color_space == "opponent":
            return _denoise_opponent(network, image, sigma, tile, margin, clip)
        if want == 1:  # a gray model denoises each colour channel on its own
            planes = [
                denoise_array(network, image[..., i : i + 1], sigma, tile, margin, clip)
                for i in range(c)
            ]
            return np.concatenate(planes, axis=-1)
        if want == 3 and c == 1:
            out = denoise_array(network, np.repeat(image, 3, -1), sigma, tile, margin, clip)
            return out.mean(axis=-1, keepdims=True)
        raise InferenceError(f"The model expects {want} channels; the image has {c}.")
    padded = pad_to_multiple(image.astype(np.float32), size_multiple(network))
    ph, pw = padded.shape[:2]
    if ph <= tile and pw <= tile:
        out = _denoise_whole(network, padded, sigma)
    else:
        out = np.empty_like(padded)
        step = tile - 2 * margin
        for top in range(0, ph, step):
            for left in range(0, pw, step):
                # Window with `margin` of context on every side that has image there.
                t0, l0 = max(0, top - margin), max(0, left - margin)
                t1, l1 = min(ph, top + step + margin), min(pw, left + step + margin)
                window = _denoise_whole(network, padded[t0:t1, l0:l1], sigma)
                b, r = min(ph, top + step), min(pw, left + step)
                out[top:b, left:r] = window[top - t0 : b - t0, left - l0 : r - l0]
    out = out[:h, :w]
    return np.clip(out, 0.0, 1.0) if clip else out


def estimate_sigma(image: np.ndarray) -> float:
    """Estimates the Gaussian noise level of an image, in 0-255 units.

    The wavelet median-absolute-deviation estimator of Donoho and Johnstone (scikit-image's
    `estimate_sigma`), averaged over channels: what a noise-conditioned model is given when the
    user asks for blind denoising.
    """
    from skimage.restoration import estimate_sigma as skimage_estimate_sigma

    sigma = skimage_estimate_sigma(image, channel_axis=-1, average_sigmas=True)
    return float(sigma) * 255.0


def check_denoise_request(image: str, sigma: float | None, ensemble: str = "none") -> None:
    """The checks `denoise_paths` makes first; callers run them before loading a model too."""
    check_denoise_options(ensemble)
    if not os.path.exists(image):
        raise InferenceError(f"The image path does not exist: {image}")
    if sigma is not None and sigma < 0:
        raise InferenceError(f"sigma must be >= 0 (0-255 units). Received: sigma={sigma}")


def denoise_paths(
    network,
    image: str,
    out: str,
    sigma: float | None = None,
    progress: bool = True,
    blind: bool = False,
    ensemble: str = "none",
) -> list[str]:
    """Denoises a file or a folder of images into `out` (file or folder), keeping formats.

    8/16-bit PNG, JPEG and TIFF are written back at their bit depth; float32 TIFF and `.npy`
    inputs keep their values unclipped in and out, so benchmark-style noisy files work.

    Args:
        network: a denoiser, or an object with `for_channels(c)` returning one per image
            channel count (e.g. `hint.pretrained.ShippedDenoisers`).
        image: noisy image file or folder.
        out: output file (for a file) or folder (for a folder; same relative names).
        sigma: noise level in 0-255 units for noise-conditioned networks.
        progress: show a progress bar for folders.
        blind: without `sigma`, give noise-conditioned networks the level estimated from each
            image (`estimate_sigma`); blind networks ignore it.
        ensemble: `"none"` or `"dihedral"` (`denoise_array`). Defaults to `"none"`.
    """
    check_denoise_request(image, sigma, ensemble)
    if os.path.isdir(image):
        files = image_io.list_images(image)
        if not files:
            raise InferenceError(f"No images found in {image}")
        outs = [os.path.join(out, os.path.relpath(f, image)) for f in files]
    else:
        if os.path.isdir(out):
            raise InferenceError(f"--out must be a file name when --image is a file: {out}")
        files, outs = [image], [out]
    bar = _progress(len(files)) if progress and len(files) > 1 else None
    for src, dst in zip(files, outs, strict=True):
        data, depth = image_io.read_image_and_depth(src)
        check_finite(data, src)
        if os.path.splitext(dst)[1].lower() in (".jpg", ".jpeg", ".bmp") and depth == 16:
            depth = 8
        net = network.for_channels(data.shape[-1]) if hasattr(network, "for_channels") else network
        level = sigma
        if level is None and blind and "noise_level" in _input_names(net):
            level = estimate_sigma(data)
        result = denoise_array(net, data, sigma=level, clip=depth != 32, ensemble=ensemble)
        image_io.write_image(dst, result, bit_depth=depth)
        if bar is not None:
            bar.add(1)
    return outs

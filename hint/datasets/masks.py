"""Hole masks for inpainting, generated inside tf.data with stateless TF ops.

A mask is float32 [H, W, 1] with values exactly 0 or 1, 1 = hole (the HINT convention). Every
generator is a pure function of a [2] integer seed tensor, so a pipeline gets reproducible masks
by deriving one seed per example from (global seed, example index), e.g. with
``tf.random.experimental.stateless_fold_in`` (see `hint.datasets.pipelines`). Nothing depends on the
global TF seed or on op order, and no Python code runs per example (no ``py_function``).

Kinds:

- ``"freeform"``: the free-form brush strokes of DeepFill v2 (Yu et al., "Free-Form Image
  Inpainting with Gated Convolution", ICCV 2019): 1-3 strokes of 4-11 vertices each, an angle walk
  around 2*pi/5 alternating direction, segment lengths ~ N(r, r/2) clipped to [0, 2r] with
  r = sqrt(H^2 + W^2) / 8, brush width 12-40 px at 256 px scaled by min(H, W) / 256, round caps
  (a disc at every vertex) and random flips.
- ``"wide"``: wide irregular masks in the spirit of LaMa's "thick" masks (Suvorov et al.,
  "Resolution-robust Large Mask Inpainting with Fourier Convolutions", WACV 2022): 1-4 strokes of
  1-4 straight segments with uniform random directions, lengths 10-160 px and widths 20-80 px at
  256 px (scaled by min(H, W) / 256); with probability 0.3 also 1-3 boxes of 30-120 px sides.
  LaMa's own "thick" settings (up to 5 x 5 segments, 210 px long, 105 px wide) give a median hole
  ratio near 50 % and up to 98 %; these settings give a mean near 30 % and rarely exceed 65 %.
- ``"rect"``: 1-3 axis-aligned rectangles, each side uniform in [side / 8, side / 2].
- ``"center"``: the centred box of half the height and half the width (25 % holes; seed unused).
- ``"text"``: text overlaid on the image, the strokes of the words are the holes, as in the
  text-inpainting experiment of Deep Image Prior (Ulyanov et al., "Deep Image Prior", CVPR 2018):
  5-10 lines of lorem-ipsum words, one line per horizontal band of the image at a random height
  in it, each starting at a random x in [-W/4, W/4) and running off the right edge, in bold
  DejaVu Sans (bundled with matplotlib) of 16, 20 or 24 px at 256 px (stems 2.8-4.2 px) scaled
  by min(H, W) / 256; 10 % of the word slots stay blank. The words are rendered with Pillow once,
  at construction, into a bool atlas (0.7 MB at 256 px; below 256 px rendered at 256 px and
  shrunk with a box filter); a call only draws words, sizes and positions from the seed and
  scatters the words' ink pixels. For a seed the mask depends only on the font file and on
  FreeType's rasteriser, i.e. it may change with a matplotlib or Pillow upgrade.
- ``"pixels"``: random pixel dropout, each pixel a hole independently with probability ``drop``
  (default 0.5: Deep Image Prior's reconstruction from half of the pixels). The same pixels as
  the ``"dropout"`` degradation of `hint.datasets.degradations` for a seed and rate.
- ``"folder"``: mask images from a folder (any size and format `read_image` reads), binarised
  (> 0 is a hole) and resized with nearest neighbour to the mask size once, at construction, and
  kept bit-packed in memory (H * W / 8 bytes per mask); each call picks one at random and flips it
  at random horizontally and vertically.
- ``"mix"``: one of the kinds above picked at random per example with ``weights``.

Measured hole ratios (400 masks each; the same at 32, 64 and 256 px): freeform mean 0.16
(5-95 %: 0.04-0.30, max 0.42), wide 0.31 (0.05-0.56, max 0.69), rect 0.18 (0.05-0.34, max 0.43),
center 0.25, mix with the default weights 0.21 (0.04-0.45, max 0.60). Text at 256 px: 0.14
(0.09-0.20, max 0.22); at 64 px 0.13 (0.09-0.18, max 0.20); at 32 px, where the lines are 2-4 px
high and partly vanish when shrunk, 0.09 (0.04-0.14). Pixels with drop 0.5: 0.50 (0.49-0.51 at
64 px, 0.497-0.503 at 256 px). `evaluation_masks` takes unions of masks to fill the larger-hole
buckets.

Rasterisation is vectorised: a pixel is a hole when its distance to a stroke segment is at most
half the brush width, computed for all segments at once on a [segments, H, W] grid; segments that
are not drawn for this example are dropped first.

Example:

>>> gen = MaskGenerator("mix", image_size=256)
>>> ds = tf.data.Dataset.range(100).map(lambda i: gen(tf.random.experimental.stateless_fold_in(
...     tf.constant([7, 0], tf.int64), i)))
>>> buckets = evaluation_masks(256, per_bucket=100)      # {"0-20%": [100, 256, 256, 1], ...}
"""

import math
import os
import warnings

import numpy as np
import tensorflow as tf

from hint.datasets import _seeds
from hint.datasets.image_io import ImageReadError, list_images, read_image

MASK_KINDS = ("freeform", "wide", "rect", "center", "text", "pixels", "folder", "mix")
"""Names accepted by `MaskGenerator(kind=...)`."""

DEFAULT_MIX_WEIGHTS = {"freeform": 0.5, "wide": 0.25, "rect": 0.25}
"""Weights used by ``kind="mix"`` when none are given."""

EVALUATION_BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6))
"""Default hole-ratio buckets of `evaluation_masks`."""

_MAX_RATIO_TRIES = 8
_MAX_UNION = 6


def _size_pair(image_size, name="image_size"):
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        height = width = int(image_size)
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in image_size)
    ):
        height, width = (int(v) for v in image_size)
    else:
        raise ValueError(
            f"`{name}` must be an int or a (height, width) pair. Received: {name}={image_size!r}"
        )
    if height < 8 or width < 8:
        raise ValueError(f"`{name}` must be at least 8 pixels. Received: {name}={image_size!r}")
    return height, width


def hole_ratio(mask):
    """Fraction of hole pixels per mask: [..., H, W, 1] -> [...] (NumPy or TF input)."""
    if isinstance(mask, np.ndarray):
        return mask.mean(axis=(-3, -2, -1))
    return tf.reduce_mean(tf.cast(mask, tf.float32), axis=[-3, -2, -1])


# --------------------------------------------------------------------------------------------
# Rasterisation
# --------------------------------------------------------------------------------------------


def _draw_segments(x0, y0, x1, y1, radius, drawn, height, width):
    """Union of thick segments (round caps) as a bool [H, W] mask.

    All arguments but the sizes are float32 tensors of one shape (``drawn`` is bool); segment
    ``i`` covers the pixels whose centre is within ``radius[i]`` of the segment (x0, y0)-(x1, y1).
    """
    keep = tf.reshape(drawn, [-1])

    def flat(v):
        return tf.boolean_mask(tf.reshape(v, [-1]), keep)[:, None, None]

    x0, y0, x1, y1, radius = (flat(v) for v in (x0, y0, x1, y1, radius))
    xs = tf.range(width, dtype=tf.float32)[None, None, :]
    ys = tf.range(height, dtype=tf.float32)[None, :, None]
    dx, dy = x1 - x0, y1 - y0
    px, py = xs - x0, ys - y0  # [S, 1, W] and [S, H, 1]: only the sum below is full size
    # Projection of the pixel on the segment, clamped to the end points (which makes the caps
    # round, i.e. draws DeepFill's disc at every vertex); zero-length segments are points.
    t = tf.clip_by_value((px * dx + py * dy) * tf.math.divide_no_nan(1.0, dx * dx + dy * dy), 0, 1)
    ex, ey = px - t * dx, py - t * dy
    inside = ex * ex + ey * ey <= radius * radius
    return tf.reduce_any(inside, axis=0)


def _draw_boxes(top, left, bottom, right, drawn, height, width):
    """Union of boxes [top, bottom) x [left, right) (float32 tensors) as a bool [H, W] mask."""
    keep = tf.reshape(drawn, [-1])

    def flat(v):
        return tf.boolean_mask(tf.reshape(v, [-1]), keep)[:, None, None]

    top, left, bottom, right = (flat(v) for v in (top, left, bottom, right))
    ys = tf.range(height, dtype=tf.float32)[None, :, None]
    xs = tf.range(width, dtype=tf.float32)[None, None, :]
    rows = (ys >= top) & (ys < bottom)
    cols = (xs >= left) & (xs < right)
    return tf.reduce_any(rows & cols, axis=0)


def _random_flips(mask, seed):
    seeds = _seeds.split(seed, 2)
    flip = tf.random.stateless_uniform([2], seeds[0]) < 0.5
    mask = tf.cond(flip[0], lambda: tf.reverse(mask, [1]), lambda: mask)
    return tf.cond(flip[1], lambda: tf.reverse(mask, [0]), lambda: mask)


def _walk(x, y, angles, lengths, height, width):
    """Vertices of polylines: [K] starts, [K, V] angles and lengths -> two [K, V + 1]."""
    xs, ys = [x], [y]
    for i in range(angles.shape[1]):  # fixed, small number of steps, each vectorised over K
        x = tf.clip_by_value(x + lengths[:, i] * tf.cos(angles[:, i]), 0.0, width - 1.0)
        y = tf.clip_by_value(y + lengths[:, i] * tf.sin(angles[:, i]), 0.0, height - 1.0)
        xs.append(x)
        ys.append(y)
    return tf.stack(xs, axis=1), tf.stack(ys, axis=1)


def _uniform(shape, seed, low, high, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high, dtype=dtype)


def _freeform(seed, height, width):
    """DeepFill v2 free-form brush strokes (bool [H, W])."""
    strokes, segments = 3, 11
    scale = min(height, width) / 256.0
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    radius_mean = math.sqrt(height * height + width * width) / 8
    s = _seeds.split(seed, 11)
    n_strokes = _uniform([], s[0], 1, strokes + 1, tf.int32)
    n_vertices = _uniform([strokes], s[1], 4, segments + 1, tf.int32)
    angle_min = mean_angle - _uniform([strokes, 1], s[2], 0.0, angle_range)
    angle_max = mean_angle + _uniform([strokes, 1], s[3], 0.0, angle_range)
    angles = angle_min + (angle_max - angle_min) * _uniform([strokes, segments], s[4], 0.0, 1.0)
    # Odd and even vertices turn in opposite directions, which makes the strokes zig-zag.
    even = tf.range(segments) % 2 == 0
    angles = tf.where(even[None, :], 2 * math.pi - angles, angles)
    lengths = tf.random.stateless_normal(
        [strokes, segments], s[5], mean=radius_mean, stddev=radius_mean / 2
    )
    lengths = tf.clip_by_value(lengths, 0.0, 2 * radius_mean)
    x = _uniform([strokes], s[6], 0.0, float(width))
    y = _uniform([strokes], s[7], 0.0, float(height))
    xs, ys = _walk(tf.floor(x), tf.floor(y), angles, lengths, height, width)
    radius = _uniform([strokes, 1], s[8], 12.0 * scale, 40.0 * scale) / 2
    radius = tf.broadcast_to(radius, [strokes, segments])
    drawn = (tf.range(strokes)[:, None] < n_strokes) & (
        tf.range(segments)[None, :] < n_vertices[:, None]
    )
    mask = _draw_segments(
        xs[:, :-1], ys[:, :-1], xs[:, 1:], ys[:, 1:], radius, drawn, height, width
    )
    return _random_flips(mask, s[9])


def _boxes(seed, count_low, count_high, side_low, side_high, margin, height, width):
    """``count_low..count_high`` random boxes with sides in [side_low, side_high) (bool [H, W])."""
    s = _seeds.split(seed, 5)
    count = _uniform([], s[0], count_low, count_high + 1, tf.int32)
    box_h = tf.floor(_uniform([count_high], s[1], side_low[0], side_high[0]))
    box_w = tf.floor(_uniform([count_high], s[2], side_low[1], side_high[1]))
    top = tf.floor(margin + _uniform([count_high], s[3], 0.0, 1.0) * (height - 2 * margin - box_h))
    left = tf.floor(margin + _uniform([count_high], s[4], 0.0, 1.0) * (width - 2 * margin - box_w))
    drawn = tf.range(count_high) < count
    return _draw_boxes(top, left, top + box_h, left + box_w, drawn, height, width)


def _rect(seed, height, width):
    """1-3 rectangles with sides in [side / 8, side / 2]."""
    return _boxes(
        seed,
        1,
        3,
        (height / 8, width / 8),
        (height / 2 + 1, width / 2 + 1),
        0.0,
        height,
        width,
    )


def _wide(seed, height, width):
    """LaMa-style thick strokes plus, with probability 0.3, random boxes (bool [H, W])."""
    strokes, segments = 4, 4
    scale = min(height, width) / 256.0
    s = _seeds.split(seed, 10)
    n_strokes = _uniform([], s[0], 1, strokes + 1, tf.int32)
    n_segments = _uniform([strokes], s[1], 1, segments + 1, tf.int32)
    angles = _uniform([strokes, segments], s[2], 0.0, 2 * math.pi)
    lengths = (10.0 + _uniform([strokes, segments], s[3], 0.0, 150.0)) * scale
    x = tf.floor(_uniform([strokes], s[4], 0.0, float(width)))
    y = tf.floor(_uniform([strokes], s[5], 0.0, float(height)))
    xs, ys = _walk(x, y, angles, lengths, height, width)
    radius = (20.0 + _uniform([strokes, segments], s[6], 0.0, 60.0)) * scale / 2
    drawn = (tf.range(strokes)[:, None] < n_strokes) & (
        tf.range(segments)[None, :] < n_segments[:, None]
    )
    mask = _draw_segments(
        xs[:, :-1], ys[:, :-1], xs[:, 1:], ys[:, 1:], radius, drawn, height, width
    )
    margin = 10.0 * scale
    side_low = 30.0 * scale
    side_high = min(120.0 * scale, height - 2 * margin, width - 2 * margin)
    side_high = max(side_high, side_low + 1.0)

    def with_boxes():
        boxes = _boxes(
            s[8], 1, 3, (side_low, side_low), (side_high, side_high), margin, height, width
        )
        return mask | boxes

    use_boxes = tf.random.stateless_uniform([], s[7]) < 0.3
    return tf.cond(use_boxes, with_boxes, lambda: mask)


def _center(seed, height, width):
    del seed
    top, left = height // 4, width // 4
    rows = (np.arange(height) >= top) & (np.arange(height) < top + height // 2)
    cols = (np.arange(width) >= left) & (np.arange(width) < left + width // 2)
    return tf.constant(rows[:, None] & cols[None, :])


def pixel_dropout_mask(seed, shape, drop):
    """Bernoulli pixel dropout: a bool mask, each element True (a hole) with probability ``drop``.

    Shared by ``kind="pixels"`` and the ``"dropout"`` degradation, so both drop the same pixels
    for a seed.

    Args:
        seed: [2] int64 seed tensor.
        shape: Output shape (a list or a 1-D int tensor).
        drop: Hole probability (a float or a scalar float32 tensor).
    """
    return tf.random.stateless_uniform(shape, seed) < drop


# --------------------------------------------------------------------------------------------
# Text masks
# --------------------------------------------------------------------------------------------

_TEXT_FONT = "DejaVuSans-Bold.ttf"
# Lorem ipsum with a few capitals and numbers: words of 2-12 letters, some with descenders.
_TEXT_WORDS = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt"
    " ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation"
    " ullamco laboris nisi aliquip ex ea commodo consequat. Duis aute irure in voluptate velit"
    " esse cillum fugiat nulla pariatur. CVPR 2018 photo #42 Copyright"
).split()
_TEXT_SIZES = (16, 20, 24)  # font sizes (px) at 256 px: bold stems of 2.8-4.2 px
_TEXT_LINES = (5, 10)  # lines of text per mask, uniform
_TEXT_SLOTS = 10  # words per line at most, enough to cross the image at the smallest size
_TEXT_SKIP = 0.1  # probability that a word slot stays blank, for gaps and ragged lines


def _text_atlas(height, width):
    """Renders the word bank once, at the sizes of an H x W mask.

    Glyphs are rendered with the bold DejaVu Sans bundled with matplotlib, at
    ``size * min(H, W) / 256`` px. Below 256 px they are rendered at 256 px and shrunk with a box
    filter, so that a small mask is a shrunk large one (the same line layout and about the same
    hole ratio down to 64 px) rather than whatever FreeType makes of 4-6 px fonts.

    Returns:
        (atlas, widths, gaps, line_heights): bool [sizes, words, box_h, box_w] word bitmaps
        (top-left aligned, one line height per size, zero padded); int32 [sizes, words] word
        widths; int32 [sizes] space widths; int32 [sizes] line heights.
    """
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", _TEXT_FONT)
    scale = min(height, width) / 256.0
    render = max(scale, 1.0)
    shrink = scale / render
    bitmaps, widths, gaps, line_heights = [], [], [], []
    for size in _TEXT_SIZES:
        font = ImageFont.truetype(path, round(size * render))
        ascent, descent = font.getmetrics()
        line_height = max(1, round((ascent + descent) * shrink))
        row = []
        for word in _TEXT_WORDS:
            image = Image.new("L", (math.ceil(font.getlength(word)), ascent + descent))
            ImageDraw.Draw(image).text((0, 0), word, fill=255, font=font)
            if shrink < 1:
                image = image.resize(
                    (max(1, round(image.width * shrink)), line_height), Image.Resampling.BOX
                )
            row.append(np.asarray(image) > 127)
        bitmaps.append(row)
        widths.append([b.shape[1] for b in row])
        gaps.append(max(1, round(font.getlength(" ") * shrink)))
        line_heights.append(line_height)
    box_h, box_w = max(line_heights), max(max(w) for w in widths)
    atlas = np.zeros((len(_TEXT_SIZES), len(_TEXT_WORDS), box_h, box_w), bool)
    for i, row in enumerate(bitmaps):
        for j, bitmap in enumerate(row):
            atlas[i, j, : bitmap.shape[0], : bitmap.shape[1]] = bitmap
    return (
        atlas,
        np.array(widths, np.int32),
        np.array(gaps, np.int32),
        np.array(line_heights, np.int32),
    )


def _text(seed, atlas, widths, gaps, line_heights, height, width):
    """Lines of words from the atlas (`_text_atlas`'s tensors) pasted at random (bool [H, W])."""
    sizes, words = atlas.shape[:2]
    lines, slots = _TEXT_LINES[1], _TEXT_SLOTS
    s = _seeds.split(seed, 6)
    n_lines = _uniform([], s[0], _TEXT_LINES[0], _TEXT_LINES[1] + 1, tf.int32)
    size = _uniform([lines], s[1], 0, sizes, tf.int32)
    word = _uniform([lines, slots], s[2], 0, words, tf.int32)
    # One line per horizontal band of the image, centred anywhere in its band, so that the text
    # covers the whole height as in Deep Image Prior's example rather than piling up.
    band = height / tf.cast(n_lines, tf.float32)
    centre = (tf.range(lines, dtype=tf.float32) + _uniform([lines], s[3], 0.0, 1.0)) * band
    top = tf.cast(tf.floor(centre), tf.int32) - tf.gather(line_heights, size) // 2
    start = tf.cast(tf.floor(_uniform([lines], s[4], -0.25 * width, 0.25 * width)), tf.int32)
    index = tf.stack([tf.broadcast_to(size[:, None], [lines, slots]), word], axis=-1)
    advance = tf.gather_nd(widths, index) + tf.gather(gaps, size)[:, None]
    left = start[:, None] + tf.cumsum(advance, axis=1, exclusive=True)
    drawn = (
        (tf.range(lines)[:, None] < n_lines)
        & (_uniform([lines, slots], s[5], 0.0, 1.0) >= _TEXT_SKIP)
        & (left < width)
    )
    # Only the drawn words are pasted: a scatter of their ink pixels, clipped to the image.
    top = tf.boolean_mask(tf.broadcast_to(top[:, None], [lines, slots]), drawn)
    left = tf.boolean_mask(left, drawn)
    ink = tf.cast(tf.where(tf.gather_nd(atlas, tf.boolean_mask(index, drawn))), tf.int32)
    rows = tf.gather(top, ink[:, 0]) + ink[:, 1]
    cols = tf.gather(left, ink[:, 0]) + ink[:, 2]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    points = tf.boolean_mask(tf.stack([rows, cols], axis=-1), inside)
    hits = tf.scatter_nd(points, tf.ones(tf.shape(points)[:1], tf.int32), [height, width])
    return hits > 0


# --------------------------------------------------------------------------------------------
# Folder masks
# --------------------------------------------------------------------------------------------


def _nearest_resize(mask, height, width):
    """Nearest-neighbour resize of a bool [h, w] array (pixel-centre sampling)."""
    h, w = mask.shape
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return mask[rows][:, cols]


def load_mask_folder(folder, image_size):
    """Reads every mask image of ``folder`` as bool [N, H, W] (> 0 is a hole, nearest resize).

    Unreadable files are skipped with one warning naming each of them.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: ``folder`` holds no readable mask image.
    """
    height, width = _size_pair(image_size)
    masks, skipped = [], []
    for path in list_images(folder):
        try:
            mask = read_image(path, channels=1)[..., 0] > 0
        except ImageReadError as error:
            skipped.append(f"{path} ({error.reason})")
            continue
        masks.append(_nearest_resize(mask, height, width))
    if not masks:
        detail = f"; unreadable: {'; '.join(skipped)}" if skipped else ""
        raise ValueError(f"No readable mask images in folder '{folder}'{detail}")
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable mask file(s) in '{folder}': {'; '.join(skipped)}",
            stacklevel=3,
        )
    return np.stack(masks)


def _unpack(packed, width):
    """Bit-packed uint8 [H, ceil(W / 8)] (np.packbits order) -> bool [H, W]."""
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.uint8)
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(packed[..., None], shifts), 1)
    bits = tf.reshape(bits, [tf.shape(packed)[0], -1])
    return tf.cast(bits[:, :width], tf.bool)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------


class MaskGenerator:
    """Random hole masks from a seed, for use inside ``tf.data.Dataset.map``.

    ``gen(seed)`` returns float32 [H, W, 1] with values 0 or 1 (1 = hole). It is a pure function
    of ``seed`` (a [2] int32/int64 tensor, or a scalar, paired with 0): equal seeds give equal
    masks in any process, different seeds independent masks. See the module docstring for the
    kinds.

    Args:
        kind: One of `MASK_KINDS`. Defaults to ``"freeform"``.
        image_size: Mask size, an int or a (height, width) pair, at least 8. Defaults to ``256``.
        weights: For ``kind="mix"``, a dict {kind: weight >= 0} over the other kinds; checked
            but unused with other kinds. Defaults to ``None`` (`DEFAULT_MIX_WEIGHTS`).
        folder: Folder of mask images, needed by ``"folder"`` (or a positive ``"folder"`` mix
            weight); read at construction only then, ignored otherwise. Defaults to ``None``.
        max_ratio: Optional cap on the hole ratio in (0, 1]: a mask above it is redrawn with a
            derived seed (up to 8 times), then, if still above, cut to a centred box of area
            ``max_ratio``. Defaults to ``None`` (no cap).
        drop: Hole probability of each pixel for ``"pixels"``, in (0, 1); checked but unused
            with other kinds. Defaults to ``0.5``.

    Example:

    >>> gen = MaskGenerator("freeform", image_size=64)
    >>> mask = gen(tf.constant([1, 2], tf.int64))       # [64, 64, 1], 1 = hole
    """

    def __init__(
        self, kind="freeform", image_size=256, weights=None, folder=None, max_ratio=None, drop=0.5
    ):
        if kind not in MASK_KINDS:
            raise ValueError(f"`kind` must be one of {MASK_KINDS}. Received: kind={kind!r}")
        self.kind = kind
        self.image_size = image_size
        self.height, self.width = _size_pair(image_size)
        # `weights` and `folder` are accepted (and checked) with every kind so that one config
        # can switch kinds; they only take effect where the docstring says.
        if kind == "mix" or weights is not None:
            weights = DEFAULT_MIX_WEIGHTS if weights is None else weights
            if (
                not isinstance(weights, dict)
                or not weights
                or any(k not in MASK_KINDS or k == "mix" for k in weights)
                or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
                    for v in weights.values()
                )
                or (kind == "mix" and sum(weights.values()) <= 0)
            ):
                raise ValueError(
                    "`weights` must map kinds among "
                    f"{tuple(k for k in MASK_KINDS if k != 'mix')} to non-negative numbers with "
                    f"a positive sum. Received: weights={weights!r}"
                )
            weights = dict(weights)
        self.weights = weights
        uses_folder = kind == "folder" or (kind == "mix" and weights.get("folder", 0) > 0)
        if uses_folder and folder is None:
            raise ValueError(
                "A mask `folder` is needed by kind='folder' (or a 'folder' mix weight). "
                f"Received: folder={folder!r}"
            )
        self.folder = folder
        if max_ratio is not None and (
            isinstance(max_ratio, bool)
            or not isinstance(max_ratio, (int, float))
            or not 0 < max_ratio <= 1
        ):
            raise ValueError(
                f"`max_ratio` must be None or a number in (0, 1]. Received: max_ratio={max_ratio!r}"
            )
        self.max_ratio = max_ratio
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 < drop < 1:
            raise ValueError(f"`drop` must be a number in (0, 1). Received: drop={drop!r}")
        self.drop = float(drop)

        self._packed = None
        if uses_folder:
            masks = load_mask_folder(folder, (self.height, self.width))
            self.folder_count = len(masks)
            self._packed = tf.constant(np.packbits(masks, axis=-1))

        kinds = [kind] if kind != "mix" else [k for k, w in weights.items() if w > 0]
        self._text_atlas = None
        if "text" in kinds:
            self._text_atlas = tuple(tf.constant(a) for a in _text_atlas(self.height, self.width))
        self._branches = [self._kind_fn(k) for k in kinds]
        if kind == "mix":
            cumulative = np.cumsum([weights[k] for k in kinds], dtype=np.float64)
            self._cumulative = (cumulative / cumulative[-1]).astype(np.float32)

    def _kind_fn(self, kind):
        h, w = self.height, self.width
        if kind == "freeform":
            return lambda seed: _freeform(seed, h, w)
        if kind == "wide":
            return lambda seed: _wide(seed, h, w)
        if kind == "rect":
            return lambda seed: _rect(seed, h, w)
        if kind == "center":
            return lambda seed: _center(seed, h, w)
        if kind == "text":
            return lambda seed: _text(seed, *self._text_atlas, h, w)
        if kind == "pixels":
            return lambda seed: pixel_dropout_mask(seed, [h, w], self.drop)
        return self._folder_mask

    def _folder_mask(self, seed):
        s = _seeds.split(seed, 2)
        index = _uniform([], s[0], 0, self.folder_count, tf.int32)
        mask = _unpack(tf.gather(self._packed, index), self.width)
        return _random_flips(mask, s[1])

    def _generate(self, seed):
        """Bool [H, W] mask for a [2] int64 seed, before the ``max_ratio`` cap."""
        if len(self._branches) == 1:
            return self._branches[0](seed)
        s = _seeds.split(seed, 2)
        u = tf.random.stateless_uniform([1], s[0])
        index = tf.searchsorted(tf.constant(self._cumulative), u, side="right")[0]
        index = tf.minimum(index, len(self._branches) - 1)
        branches = [lambda f=f: f(s[1]) for f in self._branches]
        return tf.switch_case(index, branches)

    def _cap(self, mask, seed):
        limit = float(self.max_ratio)

        def ratio(m):
            return tf.reduce_mean(tf.cast(m, tf.float32))

        def redraw(i, m):
            return i + 1, self._generate(_seeds.fold_in(seed, _seeds.SALT_MASK_RETRY + i))

        _, mask = tf.while_loop(
            lambda i, m: (i < _MAX_RATIO_TRIES) & (ratio(m) > limit),
            redraw,
            (tf.constant(0, tf.int64), mask),
        )
        box_h = int(math.sqrt(limit) * self.height)
        box_w = int(math.sqrt(limit) * self.width)
        top, left = (self.height - box_h) // 2, (self.width - box_w) // 2
        box = np.zeros((self.height, self.width), bool)
        box[top : top + box_h, left : left + box_w] = True
        return tf.cond(ratio(mask) > limit, lambda: mask & tf.constant(box), lambda: mask)

    def __call__(self, seed):
        """Mask for ``seed``: float32 [H, W, 1], values 0 or 1 (1 = hole)."""
        seed = _seeds.as_seed(seed)
        mask = self._generate(seed)
        if self.max_ratio is not None:
            mask = self._cap(mask, seed)
        mask = tf.ensure_shape(mask, [self.height, self.width])
        return tf.cast(mask, tf.float32)[..., None]

    def __repr__(self):
        return (
            f"MaskGenerator(kind={self.kind!r}, image_size={self.image_size!r}, "
            f"weights={self.weights!r}, folder={self.folder!r}, max_ratio={self.max_ratio!r}, "
            f"drop={self.drop!r})"
        )


# --------------------------------------------------------------------------------------------
# Fixed evaluation masks
# --------------------------------------------------------------------------------------------


def bucket_name(low, high):
    """``(0.2, 0.4)`` -> ``"20-40%"``."""
    return f"{round(low * 100):d}-{round(high * 100):d}%"


def evaluation_masks(
    image_size,
    per_bucket=100,
    seed=0,
    kind="mix",
    buckets=EVALUATION_BUCKETS,
    max_candidates=None,
    **generator_kwargs,
):
    """A fixed set of evaluation masks binned by hole ratio, identical on every call.

    Candidate ``c`` (c = 0, 1, 2, ...) is the union of ``1 + c % 6`` masks of a
    `MaskGenerator(kind, image_size, **generator_kwargs)`, drawn from seeds derived from
    (``seed``, c, j); unions are what reaches the large-hole buckets. Candidates are binned in
    order by hole ratio r into the first bucket with ``low <= r < high`` (empty masks are never
    used) until every bucket holds ``per_bucket`` masks. The result depends only on the
    arguments.

    Args:
        image_size: Mask size, an int or a (height, width) pair.
        per_bucket: Masks per bucket. Defaults to ``100``.
        seed: Integer seed. Defaults to ``0``.
        kind: Generator kind (see `MaskGenerator`). Defaults to ``"mix"``.
        buckets: (low, high) hole-ratio bounds, 0 <= low < high <= 1.
            Defaults to ``((0.0, 0.2), (0.2, 0.4), (0.4, 0.6))``.
        max_candidates: Candidates to try before giving up. Defaults to ``None``
            (``50 * per_bucket * len(buckets)``).
        **generator_kwargs: ``weights``, ``folder``, ``max_ratio`` or ``drop`` for the
            generator.

    Returns:
        dict {"0-20%": float32 [per_bucket, H, W, 1], "20-40%": ..., ...} in bucket order.

    Raises:
        RuntimeError: a bucket could not be filled within ``max_candidates`` candidates.

    Example:

    >>> masks = evaluation_masks(256, per_bucket=100, seed=0)
    >>> masks["40-60%"].shape
    (100, 256, 256, 1)
    """
    _seeds.check_seed(seed)
    if isinstance(per_bucket, bool) or not isinstance(per_bucket, int) or per_bucket < 1:
        raise ValueError(
            f"`per_bucket` must be a positive int. Received: per_bucket={per_bucket!r}"
        )
    try:
        buckets = tuple((float(low), float(high)) for low, high in buckets)
    except (TypeError, ValueError):
        buckets = None
    if not buckets or any(not 0 <= low < high <= 1 for low, high in buckets):
        raise ValueError(
            "`buckets` must be (low, high) pairs with 0 <= low < high <= 1. "
            f"Received: buckets={buckets!r}"
        )
    if max_candidates is None:
        max_candidates = 50 * per_bucket * len(buckets)
    generator = MaskGenerator(kind, image_size, **generator_kwargs)
    base = _seeds.base_seed(seed, _seeds.SALT_EVAL_MASK)

    def candidate(c):
        seed_c = _seeds.fold_in(base, c)

        def add(j, mask):
            return j + 1, mask | (generator(_seeds.fold_in(seed_c, j))[..., 0] > 0)

        # A loop, not an unrolled union, so that the generator's graph is traced once.
        _, mask = tf.while_loop(
            lambda j, mask: j < 1 + c % _MAX_UNION,
            add,
            (tf.constant(0, tf.int64), tf.zeros([generator.height, generator.width], tf.bool)),
        )
        return mask

    chunk = 32
    candidates = (
        tf.data.Dataset.range(max_candidates)
        .map(candidate, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(chunk)
        .prefetch(1)
    )
    chosen = [[] for _ in buckets]
    for masks in candidates.as_numpy_iterator():
        ratios = masks.mean(axis=(1, 2))
        for mask, r in zip(masks, ratios, strict=True):
            for index, (low, high) in enumerate(buckets):
                if r > 0 and low <= r < high:
                    if len(chosen[index]) < per_bucket:
                        chosen[index].append(mask)
                    break
        if all(len(c) == per_bucket for c in chosen):
            break
    missing = [bucket_name(*b) for b, c in zip(buckets, chosen, strict=True) if len(c) < per_bucket]
    if missing:
        raise RuntimeError(
            f"Could not fill the evaluation mask bucket(s) {missing} with {per_bucket} masks "
            f"from {max_candidates} candidates of kind={kind!r}; use other buckets, another "
            "kind or a larger `max_candidates`."
        )
    return {
        bucket_name(*b): np.stack(c).astype(np.float32)[..., None]
        for b, c in zip(buckets, chosen, strict=True)
    }

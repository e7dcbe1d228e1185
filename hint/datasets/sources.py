"""Clean-image sources as tf.data: random training crops and fixed validation crops.

`ImageSource` turns a folder of images (or, with ``path=None``, the photographs bundled with
scikit-image) into

- ``train()``: an infinite dataset of float32 [S, S, C] crops in [0, 1]. Each epoch visits every
  training image once in a seeded order; each example is a random crop (images smaller than the
  crop are first upscaled, bilinear, keeping the aspect ratio, so the short side equals S) with
  optional random flips and an optional random order of its colour channels.
- ``validation()``: a finite dataset of fixed crops: the centre crop of each validation image,
  plus ``val_crops - 1`` more crops per image at seeded positions. Same content and order on
  every run.

Seeds: all randomness comes from stateless TF ops keyed by (``seed``, purpose, example index),
so a seed gives the same stream in any process, whatever the global TF seed, and the stream is
unaffected by parallelism or by files skipped mid-stream.

Validation split: files are ordered by SHA-256 of "<seed>:<path relative to the folder>" (a seeded
shuffle of the sorted list that stays stable when files are added elsewhere in the folder) and
the first ``val_count`` are held out for validation. Default for N readable images:
``val_count = min(max(1, min(8, N // 10)), N - 1)`` (at least one image is always left for
training; a single-image folder has no validation images).

Embedded default (``path=None``): the 14 photographs of `EMBEDDED_IMAGES` that are shipped inside
the scikit-image package (read from its data folder, never downloaded). With so few images,
validation holds out ``val_count=2`` whole images (chosen by the seeded split) and takes
``val_crops=4`` fixed crops from each, so validation never sees a training image.

Start-up scan: every file's header is read; unreadable files are skipped with ONE warning naming
each of them, and a folder without readable images raises ``ValueError`` naming the folder. If
the decoded images fit in `CACHE_LIMIT_BYTES` (estimated from the headers; ``cache="auto"``) they
are decoded once at start-up (8-bit images kept as uint8, others as float32) and served from
memory; files that fail to decode then are skipped with the same single warning. Otherwise
images are decoded inside tf.data (``tf.numpy_function`` calling `read_image`, parallel and
deterministic); a file that fails there is skipped with one warning, never an error mid-epoch.

Example:

>>> source = ImageSource("../shared/data/train/CBSD432", image_size=128, val_count=8, seed=1)
>>> train, val = source.train(), source.validation()
>>> next(iter(train)).shape
TensorShape([128, 128, 3])
>>> test = fixed_crops("../shared/data/val/McMaster", 128)   # centre crops, [18, 128, 128, 3]
"""

import concurrent.futures
import functools
import hashlib
import itertools
import os
import threading
import warnings

import numpy as np
import tensorflow as tf

from hint.datasets import _seeds
from hint.datasets.image_io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    _convert_channels,
    _read_native,
    _to_float,
    list_images,
    probe_image,
)

EMBEDDED_IMAGES = (
    ("astronaut", "astronaut.png"),
    ("brick", "brick.png"),
    ("camera", "camera.png"),
    ("chelsea", "chelsea.png"),
    ("coffee", "coffee.png"),
    ("coins", "coins.png"),
    ("grass", "grass.png"),
    ("gravel", "gravel.png"),
    ("hubble_deep_field", "hubble_deep_field.jpg"),
    ("immunohistochemistry", "ihc.png"),
    ("moon", "moon.png"),
    ("motorcycle", "motorcycle_left.png"),
    ("retina", "retina.jpg"),
    ("rocket", "rocket.jpg"),
)
"""(name, file) of the photographs bundled in ``skimage/data`` (no download needed), in order."""

FLIPS = ("horizontal", "both", "none")
COLOR_AUGMENTS = ("none", "channel_permutation", "saturation", "gray_channel")
# Range of the random saturation factor of `color_augment="saturation"` (HSV S times the factor,
# clipped to 1). Measured on the first 60 photos (sorted) of CBSD432 and on McMaster: median
# saturation 0.31 and 0.56, 90th percentile 0.48 and 0.85. A factor up to 2.5 carries the
# training photos' colours into the range of strongly coloured photos; down to 0.5 keeps duller
# ones too.
SATURATION_RANGE = (0.5, 2.5)
# The six orders of (R, G, B); index 0 is the identity.
_CHANNEL_ORDERS = tuple(itertools.permutations(range(3)))
CACHE_MODES = ("auto", "memory", "none")
CACHE_LIMIT_BYTES = 512 * 2**20
"""``cache="auto"`` keeps the decoded images in memory when they fit in this many bytes."""

EMBEDDED_VAL_COUNT = 2
EMBEDDED_VAL_CROPS = 4
_LUMA = (0.299, 0.587, 0.114)


# --------------------------------------------------------------------------------------------
# Embedded photographs
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _embedded_native():
    """((name, uint8 [H, W, C]), ...) of the embedded photographs that load offline."""
    import skimage.data

    folder = os.path.dirname(skimage.data.__file__)
    loaded = []
    for name, filename in EMBEDDED_IMAGES:
        # Read the packaged file directly: skimage.data's loaders fall back to a download.
        try:
            array = _read_native(os.path.join(folder, filename))
        except ImageReadError:
            continue
        array.setflags(write=False)
        loaded.append((name, array))
    return tuple(loaded)


def embedded_image_names():
    """Names of the embedded photographs available offline, in `embedded_images` order."""
    return [name for name, _ in _embedded_native()]


def embedded_images():
    """The photographs bundled inside scikit-image, loaded without any download.

    Returns:
        List of float32 [H, W, 3] arrays in [0, 1] (gray photographs repeated to RGB), in the
        fixed order of `EMBEDDED_IMAGES` (names: `embedded_image_names`).
    """
    images = []
    for _, array in _embedded_native():
        image = _to_float(array)
        images.append(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image)
    return images


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _check_int(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "None or an int" if allow_none else "an int"
        raise ValueError(f"`{name}` must be {kind} >= {minimum}. Received: {name}={value!r}")


def _split_order(keys, seed):
    """Seeded, stable order of ``keys``: by SHA-256 of "<seed>:<key>"."""

    def digest(index):
        return hashlib.sha256(f"{seed}:{keys[index]}".encode()).hexdigest()

    return sorted(range(len(keys)), key=digest)


def _fit(image, size):
    """Upscales (bilinear, aspect kept) so that both sides are >= ``size``."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    scale = tf.maximum(size / tf.cast(height, tf.float32), size / tf.cast(width, tf.float32))

    def upscale():
        new_h = tf.maximum(
            size, tf.cast(tf.math.ceil(tf.cast(height, tf.float32) * scale), tf.int32)
        )
        new_w = tf.maximum(
            size, tf.cast(tf.math.ceil(tf.cast(width, tf.float32) * scale), tf.int32)
        )
        return tf.image.resize(image, tf.stack([new_h, new_w]), method="bilinear")

    return tf.cond(tf.minimum(height, width) < size, upscale, lambda: image)


def _offset(seed, extent):
    """Uniform integer in [0, extent] from a stateless seed."""
    u = tf.random.stateless_uniform([], seed)
    return tf.minimum(tf.cast(u * tf.cast(extent + 1, tf.float32), tf.int32), extent)


def _scan_folder(folder, cache):
    """Pre-scan of ``folder``: (readable paths, decoded native arrays or None, skipped).

    Headers are read for every file; when ``cache`` asks for it (see `ImageSource`) all pixels
    are decoded too. Unreadable files are skipped with one warning naming each of them.

    Raises:
        FileNotFoundError: ``folder`` is not a directory.
        ValueError: no readable image in ``folder``.
    """
    paths = list_images(folder)
    readable, sizes, skipped = [], [], {}
    for path in paths:
        try:
            height, width, channels = probe_image(path)
        except ImageReadError as error:
            skipped[path] = error.reason
            continue
        readable.append(path)
        sizes.append(height * width * channels)
    use_cache = cache == "memory" or (cache == "auto" and sum(sizes) <= CACHE_LIMIT_BYTES)
    arrays = None
    if use_cache and readable:

        def decode(path):
            try:
                return _read_native(path)
            except ImageReadError as error:
                return error

        # Pillow and zlib release the GIL while decoding.
        with concurrent.futures.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            decoded = list(pool.map(decode, readable))
        for path, result in zip(readable, decoded, strict=True):
            if isinstance(result, ImageReadError):
                skipped[path] = result.reason
        kept = [(p, a) for p, a in zip(readable, decoded, strict=True) if isinstance(a, np.ndarray)]
        readable = [p for p, _ in kept]
        arrays = [a for _, a in kept]
    skipped = sorted(skipped.items())
    listing = "; ".join(f"{p} ({reason})" for p, reason in skipped)
    if not readable:
        detail = f"; {len(skipped)} unreadable: {listing}" if skipped else ""
        raise ValueError(
            f"No readable images in folder '{folder}' (extensions "
            f"{', '.join(IMAGE_EXTENSIONS)}){detail}"
        )
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image file(s) in '{folder}': {listing}",
            stacklevel=3,
        )
    return readable, arrays, skipped


def _center_crop(image, size):
    """The centre [size, size] crop of an image already at least ``size`` on both sides."""
    shape = tf.shape(image)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    return image[top : top + size, left : left + size]


# --------------------------------------------------------------------------------------------
# Source
# --------------------------------------------------------------------------------------------


class ImageSource:
    """Training and validation crops from a folder of images or from the embedded photographs.

    See the module docstring for the split, the crops, caching and the handling of bad files.

    Args:
        path: Folder of images (searched recursively, see `list_images`), or ``None`` for the
            photographs bundled with scikit-image. Defaults to ``None``.
        image_size: Crop side S (crops are [S, S, C]), at least 8. Defaults to ``256``.
        channels: 3 (gray images repeated) or 1 (RGB converted with BT.601 luma).
            Defaults to ``3``.
        val_count: Images held out for validation. Defaults to ``None``: ``min(max(1, min(8,
            N // 10)), N - 1)`` for a folder of N readable images, 2 for the embedded photographs.
            Must leave at least one training image; ``0`` gives an empty validation set.
        seed: Integer seed for the split, the epoch order, crops, flips and channel orders.
            Defaults to ``0``.
        flips: ``"horizontal"``, ``"both"`` (also vertical, e.g. for denoising) or ``"none"``;
            training only. Defaults to ``"horizontal"``.
        color_augment: ``"none"``, ``"channel_permutation"`` or ``"saturation"`` (colour crops
            only). ``"channel_permutation"`` gives each training crop one of the six orders of
            its R, G, B channels at random, so a model sees every hue of the saturated colours
            a training set has in a few only. ``"saturation"`` multiplies each crop's HSV
            saturation by a random factor in `SATURATION_RANGE` (0.5-2.5), so a model trained
            on dull photos also sees strongly coloured ones. ``"gray_channel"`` replaces each
            crop by one of its R, G, B channels, at random, repeated three times: a model that
            inpaints colour images plane by plane (``inpaint --color-space rgb``) only ever
            sees such gray images. The validation crops get it too (`gray_channels`), since
            they stand for what the model will see. Defaults to ``"none"``.
        val_crops: Fixed crops per validation image (the first is the centre crop).
            Defaults to ``None``: 1 for a folder, 4 for the embedded photographs.
        cache: ``"auto"`` (decode at start-up and keep in memory when under
            `CACHE_LIMIT_BYTES`), ``"memory"`` (always) or ``"none"`` (decode in tf.data).
            Defaults to ``"auto"``.
        val_size: Side of the validation crops, at least 8: more context than the training
            crops gives a model's evaluation the images it will be used on. Defaults to
            ``None``: ``image_size``.

    Attributes:
        train_files, val_files: Paths (or ``"skimage.data:<name>"``) of each split, sorted.
        skipped: ``[(path, reason), ...]`` files skipped as unreadable at start-up.
        cached: Whether the images are served from memory.

    Example:

    >>> source = ImageSource(None, image_size=64)          # embedded photographs
    >>> crops = list(source.train().take(4))               # 4 x [64, 64, 3] float32
    """

    def __init__(
        self,
        path=None,
        image_size=256,
        channels=3,
        val_count=None,
        seed=0,
        flips="horizontal",
        val_crops=None,
        cache="auto",
        color_augment="none",
        val_size=None,
    ):
        _check_int("image_size", image_size, 8)
        _check_int("val_size", val_size, 8, allow_none=True)
        if channels not in (1, 3):
            raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
        _check_int("val_count", val_count, 0, allow_none=True)
        _seeds.check_seed(seed)
        if flips not in FLIPS:
            raise ValueError(f"`flips` must be one of {FLIPS}. Received: flips={flips!r}")
        if color_augment not in COLOR_AUGMENTS:
            raise ValueError(
                f"`color_augment` must be one of {COLOR_AUGMENTS}. "
                f"Received: color_augment={color_augment!r}"
            )
        if color_augment != "none" and channels != 3:
            raise ValueError(
                "`color_augment` needs colour crops (channels=3). "
                f"Received: color_augment={color_augment!r}"
            )
        _check_int("val_crops", val_crops, 1, allow_none=True)
        if cache not in CACHE_MODES:
            raise ValueError(f"`cache` must be one of {CACHE_MODES}. Received: cache={cache!r}")
        self.path = None if path is None else os.fspath(path)
        self.image_size = image_size
        self.val_size = val_size or image_size
        self.channels = channels
        self.seed = seed
        self.flips = flips
        self.color_augment = color_augment
        self.cache = cache
        self.skipped = []
        self._failed = set()
        self._lock = threading.Lock()

        if self.path is None:
            loaded = _embedded_native()
            if not loaded:
                raise ValueError("None of the photographs bundled with scikit-image could be read")
            names = [f"skimage.data:{name}" for name, _ in loaded]
            keys = [name for name, _ in loaded]
            self._paths = names
            self._cache = [array for _, array in loaded]
            default_val, default_crops = EMBEDDED_VAL_COUNT, EMBEDDED_VAL_CROPS
        else:
            self._paths, self._cache, self.skipped = _scan_folder(self.path, cache)
            keys = [os.path.relpath(p, self.path).replace(os.sep, "/") for p in self._paths]
            default_val = min(max(1, min(8, len(self._paths) // 10)), len(self._paths) - 1)
            default_crops = 1
        self.cached = self._cache is not None
        if self.cached and any(a.dtype != np.uint8 for a in self._cache):
            self._cache = [_to_float(a) for a in self._cache]

        count = len(self._paths)
        self.val_count = default_val if val_count is None else val_count
        self.val_crops = default_crops if val_crops is None else val_crops
        if self.val_count >= count:
            where = "embedded photographs" if self.path is None else f"images in '{self.path}'"
            raise ValueError(
                f"`val_count` must leave at least one training image among the {count} readable "
                f"{where}. Received: val_count={self.val_count!r}"
            )
        order = _split_order(keys, seed)
        self._val_items = sorted(order[: self.val_count])
        self._train_items = sorted(order[self.val_count :])
        self.train_files = [self._paths[i] for i in self._train_items]
        self.val_files = [self._paths[i] for i in self._val_items]

    # ----------------------------------------------------------------------------- loading

    def _load_numpy(self, index):
        index = int(index)
        if self._cache is not None:
            return self._cache[index]
        path = self._paths[index]
        try:
            return _to_float(_read_native(path))
        except ImageReadError as error:
            with self._lock:
                first = path not in self._failed
                self._failed.add(path)
                all_failed = len(self._failed) >= len(self._paths)
            if first:
                warnings.warn(f"Skipping unreadable image: {error}", stacklevel=1)
            if all_failed:
                raise ImageReadError(
                    path, f"every image of '{self.path}' failed to decode"
                ) from error
            return np.zeros((0, 0, 1), np.float32)

    def _load_raw(self, index):
        """Image ``index`` as stored: uint8 (cached 8-bit) or float32, [H, W, 1 or 3]."""
        dtype = tf.uint8 if self._cache is not None and self._cache[0].dtype == np.uint8 else None
        image = tf.numpy_function(self._load_numpy, [index], dtype or tf.float32, name="read_image")
        image.set_shape([None, None, None])
        return image

    def _load(self, index):
        """Image ``index`` as float32 [H, W, channels] (an empty tensor if it failed)."""
        return self._to_model(self._load_raw(index))

    def _to_model(self, image):
        """Stored dtype and channels to float32 [0, 1] with ``self.channels`` channels."""
        if image.dtype == tf.uint8:
            image = tf.cast(image, tf.float32) / 255.0
        depth = tf.shape(image)[-1]
        if self.channels == 3:
            image = tf.cond(depth == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image)
        else:
            luma = tf.constant(_LUMA, tf.float32)
            image = tf.cond(
                depth == 3,
                lambda: tf.reduce_sum(image * luma, axis=-1, keepdims=True),
                lambda: image,
            )
        return tf.ensure_shape(image, [None, None, self.channels])

    def _valid(self, *args):
        return tf.size(args[-1]) > 0

    # ---------------------------------------------------------------------------- datasets

    def _train_crop(self, raw, seed):
        size = self.image_size
        s = _seeds.split(seed, 3)
        shape = tf.shape(raw)

        def fit_then_crop():
            image = _fit(self._to_model(raw), size)
            return tf.image.stateless_random_crop(image, [size, size, self.channels], seed=s[0])

        def crop_then_convert():
            # Cropping the stored (often uint8) image first makes the float and colour
            # conversion cost one crop, not a whole photograph: the same pixels, far cheaper.
            crop = tf.image.stateless_random_crop(raw, [size, size, shape[2]], seed=s[0])
            return self._to_model(crop)

        image = tf.cond(tf.minimum(shape[0], shape[1]) < size, fit_then_crop, crop_then_convert)
        image = tf.ensure_shape(image, [size, size, self.channels])
        if self.flips in ("horizontal", "both"):
            image = tf.image.stateless_random_flip_left_right(image, seed=s[1])
        if self.flips == "both":
            image = tf.image.stateless_random_flip_up_down(image, seed=s[2])
        if self.color_augment == "channel_permutation":
            # Its own salted seed: crops and flips stay those of the same seed without it.
            pick = tf.random.stateless_uniform(
                [], _seeds.fold_in(seed, _seeds.SALT_COLOR), 0, len(_CHANNEL_ORDERS), tf.int32
            )
            image = tf.gather(image, tf.gather(tf.constant(_CHANNEL_ORDERS), pick), axis=-1)
        elif self.color_augment == "saturation":
            image = tf.image.stateless_random_saturation(
                image, *SATURATION_RANGE, seed=_seeds.fold_in(seed, _seeds.SALT_COLOR)
            )
        elif self.color_augment == "gray_channel":
            pick = tf.random.stateless_uniform(
                [], _seeds.fold_in(seed, _seeds.SALT_COLOR), 0, 3, tf.int32
            )
            image = tf.gather(image, tf.fill([3], pick), axis=-1)
        return tf.clip_by_value(image, 0.0, 1.0)

    def train(self):
        """Infinite dataset of float32 [S, S, C] random training crops (deterministic per seed)."""
        items = tf.constant(self._train_items, tf.int64)
        order_seed = _seeds.base_seed(self.seed, _seeds.SALT_EPOCH_ORDER)
        crop_seed = _seeds.base_seed(self.seed, _seeds.SALT_TRAIN_CROP)

        def epoch(number):
            order = tf.random.experimental.stateless_shuffle(
                items, seed=_seeds.fold_in(order_seed, number)
            )
            return tf.data.Dataset.from_tensor_slices(order)

        auto = tf.data.AUTOTUNE
        ds = tf.data.Dataset.counter().flat_map(epoch).enumerate()
        ds = ds.map(
            lambda k, i: (k, self._load_raw(i)), num_parallel_calls=auto, deterministic=True
        )
        if not self.cached:
            ds = ds.filter(self._valid)
        return ds.map(
            lambda k, image: self._train_crop(image, _seeds.fold_in(crop_seed, k)),
            num_parallel_calls=auto,
            deterministic=True,
        )

    def _val_crops(self, position, image):
        size = self.val_size
        image = _fit(image, size)
        shape = tf.shape(image)
        extent_h, extent_w = shape[0] - size, shape[1] - size
        seed = _seeds.fold_in(_seeds.base_seed(self.seed, _seeds.SALT_VAL_CROP), position)
        crops = []
        for k in range(self.val_crops):
            if k == 0:
                crops.append(_center_crop(image, size))
                continue
            s = _seeds.split(_seeds.fold_in(seed, k), 2)
            top, left = _offset(s[0], extent_h), _offset(s[1], extent_w)
            crops.append(image[top : top + size, left : left + size])
        crops = tf.clip_by_value(tf.stack(crops), 0.0, 1.0)
        if self.color_augment == "gray_channel":
            crops = gray_channels(crops, first=position * self.val_crops)
        return tf.ensure_shape(crops, [self.val_crops, size, size, self.channels])

    def validation(self):
        """Finite dataset of float32 [S, S, C] fixed validation crops, same on every run."""
        positions = tf.range(len(self._val_items), dtype=tf.int64)
        items = tf.constant(self._val_items, tf.int64)
        auto = tf.data.AUTOTUNE
        ds = tf.data.Dataset.from_tensor_slices((positions, items))
        ds = ds.map(lambda j, i: (j, self._load(i)), num_parallel_calls=auto, deterministic=True)
        if not self.cached:
            ds = ds.filter(self._valid)
        ds = ds.map(self._val_crops, num_parallel_calls=auto, deterministic=True)
        return ds.unbatch()

    def datasets(self):
        """``(self.train(), self.validation())``."""
        return self.train(), self.validation()

    def __repr__(self):
        return (
            f"ImageSource(path={self.path!r}, image_size={self.image_size}, "
            f"channels={self.channels}, val_count={self.val_count}, seed={self.seed}, "
            f"flips={self.flips!r}, color_augment={self.color_augment!r}, "
            f"val_crops={self.val_crops}, cache={self.cache!r}; "
            f"{len(self.train_files)} train / {len(self.val_files)} val images, "
            f"cached={self.cached})"
        )


def image_sources(path=None, image_size=256, channels=3, val_count=None, seed=0, **kwargs):
    """Train and validation datasets of clean crops: ``ImageSource(...).datasets()``.

    Args:
        path: Image folder, or ``None`` for the embedded photographs. Defaults to ``None``.
        image_size: Crop side. Defaults to ``256``.
        channels: 3 or 1. Defaults to ``3``.
        val_count: Validation images (see `ImageSource`). Defaults to ``None``.
        seed: Integer seed. Defaults to ``0``.
        **kwargs: ``flips``, ``color_augment``, ``val_crops``, ``cache`` or ``val_size`` (see
            `ImageSource`).

    Returns:
        ``(train, val)``: an infinite and a finite `tf.data.Dataset` of float32 [S, S, C]
        (validation: [val_size, val_size, C]).

    Example:

    >>> train, val = image_sources("../shared/data/train/Train400", 64, channels=1, seed=1)
    """
    return ImageSource(path, image_size, channels, val_count, seed, **kwargs).datasets()


def gray_channels(crops, first=0):
    """Crop i of colour crops [N, S, S, 3] as its channel (first + i) mod 3, repeated 3 times.

    The fixed validation counterpart of ``color_augment="gray_channel"``: every channel is used
    by a third of the crops.

    >>> gray_channels(np.random.rand(4, 8, 8, 3)).shape   # crops 0 and 3 are R, 1 G, 2 B
    TensorShape([4, 8, 8, 3])
    """
    n = tf.shape(crops)[0]
    channel = (tf.range(n, dtype=tf.int64) + tf.cast(first, tf.int64)) % 3
    return tf.gather(crops, tf.tile(channel[:, None], [1, 3]), axis=3, batch_dims=1)


def fixed_crops(path=None, image_size=256, channels=3):
    """The centre crop of every readable image of a folder, e.g. a test set for evaluation.

    Images smaller than the crop are upscaled first (bilinear, aspect kept), as in
    `ImageSource`; unreadable files are skipped with one warning naming each of them.

    Args:
        path: Image folder (recursive), or ``None`` for all the embedded photographs.
            Defaults to ``None``.
        image_size: Crop side S, at least 8. Defaults to ``256``.
        channels: 3 or 1. Defaults to ``3``.

    Returns:
        float32 [N, S, S, C] array in [0, 1], in sorted file order.

    Raises:
        ValueError: the folder has no readable image.

    Example:

    >>> clean = fixed_crops("../shared/data/val/McMaster", 256)      # [18, 256, 256, 3]
    """
    _check_int("image_size", image_size, 8)
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    if path is None:
        arrays = [array for _, array in _embedded_native()]
    else:
        _, arrays, _ = _scan_folder(os.fspath(path), "memory")
    crops = []
    for array in arrays:
        image = _convert_channels(_to_float(array), channels)
        image = _center_crop(_fit(tf.constant(image), image_size), image_size)
        crops.append(np.clip(image.numpy(), 0.0, 1.0))
    return np.stack(crops)

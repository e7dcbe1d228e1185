"""Reading and writing images as float32 HxWxC arrays in [0, 1], with atomic writes.

Formats: PNG, JPEG, BMP, TIFF and ``.npy``. Gray, gray+alpha, RGB and RGBA inputs are accepted
(alpha is dropped); 8- and 16-bit integer images are scaled by the dtype's maximum, float images
(float TIFF, float ``.npy``) are returned unchanged.

Decoders: Pillow for PNG / JPEG / BMP, except 16-bit PNGs, which Pillow truncates to 8 bits for
colour images, and which are therefore decoded with ``tf.io.decode_png`` (TensorFlow is imported
lazily, only for those). ``tifffile`` (shipped with scikit-image) reads and writes TIFF. 16-bit
PNGs are written by a small built-in encoder for the same reason.

Every write goes to a hidden temporary file in the destination folder, then ``os.replace`` moves
it in place, so readers never see a half-written file.

Example:

>>> image = read_image("photo.jpg", channels=3)          # float32 [H, W, 3] in [0, 1]
>>> write_image("out/photo16.png", image, bit_depth=16)
>>> with atomic_write("out/metrics.json", "w") as f:
...     f.write("{}")
"""

import contextlib
import os
import tempfile

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")
"""File extensions (lower case) that `read_image` and `list_images` handle."""

_PIL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
_TIFF_EXTENSIONS = (".tif", ".tiff")
# ITU-R BT.601 luma, the weights of Pillow's "L" conversion and MATLAB's rgb2gray (used to make
# the classic gray denoising sets).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Read once at import: querying the umask means setting it, which is not thread safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class ImageWriteError(ValueError):
    """An image that cannot be written as asked (format, bit depth, shape or values)."""


class ImageReadError(ValueError):
    """A file could not be read as an image. ``path`` holds the offending file."""

    def __init__(self, path, reason):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"Cannot read image '{self.path}': {reason}")


def _extension(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def _check_channels(channels):
    if channels not in (None, 1, 3):
        raise ValueError(f"`channels` must be None, 1 or 3. Received: channels={channels!r}")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _png_header(path):
    """(bit_depth, colour_type) from a PNG's IHDR chunk, or None if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _read_png16(path):
    import tensorflow as tf

    with open(path, "rb") as f:
        data = f.read()
    return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()


def _read_pil(path):
    from PIL import Image, ImageOps

    header = _png_header(path) if _extension(path) == ".png" else None
    if header is not None and header[0] == 16:
        return _read_png16(path)
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        mode = image.mode
        if mode in ("1", "L", "I", "F", "RGB") or mode.startswith("I;16"):
            array = np.asarray(image)
        elif mode == "LA":
            array = np.asarray(image)[..., 0]
        elif mode in ("RGBA", "RGBX", "RGBa"):
            array = np.asarray(image)[..., :3]
        else:  # P, PA, CMYK, YCbCr, LAB, HSV, ...
            array = np.asarray(image.convert("RGB"))
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _read_tiff(path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        array = page.asarray()
        axes = page.axes
    if array.ndim == 3 and axes.startswith("S"):  # planar configuration: samples first
        array = np.moveaxis(array, 0, -1)
    return array


def _read_native(path):
    """The image with its stored dtype, shaped [H, W, C] with C in (1, 3) (alpha dropped)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(path, "no such file")
    extension = _extension(path)
    if extension not in IMAGE_EXTENSIONS:
        raise ImageReadError(
            path, f"unsupported extension '{extension}' (supported: {', '.join(IMAGE_EXTENSIONS)})"
        )
    try:
        if extension in _TIFF_EXTENSIONS:
            array = _read_tiff(path)
        elif extension == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            array = _read_pil(path)
    except Exception as error:  # every decoder has its own exception types
        raise ImageReadError(path, f"{type(error).__name__}: {error}") from error
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ImageReadError(path, f"unsupported array shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(path, f"empty image of shape {array.shape}")
    if array.shape[-1] == 2:
        array = array[..., :1]
    elif array.shape[-1] == 4:
        array = array[..., :3]
    if not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
        or array.dtype == np.bool_
    ):
        raise ImageReadError(path, f"unsupported dtype {array.dtype}")
    return array


def _to_float(array):
    """Scale integer images by their dtype's maximum; keep float values (as float32)."""
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    return array.astype(np.float32, copy=False)


def _convert_channels(array, channels):
    if channels is None or array.shape[-1] == channels:
        return array
    if channels == 3:
        return np.repeat(array, 3, axis=-1)
    return (array @ _LUMA)[..., None].astype(np.float32)


def read_image(path, channels=None):
    """Reads an image file as a float32 [H, W, C] array.

    Integer images are scaled to [0, 1] by their dtype's maximum (255 for 8-bit, 65535 for
    16-bit); float images (float TIFF or ``.npy``) are returned unchanged. An alpha channel is
    dropped. JPEG EXIF orientation is applied. Multi-page TIFFs return their first page.

    Args:
        path: File path with one of `IMAGE_EXTENSIONS` (case-insensitive).
        channels: ``None`` keeps the file's channels (1 or 3), ``3`` repeats gray into RGB,
            ``1`` converts RGB to gray with BT.601 luma weights. Defaults to ``None``.

    Returns:
        float32 array of shape [H, W, C].

    Raises:
        ImageReadError: the file is missing, has an unsupported extension or cannot be decoded
            (the message names the file).

    Example:

    >>> rgb = read_image("set12/01.png", channels=3)   # gray file -> [256, 256, 3]
    """
    _check_channels(channels)
    return _convert_channels(_to_float(_read_native(path)), channels)


def read_image_and_depth(path, channels=None):
    """`read_image` plus the file's bit depth: 8, 16, or 32 for float data (float TIFF, .npy).

    The depth is what `write_image(..., bit_depth=...)` needs to write a result in the same
    format, so a tool can keep 16-bit files 16-bit and float files unclipped.

    Returns:
        (float32 [H, W, C] array, bit depth).
    """
    _check_channels(channels)
    native = _read_native(path)
    if native.dtype.kind == "f":
        depth = 32
    elif native.dtype.itemsize >= 2:
        depth = 16
    else:
        depth = 8
    return _convert_channels(_to_float(native), channels), depth


def probe_image(path):
    """Returns (height, width, channels) from the file header, without decoding the pixels.

    Cheap check used by the dataset pre-scan; ``channels`` counts colour channels only (1 or 3).
    A file that passes may still fail to decode (e.g. a truncated JPEG).

    Raises:
        ImageReadError: the file is missing or its header cannot be parsed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(path, "no such file")
    extension = _extension(path)
    try:
        if extension in _TIFF_EXTENSIONS:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                shape, axes = page.shape, page.axes
            if len(shape) == 3 and axes.startswith("S"):
                shape = (*shape[1:], shape[0])
        elif extension == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        elif extension in _PIL_EXTENSIONS:
            from PIL import Image

            with Image.open(path) as image:
                width, height = image.size
                gray = image.mode in ("1", "L", "LA", "I", "F") or image.mode.startswith("I;16")
            shape = (height, width, 1 if gray else 3)
        else:
            raise ImageReadError(path, f"unsupported extension '{extension}'")
    except ImageReadError:
        raise
    except Exception as error:
        raise ImageReadError(path, f"{type(error).__name__}: {error}") from error
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[-1] not in (1, 2, 3, 4) or shape[0] == 0 or shape[1] == 0:
        raise ImageReadError(path, f"unsupported image shape {tuple(shape)}")
    return int(shape[0]), int(shape[1]), 1 if shape[-1] <= 2 else 3


def list_images(folder):
    """Image files under ``folder`` (recursive), sorted, matched by extension.

    Extensions are those of `IMAGE_EXTENSIONS`, case-insensitive. Hidden files and folders (name
    starting with ".") are ignored: they are temporary files of `atomic_write` or macOS
    ``._name.jpg`` resource forks, never images.

    Args:
        folder: Folder to scan.

    Returns:
        Sorted list of file paths (``folder`` joined with the relative path).

    Raises:
        FileNotFoundError: ``folder`` is not an existing directory.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Image folder '{folder}' does not exist or is not a directory")
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and _extension(name) in IMAGE_EXTENSIONS:
                found.append(os.path.join(root, name))
    return sorted(found)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """Context manager yielding a file object whose content replaces ``path`` atomically.

    Data goes to a hidden temporary file in the same folder (so ``os.replace`` is a rename on the
    same file system); on success it is flushed, fsync-ed and moved over ``path``; on any
    exception the temporary file is removed and ``path`` is left untouched. Parent folders are
    created.

    Args:
        path: Destination file.
        mode: ``"wb"`` (binary), ``"w"`` or ``"wt"`` (text). Defaults to ``"wb"``.
        encoding: Text encoding for text modes. Defaults to ``None`` (UTF-8 in text mode).
        newline: Passed to `open` in text mode. Defaults to ``None``.

    Example:

    >>> with atomic_write("runs/a/metrics.csv", "w", newline="") as f:
    ...     csv.writer(f).writerow(["psnr", 31.2])
    """
    if mode not in ("wb", "w", "wt"):
        raise ValueError(f"`mode` must be 'wb', 'w' or 'wt'. Received: mode={mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    os.close(fd)  # reopened by name: some writers (tifffile) need `handle.name` to be a path
    try:
        if "b" in mode:
            handle = open(temp_path, mode)
        else:
            handle = open(temp_path, mode, encoding=encoding or "utf-8", newline=newline)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the permissions `open` would have.
        os.chmod(temp_path, 0o666 & ~_UMASK)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


def _quantise(array, bit_depth):
    if bit_depth == 8 and array.dtype == np.uint8:
        return array
    if bit_depth == 16 and array.dtype == np.uint16:
        return array
    values = _to_float(array)
    if not np.all(np.isfinite(values)):
        raise ImageWriteError("Cannot write an integer image from an array with NaN or infinity")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    top = np.iinfo(dtype).max
    return np.round(np.clip(values, 0.0, 1.0) * top).astype(dtype)


def write_image(path, array, bit_depth=8, quality=95):
    """Writes an image atomically, creating parent folders.

    Float arrays are taken as [0, 1] values (clipped, then rounded to the bit depth); uint8 /
    uint16 arrays matching the bit depth are written as they are, other integer arrays are
    rescaled by their dtype's maximum. ``.npy`` files store the array unchanged, and
    ``bit_depth=32`` stores a float32 TIFF unchanged (no clipping).

    Args:
        path: Destination; the extension picks the format (png, jpg/jpeg, bmp, tif/tiff, npy).
        array: [H, W] or [H, W, C] with C = 1, 3 or 4 (4 not for JPEG).
        bit_depth: 8, 16 (PNG and TIFF) or 32 (float32 TIFF). Ignored for ``.npy``.
            Defaults to ``8``.
        quality: JPEG quality. Defaults to ``95``.

    Example:

    >>> write_image("out/result.png", prediction[0])   # float32 [H, W, 3] in [0, 1]
    """
    path = os.fspath(path)
    extension = _extension(path)
    if extension not in IMAGE_EXTENSIONS:
        raise ImageWriteError(
            f"Unsupported image extension '{extension}' (supported: "
            f"{', '.join(IMAGE_EXTENSIONS)}). Received: path={path!r}"
        )
    array = np.asarray(array)
    if extension == ".npy":
        with atomic_write(path, "wb") as f:
            np.save(f, array, allow_pickle=False)
        return
    if bit_depth not in (8, 16, 32):
        raise ImageWriteError(f"`bit_depth` must be 8, 16 or 32. Received: bit_depth={bit_depth!r}")
    if bit_depth == 16 and extension not in (".png", *_TIFF_EXTENSIONS):
        raise ImageWriteError(
            f"16-bit output needs a .png or .tif/.tiff path (got '{extension}'). "
            f"Received: bit_depth={bit_depth!r}"
        )
    if bit_depth == 32 and extension not in _TIFF_EXTENSIONS:
        raise ImageWriteError(
            f"float32 (32-bit) output needs a .tif/.tiff path (got '{extension}'). "
            f"Received: bit_depth={bit_depth!r}"
        )
    if array.ndim == 2:
        array = array[..., None]
    allowed = (1, 3) if extension in (".jpg", ".jpeg") else (1, 3, 4)
    if array.ndim != 3 or array.shape[-1] not in allowed or 0 in array.shape:
        raise ImageWriteError(
            f"Expected an image array [H, W] or [H, W, C] with C in {allowed} for "
            f"'{extension}'. Received: array.shape={array.shape}"
        )

    if extension in _TIFF_EXTENSIONS:
        import tifffile

        data = array.astype(np.float32) if bit_depth == 32 else _quantise(array, bit_depth)
        photometric = "minisblack" if data.shape[-1] == 1 else "rgb"
        extra = {"extrasamples": ["unassalpha"]} if data.shape[-1] == 4 else {}
        if data.shape[-1] == 1:
            data = data[..., 0]
        with atomic_write(path, "wb") as f:
            tifffile.imwrite(f, data, photometric=photometric, compression="zlib", **extra)
        return

    data = _quantise(array, bit_depth)
    if bit_depth == 16:
        import tensorflow as tf  # encodes uint16 PNGs with 1-4 channels (Pillow cannot)

        with atomic_write(path, "wb") as f:
            f.write(tf.io.encode_png(data).numpy())
        return

    from PIL import Image

    image = Image.fromarray(data[..., 0] if data.shape[-1] == 1 else data)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}[extension]
    options = {"quality": quality} if fmt == "JPEG" else {}
    with atomic_write(path, "wb") as f:
        image.save(f, format=fmt, **options)

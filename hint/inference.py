"""Inpainting a user's images with a trained generator: any size, one file or whole folders.

Images of any size are reflect-padded to the generator's multiple (16 for HINT) and cropped
back. The output is the composite: the prediction inside the hole, the input pixels elsewhere,
so pixels outside the hole are returned unchanged. A mask is read as gray, and any value above
zero is a hole (the same rule as the training mask folders); a mask of a different size is
resized with nearest neighbour, with a warning.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from datasets import image_io

# HINT downsamples 3 times and SCAL pools the latent by 2 more: sizes must divide by 16.
MULTIPLE = 16


class InferenceError(ValueError):
    """Bad inputs to `inpaint` (missing files, unpaired folders, wrong shapes)."""


def pad_to_multiple(image: np.ndarray, multiple: int = MULTIPLE) -> np.ndarray:
    """Reflect-pads an [H, W, C] array at the bottom/right to a multiple of `multiple`."""
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image
    # Reflect needs a pad smaller than the side; tiny images fall back to edge padding.
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)


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


def inpaint_array(generator, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Inpaints one image.

    Args:
        generator: a Keras model with inputs `image` and `mask`.
        image: float32 [H, W, C] in [0, 1], C = 1 or 3 (gray is run as RGB and returned gray).
        mask: float32 [H, W, 1] of 0/1, 1 = hole, same H and W as `image`.

    Returns:
        The composite float32 [H, W, C]: prediction inside the hole, `image` elsewhere.
    """
    if image.ndim != 3 or mask.shape[:2] != image.shape[:2]:
        raise InferenceError(
            f"Image {image.shape} and mask {mask.shape} must be [H, W, C] and [H, W, 1] with "
            "the same height and width."
        )
    if not mask.any():
        return image.copy()
    h, w, c = image.shape
    want = generator.inputs[0].shape[-1] if generator.inputs else 3
    x = image
    if c != want:
        if c == 1 and want == 3:
            x = np.repeat(image, 3, axis=-1)
        else:
            raise InferenceError(f"The model expects {want} channels; the image has {c}.")
    xp = pad_to_multiple(x)[None]
    mp = pad_to_multiple(mask)[None]
    pred = generator({"image": xp, "mask": mp}, training=False)
    pred = np.asarray(pred)[0, :h, :w]
    if c == 1 and want == 3:
        pred = pred.mean(axis=-1, keepdims=True)
    out = pred * mask + image * (1.0 - mask)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


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
    mask = binarize_mask(image_io.read_image(mask_path))
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


def inpaint_paths(generator, image: str, mask: str, out: str, progress: bool = True) -> list[str]:
    """Inpaints a file (image, mask, out file) or folders (image dir, mask dir, out dir).

    Paths and pairings are checked before anything is written, images are read one at a time
    (bounded memory for large folders), and each output is written atomically, so a bad file
    stops the run with an error and leaves no partial output.

    Returns:
        The written output paths.
    """
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
        image_io.write_image(dst, inpaint_array(generator, img, msk))
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
    """One forward pass on an [H, W, C] image whose sides are multiples of `MULTIPLE`."""
    inputs = {"image": image[None]}
    if "noise_level" in _input_names(network):
        inputs["noise_level"] = np.full((1, *image.shape[:2], 1), sigma / 255.0, np.float32)
    return np.asarray(network(inputs, training=False))[0]


def denoise_array(
    network,
    image: np.ndarray,
    sigma: float | None = None,
    tile: int = 512,
    margin: int = 32,
    clip: bool = True,
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

    Returns:
        float32 [H, W, C] denoised image.
    """
    conditioned = "noise_level" in _input_names(network)
    if conditioned and sigma is None:
        raise InferenceError("This model is noise-level conditioned: give --sigma (0-255).")
    if sigma is not None and sigma < 0:
        raise InferenceError(f"sigma must be >= 0 (0-255 units). Received: sigma={sigma}")
    if tile % MULTIPLE or margin % MULTIPLE or tile <= 2 * margin:
        raise InferenceError(
            f"tile and margin must be multiples of {MULTIPLE} with tile > 2 * margin. "
            f"Received: tile={tile}, margin={margin}"
        )
    want = network.inputs[0].shape[-1]
    h, w, c = image.shape
    if c != want:
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
    padded = pad_to_multiple(image.astype(np.float32))
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


def denoise_paths(
    network, image: str, out: str, sigma: float | None = None, progress: bool = True
) -> list[str]:
    """Denoises a file or a folder of images into `out` (file or folder), keeping formats.

    8/16-bit PNG, JPEG and TIFF are written back at their bit depth; float32 TIFF and `.npy`
    inputs keep their values unclipped in and out, so benchmark-style noisy files work.
    """
    if not os.path.exists(image):
        raise InferenceError(f"The image path does not exist: {image}")
    if sigma is not None and sigma < 0:
        raise InferenceError(f"sigma must be >= 0 (0-255 units). Received: sigma={sigma}")
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
        if os.path.splitext(dst)[1].lower() in (".jpg", ".jpeg", ".bmp") and depth == 16:
            depth = 8
        result = denoise_array(network, data, sigma=sigma, clip=depth != 32)
        image_io.write_image(dst, result, bit_depth=depth)
        if bar is not None:
            bar.add(1)
    return outs

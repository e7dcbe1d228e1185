"""Inpainting input pipelines: clean crops + hole masks -> batched model inputs.

Flow::

    ImageSource(...).train()      ->  clean [S, S, C]  (infinite, random crops)
      .enumerate()                ->  (k, clean)
      mask = gen(fold_in(seed, k))    per-example mask seed from (seed, k): deterministic
      degraded = clean * (1 - mask) + mask     (HINT convention, holes are white)
      .batch(batch_size).prefetch(AUTOTUNE)
    -> ({"image": degraded [B, S, S, C], "mask": mask [B, S, S, 1]}, clean [B, S, S, C])

- `inpainting_pipeline(..., training=True)`: for training; drops the last partial batch so
  batches have a static shape.
- `validation_pipeline`: the same on the finite validation crops, keeping the last partial
  batch. Example k always gets the mask of seed (``seed``, k), so each validation crop has a fixed
  mask, identical on every run.
- `evaluation_pipeline`: fixed evaluation crops paired with the fixed masks of
  `hint.datasets.masks.evaluation_masks`, one finite dataset per hole-ratio bucket. Pair i uses crop
  ``i % N`` and mask ``i % M`` for i < max(N, M), so every crop and every mask of a bucket is used
  at least once and the pairing never changes.
- `denoising_pipeline`: clean crops and degraded copies (`hint.datasets.degradations`: Gaussian,
  Poisson, ... noise) -> ``({"image": noisy, "noise_level": sigma_map}, clean)`` batches.

Masks are generated with stateless ops from per-example seeds, so the stream of a seed does not
depend on the global TF seed or on the number of parallel calls. For several input pipelines
(one per replica), pass a different ``seed`` to each (e.g. ``seed * 1000 + pipeline_id``).

Example:

>>> source = ImageSource("../shared/data/train/CBSD432", image_size=256, seed=1)
>>> masks = MaskGenerator("mix", image_size=256)
>>> train = inpainting_pipeline(source.train(), masks, batch_size=8, seed=1)
>>> val = validation_pipeline(source.validation(), masks, batch_size=8)
>>> model.fit(train, steps_per_epoch=1000, validation_data=val)
"""

import numpy as np
import tensorflow as tf

from hint.datasets import _seeds
from hint.datasets.degradations import SALT_DEGRADATION, as_degradation


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}"
        )


def _check_sizes(clean_ds, mask_generator):
    spec = clean_ds.element_spec
    if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 3:
        raise ValueError(
            "`clean_ds` must yield single float32 [H, W, C] images. "
            f"Received: clean_ds.element_spec={spec!r}"
        )
    height, width = spec.shape[0], spec.shape[1]
    expected = (mask_generator.height, mask_generator.width)
    if height is not None and width is not None and (height, width) != expected:
        raise ValueError(
            f"The clean crops are {height}x{width} but the masks are "
            f"{expected[0]}x{expected[1]}. Received: mask_generator={mask_generator!r}"
        )


def degrade(clean, mask):
    """HINT's generator input: ``clean * (1 - mask) + mask`` (holes set to 1)."""
    return clean * (1.0 - mask) + mask


def inpainting_pipeline(clean_ds, mask_generator, batch_size, seed, training=True):
    """Pairs clean crops with random hole masks and batches them.

    Args:
        clean_ds: Dataset of float32 [H, W, C] clean images (e.g. `ImageSource.train()`).
        mask_generator: A `MaskGenerator` (or any callable seed [2] -> [H, W, 1] float32).
        batch_size: Examples per batch.
        seed: Integer seed; example k gets the mask of seed ``fold_in((seed, salt), k)``.
        training: ``True`` drops the last partial batch (static batch shape); ``False`` keeps
            it. Defaults to ``True``.

    Returns:
        Dataset of ``({"image": degraded, "mask": mask}, clean)`` with degraded / clean float32
        [B, H, W, C] and mask float32 [B, H, W, 1] (1 = hole), prefetched.
    """
    _check_batch_size(batch_size)
    _seeds.check_seed(seed)
    if hasattr(mask_generator, "height"):
        _check_sizes(clean_ds, mask_generator)
    base = _seeds.base_seed(seed, _seeds.SALT_MASK)

    def attach(index, clean):
        mask = mask_generator(_seeds.fold_in(base, index))
        return {"image": degrade(clean, mask), "mask": mask}, clean

    ds = clean_ds.enumerate().map(attach, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(tf.data.AUTOTUNE)


def validation_pipeline(clean_ds, mask_generator, batch_size, seed=0):
    """`inpainting_pipeline` with ``training=False``: a fixed mask per validation crop.

    Args:
        clean_ds: Finite dataset of fixed crops (e.g. `ImageSource.validation()`).
        mask_generator: A `MaskGenerator`.
        batch_size: Examples per batch (the last batch may be smaller).
        seed: Integer seed of the masks. Defaults to ``0``.

    Returns:
        Finite dataset like `inpainting_pipeline`, identical on every run.
    """
    return inpainting_pipeline(clean_ds, mask_generator, batch_size, seed, training=False)


def evaluation_pipeline(clean_images, masks_by_bucket, batch_size=8):
    """Fixed evaluation crops paired with fixed masks, one dataset per hole-ratio bucket.

    Args:
        clean_images: float32 [N, H, W, C] array (or a finite dataset of [H, W, C] crops,
            e.g. `ImageSource.validation()`, which is read once into memory).
        masks_by_bucket: ``{name: [M, H, W, 1]}`` as returned by `evaluation_masks`.
        batch_size: Examples per batch (the last batch may be smaller). Defaults to ``8``.

    Returns:
        ``{name: dataset}`` in the order of ``masks_by_bucket``; each finite dataset yields
        ``({"image": degraded, "mask": mask}, clean)`` batches of ``max(N, M)`` pairs in total,
        pair i being crop ``i % N`` with mask ``i % M``.
    """
    _check_batch_size(batch_size)
    if isinstance(clean_images, tf.data.Dataset):
        clean_images = np.stack(list(clean_images.as_numpy_iterator()))
    clean_images = np.asarray(clean_images, dtype=np.float32)
    if clean_images.ndim != 4 or len(clean_images) == 0:
        raise ValueError(
            "`clean_images` must be a non-empty [N, H, W, C] array. "
            f"Received: clean_images.shape={clean_images.shape}"
        )
    images = tf.constant(clean_images)
    result = {}
    for name, masks in masks_by_bucket.items():
        masks = np.asarray(masks, dtype=np.float32)
        if masks.ndim != 4 or masks.shape[-1] != 1 or len(masks) == 0:
            raise ValueError(
                f"Masks of bucket {name!r} must be a non-empty [M, H, W, 1] array. "
                f"Received: masks.shape={masks.shape}"
            )
        if masks.shape[1:3] != clean_images.shape[1:3]:
            raise ValueError(
                f"Masks of bucket {name!r} are {masks.shape[1]}x{masks.shape[2]} but the clean "
                f"images are {clean_images.shape[1]}x{clean_images.shape[2]}. "
                f"Received: masks.shape={masks.shape}"
            )
        count = max(len(clean_images), len(masks))
        mask_tensor = tf.constant(masks)

        def pair(i, mask_tensor=mask_tensor):
            clean = tf.gather(images, i % len(clean_images))
            mask = tf.gather(mask_tensor, i % mask_tensor.shape[0])
            return {"image": degrade(clean, mask), "mask": mask}, clean

        ds = tf.data.Dataset.range(count).map(
            pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        result[name] = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return result


def denoising_pipeline(clean_ds, degradation, batch_size, seed, training=True):
    """Pairs clean crops with degraded copies (noise, dithering, dropout...) and batches them.

    Example k is degraded with the seed ``fold_in((seed, SALT_DEGRADATION), k)``, so the stream
    is deterministic per (seed, example index) like `inpainting_pipeline`; give each replica's
    pipeline its own ``seed``. Degradations that ignore the seed (`Degradation.batchable`:
    quantization, dithering) are applied to whole batches, which amortises dithering's per-call
    NumPy overhead.

    Args:
        clean_ds: Dataset of float32 [H, W, C] clean images (e.g. `ImageSource.train()`).
        degradation: A `hint.datasets.degradations.Degradation`, a kind name (``"gaussian"``) or a
            ``{"kind": ..., **params}`` dict (e.g. a YAML section).
        batch_size: Examples per batch.
        seed: Integer seed of the degradations.
        training: ``True`` drops the last partial batch (static batch shape); ``False`` keeps
            it (validation: each crop then always gets the same degradation). Defaults to
            ``True``.

    Returns:
        Dataset of ``({"image": degraded, "noise_level": sigma_map}, clean)`` with degraded /
        clean float32 [B, H, W, C] and sigma_map float32 [B, H, W, 1] (per-pixel noise standard
        deviation in [0, 1] units); kind ``"dropout"`` adds ``"mask"`` [B, H, W, 1] (1 = dropped).

    Example:

    >>> train, val = image_sources(None, 40, channels=1, seed=1, flips="both")
    >>> ds = denoising_pipeline(train, {"kind": "gaussian", "sigma_range": [0, 55]}, 128, seed=1)
    """
    _check_batch_size(batch_size)
    _seeds.check_seed(seed)
    spec = clean_ds.element_spec
    if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 3:
        raise ValueError(
            "`clean_ds` must yield single float32 [H, W, C] images. "
            f"Received: clean_ds.element_spec={spec!r}"
        )
    degradation = as_degradation(degradation)
    base = _seeds.base_seed(seed, SALT_DEGRADATION)

    def pack(outputs, clean):
        inputs = {"image": outputs[0], "noise_level": outputs[1]}
        if len(outputs) > 2:
            inputs["mask"] = outputs[2]
        return inputs, clean

    auto = tf.data.AUTOTUNE
    if getattr(degradation, "batchable", False):
        ds = clean_ds.batch(batch_size, drop_remainder=training)
        ds = ds.map(
            lambda clean: pack(degradation(clean, base), clean),
            num_parallel_calls=auto,
            deterministic=True,
        )
    else:
        ds = clean_ds.enumerate().map(
            lambda k, clean: pack(degradation(clean, _seeds.fold_in(base, k)), clean),
            num_parallel_calls=auto,
            deterministic=True,
        )
        ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(auto)

"""Image-quality metrics for inpainting and denoising: PSNR, SSIM, MAE, MSE.

All functions take batches `[N, H, W, C]` (C = 1 or 3) of float32 images in [0, 1] and return
one value per image (a float32 tensor of shape `[N]`). For inpainting, metrics are reported on
the composite `composite(prediction, image, mask)`, as in the HINT paper.

PSNR and SSIM are `tf.image.psnr` / `tf.image.ssim` with `max_val=1` and the `tf.image` SSIM
defaults (11x11 Gaussian window, sigma 1.5, k1 0.01, k2 0.03, 'valid' filtering, per-channel
SSIM averaged over channels). They match `skimage.metrics.peak_signal_noise_ratio(data_range=1)`
and `skimage.metrics.structural_similarity(data_range=1, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, channel_axis=-1)`: scikit-image filters with reflect padding and
then crops `(win_size - 1) // 2 = 5` pixels on every side before averaging, which is exactly the
'valid' region TensorFlow uses, so the only difference is float32 vs float64 round-off
(measured on 64x64 gray and RGB, random and smooth images: |dPSNR| < 1e-5 dB,
|dSSIM| < 3e-6; see `tests/test_metrics.py`). scikit-image's DEFAULT SSIM (uniform 7x7 window)
is a different metric (~3e-4 apart on noisy images). Images must be at least 11x11 for SSIM.
Identical images have an infinite PSNR.

Reference:
    Wang, Bovik, Sheikh, Simoncelli, "Image Quality Assessment: From Error Visibility to
    Structural Similarity", IEEE TIP 2004.
"""

import keras
import numpy as np
import tensorflow as tf

SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DEFAULT_BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6))


def _batch(x, name):
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 4:
        raise ValueError(f"`{name}` must be a batch [N, H, W, C]. Received: shape={x.shape}")
    return tf.cast(x, tf.float32)


def composite(prediction, image, mask):
    """Pastes the prediction into the holes: `prediction * mask + image * (1 - mask)`.

    Args:
        prediction: Generator outputs `[N, H, W, C]`.
        image: Ground-truth images `[N, H, W, C]`.
        mask: Masks `[N, H, W, 1]`, 1 = hole.

    Returns:
        The float32 composite `[N, H, W, C]`.

    Example:
        >>> scores = psnr(composite(outputs, images, masks), images)
    """
    prediction = tf.cast(prediction, tf.float32)
    image = tf.cast(image, tf.float32)
    mask = tf.cast(mask, tf.float32)
    return prediction * mask + image * (1.0 - mask)


def psnr(a, b, max_val=1.0):
    """Peak signal-to-noise ratio in dB per image (`tf.image.psnr`).

    Args:
        a: Images `[N, H, W, C]` in [0, 1].
        b: Images of the same shape.
        max_val: Dynamic range. Defaults to `1.0`.

    Returns:
        `[N]` float32 (`inf` for identical images).

    Example:
        >>> psnr(outputs, images)  # shape [N]
    """
    return tf.image.psnr(_batch(a, "a"), _batch(b, "b"), max_val=max_val)


def ssim(a, b, max_val=1.0):
    """Structural similarity per image (`tf.image.ssim`, Gaussian 11x11, sigma 1.5).

    Args:
        a: Images `[N, H, W, C]` in [0, 1], H and W at least 11.
        b: Images of the same shape.
        max_val: Dynamic range. Defaults to `1.0`.

    Returns:
        `[N]` float32, the mean over channels of each channel's mean SSIM.

    Example:
        >>> ssim(outputs, images)  # shape [N]
    """
    return tf.image.ssim(
        _batch(a, "a"),
        _batch(b, "b"),
        max_val=max_val,
        filter_size=SSIM_FILTER_SIZE,
        filter_sigma=SSIM_FILTER_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )


def mae(a, b):
    """Mean absolute error per image.

    Args:
        a: Images `[N, H, W, C]`.
        b: Images of the same shape.

    Returns:
        `[N]` float32.
    """
    return tf.reduce_mean(tf.abs(_batch(a, "a") - _batch(b, "b")), axis=[1, 2, 3])


def mse(a, b):
    """Mean squared error per image.

    Args:
        a: Images `[N, H, W, C]`.
        b: Images of the same shape.

    Returns:
        `[N]` float32.
    """
    return tf.reduce_mean(tf.square(_batch(a, "a") - _batch(b, "b")), axis=[1, 2, 3])


class _MeanImageMetric(keras.metrics.Metric):
    """Mean of a per-image metric over every image seen since the last reset."""

    _fn = None

    def __init__(self, max_val=1.0, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.max_val = max_val
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = type(self)._fn(y_pred, y_true, max_val=self.max_val)
        if sample_weight is None:
            weights = tf.ones_like(values)
        else:
            weights = tf.broadcast_to(
                tf.reshape(tf.cast(sample_weight, tf.float32), [-1]), tf.shape(values)
            )
        self.total.assign_add(tf.cast(tf.reduce_sum(values * weights), self.total.dtype))
        self.count.assign_add(tf.cast(tf.reduce_sum(weights), self.count.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "max_val": self.max_val}


@keras.saving.register_keras_serializable(package="hint")
class PSNRMetric(_MeanImageMetric):
    """Mean PSNR (dB) over the images seen, for training logs.

    Args:
        max_val: Dynamic range. Defaults to `1.0`.
        name: Metric name. Defaults to `"psnr"`.
        dtype: Metric dtype. Defaults to `None` (float32).

    Example:
        >>> model.compile(..., metrics=[PSNRMetric(), SSIMMetric()])
    """

    _fn = staticmethod(psnr)

    def __init__(self, max_val=1.0, name="psnr", dtype=None):
        super().__init__(max_val=max_val, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="hint")
class SSIMMetric(_MeanImageMetric):
    """Mean SSIM over the images seen, for training logs.

    Args:
        max_val: Dynamic range. Defaults to `1.0`.
        name: Metric name. Defaults to `"ssim"`.
        dtype: Metric dtype. Defaults to `None` (float32).

    Example:
        >>> model.compile(..., metrics=[PSNRMetric(), SSIMMetric()])
    """

    _fn = staticmethod(ssim)

    def __init__(self, max_val=1.0, name="ssim", dtype=None):
        super().__init__(max_val=max_val, name=name, dtype=dtype)


def summarise(per_image):
    """Means of per-image metric values.

    Args:
        per_image: Dict `metric name -> sequence / array / tensor of per-image values`.

    Returns:
        Dict `metric name -> float` (NaN for an empty sequence).

    Example:
        >>> summarise({"psnr": [30.0, 32.0], "ssim": [0.9, 0.8]})
        {'psnr': 31.0, 'ssim': 0.85}
    """
    means = {}
    for name, values in per_image.items():
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        means[name] = float(array.mean()) if array.size else float("nan")
    return means


def bucket_label(low, high):
    """`(0.2, 0.4) -> "20-40%"`."""
    return f"{round(low * 100)}-{round(high * 100)}%"


def bucket_of(hole_ratio, buckets=DEFAULT_BUCKETS):
    """Names the hole-ratio bucket of one mask.

    Buckets are half-open `[low, high)`, except that the last one also includes its upper
    bound, so with the defaults 0.2 is "20-40%" and 0.6 is "40-60%".

    Args:
        hole_ratio: Fraction of hole pixels, a float in [0, 1].
        buckets: Sorted `(low, high)` pairs. Defaults to `((0, 0.2), (0.2, 0.4), (0.4, 0.6))`.

    Returns:
        A label such as `"20-40%"`, or `None` outside every bucket.

    Example:
        >>> bucket_of(0.25)
        '20-40%'
    """
    ratio = float(hole_ratio)
    for index, (low, high) in enumerate(buckets):
        last = index == len(buckets) - 1
        if low <= ratio < high or (last and ratio == high):
            return bucket_label(low, high)
    return None

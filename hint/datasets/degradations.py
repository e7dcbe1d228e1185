"""Noise and other degradations for denoising / restoration, as tf.data map functions.

Every degradation is a callable ``degradation(clean, seed) -> (degraded, noise_level)``:

- ``clean``: float32 [H, W, C] in [0, 1] (one example; see "Batches" below);
- ``seed``: a [2] integer seed tensor, e.g. ``_seeds.fold_in(base, example_index)``. Random
  draws are stateless TF ops keyed by it, so the output is a pure function of (clean, seed):
  identical for a seed, different per example and per replica (give each pipeline its own seed),
  independent of the global TF seed and of the number of parallel calls;
- ``degraded``: float32 [H, W, C];
- ``noise_level``: float32 [H, W, 1], a per-pixel noise standard deviation in [0, 1] units for
  noise-level conditioned models (FFDNet's noise map). For Gaussian noise it is ``sigma / 255``
  everywhere; for the other kinds it is the documented equivalent below, computed from the clean
  image (the exact value at training time; at test time pass an estimate).

``"dropout"`` also returns the dropped-pixel mask: ``(degraded, noise_level, mask)`` with mask
float32 [H, W, 1], 1 = dropped (the project's hole convention).

Kinds (`make_degradation(kind, **params)`; ``params`` are the YAML keys):

- ``"gaussian"``: additive white Gaussian noise ``clean + n``, n ~ N(0, (sigma / 255)^2), i.i.d.
  per pixel and channel. ``sigma`` (0-255 units, like the literature; converted once) or
  ``sigma_range: [lo, hi]`` (sigma uniform per example, for blind training as DnCNN-B's
  [0, 55]; when given it takes precedence over ``sigma``). ``clip: false`` by default, the
  benchmark convention (the noisy values are not clipped to [0, 1]); ``clip: true`` clips (the
  noise map still says sigma / 255). Noise level: sigma / 255.
- ``"poisson"``: shot noise, ``Poisson(clean * peak) / peak``; ``peak`` is the photon count of a
  white pixel (smaller = noisier). Noise level: ``sqrt(clean / peak)`` (the Poisson standard
  deviation; RMS over channels).
- ``"salt_pepper"``: each value (pixel and channel independently, as scikit-image's
  ``random_noise``) is replaced with probability ``amount`` by 1 (with probability
  ``salt_vs_pepper``) or 0. Noise level: the RMS error expected given the clean value,
  ``sqrt(amount * (s (1 - x)^2 + (1 - s) x^2))`` (RMS over channels).
- ``"speckle"``: multiplicative Gaussian noise ``clean + clean * n``, n ~ N(0, (sigma / 255)^2),
  i.e. ``sigma`` is the standard deviation at a white pixel in 0-255 units (``sigma_range`` as
  for "gaussian"; ``clip`` likewise). Noise level: ``clean * sigma / 255`` (RMS over channels).
- ``"quantization"``: rounding to ``2^bits`` levels, ``round(x * L) / L`` with L = 2^bits - 1.
  Deterministic (the seed is not used). Noise level: ``(1 / L) / sqrt(12)`` everywhere, the
  standard deviation of a uniform rounding error.
- ``"dither"``: Floyd-Steinberg error-diffusion dithering to ``2^bits`` levels (the "error
  diffusion dithering" noise of the DnCNN student report: each pixel is quantized, and its error
  is passed on to the unvisited neighbours with weights 7/16 right, 3/16 below-left, 5/16 below,
  1/16 below-right; errors leaving the image are dropped). Deterministic (the seed is not used).
  Noise level: ``sqrt(p (1 - p)) / L`` with ``p = frac(x * L)``: dithering mostly picks one of
  the two levels around x, the upper one with frequency p (RMS over channels). Measured on the
  astronaut photograph it is within 0-15 % above the real RMS error (1 bit: 0.411 vs 0.408;
  4 bits: 0.027 vs 0.024).
- ``"dropout"``: Bernoulli pixel dropout (for reconstruction tasks such as Deep Image Prior's):
  each pixel (all its channels) is dropped with probability ``rate`` and set to ``fill``.
  Noise level: zeros (missing pixels are not noise; the mask says where they are).

Dithering is sequential (each pixel depends on the errors of already visited ones), so it runs
in NumPy behind ``tf.numpy_function`` (`floyd_steinberg`). It is vectorised along anti-diagonal
wavefronts: pixel (y, x) only needs its left, upper-left, upper and upper-right neighbours, so all
pixels with the same ``x + 2 y`` are processed at once (W + 2 (H - 1) NumPy steps instead of
H * W), and along every leading dimension and channel. Measured on this project's shared 2-core
CPU (4 bits): one 40x40 gray crop takes 1.8-3.5 ms (290-540 crops/s, depending on the load), a
batch of 32 such crops 2.4-4.3 ms (7,000-13,000 crops/s): the cost is per wavefront step, not
per pixel. Hence `Degradation.batchable`: `denoising_pipeline` applies deterministic
degradations after batching. See ``benchmarks/denoise_pipeline_throughput.py``.

Batches: the degradations also accept [..., H, W, C] inputs (the noise level is then
[..., H, W, 1]), but the seed, and so the random sigma of ``sigma_range``, is shared by the whole
batch; map them per example for per-example randomness.

Example:

>>> noise = make_degradation("gaussian", sigma_range=[0, 55])
>>> noisy, level = noise(clean, tf.constant([1, 2], tf.int64))     # [H, W, C], [H, W, 1]
>>> degradation_from_config({"kind": "dither", "bits": 2})
Dither(bits=2)

Reference: Zhang et al., "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
Denoising", IEEE TIP 2017 (sigma conventions, blind range 0-55); Zhang et al., "FFDNet: Toward a
Fast and Flexible Solution for CNN-Based Image Denoising", IEEE TIP 2018 (noise level maps);
Floyd and Steinberg, "An Adaptive Algorithm for Spatial Greyscale", Proc. SID 1976.
"""

import functools
import inspect
import math

import numpy as np
import tensorflow as tf

from hint.datasets import _seeds, masks

DEGRADATION_KINDS = (
    "gaussian",
    "poisson",
    "salt_pepper",
    "speckle",
    "quantization",
    "dither",
    "dropout",
)
"""Names accepted by `make_degradation(kind=...)`."""

SALT_DEGRADATION = 0x5EED_0D01
"""Seed salt of the per-example degradation seeds (see `hint.datasets._seeds`)."""

MAX_SIGMA = 255.0


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_number(name, value, low, high, low_open=False):
    bad = not _is_number(value) or not math.isfinite(value)
    if not bad:
        bad = value <= low if low_open else value < low
        bad = bad or (high is not None and value > high)
    if bad:
        lower = f"> {low}" if low_open else f">= {low}"
        upper = "" if high is None else f" and <= {high}"
        raise ValueError(f"`{name}` must be a number {lower}{upper}. Received: {name}={value!r}")
    return float(value)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be true or false. Received: {name}={value!r}")
    return value


def _check_bits(bits):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"`bits` must be an int in [1, 16]. Received: bits={bits!r}")
    return int(bits)


def _check_sigma(sigma, sigma_range, default):
    """(sigma, sigma_range) in 0-255 units, exactly one of them not None.

    A given ``sigma_range`` takes precedence over ``sigma`` (which is still validated), so a
    config that always carries a default ``sigma`` can switch to blind training by adding a range.
    """
    if sigma is not None:
        _check_number("sigma", sigma, 0.0, MAX_SIGMA)
    if sigma_range is None:
        return _check_number("sigma", default if sigma is None else sigma, 0.0, MAX_SIGMA), None
    if (
        not isinstance(sigma_range, (list, tuple))
        or len(sigma_range) != 2
        or not all(_is_number(v) and 0 <= v <= MAX_SIGMA for v in sigma_range)
        or sigma_range[0] > sigma_range[1]
    ):
        raise ValueError(
            f"`sigma_range` must be [lo, hi] with 0 <= lo <= hi <= {MAX_SIGMA:g} (0-255 units). "
            f"Received: sigma_range={sigma_range!r}"
        )
    return None, [float(sigma_range[0]), float(sigma_range[1])]


# --------------------------------------------------------------------------------------------
# Tensor helpers
# --------------------------------------------------------------------------------------------


def _level_like(image, value):
    """``value`` (a scalar) broadcast to float32 [..., H, W, 1] like ``image``."""
    return tf.ones_like(image[..., :1]) * tf.cast(value, tf.float32)


def _rms_over_channels(variance):
    """Per-pixel noise level [..., H, W, 1] from a per-value variance [..., H, W, C]."""
    return tf.sqrt(tf.reduce_mean(variance, axis=-1, keepdims=True))


def _sample_sigma(sigma, sigma_range, seed):
    """A scalar sigma in [0, 1] units: fixed, or uniform in ``sigma_range`` (already / 255)."""
    if sigma_range is None:
        return tf.constant(sigma, tf.float32)
    low, high = sigma_range
    return tf.random.stateless_uniform([], seed, minval=low, maxval=high, dtype=tf.float32)


# --------------------------------------------------------------------------------------------
# Floyd-Steinberg dithering (NumPy)
# --------------------------------------------------------------------------------------------


def floyd_steinberg(image, bits):
    """Floyd-Steinberg error-diffusion dithering of an image to ``2**bits`` levels (NumPy).

    Pixels are visited in raster order; each is rounded to the nearest of the levels
    ``k / L`` (L = 2**bits - 1, values clipped to [0, 1]) and its error is added to the
    unvisited neighbours with weights 7/16 (right), 3/16 (below left), 5/16 (below) and 1/16
    (below right); errors that would leave the image are dropped. Channels and leading
    dimensions are dithered independently.

    The loop runs over anti-diagonal wavefronts ``x + 2 y = t``: a pixel only depends on its
    left, upper-left, upper and upper-right neighbours, which all lie on earlier wavefronts, so
    the result equals the raster-order loop exactly while taking W + 2 (H - 1) vectorised steps.
    On the flattened, padded buffer every wavefront is a strided slice (step W), so each step is
    a handful of NumPy operations on views.

    Args:
        image: float array [..., H, W, C] (values nominally in [0, 1]).
        bits: Bits per value, 1-16.

    Returns:
        float32 array of the same shape with values in {0, 1/L, ..., 1}.

    Example:

    >>> floyd_steinberg(np.full((4, 4, 1), 0.5, np.float32), 1)[..., 0]  # a checkerboard
    array([[1., 0., 1., 0.],
           [0., 1., 0., 1.],
           [1., 0., 1., 0.],
           [0., 1., 0., 1.]], dtype=float32)
    """
    bits = _check_bits(bits)
    image = np.asarray(image, np.float32)
    if image.ndim < 3:
        raise ValueError(f"`image` must be [..., H, W, C]. Received: image.shape={image.shape!r}")
    *lead, height, width, channels = image.shape
    if image.size == 0:
        return image.copy()
    # [H, W, K]: every leading index and channel is one independent lane of the vector ops.
    lanes = np.moveaxis(image.reshape(-1, height, width, channels), 0, -2)
    lanes = lanes.reshape(height, width, -1)
    levels = np.float32(2**bits - 1)
    stride = width + 2  # one column of padding each side, one row below
    buffer = np.zeros((height + 1, stride, lanes.shape[-1]), np.float32)
    buffer[:height, 1 : width + 1] = lanes
    flat = buffer.reshape(-1, lanes.shape[-1])
    output = np.zeros_like(buffer)
    out_flat = output.reshape(flat.shape)
    weights = [np.float32(w / 16) for w in (7, 3, 5, 1)]
    offsets = (1, stride - 1, stride, stride + 1)
    for t in range(width + 2 * (height - 1)):
        first = max(0, -(-(t - (width - 1)) // 2))
        last = min(height - 1, t // 2)
        # Flat index of (y, x = t - 2y) is y * stride + x + 1 = y * width + t + 1.
        start, stop = first * width + t + 1, last * width + t + 2
        values = flat[start:stop:width]
        quantized = np.floor(values * levels + np.float32(0.5))
        np.clip(quantized, 0, levels, out=quantized)
        quantized /= levels
        error = values - quantized
        out_flat[start:stop:width] = quantized
        for offset, weight in zip(offsets, weights, strict=True):
            flat[start + offset : stop + offset : width] += error * weight
    result = output[:height, 1 : width + 1].reshape(height, width, -1, channels)
    return np.ascontiguousarray(np.moveaxis(result, -2, 0)).reshape(*lead, height, width, channels)


# --------------------------------------------------------------------------------------------
# Degradations
# --------------------------------------------------------------------------------------------


class Degradation:
    """Base class: ``degradation(clean, seed) -> (degraded, noise_level)``.

    Subclasses set `kind`, implement `_apply(image, seed)` and `get_config()` (the YAML keys
    without ``kind``). `batchable` is ``True`` for degradations that do not use the seed and
    treat every example of a batch independently, which `denoising_pipeline` may therefore apply
    to whole batches (faster for dithering).
    """

    kind = None
    batchable = False

    def __call__(self, image, seed):
        """Degrades float32 [..., H, W, C] ``image`` with the [2] int ``seed``."""
        image = tf.convert_to_tensor(image)
        if image.dtype != tf.float32:
            image = tf.cast(image, tf.float32)
        return self._apply(image, _seeds.as_seed(seed))

    def _apply(self, image, seed):
        raise NotImplementedError

    def get_config(self):
        """Constructor arguments (the YAML keys besides ``kind``)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, repr(self)))


class GaussianNoise(Degradation):
    """Additive white Gaussian noise (see the module docstring, kind ``"gaussian"``).

    Args:
        sigma: Standard deviation in 0-255 units. Defaults to ``None`` (25 when no
            ``sigma_range`` is given).
        sigma_range: ``[lo, hi]`` in 0-255 units: sigma uniform per example (blind training);
            takes precedence over ``sigma``. Defaults to ``None``.
        clip: Whether the noisy image is clipped to [0, 1]. Defaults to ``False``.

    Example:

    >>> noisy, level = GaussianNoise(sigma=25)(clean, seed)      # level == 25 / 255
    """

    kind = "gaussian"

    def __init__(self, sigma=None, sigma_range=None, clip=False):
        self.sigma, self.sigma_range = _check_sigma(sigma, sigma_range, 25.0)
        self.clip = _check_bool("clip", clip)
        # The one conversion from 0-255 units.
        self._sigma = None if self.sigma is None else self.sigma / 255.0
        self._range = None if self.sigma_range is None else [v / 255.0 for v in self.sigma_range]

    def _apply(self, image, seed):
        s = _seeds.split(seed, 2)
        sigma = _sample_sigma(self._sigma, self._range, s[0])
        noisy = image + sigma * tf.random.stateless_normal(tf.shape(image), s[1])
        if self.clip:
            noisy = tf.clip_by_value(noisy, 0.0, 1.0)
        return noisy, _level_like(image, sigma)

    def get_config(self):
        return {"sigma": self.sigma, "sigma_range": self.sigma_range, "clip": self.clip}


class PoissonNoise(Degradation):
    """Shot noise ``Poisson(clean * peak) / peak`` (kind ``"poisson"``).

    Args:
        peak: Expected photon count of a white pixel; the noise standard deviation at intensity
            x is ``sqrt(x / peak)``. Defaults to ``30.0``.
        clip: Whether the result is clipped to [0, 1] (it is never negative). Defaults to
            ``False``.

    Example:

    >>> noisy, level = PoissonNoise(peak=10)(clean, seed)        # level == sqrt(clean / 10)
    """

    kind = "poisson"

    def __init__(self, peak=30.0, clip=False):
        self.peak = _check_number("peak", peak, 0.0, None, low_open=True)
        self.clip = _check_bool("clip", clip)

    def _apply(self, image, seed):
        rate = tf.maximum(image, 0.0) * self.peak
        counts = tf.random.stateless_poisson(tf.shape(image), seed, rate, dtype=tf.float32)
        noisy = counts / self.peak
        if self.clip:
            noisy = tf.clip_by_value(noisy, 0.0, 1.0)
        return noisy, _rms_over_channels(rate / (self.peak * self.peak))

    def get_config(self):
        return {"peak": self.peak, "clip": self.clip}


class SaltPepperNoise(Degradation):
    """Impulse noise: values replaced by 1 or 0 (kind ``"salt_pepper"``).

    Args:
        amount: Probability that a value (pixel and channel) is replaced. Defaults to ``0.05``.
        salt_vs_pepper: Probability that a replaced value is 1 (salt) rather than 0.
            Defaults to ``0.5``.

    Example:

    >>> noisy, level = SaltPepperNoise(amount=0.1)(clean, seed)
    """

    kind = "salt_pepper"

    def __init__(self, amount=0.05, salt_vs_pepper=0.5):
        self.amount = _check_number("amount", amount, 0.0, 1.0)
        self.salt_vs_pepper = _check_number("salt_vs_pepper", salt_vs_pepper, 0.0, 1.0)

    def _apply(self, image, seed):
        s = _seeds.split(seed, 2)
        shape = tf.shape(image)
        hit = tf.random.stateless_uniform(shape, s[0]) < self.amount
        salt = tf.random.stateless_uniform(shape, s[1]) < self.salt_vs_pepper
        noisy = tf.where(hit, tf.cast(salt, tf.float32), image)
        p = self.salt_vs_pepper
        variance = self.amount * (p * tf.square(1.0 - image) + (1.0 - p) * tf.square(image))
        return noisy, _rms_over_channels(variance)

    def get_config(self):
        return {"amount": self.amount, "salt_vs_pepper": self.salt_vs_pepper}


class SpeckleNoise(GaussianNoise):
    """Multiplicative Gaussian noise ``clean + clean * n`` (kind ``"speckle"``).

    Args:
        sigma: Standard deviation of n times 255, i.e. the noise standard deviation at a white
            pixel in 0-255 units. Defaults to ``None`` (25 when no ``sigma_range`` is given).
        sigma_range: ``[lo, hi]``: sigma uniform per example; takes precedence over ``sigma``.
            Defaults to ``None``.
        clip: Whether the result is clipped to [0, 1]. Defaults to ``False``.

    Example:

    >>> noisy, level = SpeckleNoise(sigma=25)(clean, seed)      # level == clean * 25 / 255
    """

    kind = "speckle"

    def _apply(self, image, seed):
        s = _seeds.split(seed, 2)
        sigma = _sample_sigma(self._sigma, self._range, s[0])
        noisy = image + image * sigma * tf.random.stateless_normal(tf.shape(image), s[1])
        if self.clip:
            noisy = tf.clip_by_value(noisy, 0.0, 1.0)
        return noisy, _rms_over_channels(tf.square(image * sigma))


class Quantization(Degradation):
    """Rounding to ``2**bits`` levels (kind ``"quantization"``; deterministic).

    Args:
        bits: Bits per value, 1-16. Defaults to ``4``.

    Example:

    >>> coarse, level = Quantization(bits=3)(clean, seed)       # 8 levels
    """

    kind = "quantization"
    batchable = True

    def __init__(self, bits=4):
        self.bits = _check_bits(bits)

    def _apply(self, image, seed):
        del seed
        levels = float(2**self.bits - 1)
        quantized = tf.round(tf.clip_by_value(image, 0.0, 1.0) * levels) / levels
        return quantized, _level_like(image, 1.0 / levels / math.sqrt(12.0))

    def get_config(self):
        return {"bits": self.bits}


class Dither(Degradation):
    """Floyd-Steinberg error-diffusion dithering to ``2**bits`` levels (kind ``"dither"``).

    Runs `floyd_steinberg` (NumPy) through ``tf.numpy_function``; deterministic, so
    `denoising_pipeline` applies it to whole batches.

    Args:
        bits: Bits per value, 1-16. Defaults to ``4``.

    Example:

    >>> dithered, level = Dither(bits=1)(clean, seed)           # black and white
    """

    kind = "dither"
    batchable = True

    def __init__(self, bits=4):
        self.bits = _check_bits(bits)

    def _apply(self, image, seed):
        del seed
        dithered = tf.numpy_function(
            functools.partial(floyd_steinberg, bits=self.bits),
            [image],
            tf.float32,
            stateful=False,
            name="floyd_steinberg",
        )
        dithered = tf.ensure_shape(dithered, image.shape)
        levels = float(2**self.bits - 1)
        scaled = tf.clip_by_value(image, 0.0, 1.0) * levels
        frac = scaled - tf.floor(scaled)
        return dithered, _rms_over_channels(frac * (1.0 - frac)) / levels

    def get_config(self):
        return {"bits": self.bits}


class PixelDropout(Degradation):
    """Bernoulli pixel dropout (kind ``"dropout"``): returns (degraded, zeros, mask).

    Args:
        rate: Probability that a pixel (all its channels) is dropped, in [0, 1).
            Defaults to ``0.5``.
        fill: Value of the dropped pixels. Defaults to ``0.0``.

    Example:

    >>> sparse, level, mask = PixelDropout(rate=0.9)(clean, seed)    # mask: 1 = dropped
    """

    kind = "dropout"

    def __init__(self, rate=0.5, fill=0.0):
        self.rate = _check_number("rate", rate, 0.0, 1.0)
        if self.rate == 1.0:
            raise ValueError(f"`rate` must be below 1. Received: rate={rate!r}")
        self.fill = _check_number("fill", fill, 0.0, 1.0)

    def _apply(self, image, seed):
        shape = tf.shape(image[..., :1])
        mask = tf.cast(masks.pixel_dropout_mask(seed, shape, self.rate), tf.float32)
        degraded = image * (1.0 - mask) + self.fill * mask
        return degraded, tf.zeros_like(mask), mask

    def get_config(self):
        return {"rate": self.rate, "fill": self.fill}


_CLASSES = {
    cls.kind: cls
    for cls in (
        GaussianNoise,
        PoissonNoise,
        SaltPepperNoise,
        SpeckleNoise,
        Quantization,
        Dither,
        PixelDropout,
    )
}


def make_degradation(kind, **params):
    """Builds a degradation from its kind name and YAML parameters.

    Args:
        kind: One of `DEGRADATION_KINDS`.
        **params: The kind's parameters (see the module docstring and the classes).

    Returns:
        A `Degradation`.

    Raises:
        ValueError: unknown kind, unknown parameter or invalid value (the message ends
            "Received: name=value").

    Example:

    >>> make_degradation("gaussian", sigma_range=[0, 55])
    GaussianNoise(sigma=None, sigma_range=[0.0, 55.0], clip=False)
    """
    if kind not in _CLASSES:
        raise ValueError(f"`kind` must be one of {DEGRADATION_KINDS}. Received: kind={kind!r}")
    cls = _CLASSES[kind]
    valid = tuple(inspect.signature(cls).parameters)
    for name, value in params.items():
        if name not in valid:
            raise ValueError(
                f"Unknown parameter {name!r} for degradation kind {kind!r}; valid parameters are "
                f"{valid}. Received: {name}={value!r}"
            )
    return cls(**params)


def degradation_from_config(config):
    """`make_degradation` from a dict ``{"kind": ..., **params}`` (e.g. a YAML section)."""
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(
            f"A degradation config must be a dict with a 'kind' key. Received: config={config!r}"
        )
    params = dict(config)
    return make_degradation(params.pop("kind"), **params)


def degradation_config(degradation):
    """The YAML dict ``{"kind": ..., **params}`` of a degradation (inverse of the above)."""
    return {"kind": degradation.kind, **degradation.get_config()}


def as_degradation(value):
    """A `Degradation` from a degradation, a kind name or a ``{"kind": ...}`` dict."""
    if isinstance(value, Degradation):
        return value
    if isinstance(value, str):
        return make_degradation(value)
    if isinstance(value, dict):
        return degradation_from_config(value)
    if callable(value):  # any (image, seed) -> (degraded, noise_level[, mask]) callable
        return value
    raise ValueError(
        "`degradation` must be a Degradation, a kind name or a {'kind': ...} dict. "
        f"Received: degradation={value!r}"
    )

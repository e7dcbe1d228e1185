"""Training losses of HINT (and EdgeConnect, whose loss code HINT reuses).

Thin, plain-function wrappers over TF / Keras ops that reproduce the official PyTorch losses:

* `hole_l1`: L1 over the whole image divided by the mean of the mask.
* `perceptual_loss` and `style_loss` on VGG19 activations produced by `VGGFeatures`.
* `adversarial_loss`: "nsgan" | "lsgan" | "hinge" for a discriminator that outputs logits.

Every loss is computed in float32 (inputs are cast, so mixed-precision outputs are fine) and
returns either the mean over the replica-local batch (`reduction="mean"`, a scalar) or one value
per example (`reduction="none"`, shape `[N]`). These are plain functions, not
`keras.losses.Loss` objects, so no cross-replica scaling happens here. Under `tf.distribute`
the caller must scale by the GLOBAL batch, e.g.::

    per_example = hole_l1(images, outputs, masks, reduction="none")
    loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

which equals `mean(...) / num_replicas_in_sync` when every replica holds the same number of
examples. Summing `reduction="mean"` results over replicas without that division would
overcount the loss by `num_replicas_in_sync`.

References:
    Chen, Atapour-Abarghouei, Shum, "HINT: High-quality INpainting Transformer with Mask-Aware
    Encoding and Enhanced Attention", IEEE TMM 2024, https://arxiv.org/abs/2402.14185
    (official code: https://github.com/ChrisChen1023/HINT, `loss.py` and `src/models.py`).
    Nazeri et al., "EdgeConnect: Generative Image Inpainting with Adversarial Edge Learning",
    2019, https://arxiv.org/abs/1901.00212.
"""

import hashlib
import os
import socket

import keras
import tensorflow as tf

from hint import metrics as hint_metrics

VGG19_NOTOP_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_NOTOP_FILE
)
# The md5 `keras.applications.VGG19` checks for the no-top file.
VGG19_NOTOP_MD5 = "253f8cb515780f3b799900260a226db6"

# Names of the official PyTorch VGG19 wrapper -> Keras VGG19 layers (Keras convs include ReLU).
VGG_LAYERS = {
    "relu1_1": "block1_conv1",
    "relu2_1": "block2_conv1",
    "relu2_2": "block2_conv2",
    "relu3_1": "block3_conv1",
    "relu3_4": "block3_conv4",
    "relu4_1": "block4_conv1",
    "relu4_4": "block4_conv4",
    "relu5_1": "block5_conv1",
    "relu5_2": "block5_conv2",
}
PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
ADVERSARIAL_KINDS = ("nsgan", "lsgan", "hinge")
REDUCTIONS = ("mean", "none")


class VGGWeightsUnavailable(RuntimeError):
    """The VGG19 weights needed by the perceptual / style losses cannot be found or fetched."""


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"`reduction` must be one of {REDUCTIONS}. Received: reduction={reduction!r}"
        )


def _per_example_mean(x):
    """Mean over every axis but the first: `[N, ...] -> [N]`."""
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def _reduce(x, reduction):
    # Every example has the same number of elements, so the mean of per-example means is the
    # mean over all elements: "mean" and mean("none") agree exactly.
    per_example = _per_example_mean(x)
    return tf.reduce_mean(per_example) if reduction == "mean" else per_example


def hole_l1(y_true, y_pred, mask, reduction="mean", epsilon=1e-6, valid_weight=1.0):
    """L1 reconstruction loss normalised by the hole ratio, as in official HINT.

    Official: `L1Loss()(outputs, images) / torch.mean(masks)`: the mean absolute error over the
    WHOLE image (holes and valid pixels alike) divided by the mean of the mask over the batch,
    which up-weights the loss of batches with small holes.

    The mask mean is clamped to at least `epsilon`, so an all-zero mask (no hole anywhere in the
    batch) yields a large but finite loss (`L1 / epsilon`) instead of `inf` / `NaN`. Masks with
    real holes are never affected: even one hole pixel in a 1024x1024 batch gives a mean of
    ~1e-6. Raise `epsilon` (e.g. to 1e-3) to bound the weight of nearly-empty masks.

    With `reduction="none"` each example's own mean absolute error is divided by the SAME
    batch-level mask mean, so the mean of the returned vector equals the `"mean"` result. Under
    `tf.distribute` that mask mean is the replica-local one (the official code, run with
    `DataParallel`, used the global batch); the two differ only when replicas get holes of
    different total size.

    `valid_weight` scales the error of the known pixels (1 = official). Known pixels are replaced
    by the input in the composite that is used and measured, yet with the official weighting
    they carry most of the loss when holes are small (85 % of it at a 15 % hole); a small model
    spends its capacity re-drawing them. Below 1 the loss concentrates on the hole; above 0 the
    raw output still tracks the image around the hole, which blending the fill in relies on.

    Args:
        y_true: Ground-truth images `[N, H, W, C]` in [0, 1].
        y_pred: Generator outputs, same shape.
        mask: Masks `[N, H, W, 1]` (or `[N, H, W, C]`), 1 = hole.
        reduction: `"mean"` (scalar over the replica-local batch) or `"none"` (shape `[N]`).
            Defaults to `"mean"`.
        epsilon: Lower bound of the mask mean. Defaults to `1e-6`.
        valid_weight: Weight of the error outside the hole, >= 0. Defaults to `1.0` (official).

    Returns:
        A float32 scalar or `[N]` vector.

    Example:
        >>> loss = hole_l1(images, outputs, masks)
    """
    _check_reduction(reduction)
    if valid_weight < 0:
        raise ValueError(f"`valid_weight` must be >= 0. Received: valid_weight={valid_weight}")
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    mask = tf.cast(mask, tf.float32)
    hole = tf.maximum(tf.reduce_mean(mask), epsilon)
    error = tf.abs(y_pred - y_true)
    if valid_weight != 1.0:
        error = error * (mask + valid_weight * (1.0 - mask))
    return _reduce(error, reduction) / hole


def ssim_loss(y_true, y_pred, reduction="mean"):
    """`1 - SSIM` per image (`hint.metrics.ssim`: the benchmarks' SSIM), on [0, 1].

    The structural similarity the benchmarks report, as a loss: unlike L1 it rewards a fill whose
    local means, contrasts and structure continue those around it. The inpainter applies it to
    the composite, so only the hole receives its gradient.

    Args:
        y_true: Ground-truth images `[N, H, W, C]` in [0, 1], H and W at least 11.
        y_pred: Images of the same shape.
        reduction: `"mean"` (scalar) or `"none"` (shape `[N]`). Defaults to `"mean"`.

    Returns:
        A float32 scalar or `[N]` vector in [0, 2].

    Example:
        >>> loss = ssim_loss(images, composite(outputs, images, masks))
    """
    _check_reduction(reduction)
    per_image = 1.0 - hint_metrics.ssim(tf.cast(y_pred, tf.float32), tf.cast(y_true, tf.float32))
    return tf.reduce_mean(per_image) if reduction == "mean" else per_image


def _keras_cache_dirs():
    """Folders where `keras.utils.get_file` keeps `models/` downloads (same rules as Keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [os.path.join(home, "models"), os.path.join("/tmp", ".keras", "models")]


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_vgg19_notop():
    """Path of a complete cached copy of the Keras VGG19 no-top weights, or None."""
    for folder in _keras_cache_dirs():
        path = os.path.join(folder, VGG19_NOTOP_FILE)
        if os.path.isfile(path) and _md5(path) == VGG19_NOTOP_MD5:
            return path
    return None


def _download_vgg19_notop(timeout):
    """Fetch the weights into the Keras cache; raises on any network or integrity failure."""
    # `get_file` uses urlretrieve, which has no timeout argument; the socket default bounds
    # every connect / read so an offline machine fails fast instead of hanging.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return keras.utils.get_file(
            VGG19_NOTOP_FILE, VGG19_NOTOP_URL, cache_subdir="models", file_hash=VGG19_NOTOP_MD5
        )
    finally:
        socket.setdefaulttimeout(previous)


def resolve_vgg_weights(spec, timeout=10.0):
    """Checks that the VGG19 weights are available, before any training starts.

    Args:
        spec: `"imagenet"` (the Keras ImageNet no-top weights, taken from the Keras cache
            `~/.keras/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` or downloaded
            there), a local path to that file (`.h5` or a `.weights.h5` saved from a Keras VGG19
            built with `include_top=False`), or `None` (random weights; tests only).
        timeout: Seconds each network operation of the download may stall before failing.
            Defaults to `10.0`.

    Returns:
        The value to pass as `VGGFeatures(weights=...)`: `"imagenet"`, an absolute path, or
        `None`.

    Raises:
        VGGWeightsUnavailable: `"imagenet"` is neither cached nor downloadable, or the local
            path does not exist. The message says how to fix the config.
        ValueError: `spec` is neither `None` nor a string / path.

    Example:
        >>> weights = resolve_vgg_weights(config["inpaint"]["loss"]["vgg_weights"])  # before fit()
        >>> vgg = VGGFeatures(weights=weights)
    """
    if spec is None:
        return None
    if not isinstance(spec, str | os.PathLike):
        raise ValueError(
            "`spec` must be 'imagenet', a path to the VGG19 weights file, or None. "
            f"Received: spec={spec!r}"
        )
    fix = (
        f"Either copy '{VGG19_NOTOP_FILE}' (the Keras VGG19 no-top weights, from "
        f"{VGG19_NOTOP_URL}) to this machine and set `inpaint.loss.vgg_weights: /path/to/"
        f"{VGG19_NOTOP_FILE}`, or disable the VGG losses with `inpaint.loss.perceptual: 0` and "
        "`inpaint.loss.style: 0`."
    )
    if spec == "imagenet":
        if _cached_vgg19_notop() is not None:
            return "imagenet"
        try:
            _download_vgg19_notop(timeout)
        except Exception as error:  # any failure (DNS, HTTP, timeout, hash) means unavailable
            raise VGGWeightsUnavailable(
                "The VGG19 ImageNet weights needed by the perceptual and style losses are not "
                f"in the Keras cache ({os.path.join(_keras_cache_dirs()[0], VGG19_NOTOP_FILE)}) "
                f"and could not be downloaded ({type(error).__name__}: {error}). {fix}"
            ) from error
        return "imagenet"
    path = os.path.abspath(os.path.expanduser(os.fspath(spec)))
    if not os.path.isfile(path):
        raise VGGWeightsUnavailable(
            "The VGG19 weights file given in `inpaint.loss.vgg_weights` does not exist: "
            f"{path}. {fix}"
        )
    return path


class VGGFeatures:
    """Frozen Keras VGG19 returning the activations used by the perceptual and style losses.

    Images in [0, 1] are mapped with `keras.applications.vgg19.preprocess_input(x * 255)`
    (RGB -> BGR, ImageNet mean subtracted, 0-255 scale), the input the Keras (Caffe-converted)
    weights expect. Single-channel images are repeated to three channels.

    Note: the official PyTorch code feeds raw [0, 1] images, without normalisation, to the
    torchvision VGG19, so feature magnitudes (hence the scale of the perceptual and style
    losses, and the meaning of the official loss weights 0.1 / 250) differ from these.

    The wrapped model is not a Keras layer on purpose: a task holding a `VGGFeatures` does not
    track the 20M frozen VGG weights, so they stay out of its checkpoints. Under
    `tf.distribute`, construct it inside `strategy.scope()`.

    Args:
        weights: `"imagenet"`, a path to the Keras VGG19 no-top weights file, or `None`
            (random initialisation; tests only). Checked with `resolve_vgg_weights`.
            Defaults to `"imagenet"`.
        layers: Names from `VGG_LAYERS` to return. Defaults to all of them (the union of
            `PERCEPTUAL_LAYERS` and `STYLE_LAYERS`).

    Call arguments:
        images: `[N, H, W, 3]` or `[N, H, W, 1]` in [0, 1], H and W at least 16.

    Returns (call):
        A dict `name -> [N, h, w, c]` activations.

    Example:
        >>> vgg = VGGFeatures(weights=resolve_vgg_weights("imagenet"))
        >>> loss = perceptual_loss(vgg(images), vgg(outputs))

    Reference:
        Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
        Recognition", ICLR 2015.
    """

    def __init__(self, weights="imagenet", layers=tuple(VGG_LAYERS)):
        unknown = [name for name in layers if name not in VGG_LAYERS]
        if unknown:
            raise ValueError(
                f"`layers` must be names from {tuple(VGG_LAYERS)}. Received: {layers=}"
            )
        self.weights = resolve_vgg_weights(weights)
        self.layers = tuple(layers)
        base = keras.applications.VGG19(
            include_top=False, weights=self.weights, input_shape=(None, None, 3)
        )
        # Only the layers up to the deepest requested output are kept in the sub-model.
        self.model = keras.Model(
            base.input,
            {name: base.get_layer(VGG_LAYERS[name]).output for name in self.layers},
            name="vgg19_features",
        )
        self.model.trainable = False

    def __call__(self, images):
        x = tf.cast(images, tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)
        x = keras.applications.vgg19.preprocess_input(x * 255.0)
        return self.model(x, training=False)


def perceptual_loss(
    features_true, features_pred, weights=(1.0, 1.0, 1.0, 1.0, 1.0), reduction="mean"
):
    """Perceptual (content) loss: weighted L1 between VGG19 activations.

    Official: `sum_i w_i * L1(vgg(output)[relu{i}_1], vgg(image)[relu{i}_1])`, i = 1..5.

    Args:
        features_true: Dict from `VGGFeatures` for the ground truth.
        features_pred: Dict from `VGGFeatures` for the generator output.
        weights: Five weights for relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
            Defaults to `(1.0, 1.0, 1.0, 1.0, 1.0)`.
        reduction: `"mean"` or `"none"` (per example). Defaults to `"mean"`.

    Returns:
        A float32 scalar or `[N]` vector.

    Example:
        >>> loss = perceptual_loss(vgg(images), vgg(outputs))

    Reference:
        Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """
    _check_reduction(reduction)
    if len(weights) != len(PERCEPTUAL_LAYERS):
        raise ValueError(
            f"`weights` needs one value per layer of {PERCEPTUAL_LAYERS}. Received: {weights=}"
        )
    total = 0.0
    for weight, name in zip(weights, PERCEPTUAL_LAYERS, strict=True):
        a = tf.cast(features_true[name], tf.float32)
        b = tf.cast(features_pred[name], tf.float32)
        total += weight * _reduce(tf.abs(b - a), reduction)
    return total


def gram_matrix(features):
    """Gram matrix `f^T f / (h * w * c)` of `[N, h, w, c]` activations -> `[N, c, c]`."""
    x = tf.cast(features, tf.float32)
    shape = tf.shape(x)
    f = tf.reshape(x, [shape[0], shape[1] * shape[2], shape[3]])
    size = tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
    return tf.matmul(f, f, transpose_a=True) / size


def style_loss(features_true, features_pred, reduction="mean"):
    """Style loss: L1 between Gram matrices of relu2_2, relu3_4, relu4_4 and relu5_2, summed.

    The official code computes it on `output * mask` against `image * mask` (holes only); this
    function does no masking: the caller passes the VGG features of the masked images.

    Args:
        features_true: Dict from `VGGFeatures` for the (masked) ground truth.
        features_pred: Dict from `VGGFeatures` for the (masked) generator output.
        reduction: `"mean"` or `"none"` (per example). Defaults to `"mean"`.

    Returns:
        A float32 scalar or `[N]` vector.

    Example:
        >>> loss = style_loss(vgg(images * masks), vgg(outputs * masks))

    Reference:
        Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
        CVPR 2016.
    """
    _check_reduction(reduction)
    total = 0.0
    for name in STYLE_LAYERS:
        diff = gram_matrix(features_pred[name]) - gram_matrix(features_true[name])
        total += _reduce(tf.abs(diff), reduction)
    return total


def adversarial_loss(logits, target_is_real, for_discriminator, kind="lsgan", reduction="mean"):
    """GAN loss of official HINT / EdgeConnect, for a discriminator that outputs LOGITS.

    The official discriminator applies a sigmoid for "nsgan" and "lsgan" and returns raw
    scores for "hinge"; here the discriminator always returns logits and the sigmoid is part of
    the loss:

    * "nsgan": binary cross-entropy of `sigmoid(logits)` against the label (1 real, 0 fake),
      computed stably from the logits (PyTorch's `BCELoss` clamps each log at -100 instead).
    * "lsgan": mean squared error of `sigmoid(logits)` against the label.
    * "hinge": discriminator: `mean(relu(1 - logits))` for real, `mean(relu(1 + logits))` for
      fake; generator: `-mean(logits)` (`target_is_real` is ignored, as in the official code).

    The generator's non-hinge loss is the same call as the discriminator's on real targets:
    `adversarial_loss(d(fake), target_is_real=True, for_discriminator=False)`.

    Args:
        logits: Discriminator outputs, e.g. PatchGAN maps `[N, h, w, 1]`.
        target_is_real: Python bool, whether the target label is "real".
        for_discriminator: Python bool, whether this is the discriminator's loss (only matters
            for "hinge").
        kind: `"nsgan"`, `"lsgan"` or `"hinge"`. Defaults to `"lsgan"` (the HINT config).
        reduction: `"mean"` or `"none"` (per example). Defaults to `"mean"`.

    Returns:
        A float32 scalar or `[N]` vector.

    Example:
        >>> d_loss = 0.5 * (adversarial_loss(d(images), True, True)
        ...                 + adversarial_loss(d(outputs), False, True))
        >>> g_adv = adversarial_loss(d(outputs), True, False)

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (nsgan); Mao et al.,
        "Least Squares Generative Adversarial Networks", ICCV 2017; Lim & Ye, "Geometric GAN",
        2017 (hinge).
    """
    if kind not in ADVERSARIAL_KINDS:
        raise ValueError(f"`kind` must be one of {ADVERSARIAL_KINDS}. Received: kind={kind!r}")
    _check_reduction(reduction)
    logits = tf.cast(logits, tf.float32)
    if kind == "hinge":
        if not for_discriminator:
            return _reduce(-logits, reduction)
        sign = -1.0 if target_is_real else 1.0
        return _reduce(tf.nn.relu(1.0 + sign * logits), reduction)
    labels = tf.fill(tf.shape(logits), 1.0 if target_is_real else 0.0)
    if kind == "nsgan":
        values = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    else:
        values = tf.square(tf.sigmoid(logits) - labels)
    return _reduce(values, reduction)

"""LPIPS (VGG16, v0.1): the learned perceptual distance, as the `lpips` package computes it."""

from __future__ import annotations

import os
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from hint.precision import precision_policy
from hint.torch_weights import WeightsError, conv_kernel, read_state_dict, take
from hint.validation import is_int

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
LINEAR_WEIGHTS_HINT = (
    "on a connected machine, `pip download lpips --no-deps` and take lpips/weights/v0.1/vgg.pth "
    "out of the wheel (a zip file)"
)
VGG_WEIGHTS_HINT = f"download {VGG16_URL} (torchvision's ImageNet VGG16) on a connected machine"

# (index in torchvision's `vgg16().features`, Keras VGG16 layer, in channels, out channels).
VGG16_CONVS = (
    (0, "block1_conv1", 3, 64),
    (2, "block1_conv2", 64, 64),
    (5, "block2_conv1", 64, 128),
    (7, "block2_conv2", 128, 128),
    (10, "block3_conv1", 128, 256),
    (12, "block3_conv2", 256, 256),
    (14, "block3_conv3", 256, 256),
    (17, "block4_conv1", 256, 512),
    (19, "block4_conv2", 512, 512),
    (21, "block4_conv3", 512, 512),
    (24, "block5_conv1", 512, 512),
    (26, "block5_conv2", 512, 512),
    (28, "block5_conv3", 512, 512),
)
# relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: Keras' convolutions include their ReLU.
FEATURE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
FEATURE_CHANNELS = (64, 128, 256, 512, 512)

# lpips.lpips.ScalingLayer (v0.1), on images in [-1, 1]: ImageNet's mean and std, rescaled.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# lpips.normalize_tensor's default.
EPS = 1e-10
# Four 2x2 poolings come before relu5_3: smaller images leave it no pixel to average.
MIN_SIDE = 16


class LPIPSNetwork(keras.Model):
    """LPIPS distance with the VGG16 trunk, version 0.1, on images in [0, 1].

    The perceptual distance of Zhang et al., computed as `lpips.LPIPS(net="vgg",
    version="0.1")(a, b, normalize=True)` does, with its published weights:

    1. images in [0, 1] go to [-1, 1] (`2x - 1`); gray images are repeated to three channels
       (the broadcast in lpips' scaling layer does the same to a one-channel tensor);
    2. `(x - shift) / scale` with shift `(-.030, -.088, -.188)` and scale `(.458, .448, .450)`;
    3. VGG16 features after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 (64, 128, 256, 512,
       512 channels), from `keras.applications.VGG16` holding torchvision's ImageNet weights
       (torchvision's layout: 3x3 convolutions with zero padding 1, 2x2 max-pooling);
    4. each feature divided by its norm over the channels plus `1e-10`;
    5. the squared difference of the two images' normalised features, weighted over the
       channels by a 1x1 convolution to one channel without bias (the non-negative "lin"
       layers, `lin0` ... `lin4`), averaged over the pixels and summed over the five layers.

    The result is one distance per image pair: 0 for identical images, symmetric, never
    negative. The network computes in float32 whatever the global dtype policy (a distance must
    not depend on it), and its weights are frozen; gradients still flow to the images, so it
    can serve as a loss.

    Weights are never random: the constructor reads two PyTorch files (reading them needs
    PyTorch, see `hint.torch_weights`), or takes them already read as state dicts
    (name -> NumPy array, PyTorch shapes; also `from_state_dicts`), for example random ones in
    tests:

    - `vgg_weights`: torchvision's ImageNet VGG16, `vgg16-397923af.pth`; on a connected machine,
      download https://download.pytorch.org/models/vgg16-397923af.pth (or find it in the torch
      hub cache, `~/.cache/torch/hub/checkpoints/`). Only the `features.*` tensors are read.
    - `linear_weights`: the lpips package's `lpips/weights/v0.1/vgg.pth`; on a connected
      machine, `pip download lpips --no-deps` and take that file out of the wheel (a zip file).
      Tensors `lin0.model.1.weight` ... `lin4.model.1.weight`, of shape [1, C, 1, 1].

    Call arguments:
        inputs: A pair `(images_a, images_b)` of `[N, H, W, C]` batches in [0, 1], of the same
            size, C = 1 or 3 (known statically), H and W at least 16.

    Returns (call):
        float32 `[N]`: the distance of each pair.

    Args:
        vgg_weights: Path to torchvision's `vgg16-397923af.pth`, or its state dict.
        linear_weights: Path to lpips' `weights/v0.1/vgg.pth`, or its state dict.
        **kwargs: Base model keyword arguments, such as `name`.

    Raises:
        WeightsError: a weights file is missing or unreadable, lacks a tensor, has one of
            another shape, or has negative linear weights.

    Example:

    >>> lpips = LPIPSNetwork("weights/vgg16-397923af.pth", "weights/lpips_vgg_v0.1.pth")
    >>> lpips.distance(restored, clean)  # NumPy [N, H, W, C] in [0, 1] -> float32 [N]

    Reference:

    - [Zhang et al., 2018. The Unreasonable Effectiveness of Deep Features as a Perceptual
      Metric](https://arxiv.org/abs/1801.03924), CVPR 2018.
    - [Simonyan & Zisserman, 2015. Very Deep Convolutional Networks for Large-Scale Image
      Recognition](https://arxiv.org/abs/1409.1556), ICLR 2015.
    """

    def __init__(self, vgg_weights, linear_weights, **kwargs):
        vgg_state, vgg_source = _state_dict(vgg_weights, "vgg_weights", VGG_WEIGHTS_HINT)
        linear_state, linear_source = _state_dict(
            linear_weights, "linear_weights", LINEAR_WEIGHTS_HINT
        )
        # Both files are checked before the VGG (14.7M parameters) is built: a wrong one fails fast.
        convs = {
            layer: (
                conv_kernel(take(vgg_state, f"features.{i}.weight", (out, cin, 3, 3), vgg_source)),
                take(vgg_state, f"features.{i}.bias", (out,), vgg_source),
            )
            for i, layer, cin, out in VGG16_CONVS
        }
        lins = []
        for k, channels in enumerate(FEATURE_CHANNELS):
            name = f"lin{k}.model.1.weight"
            weight = take(linear_state, name, (1, channels, 1, 1), linear_source)
            # lpips clamps them at 0 in training; a negative one could make a distance negative.
            if (weight < 0).any():
                raise WeightsError(
                    f"{linear_source}: tensor {name!r} has negative weights, which LPIPS never "
                    "has: is it the right file?"
                )
            lins.append(conv_kernel(weight))

        kwargs.setdefault("name", "lpips_vgg")
        super().__init__(dtype="float32", **kwargs)
        with precision_policy("float32"):
            vgg = keras.applications.VGG16(
                include_top=False, weights=None, input_shape=(None, None, 3)
            )
            for layer, weights in convs.items():
                vgg.get_layer(layer).set_weights(list(weights))
            # Only up to relu5_3: the last pooling is not part of LPIPS.
            self.features = keras.Model(
                vgg.input,
                [vgg.get_layer(layer).output for layer in FEATURE_LAYERS],
                name="vgg16_features",
            )
            self.lins = []
            for k, (channels, kernel) in enumerate(zip(FEATURE_CHANNELS, lins, strict=True)):
                lin = keras.layers.Conv2D(1, 1, use_bias=False, name=f"lin{k}")
                lin.build((None, None, None, channels))
                lin.set_weights([kernel])
                self.lins.append(lin)
        self.trainable = False
        self.built = True

    @classmethod
    def from_state_dicts(cls, vgg_state, linear_state, **kwargs):
        """The network from state dicts already read (name -> NumPy array, PyTorch names and
        shapes), for example random ones in tests; the constructor also takes them.

        Args:
            vgg_state: torchvision's VGG16 tensors, `features.{0, 2, ..., 28}.weight / .bias`.
            linear_state: lpips' tensors `lin0.model.1.weight` ... `lin4.model.1.weight`.
            **kwargs: Base model keyword arguments, such as `name`.
        """
        for argument, state in (("vgg_state", vgg_state), ("linear_state", linear_state)):
            if not isinstance(state, Mapping):
                raise ValueError(
                    f"`{argument}` must be a state dict (name -> array). "
                    f"Received: {argument}={type(state).__name__}"
                )
        return cls(vgg_state, linear_state, **kwargs)

    def call(self, inputs):
        images_a, images_b = _pair(inputs)
        a = _scaled(images_a, "images_a")
        b = _scaled(images_b, "images_b")
        if not a.shape[1:3].is_compatible_with(b.shape[1:3]):
            raise ValueError(
                "`images_a` and `images_b` must have the same height and width. "
                f"Received: images_a.shape={images_a.shape}, images_b.shape={images_b.shape}"
            )
        count = tf.shape(a)[0]
        # One VGG pass over both batches: half the kernel launches of two.
        features = self.features(tf.concat([a, b], axis=0), training=False)
        total = tf.zeros([count], tf.float32)
        for feature, lin in zip(features, self.lins, strict=True):
            norm = tf.sqrt(tf.reduce_sum(tf.square(feature), axis=-1, keepdims=True))
            unit = feature / (norm + EPS)
            difference = tf.square(unit[:count] - unit[count:])
            total += tf.reduce_mean(lin(difference), axis=[1, 2, 3])
        return total

    def distance(self, a, b, batch_size=8):
        """LPIPS of each pair of images of two NumPy batches.

        Args:
            a: Images `[N, H, W, C]` in [0, 1], C = 1 or 3, H and W at least 16.
            b: Images of the same shape.
            batch_size: Pairs per network call. Defaults to `8`.

        Returns:
            float32 NumPy `[N]`.
        """
        if not is_int(batch_size):
            raise ValueError(f"`batch_size` must be a positive int. Received: {batch_size=!r}")
        a = np.asarray(a, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        if a.shape != b.shape:
            raise ValueError(
                f"`a` and `b` must have the same shape. Received: a.shape={a.shape}, "
                f"b.shape={b.shape}"
            )
        _check_shape(a.shape, "a")
        if len(a) == 0:
            return np.zeros([0], np.float32)
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(self((a[i : i + batch_size], b[i : i + batch_size])))
                for i in range(0, len(a), batch_size)
            ]
        )


def _state_dict(weights, argument, where):
    """`(state dict, name for messages)` from a path or an already-read state dict."""
    if isinstance(weights, Mapping):
        return weights, f"the `{argument}` state dict"
    if not isinstance(weights, str | os.PathLike):
        raise ValueError(
            f"`{argument}` must be a path to a PyTorch file or a state dict (name -> array). "
            f"Received: {argument}={type(weights).__name__}"
        )
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise WeightsError(f"LPIPS `{argument}` file not found: {path}. Get it: {where}.")
    return read_state_dict(path), path


def _pair(inputs):
    if not isinstance(inputs, list | tuple) or len(inputs) != 2:
        raise ValueError(
            "`inputs` must be a pair (images_a, images_b). "
            f"Received: inputs={type(inputs).__name__}"
        )
    return inputs


def _check_shape(shape, name):
    shape = tuple(shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must be a batch [N, H, W, C] with C = 1 or 3. Received: {name}.shape={shape}"
        )
    if any(side is not None and side < MIN_SIDE for side in shape[1:3]):
        raise ValueError(
            f"`{name}` must be at least {MIN_SIDE}x{MIN_SIDE} (VGG16 pools it 4 times before "
            f"relu5_3). Received: {name}.shape={shape}"
        )


def _scaled(images, name):
    """Images in [0, 1] as LPIPS v0.1 gives them to VGG16: RGB, `(2x - 1 - shift) / scale`."""
    x = tf.cast(images, tf.float32)
    _check_shape(x.shape, name)
    if x.shape[-1] == 1:
        x = tf.repeat(x, 3, axis=-1)
    return (2.0 * x - 1.0 - tf.constant(SHIFT)) / tf.constant(SCALE)

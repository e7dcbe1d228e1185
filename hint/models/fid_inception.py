"""The Inception network of the Fréchet Inception Distance, rebuilt in Keras.

Published FID numbers come from one network: TensorFlow's Inception graph of 2015-12-05, the one
Heusel et al. used, which `pytorch-fid` ships converted to PyTorch
(`pt_inception-2015-12-05-6726825d.pth`). It is not Keras' ImageNet `InceptionV3`: its weights
differ, and so does its structure in three places (the average pools of the A, C and first E
blocks leave the padding out of the mean, the second E block pools by maximum, and batch norm
has a scale). `FIDInceptionV3` has that structure, takes its weights from that file by their
PyTorch names, and returns the 2048 pool features FID and KID are computed on.

Obtaining the weights (on a machine with network access)::

    wget https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

Reading them needs PyTorch (`pip install -e ".[torch]"`).

References:
    Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, "GANs Trained by a Two Time-Scale
    Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.
    Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture for
    Computer Vision", CVPR 2016.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np

from hint import torch_weights

INPUT_SIZE = 299
FEATURES = 2048
BN_EPSILON = 1e-3
PUBLISHED_SHA256_PREFIX = "6726825d"
"""The start of the SHA-256 of pytorch-fid's file (its name carries it): the weights published
FID numbers are computed with."""


def _conv(x, name, filters, kernel, strides=1, padding="valid"):
    """Conv (no bias) + batch norm + ReLU: torchvision's `BasicConv2d`, named as in PyTorch."""
    x = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, use_bias=False, name=name + ".conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name + ".bn")(x)
    return keras.layers.ReLU(name=name + ".relu")(x)


def _average_pool(x, name):
    # TensorFlow's "same" average pool leaves the padding out of the count, which is exactly
    # the FID network's patch (`count_include_pad=False`) of torchvision's pooling.
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _block_a(x, name, pool_features):
    b1 = _conv(x, f"{name}.branch1x1", 64, 1)
    b5 = _conv(x, f"{name}.branch5x5_1", 48, 1)
    b5 = _conv(b5, f"{name}.branch5x5_2", 64, 5, padding="same")
    b3 = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    b3 = _conv(b3, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    b3 = _conv(b3, f"{name}.branch3x3dbl_3", 96, 3, padding="same")
    bp = _conv(_average_pool(x, f"{name}.pool"), f"{name}.branch_pool", pool_features, 1)
    return keras.layers.Concatenate(name=name)([b1, b5, b3, bp])


def _block_b(x, name):
    b3 = _conv(x, f"{name}.branch3x3", 384, 3, strides=2)
    bd = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    bd = _conv(bd, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    bd = _conv(bd, f"{name}.branch3x3dbl_3", 96, 3, strides=2)
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
    return keras.layers.Concatenate(name=name)([b3, bd, bp])


def _block_c(x, name, c7):
    b1 = _conv(x, f"{name}.branch1x1", 192, 1)
    b7 = _conv(x, f"{name}.branch7x7_1", c7, 1)
    b7 = _conv(b7, f"{name}.branch7x7_2", c7, (1, 7), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7_3", 192, (7, 1), padding="same")
    bd = _conv(x, f"{name}.branch7x7dbl_1", c7, 1)
    bd = _conv(bd, f"{name}.branch7x7dbl_2", c7, (7, 1), padding="same")
    bd = _conv(bd, f"{name}.branch7x7dbl_3", c7, (1, 7), padding="same")
    bd = _conv(bd, f"{name}.branch7x7dbl_4", c7, (7, 1), padding="same")
    bd = _conv(bd, f"{name}.branch7x7dbl_5", 192, (1, 7), padding="same")
    bp = _conv(_average_pool(x, f"{name}.pool"), f"{name}.branch_pool", 192, 1)
    return keras.layers.Concatenate(name=name)([b1, b7, bd, bp])


def _block_d(x, name):
    b3 = _conv(x, f"{name}.branch3x3_1", 192, 1)
    b3 = _conv(b3, f"{name}.branch3x3_2", 320, 3, strides=2)
    b7 = _conv(x, f"{name}.branch7x7x3_1", 192, 1)
    b7 = _conv(b7, f"{name}.branch7x7x3_2", 192, (1, 7), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7x3_3", 192, (7, 1), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7x3_4", 192, 3, strides=2)
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
    return keras.layers.Concatenate(name=name)([b3, b7, bp])


def _block_e(x, name, max_pool):
    b1 = _conv(x, f"{name}.branch1x1", 320, 1)
    b3 = _conv(x, f"{name}.branch3x3_1", 384, 1)
    b3 = keras.layers.Concatenate(name=f"{name}.branch3x3")(
        [
            _conv(b3, f"{name}.branch3x3_2a", 384, (1, 3), padding="same"),
            _conv(b3, f"{name}.branch3x3_2b", 384, (3, 1), padding="same"),
        ]
    )
    bd = _conv(x, f"{name}.branch3x3dbl_1", 448, 1)
    bd = _conv(bd, f"{name}.branch3x3dbl_2", 384, 3, padding="same")
    bd = keras.layers.Concatenate(name=f"{name}.branch3x3dbl")(
        [
            _conv(bd, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding="same"),
            _conv(bd, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding="same"),
        ]
    )
    if max_pool:
        # The FID network's last block pools by maximum (a quirk of the 2015 graph that every
        # FID implementation keeps, since the published numbers depend on it).
        pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.pool")(x)
    else:
        pooled = _average_pool(x, f"{name}.pool")
    bp = _conv(pooled, f"{name}.branch_pool", 192, 1)
    return keras.layers.Concatenate(name=name)([b1, b3, bd, bp])


class FIDInceptionV3(keras.Model):
    """The FID Inception network: images in [0, 1] -> 2048 pool features.

    Not a registered `hint` model (it is a measuring instrument, never a `model.type`): it is
    rebuilt from its weight file, not saved.

    The input is resized to 299x299 (bilinear, no antialiasing, as `pytorch-fid` does) and
    scaled to [-1, 1]. Build it with `from_file` (the published weights) or `from_state_dict`;
    the constructor alone gives untrained weights, which no metric may use.

    Args:
        resize: Resize inputs to 299x299 first, as FID's protocol does. Defaults to True.
        **kwargs: `keras.Model` arguments (`name`, `dtype`).
    """

    def __init__(self, resize: bool = True, **kwargs):
        images = keras.Input((None, None, 3), name="images")
        x = images
        if resize:
            x = keras.layers.Resizing(INPUT_SIZE, INPUT_SIZE, name="resize")(x)
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(x)
        x = _conv(x, "Conv2d_1a_3x3", 32, 3, strides=2)
        x = _conv(x, "Conv2d_2a_3x3", 32, 3)
        x = _conv(x, "Conv2d_2b_3x3", 64, 3, padding="same")
        x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool1")(x)
        x = _conv(x, "Conv2d_3b_1x1", 80, 1)
        x = _conv(x, "Conv2d_4a_3x3", 192, 3)
        x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool2")(x)
        x = _block_a(x, "Mixed_5b", 32)
        x = _block_a(x, "Mixed_5c", 64)
        x = _block_a(x, "Mixed_5d", 64)
        x = _block_b(x, "Mixed_6a")
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160)):
            x = _block_c(x, name, c7)
        x = _block_c(x, "Mixed_6e", 192)
        x = _block_d(x, "Mixed_7a")
        x = _block_e(x, "Mixed_7b", max_pool=False)
        x = _block_e(x, "Mixed_7c", max_pool=True)
        features = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
        super().__init__(inputs=images, outputs=features, **kwargs)
        self.resize = resize
        # A fixed measuring instrument: frozen batch norm runs in inference mode even when a
        # caller leaves `training` unset, so its statistics can never drift.
        self.trainable = False

    # ------------------------------------------------------------------ weights

    def torch_names(self) -> dict[str, tuple]:
        """PyTorch tensor name -> shape, of every tensor this network takes from a file."""
        names = {}
        for layer in self.layers:
            if isinstance(layer, keras.layers.Conv2D):
                kh, kw, cin, cout = layer.kernel.shape
                names[f"{layer.name}.weight"] = (cout, cin, kh, kw)
            elif isinstance(layer, keras.layers.BatchNormalization):
                (c,) = layer.gamma.shape
                for part in ("weight", "bias", "running_mean", "running_var"):
                    names[f"{layer.name}.{part}"] = (c,)
        return names

    def load_state_dict(self, state: dict, source: str = "state_dict") -> None:
        """Sets every weight from a PyTorch `state_dict` of the FID Inception network.

        Raises:
            torch_weights.WeightsError: a tensor is missing or has another shape.
        """
        names = self.torch_names()
        for layer in self.layers:
            if isinstance(layer, keras.layers.Conv2D):
                name = f"{layer.name}.weight"
                kernel = torch_weights.take(state, name, names[name], source)
                layer.kernel.assign(torch_weights.conv_kernel(kernel))
            elif isinstance(layer, keras.layers.BatchNormalization):
                shape = tuple(layer.gamma.shape)
                parts = [
                    torch_weights.take(state, f"{layer.name}.{p}", shape, source)
                    for p in ("weight", "bias", "running_mean", "running_var")
                ]
                layer.set_weights(parts)

    @classmethod
    def from_state_dict(cls, state: dict, source: str = "state_dict", **kwargs):
        network = cls(**kwargs)
        network.load_state_dict(state, source)
        return network

    @classmethod
    def from_file(cls, path: str, **kwargs):
        """The network with the weights of a PyTorch file (pytorch-fid's, for published FID).

        Raises:
            torch_weights.WeightsError: the file is missing, unreadable or of another network.
        """
        return cls.from_state_dict(torch_weights.read_state_dict(path), source=path, **kwargs)

    # ------------------------------------------------------------------ use

    def features(self, images, batch_size: int = 16) -> np.ndarray:
        """float64 [N, 2048] features of images [N, H, W, C] in [0, 1] (gray is repeated to RGB).

        float64, because FID's covariances of 2048 features lose digits in float32.
        """
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                f"`images` must be [N, H, W, 1 or 3]. Received: images.shape={tuple(images.shape)}"
            )
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        out = [
            np.asarray(self(images[i : i + batch_size], training=False), np.float64)
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, FEATURES))


def is_published_file(path: str) -> bool:
    """Whether `path` is pytorch-fid's file of the 2015 Inception weights (by its SHA-256).

    FID computed with any other weights is not comparable with published numbers.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest().startswith(PUBLISHED_SHA256_PREFIX)

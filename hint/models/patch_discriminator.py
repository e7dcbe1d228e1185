"""SN-PatchGAN discriminator used to train HINT."""

import keras

from hint.validation import is_int


@keras.saving.register_keras_serializable(package="hint")
class PatchDiscriminator(keras.Model):
    """SN-PatchGAN discriminator of the official HINT (EdgeConnect-style) code.

    Five 4x4 convolutions with `filters, 2 * filters, 4 * filters, 8 * filters, 1`
    output channels and strides `2, 2, 2, 1, 1`, each preceded by a 1-pixel
    zero padding and applied with 'valid' padding, which reproduces PyTorch's
    `padding=1` output sizes exactly (a 256x256 input gives 30x30 logits).
    LeakyReLU(0.2) follows the first four. With spectral normalisation every
    convolution is wrapped in `keras.layers.SpectralNormalization` and has no
    bias, as in the official model. Kernels start from `N(0, 0.02)` like the
    official `init_weights`.

    The output is raw logits (named `"logits"`): the loss applies the sigmoid
    where the official model did.

    Note that Keras' `SpectralNormalization` writes the normalised kernel back
    into the variable on each training call, whereas PyTorch keeps the
    unnormalised weight and back-propagates through the division by sigma; the
    forward pass is the same.

    Args:
        image_channels: Channels of the input image. Defaults to `3`.
        filters: Width of the first convolution; later ones double it up to
            `8 * filters`. Defaults to `64`.
        spectral_norm: Whether to spectrally normalise the convolutions.
            Defaults to `True`.
        **kwargs: Base model keyword arguments, such as `name` and `dtype`.

    Example:

    >>> model = PatchDiscriminator(filters=8)
    >>> model(np.random.rand(1, 64, 64, 3).astype("float32")).shape
    TensorShape([1, 6, 6, 1])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    - [Miyato et al., 2018. Spectral Normalization for GANs](https://arxiv.org/abs/1802.05957)
    """

    def __init__(self, image_channels=3, filters=64, spectral_norm=True, **kwargs):
        if not is_int(image_channels):
            raise ValueError(
                "`image_channels` must be a positive integer. "
                f"Received: image_channels={image_channels}"
            )
        if not is_int(filters):
            raise ValueError(f"`filters` must be a positive integer. Received: filters={filters}")
        if not isinstance(spectral_norm, bool):
            raise ValueError(
                f"`spectral_norm` must be a bool. Received: spectral_norm={spectral_norm}"
            )

        # === Layers ===
        specs = [
            ("conv_1", filters, 2),
            ("conv_2", 2 * filters, 2),
            ("conv_3", 4 * filters, 2),
            ("conv_4", 8 * filters, 1),
            ("logits", 1, 1),
        ]
        convs = []
        for name, units, stride in specs:
            conv = keras.layers.Conv2D(
                units,
                4,
                strides=stride,
                padding="valid",
                use_bias=not spectral_norm,
                kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02),
                name=f"{name}_conv" if spectral_norm else name,
            )
            if spectral_norm:
                conv = keras.layers.SpectralNormalization(conv, name=name)
            convs.append(conv)

        # === Functional Model ===
        image = keras.Input(shape=(None, None, image_channels), name="image")
        x = image
        for index, conv in enumerate(convs, start=1):
            x = keras.layers.ZeroPadding2D(1, name=f"pad_{index}")(x)
            x = conv(x)
            if index < len(convs):
                x = keras.layers.LeakyReLU(0.2, name=f"leaky_relu_{index}")(x)

        super().__init__(inputs=image, outputs=x, **kwargs)

        # === Config ===
        self.image_channels = image_channels
        self.filters = filters
        self.spectral_norm = spectral_norm

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_channels": self.image_channels,
            "filters": self.filters,
            "spectral_norm": self.spectral_norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

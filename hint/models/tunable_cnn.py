"""A tunable convolutional encoder-decoder: the restoration baseline of the thesis' search."""

import keras

from hint.models.backbone import Backbone
from hint.models.presets import check_spatial_multiple
from hint.validation import is_int

ACTIVATIONS = ("relu", "elu", "gelu", "leaky_relu", "swish", "tanh")
MAX_DEPTH = 6


@keras.saving.register_keras_serializable(package="hint")
class TunableCNN(Backbone):
    """Convolutional encoder-decoder for image restoration, sized by a few hyperparameters.

    The baseline the HINT thesis tuned with Keras Tuner (filters, kernel size, activation,
    bottleneck width and optimizer): `depth` stride-2 convolutions with `filters`,
    `2 * filters`, ... channels, a 1x1 bottleneck of `bottleneck` channels, `depth` nearest
    up-samplings each followed by a convolution back down the same widths, and a sigmoid output
    convolution to `image_channels`. There are no skip connections: everything the decoder
    knows passes through the bottleneck, whose width is the capacity being tuned.

    Its inputs are those of `HINTBackbone`, a dict `{"image": (B, H, W, image_channels),
    "mask": (B, H, W, 1)}` with images in `[0, 1]` and mask 1 = hole, so the inpainting task
    trains it unchanged. Like `HINTBackbone` it forms `image * (1 - mask) + mask` itself and
    concatenates the mask to it. The output is the raw prediction in `[0, 1]`; compositing with
    the known pixels is left to the caller. Height and width must be multiples of
    `2 ** depth`.

    Args:
        filters: Channels of the first encoder convolution; level `i` uses `filters * 2**i`.
            Defaults to `32`.
        kernel_size: Side of every square convolution kernel (odd). Defaults to `3`.
        activation: Activation after every hidden convolution, one of `ACTIVATIONS`.
            Defaults to `"relu"`.
        depth: Number of stride-2 encoder levels (and decoder levels), 1 to 6.
            Defaults to `3`.
        bottleneck: Channels of the 1x1 bottleneck convolution. Defaults to `128`.
        image_channels: Channels of the image input and of the output. Defaults to `3`.
        **kwargs: Base model keyword arguments, such as `name` and `dtype`.

    Example:

    >>> model = TunableCNN(filters=8, depth=2, bottleneck=16)
    >>> image = np.random.rand(1, 32, 32, 3).astype("float32")
    >>> mask = np.zeros((1, 32, 32, 1), "float32")
    >>> model({"image": image, "mask": mask}).shape
    TensorShape([1, 32, 32, 3])

    Reference:

    - The tunable CNN baseline of the HINT thesis; the search itself follows
      [O'Malley et al., 2019. KerasTuner](https://github.com/keras-team/keras-tuner).
    """

    def __init__(
        self,
        filters=32,
        kernel_size=3,
        activation="relu",
        depth=3,
        bottleneck=128,
        image_channels=3,
        **kwargs,
    ):
        if not is_int(filters):
            raise ValueError(f"`filters` must be a positive integer. Received: filters={filters}")
        if not is_int(kernel_size) or kernel_size % 2 == 0:
            raise ValueError(
                f"`kernel_size` must be a positive odd integer. Received: kernel_size={kernel_size}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {ACTIVATIONS}. Received: activation={activation}"
            )
        if not is_int(depth) or depth > MAX_DEPTH:
            raise ValueError(
                f"`depth` must be an integer in 1..{MAX_DEPTH}. Received: depth={depth}"
            )
        if not is_int(bottleneck):
            raise ValueError(
                f"`bottleneck` must be a positive integer. Received: bottleneck={bottleneck}"
            )
        if not is_int(image_channels):
            raise ValueError(
                "`image_channels` must be a positive integer. "
                f"Received: image_channels={image_channels}"
            )

        # === Layers ===
        def conv(width, name, strides=1, act=activation):
            return keras.layers.Conv2D(
                width, kernel_size, strides=strides, padding="same", activation=act, name=name
            )

        encoder = [conv(filters * 2**i, f"encoder_{i + 1}", strides=2) for i in range(depth)]
        bottleneck_conv = keras.layers.Conv2D(
            bottleneck, 1, activation=activation, name="bottleneck"
        )
        upsamplers = [
            keras.layers.UpSampling2D(2, interpolation="nearest", name=f"upsample_{i}")
            for i in range(depth, 0, -1)
        ]
        decoder = [conv(filters * 2 ** (i - 1), f"decoder_{i}") for i in range(depth, 0, -1)]
        output_conv = conv(image_channels, "output", act="sigmoid")

        # === Functional Model ===
        image = keras.Input(shape=(None, None, image_channels), name="image")
        mask = keras.Input(shape=(None, None, 1), name="mask")

        # image * (1 - mask) + mask, inside the model as in HINTBackbone.
        keep = keras.layers.Rescaling(-1.0, offset=1.0, name="keep_mask")(mask)
        x = keras.layers.Multiply(name="known_pixels")([image, keep])
        x = keras.layers.Add(name="masked_image")([x, mask])
        x = keras.layers.Concatenate(name="network_input")([x, mask])
        for layer in encoder:
            x = layer(x)
        x = bottleneck_conv(x)
        for upsample, layer in zip(upsamplers, decoder, strict=True):
            x = layer(upsample(x))
        output = output_conv(x)

        super().__init__(inputs={"image": image, "mask": mask}, outputs=output, **kwargs)

        # === Config ===
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = activation
        self.depth = depth
        self.bottleneck = bottleneck
        self.image_channels = image_channels

    @classmethod
    def multiple_for(cls, depth=3, **args) -> int:
        return 2**depth  # one 2x pooling per level

    def call(self, inputs, training=None, mask=None, **kwargs):
        inputs = check_spatial_multiple(
            f"TunableCNN(depth={self.depth})", inputs, self.size_multiple
        )
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "depth": self.depth,
            "bottleneck": self.bottleneck,
            "image_channels": self.image_channels,
        }

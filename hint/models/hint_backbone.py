"""The HINT generator: a Restormer-style U-net with MPD down-sampling and sandwich blocks."""

import math

import keras

from hint.layers import (
    GatedEmbedding,
    MaskAwarePixelShuffleDownsample,
    PixelShuffleUpsample,
    SandwichBlock,
)
from hint.layers.sandwich_block import LAYER_NORM_TYPES
from hint.models.backbone import Backbone
from hint.models.presets import check_spatial_multiple, preset_arguments
from hint.validation import is_int

# Height and width must be multiples of this: three 2x down-samplings, then the latent
# blocks' SCAL spatial branch pools by 2 once more (as in the official model).
SIZE_MULTIPLE = 16


@keras.saving.register_keras_serializable(package="hint")
class HINTBackbone(Backbone):
    """HINT inpainting generator as a functional Keras model.

    The official PyTorch `HINT` network: a gated embedding of the masked image
    and mask, a three-level encoder of sandwich blocks (FFN -> SCAL -> FFN) with
    mask-aware pixel-shuffle down-sampling (MPD) between levels, a latent stage
    at `8 * dim` channels, and a decoder with pixel-shuffle up-sampling and skip
    concatenations. The first decoder level works at `2 * dim` channels without
    a 1x1 reduction, as in the official model.

    Inputs are a dict `{"image": (B, H, W, image_channels), "mask": (B, H, W, 1)}`
    with images in `[0, 1]` and mask 1 = hole. The model itself forms the
    generator input `image * (1 - mask) + mask`, so image values under the hole
    never influence the output. The output `(B, H, W, image_channels)` is the raw
    prediction `(tanh(x) + 1) / 2` in `[0, 1]`; compositing with the known
    pixels is left to the caller. Downscaled masks for the MPDs are nearest
    subsamplings (`mask[:, ::2, ::2]`, `mask[:, ::4, ::4]`), as the official
    `F.interpolate(mode="nearest")`.

    `H` and `W` may be dynamic but must be multiples of 16 (pad outside the
    model): three MPDs halve them to `H/8`, and the latent blocks' SCAL spatial
    branch pools by 2 once more, so the official model has the same
    requirement. Other sizes raise a `ValueError` (or an
    `InvalidArgumentError` inside a graph with unknown shapes).

    Layer names start with the component prefixes in `COMPONENTS`, so
    `component_parameter_counts()` can group parameters per component.

    Matching the official code, the MPDs and up-samplers never have biases
    (`use_bias` only affects the embedding, blocks, 1x1 reductions and the
    output convolution).

    Args:
        dim: Channels at the first level; the levels use `dim`, `2 * dim`,
            `4 * dim` and `8 * dim`. Must be even. Defaults to `48`.
        num_blocks: Sandwich blocks per level (encoder 1-3 / latent); decoder
            level `i` reuses `num_blocks[i - 1]`. Defaults to `(4, 6, 6, 8)`.
        num_heads: SCAL heads per level; decoder level `i` reuses
            `num_heads[i - 1]`. Defaults to `(1, 2, 4, 8)`.
        ffn_expansion: Feed-forward hidden-width factor. Defaults to `2.66`.
        use_bias: Whether convolutions have biases. Defaults to `False`.
        layer_norm: `"with_bias"` or `"bias_free"` block norms.
            Defaults to `"with_bias"`.
        image_channels: Channels of the image input and of the output.
            Defaults to `3`.
        remat: Whether every sandwich block recomputes its activations in the
            backward pass (saves memory, same gradients). Defaults to `False`.
        **kwargs: Base model keyword arguments, such as `name` and `dtype`.

    Example:

    >>> model = HINTBackbone.from_preset("hint_tiny")
    >>> image = np.random.rand(1, 32, 32, 3).astype("float32")
    >>> mask = np.zeros((1, 32, 32, 1), "float32")
    >>> model({"image": image, "mask": mask}).shape
    TensorShape([1, 32, 32, 3])

    Reference:

    - [Chen et al., 2024. HINT: High-quality INpainting Transformer with
      Mask-Aware Encoding and Enhanced Attention](https://arxiv.org/abs/2402.14185)
    """

    SIZE_MULTIPLE = SIZE_MULTIPLE

    COMPONENTS = (
        "embedding",
        "encoder_1",
        "mpd_1",
        "encoder_2",
        "mpd_2",
        "encoder_3",
        "mpd_3",
        "latent",
        "upsample_3",
        "reduce_3",
        "decoder_3",
        "upsample_2",
        "reduce_2",
        "decoder_2",
        "upsample_1",
        "decoder_1",
        "output",
    )

    def __init__(
        self,
        dim=48,
        num_blocks=(4, 6, 6, 8),
        num_heads=(1, 2, 4, 8),
        ffn_expansion=2.66,
        use_bias=False,
        layer_norm="with_bias",
        image_channels=3,
        remat=False,
        **kwargs,
    ):
        if not is_int(dim) or dim % 2:
            raise ValueError(f"`dim` must be a positive even integer. Received: dim={dim}")
        num_blocks = tuple(num_blocks)
        num_heads = tuple(num_heads)
        if len(num_blocks) != 4 or not all(is_int(n) for n in num_blocks):
            raise ValueError(
                f"`num_blocks` must be 4 positive integers. Received: num_blocks={num_blocks}"
            )
        if len(num_heads) != 4 or not all(is_int(n) for n in num_heads):
            raise ValueError(
                f"`num_heads` must be 4 positive integers. Received: num_heads={num_heads}"
            )
        for level, heads in enumerate(num_heads):
            if (dim * 2**level) % heads:
                raise ValueError(
                    f"Level {level + 1} has {dim * 2**level} channels, which `num_heads` "
                    f"must divide. Received: num_heads={num_heads}"
                )
        if isinstance(ffn_expansion, bool) or not isinstance(ffn_expansion, (int, float)):
            raise ValueError(
                f"`ffn_expansion` must be a number. Received: ffn_expansion={ffn_expansion}"
            )
        if int(dim * ffn_expansion) < 1:
            raise ValueError(
                "`ffn_expansion` must give at least one hidden channel at the first level. "
                f"Received: ffn_expansion={ffn_expansion}"
            )
        if layer_norm not in LAYER_NORM_TYPES:
            raise ValueError(
                f"`layer_norm` must be one of {LAYER_NORM_TYPES}. Received: layer_norm={layer_norm}"
            )
        if not is_int(image_channels):
            raise ValueError(
                "`image_channels` must be a positive integer. "
                f"Received: image_channels={image_channels}"
            )
        if not isinstance(remat, bool):
            raise ValueError(f"`remat` must be a bool. Received: remat={remat}")

        # === Layers ===
        def blocks(prefix, level):
            return [
                SandwichBlock(
                    num_heads=num_heads[level],
                    expansion=ffn_expansion,
                    use_bias=use_bias,
                    layer_norm=layer_norm,
                    remat=remat,
                    name=f"{prefix}_block_{i}",
                )
                for i in range(num_blocks[level])
            ]

        def reduce(level):
            return keras.layers.Conv2D(
                dim * 2 ** (level - 1),
                1,
                use_bias=use_bias,
                kernel_initializer=keras.initializers.VarianceScaling(
                    scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
                ),
                name=f"reduce_{level}",
            )

        embedding = GatedEmbedding(dim, use_bias=use_bias, name="embedding")
        encoder_1 = blocks("encoder_1", 0)
        mpd_1 = MaskAwarePixelShuffleDownsample(name="mpd_1")
        encoder_2 = blocks("encoder_2", 1)
        mpd_2 = MaskAwarePixelShuffleDownsample(name="mpd_2")
        encoder_3 = blocks("encoder_3", 2)
        mpd_3 = MaskAwarePixelShuffleDownsample(name="mpd_3")
        latent = blocks("latent", 3)
        upsample_3 = PixelShuffleUpsample(name="upsample_3")
        reduce_3 = reduce(3)
        decoder_3 = blocks("decoder_3", 2)
        upsample_2 = PixelShuffleUpsample(name="upsample_2")
        reduce_2 = reduce(2)
        decoder_2 = blocks("decoder_2", 1)
        upsample_1 = PixelShuffleUpsample(name="upsample_1")
        decoder_1 = blocks("decoder_1", 0)
        output_conv = keras.layers.Conv2D(
            image_channels,
            3,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            name="output",
        )

        # === Functional Model ===
        image = keras.Input(shape=(None, None, image_channels), name="image")
        mask = keras.Input(shape=(None, None, 1), name="mask")

        # image * (1 - mask) + mask, inside the model so callers cannot forget it.
        keep = keras.layers.Rescaling(-1.0, offset=1.0, name="keep_mask")(mask)
        x = keras.layers.Multiply(name="known_pixels")([image, keep])
        x = keras.layers.Add(name="masked_image")([x, mask])
        # Nearest down-scaling, as F.interpolate(mode="nearest"): mask[:, ::s, ::s].
        mask_half = keras.layers.MaxPooling2D(1, strides=2, name="mask_half")(mask)
        mask_quarter = keras.layers.MaxPooling2D(1, strides=4, name="mask_quarter")(mask)

        x = embedding(keras.layers.Concatenate(name="embedding_input")([x, mask]))
        for block in encoder_1:
            x = block(x)
        skip_1 = x
        x = mpd_1([x, mask])
        for block in encoder_2:
            x = block(x)
        skip_2 = x
        x = mpd_2([x, mask_half])
        for block in encoder_3:
            x = block(x)
        skip_3 = x
        x = mpd_3([x, mask_quarter])
        for block in latent:
            x = block(x)

        x = keras.layers.Concatenate(name="skip_3")([upsample_3(x), skip_3])
        x = reduce_3(x)
        for block in decoder_3:
            x = block(x)
        x = keras.layers.Concatenate(name="skip_2")([upsample_2(x), skip_2])
        x = reduce_2(x)
        for block in decoder_2:
            x = block(x)
        x = keras.layers.Concatenate(name="skip_1")([upsample_1(x), skip_1])
        for block in decoder_1:
            x = block(x)
        x = keras.layers.Activation("tanh", name="tanh")(output_conv(x))
        # (tanh + 1) / 2
        raw = keras.layers.Rescaling(0.5, offset=0.5, name="raw")(x)

        super().__init__(inputs={"image": image, "mask": mask}, outputs=raw, **kwargs)

        # === Config ===
        self.dim = dim
        self.num_blocks = num_blocks
        self.num_heads = num_heads
        self.ffn_expansion = ffn_expansion
        self.use_bias = use_bias
        self.layer_norm = layer_norm
        self.image_channels = image_channels
        self.remat = remat

    @property
    def remat(self):
        """Whether the sandwich blocks recompute their activations in the backward pass.

        A call-time choice that no weight depends on, so it may be switched on a built model
        before its training step is traced: `hint.training` does that for `model.remat: auto`
        when the estimated training memory does not fit.
        """
        return self._remat

    @remat.setter
    def remat(self, value):
        if not isinstance(value, bool):
            raise ValueError(f"`remat` must be a bool. Received: remat={value}")
        self._remat = value
        for layer in self.layers:
            if isinstance(layer, SandwichBlock):
                layer.remat = value

    def call(self, inputs, training=None, mask=None, **kwargs):
        inputs = check_spatial_multiple("HINTBackbone", inputs, SIZE_MULTIPLE)
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def component_parameter_counts(self):
        """Trainable parameters per component, in `COMPONENTS` order.

        Returns:
            A dict mapping each prefix of `COMPONENTS` to the number of
            trainable parameters of the layers whose name is the prefix or
            starts with `prefix + "_"`.
        """
        counts = dict.fromkeys(self.COMPONENTS, 0)
        for layer in self.layers:
            for prefix in self.COMPONENTS:
                if layer.name == prefix or layer.name.startswith(prefix + "_"):
                    counts[prefix] += sum(math.prod(w.shape) for w in layer.trainable_weights)
                    break
        return counts

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Builds a backbone from a named preset (see `hint.models.presets`).

        Args:
            preset: Preset name, e.g. `"hint"` or `"hint_tiny"`.
            **kwargs: Constructor arguments overriding the preset's (and base
                model arguments such as `name`).

        Returns:
            A new, randomly initialised `HINTBackbone`.
        """
        return cls(**preset_arguments(cls, preset, **kwargs))

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_blocks": list(self.num_blocks),
            "num_heads": list(self.num_heads),
            "ffn_expansion": self.ffn_expansion,
            "use_bias": self.use_bias,
            "layer_norm": self.layer_norm,
            "image_channels": self.image_channels,
            "remat": self.remat,
        }

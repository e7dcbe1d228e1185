"""A colour DnCNN whose convolutions are shared by the opponent colour planes."""

import keras
import numpy as np

from hint.layers.color_planes import COLOR_SPACES, ColorPlanes
from hint.layers.cross_plane_mixing import CrossPlaneMixing
from hint.models.backbone import Backbone
from hint.models.dncnn import DnCNN, check_trunk_arguments, trunk_conv
from hint.validation import is_int


@keras.saving.register_keras_serializable(package="hint")
class CrossPlaneDnCNN(Backbone):
    """A colour denoiser: one gray DnCNN run on the three colour planes, which talk to each other.

    The colour image is split into three gray planes, by default those of CBM3D's orthonormal
    opponent transform (the channel mean and two colour differences, `ColorPlanes`), folded
    into the batch. A DnCNN without batch norm (conv + ReLU, `depth - 2` times conv + bias +
    ReLU, a conv to the noise estimate) runs on every plane with the same weights, and after
    every `mix_every`-th hidden convolution a `CrossPlaneMixing` adds to each plane's features
    a learned 1x1 map of all three planes' features, before the ReLU. The planes' noise
    estimates are subtracted (residual learning) and the planes mapped back to RGB.

    The mixing kernels start at zero, so a model that takes a trained gray DnCNN's weights
    (`load_gray`) computes exactly what that gray network computes when run plane by plane in
    the opponent space (`hint.inference.denoise_array(..., color_space="opponent")`); trained
    on colour images it then learns what the planes tell about each other (the luminance
    edges about the chroma ones, as CBM3D's grouping on luminance does) and per-plane
    adjustments of the shared filters. With `mix_every=4` and 25 layers the six mixing layers
    add 9% to the multiply-adds (`6 * 9F^2` per pixel against `3 * 23 * 9F^2`), but on a CPU
    each takes nearly a convolution's time (it is memory-bound: measured 25 ms against 31 ms
    at 512x512 with 48 features in bfloat16); `mix_rank` makes it cheaper. A trained model can
    be given more mixing without changing what it computes (`load_cross_plane` into a model
    with a divisor of its `mix_every`), or factorised mixing that starts as the best
    approximation of its own of that rank.

    Inputs: `{"image": (B, H, W, 3)}` and, with `conditioning="noise_map"`, `{"noise_level":
    (B, H, W, 1)}`, the per-pixel noise standard deviation of the colour image in [0, 1] units
    (each plane is given its own level, `ColorPlanes(mode="noise_level")`). Output (named
    `denoised`): (B, H, W, 3), not clipped, float32 under a mixed precision policy.

    Args:
        depth: Number of convolution layers, at least 3. Defaults to `20`.
        filters: Channels of the hidden layers. Defaults to `64`.
        conditioning: `"none"` (blind) or `"noise_map"` (FFDNet-style noise level input).
            Defaults to `"none"`.
        color_space: The planes: `"opponent"` or `"rgb"`. Defaults to `"opponent"`.
        mix_every: A `CrossPlaneMixing` after hidden convolutions `mix_every`, `2 * mix_every`,
            ... (of `conv_2` to `conv_{depth - 1}`). Defaults to `4`.
        mix_rank: `None` for full mixing kernels, or the rank of factorised ones
            (`CrossPlaneMixing(rank=...)`: cheaper, and without the copy of the planes'
            features side by side). Defaults to `None`.
        **kwargs: Base model keyword arguments, such as `name` and `dtype`.

    Example:

    >>> gray = DnCNN(depth=17, filters=64, batch_norm=False)  # e.g. a trained gray denoiser
    >>> color = CrossPlaneDnCNN(depth=17, filters=64)
    >>> color.load_gray(gray)  # the gray network on opponent planes, until trained further
    >>> color({"image": np.random.rand(1, 33, 31, 3).astype("float32")}).shape
    TensorShape([1, 33, 31, 3])

    References:

    - [Zhang et al., 2017. Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
      Denoising](https://arxiv.org/abs/1608.03981), IEEE TIP 26(7).
    - Dabov, Foi, Katkovnik, Egiazarian, 2007. Color image denoising via sparse 3D
      collaborative filtering with grouping constraint in luminance-chrominance space, ICIP.
    """

    def __init__(
        self,
        depth=20,
        filters=64,
        conditioning="none",
        color_space="opponent",
        mix_every=4,
        mix_rank=None,
        **kwargs,
    ):
        check_trunk_arguments(depth, filters, conditioning, min_depth=3)
        if color_space not in COLOR_SPACES:
            raise ValueError(
                f"`color_space` must be one of {COLOR_SPACES}. "
                f"Received: color_space={color_space!r}"
            )
        if not is_int(mix_every):
            raise ValueError(
                f"`mix_every` must be a positive int. Received: mix_every={mix_every!r}"
            )
        if mix_rank is not None and not is_int(mix_rank):
            raise ValueError(
                f"`mix_rank` must be None or a positive int. Received: mix_rank={mix_rank!r}"
            )

        # === Layers ===
        convs = [trunk_conv(filters, True, f"conv_{i}") for i in range(1, depth)]
        # Float32 under a mixed policy: a bfloat16 noise estimate would round the image.
        tail = trunk_conv(1, False, f"conv_{depth}", dtype="float32")
        mixing = {
            i: CrossPlaneMixing(3, mix_rank, name=f"mix_{i}")
            for i in range(2, depth)
            if i % mix_every == 0
        }

        # === Functional Model ===
        image = keras.Input(shape=(None, None, 3), name="image")
        inputs = {"image": image}
        planes = ColorPlanes(color_space, "to_planes", name="planes", dtype="float32")(image)
        x = planes
        if conditioning == "noise_map":
            noise_level = keras.Input(shape=(None, None, 1), name="noise_level")
            inputs["noise_level"] = noise_level
            level = ColorPlanes(color_space, "noise_level", name="plane_noise_level")(noise_level)
            x = keras.layers.Concatenate(name="network_input")([x, level])
        for i, conv_i in enumerate(convs, start=1):
            x = conv_i(x)
            if i in mixing:
                x = mixing[i](x)
            x = keras.layers.ReLU(name=f"relu_{i}")(x)
        clean_planes = keras.layers.Subtract(name="clean_planes", dtype="float32")(
            [planes, tail(x)]
        )
        denoised = ColorPlanes(color_space, "from_planes", name="denoised", dtype="float32")(
            clean_planes
        )

        super().__init__(inputs=inputs, outputs=denoised, **kwargs)

        # === Config ===
        self.depth = depth
        self.filters = filters
        self.image_channels = 3
        self.conditioning = conditioning
        self.color_space = color_space
        self.mix_every = mix_every
        self.mix_rank = mix_rank

    def load_gray(self, gray):
        """Copies a gray `DnCNN`'s convolutions into the shared trunk; zeroes the mixing.

        Afterwards this model computes what `gray` computes on each colour plane (to float
        rounding). A batch-normed gray network is folded first and a shallower one deepened
        with identity layers (`DnCNN.deepened`), which leave its function unchanged.

        Args:
            gray: a `DnCNN` with one image channel, no pixel-unshuffle, noise prediction, the
                same `filters` and `conditioning` as this model and at most its `depth`.
        """
        wanted = {
            "image_channels": 1,
            "downsample": "none",
            "prediction": "noise",
            "filters": self.filters,
            "conditioning": self.conditioning,
        }
        if not isinstance(gray, DnCNN):
            raise ValueError(f"`gray` must be a DnCNN. Received: gray={type(gray).__name__}")
        wrong = {k: getattr(gray, k) for k, v in wanted.items() if getattr(gray, k) != v}
        if wrong or gray.depth > self.depth:
            raise ValueError(
                f"`gray` must be a DnCNN with {wanted} and depth <= {self.depth}. "
                f"Received: gray with {wrong or {'depth': gray.depth}}"
            )
        source = gray.deepened(self.depth)
        for i in range(1, self.depth + 1):
            self.get_layer(f"conv_{i}").set_weights(source.get_layer(f"conv_{i}").get_weights())
        self._zero_mixing()

    def load_cross_plane(self, source):
        """Copies another `CrossPlaneDnCNN` whose mixing sits where this model has mixing.

        The trunk and every mixing layer the two share are copied; this model's other mixing
        layers are zeroed, so it computes what `source` computes (to float rounding) and
        training goes on from there with more mixing (e.g. `mix_every` 4 -> 2). Mixing of a
        higher rank than this model's `mix_rank` is truncated to its best approximation of
        that rank (`CrossPlaneMixing.assign_kernel`): a cheaper model to train on from there.

        Args:
            source: a `CrossPlaneDnCNN` with this model's `depth`, `filters`, `conditioning`
                and `color_space` and a `mix_every` that is a multiple of this model's.
        """
        if not isinstance(source, CrossPlaneDnCNN):
            raise ValueError(
                f"`source` must be a CrossPlaneDnCNN. Received: source={type(source).__name__}"
            )
        wanted = {k: getattr(self, k) for k in ("depth", "filters", "conditioning", "color_space")}
        wrong = {k: getattr(source, k) for k, v in wanted.items() if getattr(source, k) != v}
        if wrong or source.mix_every % self.mix_every:
            raise ValueError(
                f"`source` must be a CrossPlaneDnCNN with {wanted} and a mix_every that is a "
                f"multiple of {self.mix_every}. "
                f"Received: source with {wrong or {'mix_every': source.mix_every}}"
            )
        shared = {layer.name for layer in source.layers if layer.weights}
        for name in shared:
            layer, copied = self.get_layer(name), source.get_layer(name)
            if isinstance(layer, CrossPlaneMixing):
                layer.assign_kernel(copied.full_kernel())
            else:
                layer.set_weights(copied.get_weights())
        self._zero_mixing(keep=shared)

    def _zero_mixing(self, keep=()):
        """Zeroes every `CrossPlaneMixing` map except those of the layers named in `keep`."""
        for layer in self.layers:
            if isinstance(layer, CrossPlaneMixing) and layer.name not in keep:
                layer.assign_kernel(np.zeros((3, self.filters) * 2, "float32"))

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "filters": self.filters,
            "conditioning": self.conditioning,
            "color_space": self.color_space,
            "mix_every": self.mix_every,
            "mix_rank": self.mix_rank,
        }

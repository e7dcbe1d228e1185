"""Named model configurations: constructor arguments plus the registered class (`type`)."""

import copy

PRESETS = {
    # The official HINT generator (72,265,248 trainable parameters).
    "hint": {
        "dim": 48,
        "num_blocks": (4, 6, 6, 8),
        "num_heads": (1, 2, 4, 8),
        "ffn_expansion": 2.66,
        "use_bias": False,
        "layer_norm": "with_bias",
    },
    # A small model of the same architecture for CPU experiments and tests.
    "hint_tiny": {
        "dim": 16,
        "num_blocks": (1, 1, 1, 2),
        "num_heads": (1, 1, 2, 4),
        "ffn_expansion": 2.66,
        "use_bias": False,
        "layer_norm": "with_bias",
    },
    # The thesis' tunable CNN baseline (conv encoder-decoder), a starting point for `tune`.
    "tunable_cnn": {
        "type": "TunableCNN",
        "filters": 16,
        "kernel_size": 3,
        "activation": "relu",
        "depth": 3,
        "bottleneck": 64,
    },
    # DnCNN (Zhang et al., TIP 2017): 17 layers for gray (DnCNN-S, 556,096 trainable
    # parameters), 20 for colour / blind (CDnCNN-B), residual learning, batch norm.
    "dncnn_gray": {
        "type": "DnCNN",
        "depth": 17,
        "filters": 64,
        "image_channels": 1,
        "conditioning": "none",
        "downsample": "none",
    },
    "dncnn_color": {
        "type": "DnCNN",
        "depth": 20,
        "filters": 64,
        "image_channels": 3,
        "conditioning": "none",
        "downsample": "none",
    },
    # FFDNet-style (Zhang et al., TIP 2018): noise level map input, conv stack at half
    # resolution after a 2x pixel-unshuffle, predicting the clean image; the paper's sizes (gray
    # 15 x 64, colour 12 x 96).
    "ffdnet_gray": {
        "type": "DnCNN",
        "depth": 15,
        "filters": 64,
        "image_channels": 1,
        "conditioning": "noise_map",
        "downsample": "pixel_unshuffle",
        "prediction": "clean",
    },
    "ffdnet_color": {
        "type": "DnCNN",
        "depth": 12,
        "filters": 96,
        "image_channels": 3,
        "conditioning": "noise_map",
        "downsample": "pixel_unshuffle",
        "prediction": "clean",
    },
    # A tiny DnCNN for tests.
    "dncnn_tiny": {
        "type": "DnCNN",
        "depth": 5,
        "filters": 8,
        "image_channels": 1,
        "conditioning": "none",
        "downsample": "none",
    },
    # Deep Image Prior's `skip` networks (Ulyanov et al., CVPR 2018), five scales, filter sizes
    # 3 / 3 / 1, 1x1 up-convolutions and LeakyReLU 0.2 (the `DIPSkip` defaults). The code `z` is
    # not part of a preset: `input_channels` is its depth (32 for uniform noise, 2 for a
    # meshgrid), and the restoration loop makes it (`noise_code` / `meshgrid_code`).
    # denoising.ipynb (F16, noise code): 2,217,831 trainable parameters.
    "dip_denoise": {
        "type": "DIPSkip",
        "input_channels": 32,
        "output_channels": 3,
        "channels_down": (128,) * 5,
        "channels_up": (128,) * 5,
        "channels_skip": (4,) * 5,
        "upsample": "bilinear",
    },
    # inpainting.ipynb, text inpainting (kate.png, noise code): 3,002,627 parameters.
    "dip_text": {
        "type": "DIPSkip",
        "input_channels": 32,
        "output_channels": 3,
        "channels_down": (128,) * 5,
        "channels_up": (128,) * 5,
        "channels_skip": (128,) * 5,
        "upsample": "nearest",
    },
    # inpainting.ipynb, hole filling (vase.png, meshgrid code, no skips): 2,157,955 parameters.
    "dip_holes": {
        "type": "DIPSkip",
        "input_channels": 2,
        "output_channels": 3,
        "channels_down": (128,) * 5,
        "channels_up": (128,) * 5,
        "channels_skip": (0,) * 5,
        "upsample": "nearest",
    },
    # restoration.ipynb, 50 % of the pixels kept (grey barbara.png, noise code): 2,217,573
    # parameters.
    "dip_pixels": {
        "type": "DIPSkip",
        "input_channels": 32,
        "output_channels": 1,
        "channels_down": (128,) * 5,
        "channels_up": (128,) * 5,
        "channels_skip": (4,) * 5,
        "upsample": "bilinear",
    },
    # Not official: four scales of 16 channels (34,627 parameters), for trying a job's settings
    # on a CPU in seconds and for tests (`--set dip.preset=dip_tiny`); accepts 32 x 32 and up.
    "dip_tiny": {
        "type": "DIPSkip",
        "input_channels": 32,
        "output_channels": 3,
        "channels_down": (16,) * 4,
        "channels_up": (16,) * 4,
        "channels_skip": (4,) * 4,
        "upsample": "bilinear",
    },
}


def preset_names():
    """Names of the available presets, sorted."""
    return sorted(PRESETS)


def get_preset(name):
    """Constructor keyword arguments of a named `HINTBackbone` preset.

    Args:
        name: Preset name, one of `preset_names()`.

    Returns:
        A fresh dict of keyword arguments for `HINTBackbone` (safe to modify).

    Raises:
        ValueError: If `name` is not a known preset.
    """
    if name not in PRESETS:
        raise ValueError(
            f"Unknown HINTBackbone preset; valid names are {preset_names()}. Received: name={name}"
        )
    return copy.deepcopy(PRESETS[name])


def preset_arguments(cls, preset, **overrides):
    """Constructor arguments of `preset` for model class `cls`, with `overrides` applied.

    Presets without a "type" are `HINTBackbone`'s (as in `hint.config`).

    Raises:
        ValueError: the preset is unknown or belongs to another class.
    """
    config = get_preset(preset)
    kind = config.pop("type", "HINTBackbone")
    if kind != cls.__name__:
        raise ValueError(
            f"Preset {preset!r} is a {kind}, not a {cls.__name__}. Received: preset={preset!r}"
        )
    config.update(overrides)
    return config


def check_spatial_multiple(model_name, inputs, multiple):
    """Checks that the `image` input's height and width are multiples of `multiple`.

    Static shapes are checked in Python (a `ValueError`); dynamic ones with an in-graph
    assertion that every input depends on, so it fails before any op that needs the size.

    Returns:
        `inputs` (a dict or a sequence of tensors), wired to the check when it is in-graph.
    """
    import tensorflow as tf

    image = inputs["image"] if isinstance(inputs, dict) else inputs[0]
    height, width = image.shape[1], image.shape[2]
    message = (
        f"{model_name} needs image height and width that are multiples of {multiple}; pad the "
        "inputs first."
    )
    if isinstance(height, int) and isinstance(width, int):
        if height % multiple or width % multiple:
            raise ValueError(f"{message} Received: (height, width)=({height}, {width})")
        return inputs
    check = tf.debugging.assert_equal(
        tf.math.floormod(tf.shape(image)[1:3], multiple), 0, message=message
    )
    with tf.control_dependencies([check]):
        if isinstance(inputs, dict):
            return {k: tf.identity(v) for k, v in inputs.items()}
        return [tf.identity(v) for v in inputs]

"""Named `HINTBackbone` configurations."""

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

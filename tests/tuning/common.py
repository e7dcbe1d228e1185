"""A tiny tuning config for the tests: 32 px, model dim 4, one block per level, 1-2 steps."""

import yaml

TINY = {
    "data": {"image_size": 32, "batch_size": 2, "val_count": 2},
    "model": {
        "preset": "hint_tiny",
        "dim": 4,
        "num_blocks": [1, 1, 1, 1],
        "num_heads": [1, 1, 1, 1],
    },
    "inpaint": {
        "discriminator": {"filters": 4},
        "loss": {"perceptual": 0.0, "style": 0.0, "adversarial": 0.0},
        "per_bucket": 2,
    },
    "train": {"epochs": 1, "steps_per_epoch": 1, "lr": 1.0e-3},
    "eval": {"samples": 2},
}

# The thesis' tunable CNN, tiny: the quickest model to trace, for the slower tests.
CNN = {"preset": "tunable_cnn", "filters": 4, "depth": 2, "bottleneck": 8}

# Rectangular holes only, for the tests that are not about the holes: the default mix of hole
# kinds takes a few seconds to trace in every trial's data pipeline.
RECT = {"inpaint": {"mask": {"kind": "rect"}}}


def write_config(tmp_path, space, model=None, base=None, **tune):
    """Writes a tiny config with `tune.space = space` under tmp_path; returns its path.

    `model` replaces the `model` section; `base` updates sections (e.g. `RECT`).
    """
    cfg = {key: dict(value) for key, value in TINY.items()}
    if model is not None:
        cfg["model"] = dict(model)
    for section, values in (base or {}).items():
        cfg[section] = {**cfg.get(section, {}), **values}
    cfg["run"] = {"dir": str(tmp_path / "runs")}
    cfg["tune"] = {
        "dir": str(tmp_path / "tuning"),
        "name": "test",
        "trials": 3,
        "epochs": 1,
        "steps_per_epoch": 1,
        "space": space,
        **tune,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)

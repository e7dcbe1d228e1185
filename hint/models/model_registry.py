"""Model classes by name, and the `model` section of a config: a preset and/or a class + args.

`model.type` names a class registered in the Keras serialization registry (package `hint`);
every other key of the `model` section (besides `ModelConfig`'s own fields) is a keyword
argument of that class, checked against its constructor. The config core knows nothing of the
networks: this module gives it the resolver (`hint.config.register_model_resolver`) when
`hint.models` is imported.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import keras

from hint import config as config_lib
from hint.models import presets
from hint.models.backbone import Backbone

# The `model` section's own keys; the others are the class's constructor arguments.
MODEL_FIELDS = {f.name for f in dataclasses.fields(config_lib.ModelConfig)} - {"args"}


def model_class(name: str):
    """Resolves a class name through the Keras serialization registry (package `hint`)."""
    obj = keras.saving.get_registered_object(f"hint>{name}")
    if obj is None:
        known = registered_models()
        raise config_lib.ConfigError(
            f"Unknown model type {name!r}.{config_lib.suggest(name, known)}"
        )
    return obj


def registered_models() -> list[str]:
    """Names of the registered `hint` model classes."""
    names = []
    for key, obj in keras.saving.get_custom_objects().items():
        if key.startswith("hint>") and inspect.isclass(obj) and issubclass(obj, keras.Model):
            names.append(key.split(">", 1)[1])
    return sorted(names)


def resolve_model_args(cfg, raw_model: dict, source: str, marks: dict) -> None:
    """Fills `model.type`/`model.args` from the preset, then checks the explicit arguments.

    Raises:
        ConfigError: an unknown preset, type or argument, or an argument of the wrong type,
            naming its line in the file.
    """
    where = config_lib.where
    base: dict[str, Any] = {}
    if cfg.model.preset is not None:
        if cfg.model.preset not in presets.PRESETS:
            raise config_lib.ConfigError(
                f"Unknown preset {where(('model', 'preset'), source, marks)}: "
                f"{cfg.model.preset!r}."
                f"{config_lib.suggest(cfg.model.preset, list(presets.PRESETS))}"
            )
        base = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in presets.get_preset(cfg.model.preset).items()
        }
        preset_type = base.pop("type", "HINTBackbone")
        if cfg.model.type is None:
            cfg.model.type = preset_type
        elif cfg.model.type != preset_type:
            if "preset" in raw_model:
                raise config_lib.ConfigError(
                    f"{where(('model', 'preset'), source, marks)} {cfg.model.preset!r} is a "
                    f"{preset_type}, but model.type is {cfg.model.type}: give one of them. "
                    f"Received: model.preset={cfg.model.preset!r}, model.type={cfg.model.type!r}"
                )
            # An explicit type without a preset: the default preset belongs to another class.
            cfg.model.preset, base = None, {}
    if cfg.model.type is None:
        raise config_lib.ConfigError("The model section needs a 'preset' or a 'type'.")
    cls = model_class(cfg.model.type)
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    valid = {p.name: p for p in params}
    args = dict(base)
    for key, value in raw_model.items():
        key = str(key)
        if key in MODEL_FIELDS:
            continue
        if key not in valid:
            raise config_lib.ConfigError(
                f"Unknown key {where(('model', key), source, marks)} for model type "
                f"{cfg.model.type}.{config_lib.suggest(key, sorted(set(valid) | MODEL_FIELDS))}"
            )
        default = valid[key].default
        if key == "remat" and value == config_lib.REMAT_AUTO:
            args[key] = value  # decided when training starts (hint.training.memory)
            continue
        if default is not inspect.Parameter.empty and default is not None:
            expected = type(default)
            if expected is tuple:
                expected = list
            ok = isinstance(value, expected) or (
                expected is float and isinstance(value, int) and not isinstance(value, bool)
            )
            if isinstance(value, bool) and expected is not bool:
                ok = False
            if not ok:
                raise config_lib.ConfigError(
                    f"Wrong type for {where(('model', key), source, marks)}: expected "
                    f"{expected.__name__}. Received: {value!r}"
                )
        args[key] = value
    cfg.model.args = args
    _check_sizes(cfg, cls)


def _check_sizes(cfg, cls) -> None:
    """Crop sizes must be multiples of the network's size multiple (`Backbone.multiple_for`)."""
    multiple = cls.multiple_for(**cfg.model.args) if issubclass(cls, Backbone) else 1
    for key in ("image_size", "val_size"):
        size = getattr(cfg.data, key)
        if size is not None and size % multiple:
            raise config_lib.ConfigError(
                f"'data.{key}' must be a multiple of {multiple} for {cfg.model.type} (the "
                f"network's size multiple). Received: data.{key}={size}"
            )


config_lib.register_model_resolver(resolve_model_args)

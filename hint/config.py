"""Typed, validated configuration.

A YAML file is loaded with `yaml.safe_load` into dataclasses that carry a default for every
key, so a config naming only what it changes is complete. Unknown keys and wrong types are
errors that name the key, its line in the file and the closest valid key; impossible values
(a negative learning rate, a crop size the network cannot take) are errors too.

`--set section.key=value` overrides are parsed as YAML scalars/lists and applied before
validation. The resolved config is written into every run directory (`config.yaml`).

Model arguments are open-ended: `model.type` names a class registered in the Keras
serialization registry (package `hint`) and every other key of the `model` section (besides the
fixed ones below) is a keyword argument of that class, checked against its constructor.

Example:

```python
cfg = load_config("config.yaml", overrides=["train.epochs=3", "model.dim=16"])
cfg.train.epochs  # 3
```
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from hint.datasets.sources import COLOR_AUGMENTS, FLIPS
from hint.task_plugin import get_task, task_names

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# `model.remat` of a network that has the argument: true, false, or this (the default): on
# when the estimated training memory does not fit (`hint.training.memory`).
REMAT_AUTO = "auto"
OPTIMIZERS = ("adam", "rmsprop")
PRECISIONS = ("float32", "mixed_bfloat16")
# What inference (`denoise`, `inpaint`, the benchmarks) may run a network in: "auto" is
# mixed_bfloat16 on a CPU that computes bfloat16 natively and float32 elsewhere
# (`hint.precision.resolve_precision`). Training takes an explicit PRECISIONS value.
INFERENCE_PRECISIONS = ("auto", *PRECISIONS)
# Test-time geometric self-ensemble for `denoise`: "dihedral" averages the outputs for the eight
# rotations / flips of the input (Timofte et al., "Seven ways to improve example-based single
# image super resolution", CVPR 2016). Measured on Set12 with two earlier gray networks of the
# shipped recipe: +0.10 to +0.17 dB at 8x the time.
ENSEMBLES = ("none", "dihedral")
# How a gray denoiser serves colour images (`hint.inference.denoise_array`).
COLOR_SPACES = ("opponent", "rgb")
# How `inpaint` runs the network on a colour image (`hint.inference.inpaint_array`): "joint"
# (R, G and B together, as the network was trained) or plane by plane, each plane a gray image,
# in one of `COLOR_SPACES`.
INPAINT_COLOR_SPACES = ("joint",) + COLOR_SPACES
INPAINT_COLOR_SPACE = "rgb"  # the default, measured best (see `inpaint_array`)
# How `inpaint` pastes the network's fill into the image (`hint.inference.inpaint_array`):
# "poisson" (seamless: Poisson blending, `hint.blending`) or "none" (the raw fill).
BLENDS = ("poisson", "none")
LR_SCHEDULES = ("constant", "cosine")
TUNE_ALGORITHMS = ("random", "hyperband", "bayesian")
DIRECTIONS = ("max", "min")
PRETRAINED = "pretrained"  # model.init_from value for the shipped weights (hint.pretrained)


class ConfigError(ValueError):
    """A configuration problem, with the key, its place in the file and a suggestion."""


@dataclass
class RunConfig:
    """Where a run writes and how it is seeded."""

    dir: str = "runs"
    name: str | None = None
    seed: int = 0


@dataclass
class DataConfig:
    """Image source, crops and batches."""

    path: str | None = None
    image_size: int = 64
    channels: int = 3
    val_count: int = 4
    batch_size: int = 4
    flips: str = "horizontal"
    color_augment: str = "none"  # or "channel_permutation" / "saturation" (colour crops)
    val_path: str | None = None  # a separate validation folder (centre crops)
    val_size: int | None = None  # side of the validation crops; None = image_size


@dataclass
class ModelConfig:
    """The generator: a preset and/or a registered class plus its keyword arguments."""

    preset: str | None = "hint_tiny"
    type: str | None = None
    init_from: str | None = None  # "pretrained" = the shipped weights (hint/weights)
    freeze: list[str] = field(default_factory=list)
    # Keyword arguments of the backbone class; keys checked against its constructor.
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Optimisation and the training loop."""

    epochs: int = 10
    steps_per_epoch: int = 50
    lr: float = 1e-4
    lr_schedule: str = "constant"
    lr_min: float = 1e-6
    warmup_steps: int = 0  # linear warm-up from 0 to lr before the schedule
    beta_1: float = 0.9
    beta_2: float = 0.999
    d_lr_ratio: float = 0.1
    optimizer: str = "adam"
    strategy: str = "auto"
    tensorboard: bool = False
    jit_compile: bool = False
    precision: str = "float32"  # float32 | mixed_bfloat16
    ema_momentum: float = 0.0  # generator weight average (0 = off); validated and saved


@dataclass
class EvalConfig:
    """The fixed evaluation protocol's seed and the sample grids (the rest is the task's)."""

    seed: int = 2024
    samples: int = 6
    # FID / KID / LPIPS (`hint.perceptual_evaluation`): local weight files, off when null.
    fid_weights: str | None = None
    lpips_vgg_weights: str | None = None
    lpips_linear_weights: str | None = None


@dataclass
class TuneConfig:
    """Hyperparameter search (`python main.py tune`); `hint.tuning.space` checks the space."""

    dir: str = "tuning_runs"
    name: str = "search"
    algorithm: str = "random"
    objective: str = "val_psnr"
    direction: str = "max"
    trials: int = 20
    # Per-trial schedule; null = the train section's.
    epochs: int | None = None
    steps_per_epoch: int | None = None
    executions_per_trial: int = 1
    time_budget: float | None = None  # seconds; no new trial starts after it
    seed: int = 0
    devices: list[str] | None = None  # null = auto (MirroredStrategy when >1 GPU)
    # `key=value` settings for the trials only (not for best_config.yaml), e.g. smaller crops.
    trial_overrides: list[str] = field(default_factory=list)
    # Config path -> distribution, e.g. {"train.lr": {"log_uniform": [1e-5, 1e-3]}}.
    space: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    """The whole configuration of a run."""

    task: str = "inpaint"
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    # Task name -> that task's own section (`TaskPlugin.config_section`), written at the top
    # level of the YAML (`inpaint:`, `denoise:`, ...) and read as `cfg.<task>`. The active
    # task's section is always there (defaults filled in); others only when written.
    sections: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name):
        # Only called when the normal lookup fails: a task's section by its name.
        sections = self.__dict__.get("sections") or {}
        if name in sections:
            return sections[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML layout (model arguments inlined in `model`, task sections at
        the top level)."""
        out = dataclasses.asdict(self)
        args = out["model"].pop("args")
        out["model"].update(args)
        out.update(out.pop("sections"))
        return out


# Keys of `Config` that are not YAML keys.
_INTERNAL_FIELDS = ("sections",)


def task_sections() -> dict[str, type]:
    """Task name -> the dataclass of its config section, for the tasks that have one."""
    out = {}
    for name in task_names():
        section = get_task(name).config_section
        if section is not None:
            out[name] = section
    return out


# --------------------------------------------------------------------------- loading


def load_config(path: str | None = None, overrides: list[str] | None = None) -> Config:
    """Loads, overrides and validates a config.

    Args:
        path: YAML file, or None for all defaults.
        overrides: `section.key=value` strings applied after the file.

    Returns:
        The validated `Config`.

    Raises:
        ConfigError: naming the key, its line and the closest valid key.
    """
    raw: dict[str, Any] = {}
    marks: dict[tuple[str, ...], int] = {}
    source = "<defaults>"
    if path is not None:
        source = path
        if not os.path.isfile(path):
            raise ConfigError(f"Config file not found: {path}")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            raw = yaml.safe_load(text) or {}
            marks = _line_marks(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections.")
    for item in overrides or []:
        _apply_override(raw, item)
    return config_from_dict(raw, source=source, marks=marks)


def config_from_dict(
    raw: dict[str, Any], source: str = "<dict>", marks: dict | None = None
) -> Config:
    """Builds a validated `Config` from a nested dict (as YAML would give)."""
    marks = marks or {}
    sections = task_sections()
    raw = migrate(raw, source)
    written = {key: raw.pop(key) for key in list(raw) if key in sections}
    cfg = _build(Config, raw, (), source, marks, extra_keys=list(sections))
    for name, cls in sections.items():
        if name in written or name == cfg.task:
            cfg.sections[name] = _build(cls, written.get(name), (name,), source, marks)
    if _MODEL_RESOLVER is None:
        raise ConfigError("No model registry: import hint (it registers the models) first.")
    _MODEL_RESOLVER(cfg, raw.get("model") or {}, source, marks or {})
    validate(cfg)
    return cfg


def moved_keys() -> dict[str, str]:
    """Old key -> new key, for every key a task's section took over (`TaskPlugin.moved_keys`)."""
    out = {}
    for name in task_names():
        out.update(get_task(name).moved_keys)
    return out


def _rename(key: str, moves: dict[str, str]) -> str | None:
    """`key` (a dotted path) under its new name, or None when it did not move."""
    for old, new in moves.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old) :]
    return None


def migrate(raw: dict[str, Any], source: str = "<dict>") -> dict[str, Any]:
    """A config dict of an older layout in today's, with a one-line notice of what moved.

    Keys that moved into a task's section (`data.noise` to `denoise.noise`, `loss.l1` to
    `inpaint.loss.l1`, ...) are moved, in the mapping and in `tune.space` / `tune.
    trial_overrides`. A moved key that belongs to another task than the config's is dropped:
    older files held every task's settings, and only the config's own task read them.

    Returns:
        A new dict; `raw` is unchanged.
    """
    moves = moved_keys()
    raw = copy.deepcopy(raw)
    task = raw.get("task", Config.task)
    done = []

    def pop(path):
        node = raw
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                return _MISSING
        if not isinstance(node, dict) or path[-1] not in node:
            return _MISSING
        value = node.pop(path[-1])
        if not node and len(path) > 1:
            _drop_empty(raw, path[:-1])
        return value

    for old, new in moves.items():
        value = pop(old.split("."))
        if value is _MISSING:
            continue
        done.append(f"{old} -> {new}")
        if new.split(".")[0] != task:
            continue  # another task's setting: unused by this config's task
        node = raw
        *parents, last = new.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node.setdefault(last, value)
    tune = raw.get("tune")
    if isinstance(tune, dict):
        space = tune.get("space")
        if isinstance(space, dict):
            for key in list(space):
                new = _rename(str(key), moves)
                if new is not None:
                    space[new] = space.pop(key)
                    done.append(f"tune.space.{key} -> tune.space.{new}")
        overrides = tune.get("trial_overrides")
        if isinstance(overrides, list):
            for i, item in enumerate(overrides):
                key, sep, value = str(item).partition("=")
                new = _rename(key.strip(), moves)
                if sep and new is not None:
                    overrides[i] = f"{new}={value}"
                    done.append(f"tune.trial_overrides {key.strip()} -> {new}")
    if done:
        shown = ", ".join(done[:4]) + (f" and {len(done) - 4} more" if len(done) > 4 else "")
        print(
            f"note: {source}: keys of an older layout read as their new names: {shown} "
            "(CHANGELOG.md, 0.2.0)",
            file=sys.stderr,
        )
    return raw


_MISSING = object()


def _drop_empty(raw: dict, path: list[str]) -> None:
    """Removes the now empty mapping at `path` (and empty parents) from `raw`."""
    for end in range(len(path), 0, -1):
        node = raw
        for part in path[: end - 1]:
            node = node[part]
        if node.get(path[end - 1]) == {}:
            del node[path[end - 1]]


def dump_config(cfg: Config, path: str) -> None:
    """Writes the resolved config as YAML, atomically."""
    from hint.datasets.image_io import atomic_write

    with atomic_write(path, mode="w") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Splits `a.b.c=value` into (["a", "b", "c"], parsed value)."""
    if "=" not in item:
        raise ConfigError(f"Override must look like section.key=value. Received: {item!r}")
    key, _, value = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"Override has an empty key. Received: {item!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return parts, parsed


def check_override_keys(overrides, allowed: tuple, command: str, why: str) -> None:
    """Refuses an override a command does not take.

    Args:
        overrides: `"key=value"` strings.
        allowed: Keys the command takes: whole keys, or prefixes ending in "." for a section.
        command: The command, as the user typed it ("evaluate --set").
        why: Why the others are refused, for the message.

    Raises:
        ConfigError: naming the first refused key.
    """
    for item in overrides:
        key = item.partition("=")[0].strip()
        if not any(key == a or (a.endswith(".") and key.startswith(a)) for a in allowed):
            names = ", ".join(f"{a}*" if a.endswith(".") else a for a in allowed)
            raise ConfigError(f"{command} accepts only {names} keys ({why}). Received: {key}")


def _apply_override(raw: dict[str, Any], item: str) -> None:
    parts, value = parse_override(item)
    node = raw
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = {}
        if not isinstance(node[p], dict):
            raise ConfigError(f"Override {item!r}: {p!r} is not a section.")
        node = node[p]
    node[parts[-1]] = value


def _line_marks(text: str) -> dict[tuple[str, ...], int]:
    """Maps key paths to 1-based line numbers using the YAML node tree (safe loader)."""
    marks: dict[tuple[str, ...], int] = {}

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    p = prefix + (str(k.value),)
                    marks[p] = k.start_mark.line + 1
                    walk(v, p)

    walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    return marks


def where(path: tuple[str, ...], source: str, marks: dict) -> str:
    """`'a.b.c' (file, line N)`: a key for an error message, with its place in the file."""
    line = marks.get(path)
    loc = f"{source}, line {line}" if line else source
    return f"'{'.'.join(path)}' ({loc})"


def suggest(name: str, valid: list[str]) -> str:
    """ " Did you mean 'x'? Valid keys: ...": the end of an error message about `name`."""
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"{hint} Valid keys: {', '.join(sorted(valid))}."


def _build(cls, raw: Any, path: tuple[str, ...], source: str, marks: dict, extra_keys=()):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where(path, source, marks)} must be a mapping of keys.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        key = str(key)
        if cls is ModelConfig and key not in fields:
            continue  # backbone arguments, checked against the class in _resolve_model_args
        if key not in fields or key == "args" or key in _INTERNAL_FIELDS:
            valid = [k for k in fields if k != "args" and k not in _INTERNAL_FIELDS]
            valid += list(extra_keys)
            raise ConfigError(
                f"Unknown key {where(path + (key,), source, marks)}.{suggest(key, valid)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, path + (key,), source, marks)
        else:
            kwargs[key] = _check_type(value, hint, path + (key,), source, marks)
    return cls(**kwargs)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _check_type(value, tp, path, source, marks):
    """Checks a YAML value against a type hint; ints are accepted where floats are expected."""
    ok, converted = _conforms(value, tp)
    if not ok:
        raise ConfigError(
            f"Wrong type for {where(path, source, marks)}: expected {_type_name(tp)}. "
            f"Received: {value!r}"
        )
    return converted


def _conforms(value, tp) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(tp):
            ok, conv = _conforms(value, arg)
            if ok:
                return True, conv
        return False, None
    if tp is type(None):
        return value is None, None
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            return False, None
        conv = []
        for v in value:
            ok, c = _conforms(v, item_tp)
            if not ok:
                return False, None
            conv.append(c)
        return True, conv
    if origin is dict:
        k_tp, v_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            return False, None
        conv = {}
        for k, v in value.items():
            ok_k, ck = _conforms(k, k_tp)
            ok_v, cv = _conforms(v, v_tp)
            if not (ok_k and ok_v):
                return False, None
            conv[ck] = cv
        return True, conv
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, str):
            # PyYAML (YAML 1.1) reads 1e-3 as a string; YAML 1.2 and users read a number.
            try:
                return True, float(value)
            except ValueError:
                return False, None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


# --------------------------------------------------------------------------- model arguments

# Fills `model.type` / `model.args` from the preset and checks the class's arguments. The
# config core knows no network: `hint.models` registers it (`hint.models.model_registry`).
_MODEL_RESOLVER = None


def register_model_resolver(resolver) -> None:
    """Sets the function that completes and checks the `model` section.

    Args:
        resolver: `resolver(cfg, raw_model, source, marks)`, which fills `cfg.model.type` and
            `cfg.model.args` from `raw_model` (the section as written) and raises
            `ConfigError` for an unknown preset, type or argument.
    """
    global _MODEL_RESOLVER
    _MODEL_RESOLVER = resolver


# --------------------------------------------------------------------------- validation


def check_choice(value, options, name):
    if value not in options:
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"'{name}' must be one of {', '.join(options)}.{hint} Received: {name}={value!r}"
        )


def check_positive(value, name, allow_zero=False):
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"'{name}' must be {bound}. Received: {name}={value!r}")


def _validate_eval_weights(e: EvalConfig) -> None:
    """The metric weight files exist; LPIPS needs both of its files."""
    if bool(e.lpips_vgg_weights) != bool(e.lpips_linear_weights):
        raise ConfigError(
            "LPIPS needs both eval.lpips_vgg_weights and eval.lpips_linear_weights. Received: "
            f"eval.lpips_vgg_weights={e.lpips_vgg_weights!r}, "
            f"eval.lpips_linear_weights={e.lpips_linear_weights!r}"
        )
    for key in ("fid_weights", "lpips_vgg_weights", "lpips_linear_weights"):
        path = getattr(e, key)
        if path and not os.path.isfile(path):
            raise ConfigError(f"'eval.{key}' is not a file. Received: eval.{key}={path!r}")


def _validate_tune(t: TuneConfig) -> None:
    # The project folder is removed by --overwrite: it must be a plain folder name.
    if not t.name or t.name in (".", "..") or "/" in t.name or os.sep in t.name:
        raise ConfigError(
            f"'tune.name' must be a plain folder name (no '/'). Received: tune.name={t.name!r}"
        )
    check_choice(t.algorithm, TUNE_ALGORITHMS, "tune.algorithm")
    check_choice(t.direction, DIRECTIONS, "tune.direction")
    if not t.objective:
        raise ConfigError("'tune.objective' must name a logged metric, e.g. val_psnr.")
    check_positive(t.trials, "tune.trials")
    check_positive(t.executions_per_trial, "tune.executions_per_trial")
    for name in ("epochs", "steps_per_epoch", "time_budget"):
        if getattr(t, name) is not None:
            check_positive(getattr(t, name), f"tune.{name}")
    if t.devices is not None and not t.devices:
        raise ConfigError("'tune.devices' must list devices or be null. Received: tune.devices=[]")
    for item in t.trial_overrides:
        parse_override(item)


def validate(cfg: Config) -> None:
    """Checks values that have the right type but are impossible."""
    if cfg.task not in task_names():
        # The task plug-ins register themselves when `hint` is imported (`hint.tasks`).
        check_choice(cfg.task, task_names(), "task")
    d = cfg.data
    # The network's size multiple is checked with the model section (`hint.models`).
    check_positive(d.image_size, "data.image_size")
    if d.channels not in (1, 3):
        raise ConfigError(f"'data.channels' must be 1 or 3. Received: data.channels={d.channels}")
    check_positive(d.batch_size, "data.batch_size")
    check_positive(d.val_count, "data.val_count")
    check_choice(d.flips, FLIPS, "data.flips")
    check_choice(d.color_augment, COLOR_AUGMENTS, "data.color_augment")
    if d.color_augment != "none" and d.channels != 3:
        raise ConfigError(
            "'data.color_augment' needs colour images (data.channels: 3). "
            f"Received: data.color_augment={d.color_augment!r}"
        )
    if d.path is not None and d.path != "embedded" and not os.path.isdir(d.path):
        raise ConfigError(f"'data.path' is not a folder. Received: data.path={d.path!r}")
    t = cfg.train
    check_positive(t.epochs, "train.epochs")
    check_positive(t.steps_per_epoch, "train.steps_per_epoch")
    check_positive(t.lr, "train.lr")
    check_positive(t.d_lr_ratio, "train.d_lr_ratio", allow_zero=True)
    for name in ("beta_1", "beta_2", "ema_momentum"):
        v = getattr(t, name)
        if not 0.0 <= v < 1.0:
            raise ConfigError(f"'train.{name}' must be in [0, 1). Received: train.{name}={v}")
    check_choice(t.optimizer, OPTIMIZERS, "train.optimizer")
    check_choice(t.lr_schedule, LR_SCHEDULES, "train.lr_schedule")
    check_positive(t.lr_min, "train.lr_min", allow_zero=True)
    check_positive(t.warmup_steps, "train.warmup_steps", allow_zero=True)
    if t.warmup_steps >= t.epochs * t.steps_per_epoch:
        raise ConfigError(
            "'train.warmup_steps' must be fewer than the run's steps "
            f"(train.epochs * train.steps_per_epoch = {t.epochs * t.steps_per_epoch}). "
            f"Received: train.warmup_steps={t.warmup_steps}"
        )
    if d.val_path is not None and not os.path.isdir(d.val_path):
        raise ConfigError(
            f"'data.val_path' is not a folder. Received: data.val_path={d.val_path!r}"
        )
    if d.val_size is not None:
        check_positive(d.val_size, "data.val_size")
    check_choice(t.strategy, STRATEGIES, "train.strategy")
    check_choice(t.precision, PRECISIONS, "train.precision")
    check_positive(cfg.eval.samples, "eval.samples", allow_zero=True)
    _validate_eval_weights(cfg.eval)
    _validate_tune(cfg.tune)
    get_task(cfg.task).validate_config(cfg)

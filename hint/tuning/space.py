"""The search space: `tune.space` in YAML -> keras_tuner `HyperParameters` -> config values.

`tune.space` maps config paths to distributions:

```yaml
tune:
  space:
    model.dim: {choice: [8, 16, 24]}
    model.num_heads: {choice: [[1, 1, 1, 1], [1, 1, 2, 4]]}   # lists, dicts, null: any YAML
    train.lr: {log_uniform: [1.0e-5, 1.0e-3]}
    loss.l1: {uniform: [0.5, 2.0]}                # optional step: {uniform: [0, 1], step: 0.25}
    model.bottleneck: {int: [32, 256], step: 32}  # step defaults to 1
    data.mask.kind: {choice: [freeform, mix]}
    data.image_size: {fixed: 32}                  # one value, shown in the trial table
```

Keys may also be nested (`model: {dim: {choice: [8, 16]}}`), which is what
`--set tune.space.model.dim={choice: [8, 16]}` gives. Any config key can be tuned except
`run.dir`, `run.name` and the `tune` section itself; model keys are checked against the
constructor of the model class (or classes, when `model.preset` / `model.type` are tuned).

keras_tuner's `hp.Choice` takes scalars of one type only, so a choice whose options are lists,
dicts, null or of mixed types is stored as JSON strings (`"[1, 1, 2, 4]"`) and decoded here; ints
mixed with floats become floats.

Example:

```python
space = parse_space(cfg, raw)            # raises ConfigError naming the bad key or spec
hp = keras_tuner.HyperParameters()
space.declare(hp)
space.values(hp.values)                  # {"model.dim": 8, "model.num_heads": [1, 1, 1, 1]}
```
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from hint import config as config_lib
from hint.config import ConfigError
from hint.models.model_registry import model_class

DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int", "fixed")
_OPTIONS = {"choice": (), "uniform": ("step",), "log_uniform": (), "int": ("step",), "fixed": ()}
_FORBIDDEN = ("run.dir", "run.name")
_SPEC_HELP = (
    "a distribution: {choice: [a, b, ...]}, {uniform: [low, high]}, {log_uniform: [low, high]}, "
    "{int: [low, high], step: s} or {fixed: value}"
)


@dataclass(frozen=True)
class Param:
    """One tuned config key and its distribution.

    Attributes:
        key: The dotted config path, also the keras_tuner hyperparameter name.
        kind: One of `DISTRIBUTIONS`.
        options: The decoded options of a `choice` (or the one value of `fixed`).
        low: Lower bound of a range.
        high: Upper bound of a range.
        step: Step of an `int` or `uniform` range, or None.
        encoded: Whether the options are JSON strings inside keras_tuner.
    """

    key: str
    kind: str
    options: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    encoded: bool = False

    @property
    def log_scale(self) -> bool:
        return self.kind == "log_uniform"

    @property
    def numeric(self) -> bool:
        """Whether values are numbers on a continuous axis (for plots)."""
        if self.kind in ("uniform", "log_uniform", "int"):
            return True
        return not self.encoded and all(_is_number(v) for v in self.options)

    def encode(self, value):
        return json.dumps(value) if self.encoded else value

    def decode(self, value):
        return json.loads(value) if self.encoded else value

    def declare(self, hp) -> None:
        """Registers this parameter with a keras_tuner `HyperParameters`."""
        if self.kind == "choice":
            hp.Choice(self.key, [self.encode(v) for v in self.options])
        elif self.kind == "fixed":
            hp.Fixed(self.key, self.encode(self.options[0]))
        elif self.kind == "int":
            hp.Int(self.key, int(self.low), int(self.high), step=int(self.step or 1))
        elif self.kind == "uniform":
            hp.Float(self.key, self.low, self.high, step=self.step)
        else:
            hp.Float(self.key, self.low, self.high, sampling="log")

    def describe(self) -> str:
        """Short text of the distribution, e.g. `log_uniform [1e-05, 0.001]`."""
        if self.kind in ("choice", "fixed"):
            return f"{self.kind} {list(self.options) if self.kind == 'choice' else self.options[0]}"
        step = f" step {self.step:g}" if self.step else ""
        return f"{self.kind} [{self.low:g}, {self.high:g}]{step}"


@dataclass(frozen=True)
class SearchSpace:
    """The parsed `tune.space`: an ordered tuple of `Param`s."""

    params: tuple[Param, ...]

    def __iter__(self):
        return iter(self.params)

    def __len__(self):
        return len(self.params)

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    def declare(self, hp) -> None:
        """Registers every parameter with a keras_tuner `HyperParameters`."""
        for param in self.params:
            param.declare(hp)

    def values(self, hp_values: dict) -> dict[str, Any]:
        """Decoded config values `{config path: value}` of a trial's `hp.values`.

        Keras Tuner's own entries (`tuner/epochs`, ... of Hyperband) are left out.
        """
        return {p.key: p.decode(hp_values[p.key]) for p in self.params if p.key in hp_values}


# --------------------------------------------------------------------------- dict helpers


def set_path(raw: dict, key: str, value) -> None:
    """Sets `raw["a"]["b"]["c"] = value` for `key="a.b.c"`, creating sections."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = copy.deepcopy(value)


def apply_overrides(raw: dict, items) -> None:
    """Applies `section.key=value` strings (as `--set` does) to a raw config dict."""
    for item in items:
        parts, value = config_lib.parse_override(item)
        set_path(raw, ".".join(parts), value)


# --------------------------------------------------------------------------- parsing


def parse_space(
    cfg: config_lib.Config,
    raw: dict,
    source: str = "<config>",
    marks: dict | None = None,
) -> SearchSpace:
    """Parses and validates `cfg.tune.space` against the config it varies.

    Every key must be a config path (the error names the closest one), every spec a known
    distribution, and every option (both ends of a range) must give a valid config when set on
    the trials' base config (`raw` plus `tune.trial_overrides`).

    Args:
        cfg: The validated base config; its `tune.space` is parsed.
        raw: The raw (unresolved) config dict the trials start from.
        source: The config's file name, for messages. Defaults to `"<config>"`.
        marks: Key path -> line number, for messages. Defaults to `None`.

    Returns:
        The `SearchSpace`.

    Raises:
        ConfigError: naming the key, its line and what is wrong.
    """
    marks = marks or {}
    entries = list(_flatten(cfg.tune.space, ()))
    if not entries:
        raise ConfigError(
            "'tune.space' is empty: declare at least one hyperparameter, e.g. "
            "tune.space: {train.lr: {log_uniform: [1.0e-5, 1.0e-3]}}"
        )
    specs = {key: spec for key, spec, _ in entries}
    paths = _leaf_paths(_model_classes(cfg, specs))
    trial_raw = copy.deepcopy(raw)
    apply_overrides(trial_raw, cfg.tune.trial_overrides)
    params = []
    for key, spec, yaml_path in entries:
        where = _where(("tune", "space", *yaml_path), source, marks)
        if key in (p.key for p in params):
            raise ConfigError(f"{where}: '{key}' is given twice in tune.space.")
        _check_key(key, paths, where)
        param = _parse_spec(key, spec, paths.get(key), where)
        _check_values(param, trial_raw, where)
        params.append(param)
    return SearchSpace(tuple(params))


def _where(path: tuple[str, ...], source: str, marks: dict) -> str:
    line = marks.get(path)
    loc = f"{source}, line {line}" if line else source
    return f"'tune.space.{'.'.join(path[2:])}' ({loc})"


def _flatten(space: dict, prefix: tuple[str, ...]):
    """Yields (dotted key, spec, yaml key path); nested sections of specs are walked into."""
    for name, spec in space.items():
        path = (*prefix, str(name))
        is_spec = isinstance(spec, dict) and any(k in DISTRIBUTIONS for k in spec)
        if (
            isinstance(spec, dict)
            and spec
            and not is_spec
            and all(isinstance(v, dict) for v in spec.values())
        ):
            yield from _flatten(spec, path)
        else:
            yield ".".join(path), spec, path


def _leaf_paths(model_classes) -> dict[str, Any]:
    """Dotted config path -> type hint, for every leaf of `Config` (and model arguments)."""
    paths: dict[str, Any] = {}

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "args":
                continue
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint):
                paths[prefix + f.name] = "section"
                walk(hint, prefix + f.name + ".")
            else:
                paths[prefix + f.name] = hint

    walk(config_lib.Config, "")
    paths.pop("sections", None)
    for name, section in config_lib.task_sections().items():
        paths[name] = "section"
        walk(section, name + ".")
    for cls in model_classes or ():
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                default = p.default
                hint = (
                    Any if default is inspect.Parameter.empty or default is None else type(default)
                )
                paths.setdefault(f"model.{p.name}", hint)
    return paths


def _model_classes(cfg: config_lib.Config, specs: dict) -> list:
    """The model classes the trials may build: the base one and any tuned preset / type."""
    from hint.models import presets

    names = {cfg.model.type}
    for key in ("model.preset", "model.type"):
        spec = specs.get(key)
        if isinstance(spec, dict):
            options = spec.get("choice", [spec.get("fixed")] if "fixed" in spec else [])
            for option in options if isinstance(options, list) else []:
                if key == "model.type" and isinstance(option, str):
                    names.add(option)
                elif isinstance(option, str) and option in presets.PRESETS:
                    names.add(presets.PRESETS[option].get("type", "HINTBackbone"))
    classes = []
    for name in sorted(n for n in names if n):
        try:
            classes.append(model_class(name))
        except ConfigError:
            pass  # reported with its line when the option itself is checked
    return classes


def _check_key(key: str, paths: dict, where: str) -> None:
    if key.startswith("tune.") or key == "tune" or key in _FORBIDDEN:
        raise ConfigError(
            f"{where}: '{key}' cannot be tuned (run.dir and run.name are set per trial; the "
            "tune section configures the search itself)."
        )
    if paths.get(key) == "section":
        leaves = [p for p in paths if p.startswith(key + ".") and paths[p] != "section"]
        raise ConfigError(
            f"{where}: '{key}' is a section; tune its keys instead, e.g. "
            f"{', '.join(repr(p) for p in leaves[:3])}."
        )
    if key in paths:
        return
    # Keys inside a dict-valued option (e.g. data.mask.weights.rect).
    for path, hint in paths.items():
        if key.startswith(path + ".") and typing.get_origin(hint) is dict:
            return
    valid = sorted(p for p, h in paths.items() if h != "section" and not p.startswith("tune."))
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(
        f"Unknown key {where}: not a config key.{hint} Valid keys: {', '.join(valid)}."
    )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float_hint(hint) -> bool:
    if hint is float:
        return True
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return float in typing.get_args(hint)
    return False


def _number(value, where: str, what: str) -> float:
    if isinstance(value, str):
        # PyYAML (YAML 1.1) reads 1e-5 as a string.
        try:
            value = float(value)
        except ValueError:
            pass
    if not _is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{where}: {what} must be a finite number. Received: {value!r}")
    return value


def _parse_spec(key: str, spec, hint, where: str) -> Param:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be {_SPEC_HELP}. Received: {spec!r}")
    kinds = [k for k in spec if k in DISTRIBUTIONS]
    if len(kinds) != 1:
        others = [str(k) for k in spec if k not in DISTRIBUTIONS]
        close = difflib.get_close_matches(others[0], DISTRIBUTIONS, n=1) if others else []
        suggestion = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"{where} must have exactly one of {', '.join(DISTRIBUTIONS)}.{suggestion} "
            f"Received: {spec!r}"
        )
    kind = kinds[0]
    extra = [str(k) for k in spec if k != kind and k not in _OPTIONS[kind]]
    if extra:
        allowed = f" (allowed: {', '.join(_OPTIONS[kind])})" if _OPTIONS[kind] else ""
        raise ConfigError(
            f"{where}: unknown option {', '.join(extra)} for '{kind}'{allowed}. Received: {spec!r}"
        )
    arg = spec[kind]
    if kind in ("choice", "fixed"):
        options = [arg] if kind == "fixed" else arg
        if kind == "choice" and (not isinstance(arg, list) or not arg):
            raise ConfigError(f"{where}: 'choice' needs a non-empty list. Received: {arg!r}")
        if _float_hint(hint):
            options = [
                _number(v, where, "each option") if isinstance(v, str) else v for v in options
            ]
        options, encoded = _normalise_options(options)
        if len({json.dumps(v, sort_keys=True) for v in options}) != len(options):
            raise ConfigError(f"{where}: 'choice' has repeated options. Received: {arg!r}")
        return Param(key, kind, options=tuple(options), encoded=encoded)

    if not isinstance(arg, list) or len(arg) != 2:
        raise ConfigError(f"{where}: '{kind}' needs [low, high]. Received: {arg!r}")
    low, high = (_number(v, where, f"'{kind}' bounds") for v in arg)
    step = spec.get("step")
    if step is not None:
        step = _number(step, where, "'step'")
        if step <= 0:
            raise ConfigError(f"{where}: 'step' must be > 0. Received: step={step!r}")
    if kind == "int":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (*arg, step or 1)):
            raise ConfigError(f"{where}: 'int' needs integer bounds and step. Received: {spec!r}")
    if not low < high:
        raise ConfigError(f"{where}: '{kind}' needs low < high. Received: {arg!r}")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}: 'log_uniform' needs 0 < low. Received: {arg!r}")
    if step is not None and step > high - low:
        raise ConfigError(f"{where}: 'step' is larger than high - low. Received: {spec!r}")
    if kind != "int":
        low, high = float(low), float(high)
        step = float(step) if step is not None else None
    return Param(key, kind, low=low, high=high, step=step)


def _normalise_options(options: list) -> tuple[list, bool]:
    """Options keras_tuner can hold natively, or JSON-encoded ones (returns them, encoded?)."""
    kinds = {type(v) for v in options}
    if len(kinds) == 1 and kinds <= {bool, int, float, str}:
        return list(options), False
    if all(_is_number(v) for v in options):
        return [float(v) for v in options], False
    return list(options), True


def _check_values(param: Param, trial_raw: dict, where: str) -> None:
    """Builds a config with each option (or both ends of a range) to check the values."""
    if param.kind in ("choice", "fixed"):
        candidates = list(param.options)
    elif param.kind == "int":
        step = int(param.step or 1)
        candidates = [param.low, param.low + (param.high - param.low) // step * step]
    else:
        candidates = [param.low, param.high]
    for value in candidates:
        raw = copy.deepcopy(trial_raw)
        set_path(raw, param.key, value)
        try:
            config_lib.config_from_dict(raw, source="tune.space")
        except ConfigError as e:
            raise ConfigError(f"{where}: the value {value!r} is not valid: {e}") from None

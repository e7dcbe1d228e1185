"""The Keras Tuner hypermodel: base config + a trial's values -> `hint.training.fit_task`.

A trial is exactly a normal training run. Its config is the base config (the YAML file and
`--set` overrides), then `tune.trial_overrides` and the per-trial schedule (`tune.epochs`,
`tune.steps_per_epoch`), then the trial's hyperparameter values, validated as any config is;
it is trained by `hint.training.fit_task` in its own run directory (`config.yaml`, the best
model, `log.csv`, `backup/` ...) inside the tuning directory. Data-pipeline keys
(`inpaint.mask.kind`, `data.image_size`, ...) reach tf.data through that config, never through a
global.
"""

from __future__ import annotations

import copy
import csv
import math
import os
import shutil
import time

import keras_tuner
import yaml

from hint import config as config_lib
from hint import training
from hint.tuning import space as space_lib


class HintHyperModel(keras_tuner.HyperModel):
    """Builds and trains the configured task for the hyperparameter values of a trial.

    Args:
        raw: The raw base config dict (YAML file plus `--set` overrides, before resolution),
            so that a tuned `model.preset` brings its own arguments.
        space: The parsed `hint.tuning.space.SearchSpace`.
        name: Hypermodel name. Defaults to `"hint"`.

    Example:

    ```python
    hypermodel = HintHyperModel(raw, parse_space(cfg, raw))
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    metrics = hypermodel.fit(hp, None, run_dir="tuning_runs/search/trial_00")
    ```
    """

    def __init__(self, raw: dict, space: space_lib.SearchSpace, name: str = "hint"):
        super().__init__(name=name)
        self.raw = copy.deepcopy(raw)
        self.space = space
        self.base = config_lib.config_from_dict(copy.deepcopy(raw))

    def declare_hyperparameters(self, hp) -> None:
        self.space.declare(hp)

    # ------------------------------------------------------------------ configs

    def trial_config(
        self,
        hp_values: dict,
        run_dir: str | None = None,
        *,
        epochs: int | None = None,
        init_from: str | None = None,
        execution: int = 0,
    ) -> config_lib.Config:
        """The validated config of a trial.

        Args:
            hp_values: The trial's `hp.values` (keras_tuner's own `tuner/...` keys ignored).
            run_dir: The trial's run directory (sets `run.dir` / `run.name`). Defaults to
                `None` (the base config's).
            epochs: Overrides `train.epochs` (Hyperband's budget). Defaults to `None`.
            init_from: Overrides `model.init_from` (Hyperband continuing a trial).
                Defaults to `None`.
            execution: Index of the execution; added to `run.seed` so that executions start
                from different initialisations. Defaults to `0`.

        Returns:
            The `Config`.
        """
        tune = self.base.tune
        raw = copy.deepcopy(self.raw)
        space_lib.apply_overrides(raw, tune.trial_overrides)
        if tune.epochs is not None:
            space_lib.set_path(raw, "train.epochs", tune.epochs)
        if tune.steps_per_epoch is not None:
            space_lib.set_path(raw, "train.steps_per_epoch", tune.steps_per_epoch)
        for key, value in self.space.values(hp_values).items():
            space_lib.set_path(raw, key, value)
        if epochs is not None:
            space_lib.set_path(raw, "train.epochs", int(epochs))
        if init_from is not None:
            space_lib.set_path(raw, "model.init_from", init_from)
        cfg = config_lib.config_from_dict(raw, source="trial config")
        cfg.run.seed += execution
        if run_dir is not None:
            cfg.run.dir, cfg.run.name = os.path.split(os.path.normpath(run_dir))
        return cfg

    def best_config(self, hp_values: dict, run_name: str | None = None) -> config_lib.Config:
        """The base config with a trial's values: full schedule, no trial-only overrides."""
        raw = copy.deepcopy(self.raw)
        for key, value in self.space.values(hp_values).items():
            space_lib.set_path(raw, key, value)
        cfg = config_lib.config_from_dict(raw, source="best config")
        if run_name is not None:
            cfg.run.name = run_name
        return cfg

    # ------------------------------------------------------------------ keras_tuner API

    def build(self, hp):
        """The compiled task model of the trial config (inside the caller's strategy scope)."""
        return training.build_task(self.trial_config(hp.values))

    def fit(
        self,
        hp,
        model=None,
        *args,
        run_dir: str,
        strategy=None,
        epochs: int | None = None,
        init_from: str | None = None,
        execution: int = 0,
        callbacks=(),
        verbose: int = 0,
        **kwargs,
    ) -> dict[str, float]:
        """Trains one trial with `hint.training.fit_task` in `run_dir`.

        `model` is not used: `fit_task` builds the task itself, inside `strategy`, exactly as
        `python main.py train` does (`HintTuner` passes None, so nothing is built twice).

        Args:
            hp: The trial's `HyperParameters`.
            model: Ignored. Defaults to `None`.
            *args: Ignored (keras_tuner passes `search()` arguments through).
            run_dir: The trial's run directory; rerunning a trial resumes it there.
            strategy: The `tf.distribute` strategy. Defaults to `None` (`train.strategy`).
            epochs: Overrides `train.epochs`. Defaults to `None`.
            init_from: Overrides `model.init_from`. Defaults to `None`.
            execution: Execution index (seed offset). Defaults to `0`.
            callbacks: Extra Keras callbacks. Defaults to `()`.
            verbose: `fit` verbosity. Defaults to `0`.
            **kwargs: Ignored.

        Returns:
            The metrics of the best epoch by the objective (from `log.csv`), plus `seconds`.
        """
        cfg = self.trial_config(
            hp.values, run_dir, epochs=epochs, init_from=init_from, execution=execution
        )
        _prepare_run_dir(cfg, run_dir)
        run_dir = training.make_run_dir(cfg)
        started = time.monotonic()
        _, history, _ = training.fit_task(
            cfg, run_dir, extra_callbacks=tuple(callbacks), verbose=verbose, strategy=strategy
        )
        tune = self.base.tune
        metrics = best_epoch_metrics(run_dir, history.history, tune.objective, tune.direction)
        metrics["seconds"] = time.monotonic() - started
        return metrics


def _normalised(cfg: config_lib.Config) -> dict:
    return yaml.safe_load(yaml.safe_dump(cfg.to_dict(), sort_keys=True))


def _prepare_run_dir(cfg: config_lib.Config, run_dir: str) -> None:
    """Clears a stale run directory whose config differs (a rerun trial resumes otherwise)."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        old = yaml.safe_load(f)
    if old == _normalised(cfg):
        return
    for entry in os.listdir(run_dir):
        if entry == "trial.json" or entry.startswith("execution_"):
            continue  # keras_tuner's record of the trial; other executions' runs
        target = os.path.join(run_dir, entry)
        if os.path.isdir(target):
            shutil.rmtree(target)
        else:
            os.remove(target)


def _to_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def best_epoch_metrics(run_dir: str, history: dict, objective: str, direction: str) -> dict:
    """Metrics of the epoch with the best objective, over every epoch of the run.

    `log.csv` is read (not only this session's `History`), so a trial resumed after an
    interruption is scored on all its epochs.

    Raises:
        ValueError: when the objective was never logged or never finite.
    """
    rows = []
    log = os.path.join(run_dir, "log.csv")
    if os.path.isfile(log):
        with open(log, newline="") as f:
            rows = list(csv.DictReader(f))
    if not rows or objective not in rows[0]:
        length = max((len(v) for v in history.values()), default=0)
        rows = [{k: v[i] for k, v in history.items() if i < len(v)} for i in range(length)]
    logged = sorted({k for row in rows for k in row if k != "epoch"})
    if objective not in logged:
        raise ValueError(
            f"The objective tune.objective={objective!r} was not logged by the trial. Logged "
            f"metrics: {', '.join(logged) or 'none'}."
        )
    finite = [r for r in rows if math.isfinite(_to_float(r.get(objective)))]
    if not finite:
        raise ValueError(f"The objective {objective!r} was not finite in any epoch.")
    sign = 1.0 if direction == "max" else -1.0
    best = max(finite, key=lambda r: sign * _to_float(r[objective]))
    return {
        k: _to_float(v) for k, v in best.items() if k != "epoch" and math.isfinite(_to_float(v))
    }

"""Hyperparameter search over any `hint` model with Keras Tuner (`python main.py tune`).

A search space is declared in the config under `tune.space`, keyed by the config paths it
varies (`model.dim`, `train.lr`, `inpaint.mask.kind`, ...). Every trial is a normal training run:
base config + the trial's values -> a validated `Config` -> `hint.training.fit_task`, in its
own run directory inside the tuning directory.

- `hint.tuning.space`: YAML space -> keras_tuner `HyperParameters`; trial values -> config values.
- `hint.tuning.hypermodel`: the `keras_tuner.HyperModel` that builds and fits the task per trial.
- `hint.tuning.search`: run / resume / distribute the search; the table, plot and best config.
- `hint.tuning.distributed`: the chief / worker environment (`KERASTUNER_*`), set before
  keras_tuner is imported.

Importing this package is cheap: it does not import keras_tuner or TensorFlow.
"""


class TuningError(RuntimeError):
    """A search that cannot start or whose trials failed (the message names the first error)."""


__all__ = ["TuningError"]

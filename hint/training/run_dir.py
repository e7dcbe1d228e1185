"""The run directory: its layout, its config, its callbacks (checkpoints, log) and reports.

A run directory holds everything a run produced:

```
runs/NAME/
  config.yaml              resolved config (every key, defaults filled in)
  model.keras              best network by validation PSNR (loaded with safe_mode=True)
  checkpoints/last.weights.h5  network (+ discriminator) + optimizers after the last epoch
  checkpoints/discriminator.weights.h5  the discriminator alone (what init_from transfers)
  backup/                  BackupAndRestore state: rerunning resumes from the last epoch
  log.csv                  per-epoch losses and metrics (CSVLogger)
  plots/history.png        loss / metric curves
  samples/samples.png      masked input | mask | output | ground truth (inpainting) or
                           noisy | denoised | clean (denoising)
  eval/                    evaluation tables (CSV, JSON) and figure
  tensorboard/             only with train.tensorboard: true
```
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np

from hint import config as config_lib
from hint.inference import MODEL_FILE
from hint.task_plugin import get_task
from hint.training.errors import TrainingError
from hint.training.strategy import is_chief_process

DISCRIMINATOR_FILE = "discriminator.weights.h5"


def make_run_dir(cfg: config_lib.Config) -> str:
    """Creates (or reuses, to resume) the run directory and writes the resolved config.

    In a multi-worker run only the chief writes the config, and `run.name` must be set: every
    host must agree on the run directory, and a restarted cluster resumes from it.
    """
    if cfg.train.strategy == "multi_worker" and not cfg.run.name:
        raise TrainingError(
            "train.strategy=multi_worker needs run.name (the same on every host), so that all "
            "workers use one run directory and a restarted cluster resumes from it."
        )
    name = cfg.run.name or time.strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(cfg.run.dir, name)
    os.makedirs(run_dir, exist_ok=True)
    if is_chief_process(cfg):
        config_lib.dump_config(cfg, os.path.join(run_dir, "config.yaml"))
    return run_dir


def load_run_config(run_dir: str, overrides=()) -> config_lib.Config:
    """The resolved config of a run directory, with `overrides` (`"key=value"`) applied."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise TrainingError(f"Not a run directory (no config.yaml): {run_dir}")
    return config_lib.load_config(path, list(overrides))


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the task's network as a `.keras` file, atomically, when `monitor` improves."""

    def __init__(self, path, monitor="val_psnr", mode="max"):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = -math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.sign * float(value) > self.best:
            self.best = self.sign * float(value)
            save_model_atomic(self.model.backbone, self.path)


class LastCheckpoint(keras.callbacks.Callback):
    """Writes the whole task's weights (generator, discriminator, optimizers) every epoch.

    A task with a discriminator also gets `discriminator.weights.h5` beside it: the
    discriminator alone, small enough to keep with a shipped model, which is what
    `model.init_from` transfers (`load_discriminator`).
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        tmp = self.path + ".tmp.weights.h5"
        self.model.save_weights(tmp)
        os.replace(tmp, self.path)
        discriminator = getattr(self.model, "discriminator", None)
        if discriminator is not None:
            target = os.path.join(os.path.dirname(self.path), DISCRIMINATOR_FILE)
            tmp = target + ".tmp.weights.h5"
            discriminator.save_weights(tmp)
            os.replace(tmp, target)


class StopOnNaN(keras.callbacks.Callback):
    """Stops training with a clear error when a loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if "loss" in key or key in ("l1", "perceptual", "style", "adversarial"):
                if value is not None and not np.isfinite(float(value)):
                    self.model.stop_training = True
                    raise TrainingError(
                        f"Training stopped: '{key}' became {value} at batch {batch}. Lower "
                        "train.lr, check the loss weights, or the input data for NaNs."
                    )


class CpuTime(keras.callbacks.Callback):
    """Adds `cpu_seconds` and `wall_seconds` to every epoch's logs, cumulative over resumes.

    CPU seconds are this process's (every thread: the training step and the tf.data workers),
    the figure a model card reports as training cost. A resumed run continues from the last
    row of its CSV log, so the totals cover the whole run. Place it before `CSVLogger`.

    Args:
        log_path: The run's CSV log, read once at the start of training.
    """

    def __init__(self, log_path: str):
        super().__init__()
        self.log_path = log_path

    def on_train_begin(self, logs=None):
        self._base = {"cpu_seconds": 0.0, "wall_seconds": 0.0}
        if os.path.isfile(self.log_path):
            import csv

            with open(self.log_path, newline="") as f:
                rows = list(csv.DictReader(f))
            for key in self._base:
                if rows and rows[-1].get(key):
                    self._base[key] = float(rows[-1][key])
        self._start = {"cpu_seconds": time.process_time(), "wall_seconds": time.time()}

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        now = {"cpu_seconds": time.process_time(), "wall_seconds": time.time()}
        for key, base in self._base.items():
            logs[key] = base + now[key] - self._start[key]


def save_model_atomic(model: keras.Model, path: str) -> None:
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def make_callbacks(
    cfg: config_lib.Config, run_dir: str, is_chief: bool = True, worker: str | None = None
) -> list:
    """Callbacks of a run; in a cluster only the chief writes files other than its backup.

    `worker` (e.g. "worker-1") gives each worker of a cluster its own `backup/<worker>` folder:
    Keras 3's `BackupAndRestore` has no chief-only logic, and two workers writing one backup
    file collide on its HDF5 lock. Each worker restores its own copy of the same state.
    """
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    backup_dir = os.path.join(run_dir, "backup", *([worker] if worker else []))
    callbacks = [
        StopOnNaN(),
        keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False),
    ]
    log = os.path.join(run_dir, "log.csv")
    if is_chief:
        os.makedirs(ckpt_dir, exist_ok=True)
        callbacks += [CpuTime(log), LastCheckpoint(os.path.join(ckpt_dir, "last.weights.h5"))]
    if cfg.train.ema_momentum > 0:
        # Validation runs on the weight average. At each epoch's end the average is swapped in
        # after the backup and the last checkpoint (which keep the training state as it is,
        # for resuming) and before the best-model checkpoint (which keeps the average).
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if is_chief:
        callbacks += [
            BestModelCheckpoint(os.path.join(run_dir, MODEL_FILE)),
            keras.callbacks.CSVLogger(log, append=True),
        ]
        if cfg.train.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")))
    return callbacks


def write_reports(cfg, run_dir, network, val_ds) -> None:
    """History plot and sample grid from the best network on validation batches."""
    from hint import plots

    log = os.path.join(run_dir, "log.csv")
    if os.path.isfile(log):
        plots.plot_history(log, os.path.join(run_dir, "plots", "history.png"))
    if cfg.eval.samples <= 0:
        return
    plugin = get_task(cfg.task)
    names = {t.name for t in network.inputs}
    rows = []
    for x, target in val_ds:
        # The network's own inputs: a pipeline may carry more (a noise map for blind models).
        inputs = {k: v.numpy() for k, v in x.items() if k in names}
        rows += plugin.sample_rows(network, inputs, target.numpy())
        if len(rows) >= cfg.eval.samples:
            break
    kwargs = {"titles": plugin.sample_titles} if plugin.sample_titles else {}
    plots.sample_grid(
        rows[: cfg.eval.samples], os.path.join(run_dir, "samples", "samples.png"), **kwargs
    )

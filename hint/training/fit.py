"""The fit loop: the one training routine of `train` and of every tuning trial."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from hint import config as config_lib
from hint.inference import MODEL_FILE
from hint.task_plugin import get_task
from hint.training.building import build_datasets, build_task
from hint.training.errors import TrainingError
from hint.training.memory import choose_remat
from hint.training.run_dir import (
    make_callbacks,
    make_run_dir,
    save_model_atomic,
    write_reports,
)
from hint.training.strategy import (
    is_chief_process,
    select_strategy,
    shard_by_example,
    synchronize_batch_norm,
    trim_for_replicas,
    worker_role,
)


def fit_task(
    cfg: config_lib.Config,
    run_dir: str,
    extra_callbacks: tuple = (),
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
):
    """Builds data and task inside the strategy and runs `fit`; returns (task, history, val).

    This is the one training routine: `train` (the `train` command) and the tuner's trials
    both call it, so a tuning trial is exactly a normal training run.
    """
    # First: a multi-worker strategy must exist before other TensorFlow work in the process.
    strategy = strategy or select_strategy(cfg.train.strategy)
    keras.utils.set_random_seed(cfg.run.seed)
    train_ds, val_ds = (shard_by_example(ds) for ds in build_datasets(cfg))
    with strategy.scope():
        task = build_task(cfg)
    choose_remat(task, cfg, strategy)
    network = task.backbone
    if hasattr(network, "inference_defaults"):
        # Saved with the network; those it took from a source network (init_from) win.
        defaults = get_task(cfg.task).inference_defaults(cfg)
        network.inference_defaults = {**defaults, **network.inference_defaults}
    is_chief, worker = worker_role(strategy)
    if worker is not None:
        replicas = strategy.num_replicas_in_sync
        if cfg.data.batch_size % replicas:
            # An uneven split would weight the examples of the smaller shares more.
            raise TrainingError(
                f"data.batch_size is the global batch, split over the {replicas} replicas of "
                f"the cluster: it must be a multiple of {replicas}. "
                f"Received: data.batch_size={cfg.data.batch_size}"
            )
        synchronize_batch_norm(task)
    if strategy.num_replicas_in_sync > 1:
        val_ds = trim_for_replicas(val_ds, cfg.data.batch_size, strategy.num_replicas_in_sync)
    history = task.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.train.epochs,
        steps_per_epoch=cfg.train.steps_per_epoch,
        callbacks=[*make_callbacks(cfg, run_dir, is_chief, worker), *extra_callbacks],
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles, deterministically per seed
    )
    return task, history, val_ds


def train(cfg: config_lib.Config, run_dir: str | None = None, verbose: int = 1) -> str:
    """Trains a model as configured; returns the run directory.

    Rerunning with the same run directory resumes from the last finished epoch
    (`BackupAndRestore`). Afterwards the run directory holds the best generator, the CSV log,
    the history plot and a sample grid; evaluation is `hint.evaluation.evaluate_run`.
    """
    run_dir = run_dir or make_run_dir(cfg)
    task, _, val_ds = fit_task(cfg, run_dir, verbose=verbose)
    if not is_chief_process(cfg):
        return run_dir  # the chief writes the model and the reports
    model_path = os.path.join(run_dir, MODEL_FILE)
    if not os.path.isfile(model_path):
        # No validation metric was ever logged (e.g. training resumed at its last epoch).
        save_model_atomic(task.backbone, model_path)
    from hint.inference import load_model

    write_reports(cfg, run_dir, load_model(run_dir), val_ds)
    return run_dir

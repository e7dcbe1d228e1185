"""Training: strategy, run directory, data, task model and callbacks, from one `Config`.

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

import fnmatch
import math
import os
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from hint import config as config_lib
from hint import distribute_compat
from hint.datasets import image_io, sources
from hint.inference import MODEL_FILE
from hint.models.model_registry import model_class
from hint.task_plugin import get_task

DISCRIMINATOR_FILE = "discriminator.weights.h5"


class TrainingError(RuntimeError):
    """A run that cannot start or continue (bad weights, NaN loss, ...)."""


# --------------------------------------------------------------------------- strategy


def select_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy for `train.strategy`.

    `auto` uses MirroredStrategy when more than one GPU is visible, else the default strategy.
    """
    config_lib.check_choice(name, config_lib.STRATEGIES, "train.strategy")
    if name == "multi_worker":
        return multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return mirrored_strategy()
    return tf.distribute.get_strategy()


def mirrored_strategy(devices: list[str] | None = None) -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over `devices` (None: every visible GPU, else the CPU).

    On CPU-only device lists the gradients are reduced on one device instead of with
    collective ops: in one process the copies share memory, and several CPU strategies made
    one after another (tests, tuning trials) otherwise collide on collective instance keys
    ("Shape mismatch in the collective instance ..."). GPUs keep TensorFlow's default (NCCL).
    """
    names = devices or [d.name for d in tf.config.list_logical_devices("GPU")]
    cpu_only = bool(names) and all(
        (tf.DeviceSpec.from_string(n).device_type or "").upper() == "CPU" for n in names
    )
    if cpu_only:
        return tf.distribute.MirroredStrategy(
            names, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return tf.distribute.MirroredStrategy(names or None)


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """`MultiWorkerMirroredStrategy` over the cluster in `TF_CONFIG`, with the Keras patch.

    Create it before any other TensorFlow work in the process (TensorFlow configures its
    collective ops when the strategy is made). `hint.distribute_compat` is installed when the
    cluster has more than one worker.
    """
    if not os.environ.get("TF_CONFIG"):
        raise TrainingError(
            "train.strategy=multi_worker needs the TF_CONFIG environment variable (the cluster "
            "and this process's task); see docs/distributed.md."
        )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if distribute_compat.is_multi_worker(strategy):
        distribute_compat.install()
    return strategy


def worker_role(strategy: tf.distribute.Strategy | None = None) -> tuple[bool, str | None]:
    """(is_chief, worker name) of this process; (True, None) outside a multi-worker cluster.

    The chief is the task of type "chief", or worker 0 when the cluster has no chief. Without a
    strategy the role is read from `TF_CONFIG` (before the strategy exists, e.g. to decide who
    writes the run directory's config). The name, e.g. "worker-1", keys per-worker folders.
    """
    if strategy is not None:
        if not distribute_compat.is_multi_worker(strategy):
            return True, None
        resolver = strategy.cluster_resolver
    elif os.environ.get("TF_CONFIG"):
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    else:
        return True, None
    task_type, task_id = resolver.task_type, resolver.task_id
    if not task_type:
        return True, None
    jobs = resolver.cluster_spec().jobs
    is_chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in jobs
    )
    return is_chief, f"{task_type}-{task_id}"


def is_chief_process(cfg: config_lib.Config) -> bool:
    """Whether this process writes the run directory (always, unless a non-chief worker)."""
    return cfg.train.strategy != "multi_worker" or worker_role()[0]


# --------------------------------------------------------------------------- run directory


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


def load_run_config(run_dir: str) -> config_lib.Config:
    """The resolved config of a run directory."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise TrainingError(f"Not a run directory (no config.yaml): {run_dir}")
    return config_lib.load_config(path)


# --------------------------------------------------------------------------- data


def build_datasets(cfg: config_lib.Config):
    """Train and validation pipelines of the configured task (`TaskPlugin.make_data`)."""
    data = get_task(cfg.task).make_data(cfg)
    if data is None:
        raise TrainingError(f"Task {cfg.task!r} has no training data: it trains no model.")
    return data


def clean_sources(cfg: config_lib.Config) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Clean crops of `cfg.data`: endless augmented training crops, fixed validation crops.

    What every task's pipeline starts from (the task adds masks, noise, ...). Validation crops
    come from `data.val_path` when it is set (at `data.val_size`), else from the training
    source (`data.val_count` of its images, left out of training).
    """
    d = cfg.data
    try:
        train_clean, val_clean = sources.image_sources(
            path=None if d.path in (None, "embedded") else d.path,
            image_size=d.image_size,
            channels=d.channels,
            # A separate validation folder leaves every training image to training.
            val_count=0 if d.val_path is not None else d.val_count,
            flips=d.flips,
            color_augment=d.color_augment,
            seed=cfg.run.seed,
        )
    except (ValueError, image_io.ImageReadError) as e:
        # An empty or unreadable folder is the user's to fix, before any training starts.
        raise TrainingError(str(e)) from None
    if d.val_path is not None:
        crops = sources.fixed_crops(
            d.val_path, image_size=d.val_size or d.image_size, channels=d.channels
        )
        if d.color_augment == "gray_channel":
            crops = sources.gray_channels(crops)
        val_clean = tf.data.Dataset.from_tensor_slices(crops)
    elif d.val_size is not None and d.val_size != d.image_size:
        raise TrainingError("data.val_size needs data.val_path (a separate validation folder).")
    return train_clean, val_clean


def shard_by_example(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Sets DATA auto-sharding: across workers, each global batch is split by example.

    Every example's crop, mask and noise come from (seed, example index) of the whole stream, so
    with DATA sharding each worker runs the full pipeline and keeps its own part of every global
    batch: the workers see different examples (different masks and noise), and together exactly
    the batch one machine would train on. FILE sharding is wrong here: the images are decoded in
    memory or read by index through `tf.numpy_function`, so there are no file reads to split,
    and each worker's stream would restart at example 0 and repeat the others' masks and noise.
    DATA costs each worker generating (and dropping) the other workers' examples; the
    generation is cheap next to a training step. Single-worker strategies ignore the option.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def trim_for_replicas(val_ds: tf.data.Dataset, batch_size: int, replicas: int):
    """Drops the last few validation examples when the last batch has fewer than `replicas`.

    `tf.distribute` splits each batch over the replicas, and a replica given no example fails
    (HINT's layers cannot run on an empty batch). Returns the dataset, unchanged when the last
    batch is empty or large enough, else without its last (fewer than `replicas`) examples.
    """
    examples = val_ds.unbatch()
    count = int(examples.reduce(np.int64(0), lambda n, _: n + 1))
    extra = count % batch_size
    if replicas <= 1 or extra == 0 or extra >= replicas:
        return val_ds
    warnings.warn(
        f"Validation: dropping the last {extra} of {count} examples so that each of the "
        f"{replicas} replicas gets at least one example of every batch.",
        stacklevel=2,
    )
    return examples.take(count - extra).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- models


def build_generator(cfg: config_lib.Config) -> keras.Model:
    cls = model_class(cfg.model.type)
    return cls(**cfg.model.args)


def build_task(cfg: config_lib.Config) -> keras.Model:
    """The configured task's compiled training model (`TaskPlugin.build_model`).

    Call it inside the strategy scope the model trains under.
    """
    return get_task(cfg.task).build_model(cfg)


def learning_rate(cfg: config_lib.Config, scale: float = 1.0):
    """`train.lr` (times `scale`), constant or cosine-decayed to `train.lr_min` over the run.

    With `train.warmup_steps`, the rate first rises linearly from 0 to `train.lr` over those
    steps (a deep half-resolution DnCNN predicting the noise stalls at "output = input" when
    Adam starts at 1e-3 without it), and the schedule then runs over the remaining steps.
    The schedule reads the optimizer's step counter, which `BackupAndRestore` restores, so a
    resumed run continues the same curve.
    """
    t = cfg.train
    if t.lr_schedule == "constant" and not t.warmup_steps:
        return t.lr * scale
    steps = t.epochs * t.steps_per_epoch
    alpha = 1.0 if t.lr_schedule == "constant" else min(1.0, t.lr_min / t.lr)
    if not t.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(t.lr * scale, steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        steps - t.warmup_steps,
        alpha=alpha,
        warmup_target=t.lr * scale,
        warmup_steps=t.warmup_steps,
    )


def init_source(cfg: config_lib.Config) -> str:
    """`model.init_from` as a path: "pretrained" is the shipped model of the task and channels."""
    if cfg.model.init_from != config_lib.PRETRAINED:
        # Checked here, not when the config loads: a run's recorded config stays loadable (to
        # evaluate or resume it) after the run it started from is gone.
        if not os.path.exists(cfg.model.init_from):
            raise TrainingError(
                f"'model.init_from' must be {config_lib.PRETRAINED!r} (the shipped weights) or "
                "an existing run directory or .keras file. "
                f"Received: model.init_from={cfg.model.init_from!r}"
            )
        return cfg.model.init_from
    from hint import pretrained

    name = get_task(cfg.task).shipped_model(cfg.data.channels)
    if name is None:
        raise TrainingError(
            f"model.init_from=pretrained: no shipped {cfg.task} network for "
            f"{cfg.data.channels}-channel images. Received: task={cfg.task!r}"
        )
    try:
        return pretrained.path(name)
    except pretrained.PretrainedError as e:
        raise TrainingError(f"model.init_from=pretrained: {e}") from None


def init_from(generator: keras.Model, path: str) -> None:
    """Transfer learning ("HINT Initial"): copies a network's weights from a run or `.keras` file.

    A run directory gives its best network (a task's plug-in may take more from the run, e.g.
    the inpainting discriminator). A `DnCNN` without batch norm
    starts from a batch-normed source folded (`DnCNN.fold_batch_norm`): the same function,
    then trained as it is run at inference; from a shallower source, with identity layers
    inserted (`DnCNN.deepened`, Net2DeeperNet), again the same function. A
    `CrossPlaneDnCNN` starts from a gray `DnCNN` as that network run on the opponent colour
    planes (`CrossPlaneDnCNN.load_gray`), or from one with sparser mixing as that network
    (`CrossPlaneDnCNN.load_cross_plane`).
    """
    from hint.inference import load_model
    from hint.models import CrossPlaneDnCNN, DnCNN

    source = load_model(path)
    if isinstance(generator, CrossPlaneDnCNN) and isinstance(source, DnCNN | CrossPlaneDnCNN):
        load = generator.load_gray if isinstance(source, DnCNN) else generator.load_cross_plane
        try:
            load(source)
        except ValueError as e:
            raise TrainingError(f"model.init_from={path}: {e}") from None
        return
    if (
        isinstance(generator, DnCNN)
        and isinstance(source, DnCNN)
        and not generator.batch_norm
        and source.depth <= generator.depth
    ):
        source = source.deepened(generator.depth)  # folded, and deepened if shallower
    try:
        generator.set_weights(source.get_weights())
    except ValueError as e:
        raise TrainingError(
            f"model.init_from={path}: its generator does not match this model's architecture "
            f"({e}). Use the same model preset/arguments as the source run."
        ) from None


def freeze(model: keras.Model, patterns: list[str]) -> list[str]:
    """Freezes layers whose names match any glob pattern; returns the frozen names."""
    frozen = []
    for layer in model.layers:
        if any(fnmatch.fnmatch(layer.name, p) for p in patterns):
            layer.trainable = False
            frozen.append(layer.name)
    if patterns and not frozen:
        names = ", ".join(layer.name for layer in model.layers[:12])
        raise TrainingError(
            f"model.freeze={patterns} matches no layer. Layer names look like: {names}, ..."
        )
    return frozen


# --------------------------------------------------------------------------- callbacks


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


def synchronize_batch_norm(model: keras.Model) -> list[str]:
    """Makes every BatchNormalization layer use the global batch's statistics.

    For multi-worker training: unsynchronised, each worker would update its moving mean and
    variance from its own share of the batch, and the workers' models would drift apart (the
    trainable weights stay equal). Synchronised, every worker holds the same statistics, those
    one machine would compute on the whole batch. Call before the first training step (the
    flag is read when the step is traced). Returns the names of the layers changed.
    """
    changed = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            changed.append(layer.name)
    return changed


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


# --------------------------------------------------------------------------- train


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

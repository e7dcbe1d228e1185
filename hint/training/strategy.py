"""Distribution: the `tf.distribute` strategy of a run, its workers, and sharding its data."""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from hint import config as config_lib
from hint import distribute_compat
from hint.training.errors import TrainingError


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

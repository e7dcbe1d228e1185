"""Training, split by concern; this package's namespace holds them all.

- `hint.training.strategy`: the `tf.distribute` strategy, the workers of a cluster, sharding.
- `hint.training.run_dir`: the run directory (config, callbacks and checkpoints, reports).
- `hint.training.building`: a run's data, network and training model; transfer learning.
- `hint.training.fit`: `fit_task` (the training routine of `train` and of tuning trials) and
  `train`.
"""

from hint.training.building import (
    build_datasets,
    build_generator,
    build_task,
    clean_sources,
    freeze,
    init_from,
    init_source,
    learning_rate,
)
from hint.training.errors import TrainingError
from hint.training.fit import fit_task, train
from hint.training.run_dir import (
    DISCRIMINATOR_FILE,
    MODEL_FILE,
    BestModelCheckpoint,
    CpuTime,
    LastCheckpoint,
    StopOnNaN,
    load_run_config,
    make_callbacks,
    make_run_dir,
    save_model_atomic,
    write_reports,
)
from hint.training.strategy import (
    is_chief_process,
    mirrored_strategy,
    multi_worker_strategy,
    select_strategy,
    shard_by_example,
    synchronize_batch_norm,
    trim_for_replicas,
    worker_role,
)

__all__ = [
    "DISCRIMINATOR_FILE",
    "MODEL_FILE",
    "BestModelCheckpoint",
    "CpuTime",
    "LastCheckpoint",
    "StopOnNaN",
    "TrainingError",
    "build_datasets",
    "build_generator",
    "build_task",
    "clean_sources",
    "fit_task",
    "freeze",
    "init_from",
    "init_source",
    "is_chief_process",
    "learning_rate",
    "load_run_config",
    "make_callbacks",
    "make_run_dir",
    "mirrored_strategy",
    "multi_worker_strategy",
    "save_model_atomic",
    "select_strategy",
    "shard_by_example",
    "synchronize_batch_norm",
    "train",
    "trim_for_replicas",
    "worker_role",
    "write_reports",
]

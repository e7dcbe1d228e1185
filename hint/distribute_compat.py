"""Keras 3 + `tf.distribute.MultiWorkerMirroredStrategy`: a small, version-gated patch.

With TensorFlow 2.21 and Keras 3.15.1, `model.fit` under a multi-worker strategy fails twice:

1. Before the first step, `TensorFlowTrainer._maybe_symbolic_build` takes one distributed batch
   and calls `strategy.reduce("MEAN", batch, axis=None)` on the whole nested batch, which the
   multi-worker strategy cannot reduce: "Attempt to convert a value (PerReplica...) ... to a
   Tensor" (keras-team/keras#20585).
2. Past that, `reduce_per_replica` reduces every logged value with
   `strategy.reduce("MEAN", v, axis=0)`, and the scalar losses and metrics a train step returns
   have no axis 0: "Invalid reduction dimension 0 for input with 0 dimensions".

`install()` replaces exactly those two functions of `keras.src.backend.tensorflow.trainer`:

1. the symbolic build uses the first local replica's batch (it only needs shapes and dtypes);
2. scalar values are reduced with `axis=None` (a plain mean over replicas); everything else
   goes through the original function.

Both replacements call the originals unchanged unless the strategy is a
`MultiWorkerMirroredStrategy` in multi-worker mode, so single-host runs never touch the patched
code. The patch is applied only for Keras versions known to need it (`PATCHED_VERSIONS`); for
any other version `install()` warns and leaves Keras alone. `tests/test_multi_worker.py`
runs the unpatched functions on two workers and fails with "upstream fixed it: remove the patch"
once Keras no longer breaks the known way.

Example:

```python
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
distribute_compat.install()
with strategy.scope():
    task = build_task(cfg)
task.fit(train_ds, ...)
```
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as _trainer

# Keras versions on which the two failures above were reproduced (TensorFlow 2.21, two workers
# on 127.0.0.1). Add a version only after running tests/test_multi_worker.py on it.
PATCHED_VERSIONS = ("3.15.1",)

_ORIGINAL = {
    "symbolic_build": _trainer.TensorFlowTrainer._maybe_symbolic_build,
    "reduce_per_replica": _trainer.reduce_per_replica,
}


def is_multi_worker(strategy) -> bool:
    """True for a `MultiWorkerMirroredStrategy` that spans more than one worker."""
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def needs_patch(version: str | None = None) -> bool:
    """True when this Keras version is one the patch is known to be needed for."""
    return (version or keras.__version__) in PATCHED_VERSIONS


def installed() -> bool:
    return _trainer.reduce_per_replica is not _ORIGINAL["reduce_per_replica"]


def install() -> bool:
    """Applies the patch (idempotent); returns whether it is in place.

    On a Keras version not in `PATCHED_VERSIONS` it warns and changes nothing.
    """
    if installed():
        return True
    if not needs_patch():
        warnings.warn(
            f"hint.distribute_compat: Keras {keras.__version__} is not one of the versions the "
            f"multi-worker patch was written for ({', '.join(PATCHED_VERSIONS)}); running "
            "unpatched. If fit fails with 'Attempt to convert a value (PerReplica' or 'Invalid "
            "reduction dimension 0 for input with 0 dimensions', run "
            "tests/test_multi_worker.py and add this version to PATCHED_VERSIONS.",
            stacklevel=2,
        )
        return False
    _trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _trainer.reduce_per_replica = _reduce_per_replica
    return True


def uninstall() -> None:
    """Restores Keras' own functions (tests)."""
    _trainer.TensorFlowTrainer._maybe_symbolic_build = _ORIGINAL["symbolic_build"]
    _trainer.reduce_per_replica = _ORIGINAL["reduce_per_replica"]


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self._distribute_strategy
    if strategy is None or iterator is None or not is_multi_worker(strategy):
        return _ORIGINAL["symbolic_build"](self, iterator=iterator, data_batch=data_batch)
    for _, _, it in iterator:
        # Building needs shapes and dtypes only: one replica's batch is enough, and it avoids
        # the cross-worker reduce of a nested batch that fails (keras-team/keras#20585).
        data_batch = tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], next(it)
        )
        break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    if not is_multi_worker(strategy) or reduction not in ("auto", "mean"):
        return _ORIGINAL["reduce_per_replica"](values, strategy, reduction)

    def reduce(v):
        if strategy.experimental_local_results(v)[0].shape.rank == 0:
            # A scalar log (loss, metric result): mean over all replicas of all workers.
            return strategy.reduce("MEAN", v, axis=None)
        return _ORIGINAL["reduce_per_replica"](v, strategy, reduction)

    return tf.nest.map_structure(reduce, values)

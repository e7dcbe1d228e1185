"""Resuming an interrupted run, and what the checkpoints keep under a weight average.

Both tests train more than once, so they use the tiny config of `tests/test_training.py` with
the tunable CNN (the quickest generator to trace) and rectangular holes only (the default mix of
hole kinds takes seconds to trace in the data pipeline): resuming and the checkpoint callbacks
work on the task's state, whatever its network and its holes.
"""

import csv
import os

import keras
import numpy as np
import pytest

from hint import training
from hint.config import load_config
from tests.test_training import TINY, epochs_logged

HINT_ONLY = ("model.dim", "model.num_blocks", "model.num_heads")
CNN = ["model.preset=tunable_cnn", "model.filters=4", "model.depth=2", "model.bottleneck=8"]
RECT = ["inpaint.mask.kind=rect"]


def cnn_config(tmp_path, *extra):
    tiny = [o for o in TINY if not o.startswith(HINT_ONLY)]
    return load_config(None, [f"run.dir={tmp_path}", "run.name=tiny", *tiny, *CNN, *RECT, *extra])


class _Crash(keras.callbacks.Callback):
    """Simulates a killed process at the start of a given epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


@pytest.mark.slow
def test_resume_after_interruption(tmp_path):
    # Without the discriminator: resuming restores the task's whole state either way, and
    # this test's cost is two trainings.
    cfg = cnn_config(tmp_path, "train.epochs=2", "inpaint.loss.adversarial=0", "eval.samples=0")
    run_dir = training.make_run_dir(cfg)
    from hint.training import fit

    original = fit.make_callbacks

    def with_crash(*args, **kwargs):
        return [*original(*args, **kwargs), _Crash(epoch=1)]

    fit.make_callbacks = with_crash  # what fit_task calls
    try:
        with pytest.raises(KeyboardInterrupt):
            training.train(cfg, run_dir, verbose=0)
    finally:
        fit.make_callbacks = original
    assert epochs_logged(run_dir) == [0]
    assert os.path.isfile(os.path.join(run_dir, "backup", "latest.weights.h5"))
    training.train(cfg, run_dir, verbose=0)  # the same command again resumes
    assert epochs_logged(run_dir) == [0, 1]
    with open(os.path.join(run_dir, "log.csv")) as f:
        cpu = [float(r["cpu_seconds"]) for r in csv.DictReader(f)]
    assert 0 < cpu[0] < cpu[1]  # the CPU time of the resumed run adds to the first's


@pytest.mark.slow
def test_weight_average_is_validated_and_saved_while_checkpoints_keep_the_raw_weights(tmp_path):
    cfg = cnn_config(
        tmp_path, "train.epochs=2", "train.ema_momentum=0.5", "inpaint.loss.adversarial=0.1"
    )
    run_dir = training.make_run_dir(cfg)
    task, history, val_ds = training.fit_task(cfg, run_dir, verbose=0)
    averages = [v.numpy() for v in task.g_optimizer._model_variables_moving_average]
    # After `fit` the generator holds the average (Keras' finalisation) ...
    for weight, average in zip(task.generator.trainable_weights, averages, strict=True):
        np.testing.assert_array_equal(weight.numpy(), average)
    # ... which is what the last validation measured; the best checkpoint is written after the
    # swap, the backup and the last checkpoint before it.
    assert task.evaluate(val_ds, return_dict=True, verbose=0)["psnr"] == pytest.approx(
        history.history["val_psnr"][-1], abs=1e-4
    )
    kinds = [type(c).__name__ for c in training.make_callbacks(cfg, run_dir)]
    assert (
        kinds.index("BackupAndRestore")
        < kinds.index("LastCheckpoint")
        < kinds.index("SwapEMAWeights")
        < kinds.index("BestModelCheckpoint")
    )
    # The last checkpoint keeps the training state: weights that differ from their average.
    raw = training.build_task(cfg)
    raw.load_weights(os.path.join(run_dir, "checkpoints", "last.weights.h5"))
    assert any(
        not np.allclose(a.numpy(), b, atol=1e-6)
        for a, b in zip(raw.generator.trainable_weights, averages, strict=True)
    )

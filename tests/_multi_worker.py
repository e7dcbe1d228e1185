"""One worker of the two-worker run in `tests/test_multi_worker.py` (run as a script).

    TF_CONFIG=... python tests/_multi_worker.py OUT_DIR RUN_ROOT

In order, on the multi-worker strategy (`train.strategy=multi_worker`):

1. probe: a one-step `fit` of a small Dense model with each of Keras' two patched functions
   restored in turn (`hint.distribute_compat`), recording how each fails ("ok" if it does not);
2. inpaint: the tiny HINT GAN of `tests/test_training.py`, one epoch of two steps;
3. denoise: `dncnn_tiny`, one epoch, then the same run again with `train.epochs=2` and a new
   task model, which must resume from this worker's backup and train epoch 1 only.

For each training it saves the network's weights (and the discriminator's), the examples this
worker got in the first two global batches and the history to OUT_DIR (only the chief writes the
run directory, so the test compares these files); then OUT_DIR/report-<worker>.json.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two processes share the test machine's cores.
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from hint import distribute_compat, training  # noqa: E402
from hint.config import load_config  # noqa: E402
from tests.test_training import TINY  # noqa: E402

HINT_ONLY = ("model.dim", "model.num_blocks", "model.num_heads")
CONFIGS = {
    "inpaint": TINY,
    "denoise": [
        *(o for o in TINY if not o.startswith(HINT_ONLY)),
        "task=denoise",
        "model.preset=dncnn_tiny",
        "data.channels=1",
        "denoise.sigmas=[25]",
    ],
}
_T0 = time.time()


def tick(what):
    print(f"[{time.time() - _T0:6.1f}s] {what}", file=sys.stderr, flush=True)


def probe(strategy):
    """{"symbolic_build": ..., "reduce_per_replica": ...}: how `fit` fails with each unpatched."""
    import keras
    from keras.src.backend.tensorflow import trainer

    patched = distribute_compat.installed()
    x = np.ones((4, 3), np.float32)
    ds = training.shard_by_example(
        tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(4).repeat()
    )
    results = {}
    for name in ("symbolic_build", "reduce_per_replica"):
        # The other function patched, this one Keras' own (whatever the version gate says).
        trainer.TensorFlowTrainer._maybe_symbolic_build = (
            distribute_compat._ORIGINAL[name]
            if name == "symbolic_build"
            else distribute_compat._maybe_symbolic_build
        )
        trainer.reduce_per_replica = (
            distribute_compat._ORIGINAL[name]
            if name == "reduce_per_replica"
            else distribute_compat._reduce_per_replica
        )
        with strategy.scope():
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            model.compile("sgd", "mse")
        try:
            model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
            results[name] = "ok"
        except Exception as e:  # noqa: BLE001  (the message is the result)
            results[name] = f"{type(e).__name__}: {e}"[:400]
        finally:
            distribute_compat.uninstall()
    if patched:
        distribute_compat.install()
    return results


def local_batches(strategy, train_ds, steps=2):
    """This worker's share of the first `steps` global batches (clean and degraded images)."""
    it = iter(strategy.experimental_distribute_dataset(training.shard_by_example(train_ds)))
    out = {}
    for step in range(steps):
        x, clean = next(it)
        out[f"clean_{step}"] = strategy.experimental_local_results(clean)[0].numpy()
        out[f"input_{step}"] = strategy.experimental_local_results(x["image"])[0].numpy()
    return out


def train(strategy, worker, out_dir, run_root, task, epochs, tag, build_datasets):
    cfg = load_config(
        None,
        [
            *CONFIGS[task],
            f"run.dir={run_root}",
            f"run.name={task}",
            f"train.epochs={epochs}",
            "train.strategy=multi_worker",
        ],
    )
    run_dir = training.make_run_dir(cfg)
    datasets = build_datasets(cfg)
    # fit_task builds the same deterministic pipelines: hand it these (saves the image scan).
    from hint.training import fit

    fit.build_datasets = lambda cfg: datasets
    arrays = local_batches(strategy, datasets[0])
    model, history, _ = training.fit_task(cfg, run_dir, strategy=strategy, verbose=0)
    arrays.update({f"w{i}": w for i, w in enumerate(model.backbone.get_weights())})
    if getattr(model, "discriminator", None) is not None:
        arrays.update({f"d{i}": w for i, w in enumerate(model.discriminator.get_weights())})
    np.savez(os.path.join(out_dir, f"{tag}-{worker}.npz"), **arrays)
    tick(tag)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def main():
    out_dir, run_root = sys.argv[1:3]
    strategy = training.select_strategy("multi_worker")
    is_chief, worker = training.worker_role(strategy)
    report = {
        "worker": worker,
        "is_chief": is_chief,
        "replicas": strategy.num_replicas_in_sync,
        "patched": distribute_compat.installed(),
        "unpatched": probe(strategy),
    }
    tick("probe")
    build_datasets = training.build_datasets
    for tag, task, epochs in (
        ("inpaint", "inpaint", 1),
        ("denoise", "denoise", 1),
        ("denoise-resumed", "denoise", 2),
    ):
        report[tag] = train(strategy, worker, out_dir, run_root, task, epochs, tag, build_datasets)
    with open(os.path.join(out_dir, f"report-{worker}.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()

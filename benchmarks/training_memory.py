"""Peak memory of a real inpainting training run against `hint.training.memory`'s estimate.

Each configuration trains the configured task (generator, SN-PatchGAN and the VGG19 perceptual
and style losses, as `config.yaml` with the official loss weights) for a few steps on random
crops, in its own subprocess so its peak resident memory (`ru_maxrss`) is its own. Beside the
peak: the estimate `model.remat: auto` decides from (made before the first step, for the
training without remat), the seconds of the first and of the later steps.

When the VGG19 ImageNet file is absent (`--vgg-weights`), VGG19 is built with random weights
and the row is labelled "memory only": memory and time do not depend on weight values, losses
do, so such a row says nothing about quality.

    python benchmarks/training_memory.py --runs hint:64:1:off hint:128:1:off
    python benchmarks/training_memory.py --runs hint:256:4:on --steps 3   # the official batch

A run is PRESET:SIZE:BATCH:REMAT (remat on | off). Results are appended to
`benchmarks/results/training_memory.jsonl`, one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "training_memory.jsonl")

from benchmarks.run_info import commit, peak_rss_bytes  # noqa: E402


def _run(preset: str, size: int, batch: int, remat: bool, steps: int, vgg_weights: str | None):
    """One configuration, in this process; returns its JSON row."""
    import keras
    import numpy as np
    import tensorflow as tf

    from hint import config as config_lib
    from hint import losses
    from hint.training import building, memory

    overrides = [
        f"model.preset={preset}",
        f"data.image_size={size}",
        f"data.batch_size={batch}",
        "model.init_from=null",
        "inpaint.loss.adversarial=0.01",
    ]
    if vgg_weights:
        overrides += [
            f"inpaint.loss.vgg_weights={vgg_weights}",
            "inpaint.loss.perceptual=0.1",
            "inpaint.loss.style=250",
        ]
    else:
        # Built below with random weights: the plug-in would refuse without the file.
        overrides += ["inpaint.loss.perceptual=0", "inpaint.loss.style=0"]
    cfg = config_lib.load_config(os.path.join(REPO_ROOT, "config.yaml"), overrides=overrides)
    started = time.perf_counter()
    task = building.build_task(cfg)
    if not vgg_weights:
        task.vgg = losses.VGGFeatures(weights=None)
        task.loss_weights_ = {**task.loss_weights_, "perceptual": 0.1, "style": 250.0}
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    estimate = memory.estimate_training_memory(task.training_passes(), batch, size, 3)
    estimate_s = time.perf_counter() - started
    task.backbone.remat = remat

    rng = np.random.default_rng(0)
    images = rng.random((batch, size, size, 3), dtype=np.float32)
    masks = np.zeros((batch, size, size, 1), np.float32)
    masks[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    data = tf.data.Dataset.from_tensors(({"image": images, "mask": masks}, images)).repeat()
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.started)

    task.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
    peak = peak_rss_bytes()
    return {
        "commit": commit(),
        "preset": preset,
        "size": size,
        "batch": batch,
        "remat": remat,
        "vgg": "imagenet file" if vgg_weights else "random (memory only)",
        "steps": steps,
        "peak_gib": round(peak / 2**30, 2),
        "estimate_without_remat_gib": round(estimate.total / 2**30, 2),
        "estimate_base_gib": round(estimate.base / 2**30, 2),
        "activations_gib": {k: round(v / 2**30, 2) for k, v in estimate.activations.items()},
        "activation_fraction": memory.ACTIVATION_FRACTION,
        "step_overhead_gib": round(memory.STEP_OVERHEAD / 2**30, 2),
        "measured_fraction": round(
            (peak - estimate.base - estimate.optimizer_state - memory.STEP_OVERHEAD)
            / sum(estimate.activations.values()),
            3,
        ),
        "build_s": round(build_s, 1),
        "estimate_s": round(estimate_s, 1),
        "first_step_s": round(times[0], 1),
        "steady_step_s": round(min(times[1:]), 2) if len(times) > 1 else None,
        "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=["hint:64:1:off", "hint:128:1:off"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--vgg-weights", default=None, help="Keras VGG19 no-top .h5 file")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        preset, size, batch, remat = args.child.split(":")
        row = _run(preset, int(size), int(batch), remat == "on", args.steps, args.vgg_weights)
        print(json.dumps(row))
        return 0
    for run in args.runs:
        parts = run.split(":")
        if len(parts) != 4 or parts[3] not in ("on", "off"):
            parser.error(f"a run is PRESET:SIZE:BATCH:on|off. Received: {run!r}")
        command = [sys.executable, __file__, "--child", run, "--steps", str(args.steps)]
        if args.vgg_weights:
            command += ["--vgg-weights", args.vgg_weights]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{run}: failed (exit {done.returncode})\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

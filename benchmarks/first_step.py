"""What the first training call of the HINT generator costs, against a steady step.

Every run, resume and tuning trial pays the first call before its steady steps: Python tracing
the train step into a graph, then TensorFlow's graph optimiser (Grappler) and the first
execution. This script splits it so a change can be judged at its cause:

- `ops`: operations in the traced train step (forward, gradients, Adam);
- `trace_s`: `tf.function.get_concrete_function`, the Python side;
- `first_execution_s`: the first call after tracing (Grappler, allocation, the step itself);
- `steady_s`: the fastest of `--steps` later calls;
- `first_over_steady`: (trace + first execution) / steady (target: at most 3);
- `peak_rss_gib`: the process' peak resident memory.

The step is a plain `tf.function`: the generator's forward pass, an L1 loss against a random
target, gradients and an Adam update (no discriminator or VGG losses), at batch 1. `--optimizer`
picks the Adam: `fused` (`hint.optimizers.FusedAdam`, what training uses) or `keras`
(`keras.optimizers.Adam`, about twenty operations per variable).

    python benchmarks/first_step.py --size 256 --preset hint --remat \
        --out benchmarks/results/first_step.jsonl
    python benchmarks/first_step.py --size 64 --grappler off       # Grappler's share
    python benchmarks/first_step.py --size 64 --optimizer keras    # Keras' own Adam
    python benchmarks/first_step.py --size 32 --preset hint_tiny    # a quick check

Run it on an otherwise idle machine: the one-time costs are tens of seconds to minutes at
256 px, and other processes on the same cores inflate every number. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
RESULTS = "benchmarks/results/first_step.jsonl"

from benchmarks.run_info import commit, peak_rss_bytes  # noqa: E402


def measure(
    size: int, preset: str, remat: bool, grappler: str, steps: int, threads: int, optimizer: str
):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if grappler == "off":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    import keras

    from benchmarks.hint_vs_pytorch import keras_train_step, make_inputs
    from hint.models import HINTBackbone

    keras.utils.set_random_seed(0)
    model = HINTBackbone.from_preset(preset, remat=remat)
    step = keras_train_step(model, optimizer)
    image, mask, target = (tf.constant(a) for a in make_inputs(1, size, 0))

    started = time.perf_counter()
    graph = step.get_concrete_function(image, mask, target).graph
    trace = time.perf_counter() - started
    started = time.perf_counter()
    step(image, mask, target).numpy()
    first = time.perf_counter() - started
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step(image, mask, target).numpy()
        times.append(time.perf_counter() - started)
    steady = min(times)
    return {
        "size": size,
        "preset": preset,
        "remat": remat,
        "grappler": grappler,
        "optimizer": optimizer,
        "threads": threads,
        "ops": len(graph.get_operations()),
        "trainable_variables": len(model.trainable_variables),
        "trace_s": round(trace, 2),
        "first_execution_s": round(first, 2),
        "steady_s": round(steady, 3),
        "first_over_steady": round((trace + first) / steady, 2),
        "peak_rss_gib": round(peak_rss_bytes() / 2**30, 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--preset", default="hint")
    parser.add_argument("--remat", action="store_true")
    parser.add_argument("--grappler", choices=("on", "off"), default="on")
    parser.add_argument("--steps", type=int, default=3, help="steady steps timed (the fastest)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--optimizer", choices=("fused", "keras"), default="fused")
    parser.add_argument(
        "--out", default=None, help="also append the JSON line to this file, e.g. " + RESULTS
    )
    args = parser.parse_args(argv)
    result = measure(
        args.size, args.preset, args.remat, args.grappler, args.steps, args.threads, args.optimizer
    )
    result = {"commit": commit(), **result}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-step time of a task in float32 against mixed_bfloat16, as a ratio.

    python benchmarks/precision_speed.py                       # the shipped gray recipe
    python benchmarks/precision_speed.py --config configs/dncnn_color.yaml --steps 10
    python benchmarks/precision_speed.py --config configs/hint_inpaint.yaml --steps 3

Builds the config's task (a denoiser or an inpainter) twice (`train.precision` float32, then
mixed_bfloat16), times the same training steps on the same random batch (after one untimed step
that traces the function) and prints seconds per step and the speed-up. The two measurements
alternate `--rounds` times so that a machine shared with other work slows both alike; the ratio
is the median over rounds. bfloat16 pays off on CPUs whose oneDNN kernels have AVX512-BF16 or
AMX; elsewhere it can be slower, which this script shows too.

Measured on this project's 2-core CPU (one core, shared with a training run):
DnCNN 15x48 noise-conditioned, batch 32 of 64x64: 6.9 s / step float32, 4.2 s bfloat16 (1.65x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def step_seconds(config_path: str, precision: str, steps: int, batch: int | None) -> float:
    """Mean seconds of `steps` training steps of the config's task in `precision`."""
    from hint import config as config_lib
    from hint import training

    overrides = [f"train.precision={precision}"]
    if batch:
        overrides.append(f"data.batch_size={batch}")
    cfg = config_lib.load_config(config_path, overrides)
    task = training.build_task(cfg)
    # One batch of the task's own training pipeline, reused for every step.
    x, clean = next(iter(training.build_datasets(cfg)[0]))
    task.train_on_batch(x, clean)  # traces the step
    start = time.perf_counter()
    for _ in range(steps):
        task.train_on_batch(x, clean)
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "dncnn_gray.yaml"))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="float32 / bfloat16 alternations")
    parser.add_argument("--batch", type=int, default=None, help="default: the config's")
    args = parser.parse_args(argv)
    times = {"float32": [], "mixed_bfloat16": []}
    for _ in range(args.rounds):
        for precision in times:
            times[precision].append(step_seconds(args.config, precision, args.steps, args.batch))
    ratios = [f / b for f, b in zip(times["float32"], times["mixed_bfloat16"], strict=True)]
    for precision, values in times.items():
        print(f"{precision:15s} {statistics.median(values):.3f} s / step  ({values})")
    print(f"speed-up of mixed_bfloat16: {statistics.median(ratios):.2f}x (per round: {ratios})")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

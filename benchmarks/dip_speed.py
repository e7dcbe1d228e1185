"""Seconds per Deep Image Prior iteration against image size, for each job's network.

A DIP fit is hundreds to thousands of iterations, each a forward and a backward pass of the
job's network at the image's size and an Adam step, so the time of one iteration is what a user
needs to plan a run (`python main.py dip` also prints its own estimate before it starts). This
times the loop the command runs (`hint.tasks.dip.PriorFit.step`: the graph-compiled step, the
backtracking check, Adam, the moving average) on random square images, and beside it the
rate of a 2048x2048 float32 `tf.matmul` measured in the same run with the same threads, so a
number taken on a busy or another machine can be read as a fraction of that machine's rate.

    python benchmarks/dip_speed.py --out benchmarks/results/dip_speed.json
    python benchmarks/dip_speed.py --threads 1 --sizes 64 128 256 --out ...
    python benchmarks/dip_speed.py --presets dip_tiny --sizes 32 64 --steps 3   # a quick check

Columns: the network (`model.preset`, as the jobs use them: `hint.tasks.dip.dip_config.JOBS`),
the side, the first iteration (tracing and graph optimisation included), the median of
`--steps` later iterations, the iteration's floating-point operations (counted from the traced
step graph: forward, gradients), their rate, and that rate as a fraction of the GEMM's.
Prints a table; `--out` writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.run_info import GEMM_SIZE, commit, gemm, median_seconds, write_json  # noqa: E402

PRESETS = ("dip_denoise", "dip_text", "dip_holes", "dip_pixels")
SIZES = (64, 128, 256, 512)


def gemm_gflops(repeats):
    """GFLOP/s of the reference matrix product (`run_info.gemm`), after one untimed call."""
    run, flops = gemm()
    return flops / median_seconds(run, repeats, warmup=1) / 1e9


def measure(preset, size, steps):
    """One row: the first and the median later iteration of a DIP fit of `preset` at `size`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from hint.models import DIPSkip
    from hint.models.dip_skip import meshgrid_code, noise_code
    from hint.summary import op_flops
    from hint.tasks.dip.prior_fit import PriorFit

    keras.utils.set_random_seed(0)
    network = DIPSkip.from_preset(preset)
    depth, channels = network.input_shape[-1], network.output_shape[-1]
    code = meshgrid_code(size, size) if depth == 2 else noise_code(size, size, depth, seed=0)
    rng = np.random.default_rng(0)
    target = rng.uniform(size=(size, size, channels)).astype(np.float32)
    known = (rng.uniform(size=(size, size, 1)) > 0.5).astype(np.float32)
    fit = PriorFit(network, code, target, known, lr=0.01)
    started = time.perf_counter()
    fit.step()
    first = time.perf_counter() - started
    later = median_seconds(fit.step, steps, warmup=1)
    graph = fit.step_fn.get_concrete_function(tf.constant(0, tf.int64)).graph
    flops = op_flops(graph)
    return {
        "preset": preset,
        "size": size,
        "parameters": network.count_params(),
        # Significant digits, not decimals: the values span 0.01-100 between a 32 px tiny
        # network on a loaded machine and 512 px.
        "first_s": _significant(first),
        "iteration_s": _significant(later),
        "gflop_per_iteration": _significant(flops / 1e9),
        "gflops": _significant(flops / later / 1e9),
    }


def _significant(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--steps", type=int, default=5, help="timed iterations per row")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    for size in args.sizes:
        if size < 32 or size % 32:
            parser.error(f"--sizes takes multiples of 32 (DIP's five scales). Received: {size}")
    if args.steps < 1:
        parser.error(f"--steps must be at least 1. Received: {args.steps}")

    import tensorflow as tf

    # Thread pools are fixed when the runtime starts, so before any operation runs.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tabulate import tabulate

    from hint.models.presets import PRESETS as MODEL_PRESETS

    unknown = [p for p in args.presets if p not in MODEL_PRESETS]
    if unknown:
        parser.error(f"--presets: unknown network preset. Received: {unknown[0]}")

    gemm_before = gemm_gflops(args.steps)
    rows = [measure(p, s, args.steps) for p in args.presets for s in args.sizes]
    gemm_after = gemm_gflops(args.steps)
    gemm = (gemm_before + gemm_after) / 2
    for row in rows:
        row["fraction_of_gemm"] = round(row["gflops"] / gemm, 3)
    print(
        tabulate(
            [
                (
                    r["preset"],
                    f"{r['size']}x{r['size']}",
                    r["first_s"],
                    r["iteration_s"],
                    r["gflop_per_iteration"],
                    r["gflops"],
                    f"{r['fraction_of_gemm']:.0%}",
                )
                for r in rows
            ],
            headers=("network", "image", "first s", "s / iteration", "GFLOP", "GFLOP/s", "/ GEMM"),
        )
    )
    print(
        f"GEMM ({GEMM_SIZE}x{GEMM_SIZE} float32, {args.threads} threads): {gemm_before:.1f} "
        f"GFLOP/s before the rows, {gemm_after:.1f} after"
    )
    if args.out:
        write_json(
            args.out,
            {
                "benchmark": "dip_speed",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(["benchmarks/dip_speed.py", *(argv or sys.argv[1:])]),
                "commit": commit(),
                "threads": args.threads,
                "tensorflow": tf.__version__,
                "gemm_gflops": {"before": round(gemm_before, 1), "after": round(gemm_after, 1)},
                "rows": rows,
            },
        )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

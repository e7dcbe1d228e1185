"""HINT's gated feed-forward network (GDFN) computed whole or in row bands, on this CPU.

`hint.layers.GatedFeedForward` runs large images in row bands of about
`hint.layers.gated_ffn.BAND_BYTES` per hidden half, so the hidden activations of a band stay
in cache from the first 1x1 convolution to the last. This script times one GDFN at the sizes
of HINT's levels for several band budgets, with the whole image in one pass as the reference
measured in the same run, and checks that every budget gives the whole-image output.

Commands (from the repository root):

    # HINT's first level (48 channels, encoder) and last decoder level (96) at 256x256:
    python benchmarks/ffn_bands.py --out benchmarks/results/ffn_bands.json

    # A quick look (one shape, fewer repeats):
    python benchmarks/ffn_bands.py --shapes 128x96 --repeats 3

Options: `--shapes HxC ...` (square side x input channels; `256x48 256x96 128x96`),
`--budgets MIB ...` (band budgets in MiB; `2 4 8 16 32`), `--threads` (2), `--repeats` (7,
the median is reported), `--out` (JSON, written atomically).

Rows: shape, budget, rows per band, median milliseconds, and the ratio to the whole-image pass
(< 1: the bands are faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.run_info import commit, median_seconds, write_json  # noqa: E402


def measure(side, channels, budgets_mib, repeats):
    """Rows for one `side` x `side` x `channels` input: whole image, then each budget."""
    import numpy as np
    import tensorflow as tf

    from hint.layers import GatedFeedForward, gated_ffn

    x = tf.constant(np.random.default_rng(0).standard_normal((1, side, side, channels), "float32"))
    layer = GatedFeedForward()
    layer.build(x.shape)
    budgets = [None, *budgets_mib]
    outputs, rows = {}, []
    default = gated_ffn.BAND_BYTES
    for budget in budgets:
        gated_ffn.BAND_BYTES = 1 << 40 if budget is None else int(budget * 2**20)
        try:
            band = gated_ffn.band_rows(side, side, layer.hidden_units, 4)
            fn = tf.function(lambda: layer(x))  # traced under this budget
            seconds = median_seconds(lambda fn=fn: fn().numpy(), repeats, warmup=2)
            outputs[budget] = fn().numpy()
        finally:
            gated_ffn.BAND_BYTES = default
        rows.append(
            {
                "side": side,
                "channels": channels,
                "hidden": layer.hidden_units,
                "budget_mib": budget,
                "rows_per_band": band,
                "median_ms": round(seconds * 1e3, 2),
            }
        )
    whole = rows[0]["median_ms"]
    for row, budget in zip(rows, budgets, strict=True):
        row["ratio_to_whole"] = round(row["median_ms"] / whole, 3)
        row["max_abs_difference"] = float(np.max(np.abs(outputs[budget] - outputs[None])))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["256x48", "256x96", "128x96"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[2, 4, 8, 16, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    shapes = []
    for text in args.shapes:
        try:
            side, channels = (int(v) for v in text.lower().split("x"))
        except ValueError:
            parser.error(f"--shapes takes SIDExCHANNELS, such as 256x96. Received: {text}")
        shapes.append((side, channels))

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tabulate import tabulate

    rows = [row for side, c in shapes for row in measure(side, c, args.budgets, args.repeats)]
    print(
        tabulate(
            [
                (
                    f"{r['side']}x{r['side']}x{r['channels']}",
                    "whole image" if r["budget_mib"] is None else f"{r['budget_mib']:g} MiB",
                    r["rows_per_band"] or "-",
                    r["median_ms"],
                    r["ratio_to_whole"],
                    f"{r['max_abs_difference']:.1e}",
                )
                for r in rows
            ],
            headers=("input", "budget", "rows/band", "median ms", "/ whole", "max |diff|"),
        )
    )
    if args.out:
        payload = {
            "benchmark": "ffn_bands",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(["benchmarks/ffn_bands.py", *(argv or sys.argv[1:])]),
            "commit": commit(),
            "threads": args.threads,
            "tensorflow": tf.__version__,
            "rows": rows,
        }
        write_json(args.out, payload)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

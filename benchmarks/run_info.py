"""What the benchmark scripts record beside their numbers: the code and the peak memory."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commit() -> str | None:
    """`git describe --always --dirty` of the checkout, or None outside a git checkout."""
    done = subprocess.run(
        ["git", "-C", REPO_ROOT, "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


def peak_rss_bytes() -> int:
    """The process' peak resident memory (`ru_maxrss`: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def write_json(path: str, payload) -> None:
    """Writes `payload` as indented JSON to `path` atomically (a temporary file, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
        temporary = f.name
    os.replace(temporary, path)


GEMM_SIZE = 2048
"""Side of the square float32 matrix product timed as a machine's reference rate."""


def median_seconds(run, repeats: int, warmup: int = 0) -> float:
    """The median wall time of `repeats` calls of `run()` after `warmup` untimed calls.

    With an even `repeats`, the higher of the two middle times.
    """
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median_high(times)


def gemm(seed: int = 0):
    """`(run, flops)`: a `GEMM_SIZE` square float32 `tf.matmul` in graph mode and its FLOPs.

    The reference a benchmark measures beside its own numbers with the same threads, so a
    result can be read as a share of the machine's matrix-multiply rate.
    """
    import tensorflow as tf

    a, b = (tf.random.stateless_uniform((GEMM_SIZE, GEMM_SIZE), seed=(seed, k)) for k in (0, 1))
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))

    def run():
        matmul(a, b).numpy()

    return run, 2 * GEMM_SIZE**3

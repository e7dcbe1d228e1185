"""Inference time of a DnCNN as saved against its batch-norm-folded copy, as a ratio.

    python benchmarks/dncnn_inference_speed.py                     # the shipped gray denoiser
    python benchmarks/dncnn_inference_speed.py --model experiments/dncnn_gray_half --size 512
    python benchmarks/dncnn_inference_speed.py --precision mixed_bfloat16

Loads the network twice (`hint.training.load_model`, with and without `fold_batch_norm`),
runs both through `hint.inference.forward` (the cached `tf.function` that `denoise` uses) on the
same noisy image, one untimed call each first (tracing), then alternates the two `--rounds`
times so that a machine shared with other work slows both alike. Prints the median seconds per
image of each, the speed-up (median of the per-round ratios) and the largest difference between
the two outputs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def _inputs(network, size: int, sigma: float) -> dict:
    rng = np.random.default_rng(0)
    channels = network.inputs[0].shape[-1]
    clean = rng.uniform(size=(1, size, size, channels)).astype("float32")
    x = {"image": clean + rng.normal(0, sigma / 255, clean.shape).astype("float32")}
    if "noise_level" in {t.name.split(":")[0] for t in network.inputs}:
        x["noise_level"] = np.full((1, size, size, 1), sigma / 255, "float32")
    return x


def measure(model: str | None, size: int, precision: str, rounds: int, sigma: float) -> dict:
    """Seconds per image of the saved and the folded network, per round, and their outputs."""
    from hint import inference, pretrained

    path = model or pretrained.path("denoise_gray")
    networks = {
        "as saved": inference.load_model(path, precision=precision),
        "folded": inference.load_model(path, precision=precision, fold_batch_norm=True),
    }
    x = _inputs(networks["as saved"], size, sigma)
    outputs = {name: inference.forward(net, x) for name, net in networks.items()}  # traces
    times = {name: [] for name in networks}
    for _ in range(rounds):
        for name, net in networks.items():
            start = time.perf_counter()
            inference.forward(net, x)
            times[name].append(time.perf_counter() - start)
    return {"times": times, "outputs": outputs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="run dir or .keras (default: shipped gray)")
    parser.add_argument("--size", type=int, default=512, help="square image side in pixels")
    parser.add_argument("--precision", default="float32", help="float32 or mixed_bfloat16")
    parser.add_argument("--rounds", type=int, default=7, help="saved / folded alternations")
    parser.add_argument("--sigma", type=float, default=25.0, help="noise level, 0-255 units")
    args = parser.parse_args(argv)
    result = measure(args.model, args.size, args.precision, args.rounds, args.sigma)
    times = result["times"]
    ratios = [s / f for s, f in zip(times["as saved"], times["folded"], strict=True)]
    print(f"{args.size}x{args.size}, {args.precision}, {args.rounds} rounds")
    for name, values in times.items():
        print(f"{name:9s} {statistics.median(values):.3f} s / image  ({values})")
    print(f"speed-up of folding: {statistics.median(ratios):.2f}x (per round: {ratios})")
    diff = np.abs(result["outputs"]["as saved"] - result["outputs"]["folded"]).max()
    print(f"largest output difference: {diff:.2e}")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

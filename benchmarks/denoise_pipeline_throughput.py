"""Throughput of the denoising input pipeline vs. what DnCNN training consumes, on this CPU.

Commands (from the repository root):

    # Default: embedded scikit-image photos, 40x40 gray crops, blind Gaussian sigma 0-55,
    # batch 32, the dncnn_gray preset (about 1-2 minutes on 2 cores):
    python benchmarks/denoise_pipeline_throughput.py

    # Your folder, 64x64 colour crops, DnCNN-B colour, with the cached-batch baseline:
    python benchmarks/denoise_pipeline_throughput.py --data ../shared/data/train/CBSD432 \\
        --size 64 --channels 3 --preset dncnn_color --cached-baseline

Options: `--data` (folder; default the embedded photographs), `--size` (40), `--channels` (1),
`--batch` (32), `--sigma-range` (0 55), `--preset` (dncnn_gray), `--pipeline-batches` (40),
`--train-steps` (24), `--warmup` (3), `--dither-bits` (4), `--skip-train`, `--skip-dither`,
`--cached-baseline`.

What is measured:

1. Pipeline: `denoising_pipeline(ImageSource(...).train(), gaussian sigma_range, batch, seed)`
   (stateless per-example noise, tf.data AUTOTUNE), iterated alone after `--warmup` batches:
   examples/s; and the clean source alone (`ImageSource.train()` batched), which shows where
   the pipeline's time goes.
2. Training: `keras` `fit` of the preset's `DnCNN` with MSE and Adam on the same pipeline (the
   blind model only gets "image"); one warm-up `fit` of `--warmup` steps (tracing), then a timed
   `fit` of `--train-steps`: steps/s x batch = examples/s consumed. The ratio pipeline /
   training is the headroom (target: at least 3x). With `--cached-baseline`, training is timed
   again on one cached batch repeated: if it is not clearly faster than on the live pipeline,
   training is not input-bound.
3. Dither: `floyd_steinberg` on one crop and on a whole batch (NumPy, examples/s), and the
   pipeline with `Dither(bits)` applied per batch (the default, as the degradation ignores its
   seed) and per example.

The CPU is shared; the 1-minute load average is printed with the results so that a busy machine
can be recognised.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from hint.datasets.degradations import Dither, floyd_steinberg, make_degradation  # noqa: E402
from hint.datasets.pipelines import denoising_pipeline  # noqa: E402
from hint.datasets.sources import ImageSource  # noqa: E402
from hint.models import DnCNN  # noqa: E402


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="image folder (default: embedded photos)")
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sigma-range", type=float, nargs=2, default=(0.0, 55.0))
    parser.add_argument("--preset", default="dncnn_gray")
    parser.add_argument("--pipeline-batches", type=int, default=40)
    parser.add_argument("--train-steps", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dither-bits", type=int, default=4)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-dither", action="store_true")
    parser.add_argument("--cached-baseline", action="store_true")
    return parser.parse_args(argv)


def _examples_per_second(ds, batches, warmup):
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    count = 0
    start = time.perf_counter()
    for _ in range(batches):
        count += int(tf.shape(next(iterator)[1])[0])
    return count / (time.perf_counter() - start)


def _image_only(inputs, clean):
    return {"image": inputs["image"]}, clean


def _train_rate(model, ds, steps, warmup, batch):
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)  # tracing
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    return steps / seconds, steps * batch / seconds


def main(argv=None):
    args = _parse(argv)
    source = ImageSource(args.data, args.size, channels=args.channels, flips="both", seed=0)
    noise = make_degradation("gaussian", sigma_range=list(args.sigma_range))
    rows = []
    print(
        f"source: {'embedded photographs' if args.data is None else args.data} "
        f"({len(source.train_files)} training images), crops {args.size}x{args.size}x"
        f"{args.channels}, batch {args.batch}, {noise}"
    )

    clean = source.train().batch(args.batch).map(lambda x: (x, x))
    rows.append(
        (
            "source alone (ImageSource.train, batched)",
            _examples_per_second(clean, args.pipeline_batches, args.warmup),
            "",
        )
    )
    pipeline = denoising_pipeline(source.train(), noise, args.batch, seed=1)
    pipe_rate = _examples_per_second(pipeline, args.pipeline_batches, args.warmup)
    rows.append(("pipeline (gaussian, alone)", pipe_rate, ""))

    if not args.skip_train:
        model = DnCNN.from_preset(args.preset, image_channels=args.channels)
        model.compile(keras.optimizers.Adam(1e-3), "mse")
        inputs = {t.name.split(":")[0] for t in model.inputs}
        train_ds = pipeline if "noise_level" in inputs else pipeline.map(_image_only)
        steps_s, train_rate = _train_rate(
            model, train_ds, args.train_steps, args.warmup, args.batch
        )
        rows.append(
            (f"training {args.preset} (fit, live pipeline)", train_rate, f"{steps_s:.3f} steps/s")
        )
        rows.append(("pipeline / training", pipe_rate / train_rate, "ratio (target >= 3)"))
        if args.cached_baseline:
            cached = train_ds.take(1).cache().repeat()
            steps_c, cached_rate = _train_rate(
                model, cached, args.train_steps, args.warmup, args.batch
            )
            rows.append(
                (
                    f"training {args.preset} (one cached batch)",
                    cached_rate,
                    f"{steps_c:.3f} steps/s",
                )
            )

    if not args.skip_dither:
        dither = Dither(bits=args.dither_bits)
        rng = np.random.default_rng(0)
        crops = rng.random((args.batch, args.size, args.size, args.channels), np.float32)
        floyd_steinberg(crops[0], args.dither_bits)
        start = time.perf_counter()
        repeats = 20
        for i in range(repeats):
            floyd_steinberg(crops[i % args.batch], args.dither_bits)
        one = repeats / (time.perf_counter() - start)
        rows.append((f"dither numpy, one crop ({args.dither_bits} bits)", one, "per crop"))
        start = time.perf_counter()
        for _ in range(3):
            floyd_steinberg(crops, args.dither_bits)
        whole = 3 * args.batch / (time.perf_counter() - start)
        rows.append((f"dither numpy, batch of {args.batch}", whole, "per crop"))
        batched = denoising_pipeline(source.train(), dither, args.batch, seed=1)
        rows.append(
            (
                "pipeline (dither, per batch)",
                _examples_per_second(batched, args.pipeline_batches, args.warmup),
                "",
            )
        )
        per_example = denoising_pipeline(source.train(), lambda x, s: dither(x, s), args.batch, 1)
        rows.append(
            (
                "pipeline (dither, per example)",
                _examples_per_second(per_example, max(4, args.pipeline_batches // 4), 1),
                "",
            )
        )

    print(f"{'measurement':<44} {'examples/s':>12}  note")
    for name, value, note in rows:
        unit = f"{value:12.2f}" if "ratio" in note else f"{value:12.1f}"
        print(f"{name:<44} {unit}  {note}")
    print(f"load average (1 min) after the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""The project's inpainting model vs. classical inpainting, per hole-ratio bucket, on this CPU.

Commands (from the repository root):

    # Default: the shipped `inpaint` weights (hint/weights/hint_inpaint.keras) on the 256x256
    # centre crops of McMaster (18 images), 18 masks per bucket (54 images per method):
    python benchmarks/inpaint_vs_classical.py

    # A training run (or any .keras file), fewer images, without the slow biharmonic method:
    python benchmarks/inpaint_vs_classical.py --model runs/NAME --max-images 6 --skip-biharmonic

Options: `--data` (folder, default `<repo>/../shared/data/val/McMaster`), `--model` (run
directory or `.keras` file; default the shipped weights, `hint.pretrained.load("inpaint")`),
`--size` (crop side, 256), `--max-images` (all), `--masks-per-bucket` (default: one per image),
`--seed` (2024, the project's `eval.seed`), `--examples` (figure rows, one per bucket, 3),
`--skip-biharmonic`, `--precision` (auto, float32 or mixed_bfloat16 for the model, as
`main.py inpaint --precision`; auto is mixed_bfloat16 on CPUs with native bfloat16), `--blend`
(`poisson` or `none`, as `main.py inpaint --blend`), `--ensemble` (`none` or `dihedral`, as
`main.py inpaint --ensemble`), `--color-space` (`rgb`, `opponent` or `joint`, as `main.py
inpaint --color-space`), `--out` (folder, `benchmarks/results/inpaint_vs_classical/`).

Protocol. Images: the centre `--size` crop of every image of the folder in sorted file order
(`hint.datasets.sources.fixed_crops`, the crops `python main.py evaluate --data DIR` uses; images
smaller than the crop are upscaled first). Masks: `hint.datasets.masks.evaluation_masks(size,
per_bucket, seed)`, the fixed mask set of the project's evaluation, binned by hole ratio into
0-20, 20-40 and 40-60 %; the first 8 per bucket are exactly `evaluate`'s default set (masks are
binned in a fixed order). Mask `j` of a bucket goes with image `j mod N`, as in
`hint.evaluation.evaluate_inpainting`. Every method gets the same input, the masked image
`image * (1 - mask) + mask` (holes white) and the mask, and is scored on the composite (its
output inside the hole, the clean image outside) against the clean crop over the whole image:
PSNR and SSIM (`hint.metrics`, i.e. `tf.image.psnr` / `tf.image.ssim`, Gaussian 11x11, on
[0, 1]) and L1 (mean absolute error on [0, 1]), plus wall-clock seconds per image (each method
is called once untimed first, so the model's tracing is not counted; methods are interleaved
image by image so a busy machine slows them alike).

Methods:

- `hint`: the model through `hint.inference.inpaint_array`, exactly what `main.py inpaint` runs
  (float32 in, the fill Poisson-blended into the image by default, output clipped to [0, 1]).
- `hint_raw` (with `--blend poisson`, the default): the same network's fill pasted as it is
  (`--blend none`), so the table shows what the blending adds. Both use `--ensemble` and
  `--color-space`.
- `hint_joint` (with a plane-wise `--color-space`, the default `rgb`): the same as `hint` with
  R, G and B through the network together (`--color-space joint`), so the table shows what
  running the colour planes as gray images adds.
- `telea`, `ns`: `cv2.inpaint(image_uint8, mask_uint8, 5, cv2.INPAINT_TELEA / INPAINT_NS)`.
  OpenCV inpaints 8-bit images only: the input is rounded to uint8 (`round(x * 255)`), the
  output divided by 255. Pixels outside the hole come from the float image in the composite, so
  the rounding only touches the fill (at most 1/510, far below inpainting errors); McMaster is
  8-bit, so its crops survive the round trip exactly anyway. Both work channel by channel, so
  RGB vs BGR order does not matter.
- `biharmonic`: `skimage.restoration.inpaint_biharmonic(image, mask, channel_axis=-1)` in
  float64 (about 0.1-0.4 s per 256x256 image here, minutes on large holes of large images).

Reference numbers (a separate measurement, not of these crops): OpenCV Telea on comparable
natural 256x256 crops with irregular masks scored about 29.3 dB / 0.937 SSIM (0-20 %),
22.4 / 0.823 (20-40 %) and 20.4 / 0.725 (40-60 %). They are printed beside our Telea row as a
sanity check of the protocol; McMaster crops and these masks are not the same image set.

Writes `results.json` (config, rows, per-image values, machine; atomic) and `examples.png`
(masked input | each method | ground truth, one row per bucket) into `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from hint import classical, config, inference, pretrained, training  # noqa: E402
from hint import metrics as hint_metrics  # noqa: E402
from hint import precision as precision_lib  # noqa: E402
from hint.datasets import image_io, masks, sources  # noqa: E402
from hint.task_plugin import get_task  # noqa: E402

DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "val", "McMaster"))
DEFAULT_OUT = os.path.normpath(os.path.join(ROOT, "benchmarks", "results", "inpaint_vs_classical"))
DEFAULT_SEED = 2024  # `eval.seed` in hint/config.py: the project's evaluation masks
METHOD_TITLES = {
    "hint": "HINT (ours)",
    "hint_raw": "HINT, no blend",
    "hint_joint": "HINT, joint RGB",
    "telea": "OpenCV Telea",
    "ns": "OpenCV NS",
    "biharmonic": "biharmonic",
}
METRICS = ("psnr", "ssim", "l1", "seconds")
TELEA_REFERENCE = {
    "0-20%": {"psnr": 29.3, "ssim": 0.937},
    "20-40%": {"psnr": 22.4, "ssim": 0.823},
    "40-60%": {"psnr": 20.4, "ssim": 0.725},
}
"""Telea on comparable natural 256x256 crops with irregular masks (a separate measurement)."""


class BenchmarkError(ValueError):
    """Bad benchmark inputs (folder, model, sizes): reported in one line, exit code 2."""


# --------------------------------------------------------------------------- methods


def model_method(
    generator,
    max_side=inference.MAX_SIDE,
    blend="poisson",
    ensemble="none",
    color_space=inference.INPAINT_COLOR_SPACE,
):
    """The model exactly as the `inpaint` command runs it (`inference.inpaint_array`)."""

    def run(image, mask):
        return inference.inpaint_array(
            generator,
            image,
            mask,
            max_side=max_side,
            blend=blend,
            ensemble=ensemble,
            color_space=color_space,
        )

    return run


def build_methods(
    generator,
    skip_biharmonic: bool = False,
    max_side: int | None = inference.MAX_SIDE,
    blend: str = "poisson",
    ensemble: str = "none",
    color_space: str = inference.INPAINT_COLOR_SPACE,
) -> dict:
    """Method name -> callable(masked image [H, W, 3], mask [H, W, 1]) -> [H, W, 3].

    `hint` is the model as `inpaint --blend BLEND --ensemble ENSEMBLE --color-space SPACE`
    runs it; with the default Poisson blending, `hint_raw` (the network's fill pasted as it is,
    same ensemble and colour space) is measured too, so the table shows what the blending adds;
    with a plane-wise colour space, `hint_joint` (`hint` with R, G and B run together) shows
    what running the planes as gray images adds.
    """
    inference.check_inpaint_options(blend, ensemble, color_space)
    methods = {"hint": model_method(generator, max_side, blend, ensemble, color_space)}
    if blend != "none":
        methods["hint_raw"] = model_method(generator, max_side, "none", ensemble, color_space)
    if color_space != "joint":
        methods["hint_joint"] = model_method(generator, max_side, blend, ensemble, "joint")
    methods |= {name: classical.classical_inpainter(name) for name in ("telea", "ns")}
    if not skip_biharmonic:
        methods["biharmonic"] = classical.biharmonic
    return methods


def load_model(model: str | None, precision: str = "float32"):
    """A run directory or `.keras` file, or the shipped `inpaint` weights when None."""
    try:
        if model is None:
            generator = pretrained.load("inpaint", precision=precision)
        else:
            generator = inference.load_model(model, precision=precision)
    except (pretrained.PretrainedError, training.TrainingError) as error:
        advice = "" if model is not None else " Here, pass --model RUN_DIR (or a .keras file)."
        raise BenchmarkError(f"{error}{advice}") from error
    names = {t.name for t in generator.inputs}
    if not {"image", "mask"} <= names:
        raise BenchmarkError(
            f"{model or 'the shipped model'} is not an inpainting model: its inputs are "
            f"{sorted(names)}, not 'image' and 'mask'."
        )
    return generator


# --------------------------------------------------------------------------- benchmark


def load_crops(folder: str, size: int, max_images: int | None = None) -> np.ndarray:
    """The centre `size` crops of a folder's images, sorted by file name: [N, S, S, 3]."""
    if not os.path.isdir(folder):
        raise BenchmarkError(f"The image folder does not exist: {folder}")
    try:
        images = sources.fixed_crops(folder, image_size=size, channels=3)
    except (ValueError, image_io.ImageReadError) as error:
        raise BenchmarkError(str(error)) from error
    return images[:max_images] if max_images else images


def run_benchmark(images, masks_by_bucket: dict, methods: dict, examples: int = 3) -> dict:
    """Runs every method on every (image, mask) pair and measures the composites.

    Args:
        images: float32 [N, H, W, 3] clean crops in [0, 1].
        masks_by_bucket: bucket label -> float32 [M, H, W, 1] masks (1 = hole); mask `j` is
            paired with image `j mod N`.
        methods: name -> callable(masked image [H, W, 3], mask [H, W, 1]) -> [H, W, 3].
        examples: figure rows to keep, one bucket after another. Defaults to 3.

    Returns:
        dict with `rows` (one per method and bucket, plus `all`: n, psnr, ssim, l1, seconds;
        see `format_table`), `per_image` (method -> bucket -> metric -> list) and `examples`
        (dicts of `bucket`, `masked`, `truth` and `outputs`, method -> composite).

    Example:
        >>> result = run_benchmark(crops, evaluation_masks(256, 18, 2024), build_methods(g))
        >>> print(format_table(result["rows"]))
    """
    n = len(images)
    first = next(iter(masks_by_bucket.values()))[0]
    for fn in methods.values():  # untimed: tracing, imports and caches are not the method
        fn(images[0] * (1.0 - first) + first, first)
    per_image = {name: {} for name in methods}
    kept = []
    for b, (bucket, bucket_masks) in enumerate(masks_by_bucket.items()):
        clean = images[np.arange(len(bucket_masks)) % n]
        outputs = {name: [] for name in methods}
        seconds = {name: [] for name in methods}
        for j, mask in enumerate(bucket_masks):
            masked = clean[j] * (1.0 - mask) + mask
            for name, fn in methods.items():
                start = time.perf_counter()
                pred = fn(masked, mask)
                seconds[name].append(time.perf_counter() - start)
                outputs[name].append(pred)
        pick = b % len(bucket_masks)
        if len(kept) < examples:
            kept.append(
                {
                    "bucket": bucket,
                    "ratio": float(bucket_masks[pick].mean()),
                    "masked": clean[pick] * (1.0 - bucket_masks[pick]) + bucket_masks[pick],
                    "truth": clean[pick],
                    "outputs": {},
                }
            )
        for name in methods:
            out = hint_metrics.composite(np.stack(outputs[name]), clean, bucket_masks)
            per_image[name][bucket] = {
                "psnr": hint_metrics.psnr(out, clean).numpy().tolist(),
                "ssim": hint_metrics.ssim(out, clean).numpy().tolist(),
                "l1": hint_metrics.mae(out, clean).numpy().tolist(),
                "seconds": seconds[name],
            }
            if kept and kept[-1]["bucket"] == bucket:
                kept[-1]["outputs"][name] = out[pick].numpy()
    rows = []
    for name, buckets in per_image.items():
        for bucket, values in buckets.items():
            rows.append(_row(name, bucket, values))
        merged = {m: sum((v[m] for v in buckets.values()), []) for m in METRICS}
        rows.append(_row(name, "all", merged))
    return {"rows": rows, "per_image": per_image, "examples": kept}


def _row(method, bucket, values):
    return {
        "method": method,
        "bucket": bucket,
        "n": len(values["psnr"]),
        **hint_metrics.summarise({m: values[m] for m in METRICS}),
    }


def format_table(rows: list[dict], reference: dict | None = TELEA_REFERENCE) -> str:
    """A text table of the rows, with the reference Telea numbers beside our Telea rows."""
    table = []
    for r in rows:
        ref = (reference or {}).get(r["bucket"]) if r["method"] == "telea" else None
        table.append(
            [
                METHOD_TITLES.get(r["method"], r["method"]),
                r["bucket"],
                r["n"],
                r["psnr"],
                r["ssim"],
                r["l1"],
                r["seconds"],
                f"{ref['psnr']:.1f} / {ref['ssim']:.3f}" if ref else "",
            ]
        )
    return tabulate(
        table,
        headers=(
            "method",
            "hole ratio",
            "images",
            "PSNR (dB)",
            "SSIM",
            "L1",
            "s / image",
            "reference Telea",
        ),
        floatfmt=("", "", "", ".2f", ".4f", ".4f", ".4f", ""),
    )


def plot(examples: list[dict], path: str, methods: list[str]) -> str:
    """Example rows: masked input | each method's composite | ground truth."""
    from hint import plots

    titles = ("masked input", *(METHOD_TITLES.get(m, m) for m in methods), "ground truth")
    rows = [(e["masked"], *(e["outputs"][m] for m in methods), e["truth"]) for e in examples]
    labels = [f"{e['bucket']} (hole {100 * e['ratio']:.0f}%)" for e in examples]
    return plots.sample_grid(rows, path, titles=titles, row_labels=labels)


# --------------------------------------------------------------------------- command line


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="image folder (default McMaster)")
    parser.add_argument(
        "--model", default=None, help="run directory or .keras file (default: shipped weights)"
    )
    parser.add_argument("--size", type=int, default=256, help="centre crop side")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--masks-per-bucket", type=int, default=None, help="default: one per image")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="evaluation mask seed")
    parser.add_argument("--examples", type=int, default=3, help="rows in examples.png")
    parser.add_argument("--skip-biharmonic", action="store_true")
    parser.add_argument(
        "--precision",
        choices=config.INFERENCE_PRECISIONS,
        default="auto",
        help="what the model computes in (`main.py inpaint --precision`)",
    )
    parser.add_argument(
        "--max-side",
        type=int,
        default=None,
        help="largest side the model runs at (default: what `inpaint` uses for this model)",
    )
    parser.add_argument(
        "--blend",
        choices=config.BLENDS,
        default="poisson",
        help="how the model's fill is pasted in (`main.py inpaint --blend`); with poisson the "
        "raw fill is measured too (row 'HINT, no blend')",
    )
    parser.add_argument(
        "--ensemble",
        choices=config.ENSEMBLES,
        default="none",
        help="`main.py inpaint --ensemble`: dihedral averages 8 rotated/flipped passes",
    )
    parser.add_argument(
        "--color-space",
        choices=config.INPAINT_COLOR_SPACES,
        default=config.INPAINT_COLOR_SPACE,
        help="`main.py inpaint --color-space`; with rgb or opponent, joint is measured too "
        "(row 'HINT, joint RGB')",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    # "auto" becomes what the model will compute in here, so the JSON says it.
    args.precision = precision_lib.resolve_precision(args.precision)
    return args


def _check(args):
    for name in ("max_images", "masks_per_bucket"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BenchmarkError(f"--{name.replace('_', '-')} must be >= 1. Received: {value}")
    # SSIM's 11x11 window needs at least 11 px; 16 keeps the crops a network multiple.
    if args.size < 16:
        raise BenchmarkError(f"--size must be at least 16. Received: {args.size}")
    if args.examples < 0:
        raise BenchmarkError(f"--examples must be >= 0. Received: {args.examples}")


def _versions():
    import cv2
    import skimage
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "opencv": cv2.__version__, "skimage": skimage.__version__}


def main(argv=None) -> int:
    args = _parse(argv)
    try:
        _check(args)
        images = load_crops(args.data, args.size, args.max_images)
        generator = load_model(args.model, args.precision)
        per_bucket = args.masks_per_bucket or len(images)
        eval_masks = masks.evaluation_masks(args.size, per_bucket=per_bucket, seed=args.seed)
        max_side = args.max_side or get_task("inpaint").network_options(generator)["max_side"]
        methods = build_methods(
            generator, args.skip_biharmonic, max_side, args.blend, args.ensemble, args.color_space
        )
        print(
            f"{len(images)} centre crops {args.size}x{args.size} of {args.data}, {per_bucket} "
            f"masks per bucket (seed {args.seed}), model {args.model or 'shipped inpaint'}, "
            f"methods {', '.join(methods)}"
        )
        result = run_benchmark(images, eval_masks, methods, examples=args.examples)
    except (BenchmarkError, inference.InferenceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(result["rows"]))
    load = os.getloadavg()[0]
    print(f"load average (1 min) after the run: {load:.2f} on {os.cpu_count()} CPUs")
    report = {
        "config": {
            "data": os.path.abspath(args.data),
            "crops": "centre",
            "size": args.size,
            "images": len(images),
            "masks_per_bucket": per_bucket,
            "seed": args.seed,
            "model": os.path.abspath(args.model) if args.model else "pretrained:inpaint",
            "methods": list(methods),
            "precision": args.precision,
            "blend": args.blend,
            "ensemble": args.ensemble,
            "color_space": args.color_space,
            "opencv_radius": 5,
        },
        "rows": result["rows"],
        "telea_reference": TELEA_REFERENCE,
        "per_image": result["per_image"],
        "machine": {"cpus": os.cpu_count(), "load_average_1min": load, **_versions()},
    }
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "results.json")
    with image_io.atomic_write(json_path, mode="w") as f:
        json.dump(report, f, indent=2)
    written = [json_path]
    if result["examples"]:
        figure = os.path.join(args.out, "examples.png")
        written.append(plot(result["examples"], figure, list(methods)))
    print("Wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())

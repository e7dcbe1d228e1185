"""Evaluation: per-image metrics, tables and their files; each task's protocol uses them.

`evaluate_run` loads a run's best network and runs its task's protocol
(`TaskPlugin.evaluate`), then writes the table as `eval/metrics.{json,csv,png}`; a fine-tuned
run is compared with the network it started from (`eval/comparison.{json,csv}`).

Inpainting (`evaluate_inpainting`): the validation crops of the run's data source (or all
images of `--data DIR`, centre-cropped) paired with a fixed set of masks generated from
`eval.seed` and binned by hole ratio into 0-20%, 20-40% and 40-60% (the buckets of the HINT
thesis). Mask `j` of a bucket is paired with image `j mod N`. Each network is run as the
`inpaint` command runs it (its saved inference defaults: plane by plane, Poisson blending) and
classical methods get the same inputs. Metrics (`tf.image.psnr`, `tf.image.ssim`, mean
absolute error, mean squared error, all on [0, 1]) are computed on the composite: the output
inside the hole, the input outside.

Denoising (`evaluate_denoising`): Gaussian noise of each level added with fixed seeds.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
from tabulate import tabulate

from hint import config as config_lib
from hint import inference, training
from hint import metrics as hint_metrics
from hint.datasets import image_io, sources
from hint.perceptual_evaluation import PERCEPTUAL_METRICS
from hint.task_plugin import get_task

METRICS = ("psnr", "ssim", "mae", "mse")
# The `method` of a table row of the evaluated network itself (other rows: what it is compared
# with, e.g. the network it was fine-tuned from or a classical method).
THIS_RUN = "this run"


def image_metrics(outputs, targets) -> dict[str, np.ndarray]:
    """Per-image `METRICS` of float [N, H, W, C] outputs against targets, both in [0, 1].

    What every task's table is made of: metric -> N values (see `summary_table`).
    """
    outputs = np.asarray(outputs, np.float32)
    targets = np.asarray(targets, np.float32)
    return {
        "psnr": hint_metrics.psnr(outputs, targets).numpy(),
        "ssim": hint_metrics.ssim(outputs, targets).numpy(),
        "mae": hint_metrics.mae(outputs, targets).numpy(),
        "mse": hint_metrics.mse(outputs, targets).numpy(),
    }


def evaluate_inpainting(
    methods: dict,
    images: np.ndarray,
    masks_by_bucket: dict,
    progress=False,
    examples=0,
    perceptual=None,
):
    """Per-image metrics per bucket of each inpainting method, on the same inputs.

    Args:
        methods: label -> function `(masked image [H, W, C], mask [H, W, 1]) -> [H, W, C]`:
            a network as the `inpaint` command runs it (`TaskPlugin.restore`) or a classical
            method (`hint.classical`). Metrics are computed on the composite (the method's
            output inside the hole, the input outside).
        images: float32 [N, H, W, C] clean images in [0, 1].
        masks_by_bucket: bucket label -> float32 [M, H, W, 1] masks (1 = hole); mask `j` of a
            bucket is paired with image `j mod N`.
        progress: show a progress bar. Defaults to False.
        examples: how many (masked input, mask, outputs..., clean) rows to keep for a figure,
            spread over the buckets. Defaults to 0.
        perceptual: a `hint.perceptual_evaluation.PerceptualMetrics` that also gets every
            bucket's composites (LPIPS per image; features for FID / KID), or None.

    Returns:
        `(per_image, rows)`: label -> bucket label -> {metric -> np.ndarray of M values}, and
        the example rows (tuples in the order masked input, mask, each method, ground truth).
    """
    n = len(images)
    total = sum(len(m) for m in masks_by_bucket.values())
    bar = keras.utils.Progbar(total * len(methods), unit_name="image") if progress else None
    per_image = {label: {} for label in methods}
    picks = _example_picks(masks_by_bucket, examples)
    rows = []
    for bucket, bucket_masks in masks_by_bucket.items():
        outputs = {label: [] for label in methods}
        clean = images[np.arange(len(bucket_masks)) % n]
        for j, m in enumerate(bucket_masks):
            degraded = clean[j] * (1.0 - m) + m
            for label, method in methods.items():
                out = np.clip(np.asarray(method(degraded, m), np.float32), 0.0, 1.0)
                outputs[label].append(out * m + clean[j] * (1.0 - m))
                if bar is not None:
                    bar.add(1)
            if (bucket, j) in picks:
                rows.append((degraded, m, *(outputs[k][-1] for k in methods), clean[j]))
        for label in methods:
            composites = np.stack(outputs[label])
            per_image[label][bucket] = image_metrics(composites, clean)
            if perceptual is not None:
                per_image[label][bucket] |= perceptual.add(label, bucket, composites, clean)
    return per_image, rows


def _example_picks(masks_by_bucket: dict, count: int) -> set:
    """(bucket, index) of `count` examples: as many from each bucket, spread over its masks.

    Spread, so that the examples show different images (mask `j` goes with image `j mod N`).
    """
    if count <= 0:
        return set()
    per_bucket = -(-count // len(masks_by_bucket))
    picks = []
    for bucket, bucket_masks in masks_by_bucket.items():
        size = len(bucket_masks)
        spread = np.linspace(0, size - 1, min(per_bucket, size)).round().astype(int)
        picks += [(bucket, int(j)) for j in dict.fromkeys(spread)]
    return set(picks[:count])


def summary_table(per_image: dict) -> list[dict]:
    """Rows of mean metrics per bucket plus an `all` row."""
    rows = []
    for bucket, values in per_image.items():
        rows.append({"bucket": bucket, "n": len(values["psnr"]), **hint_metrics.summarise(values)})
    names = next(iter(per_image.values())).keys()  # METRICS, and LPIPS when it is on
    merged = {m: np.concatenate([v[m] for v in per_image.values()]) for m in names}
    rows.append({"bucket": "all", "n": len(merged["psnr"]), **hint_metrics.summarise(merged)})
    return rows


def method_rows(per_method: dict, perceptual=None) -> list[dict]:
    """`summary_table` rows of every method, with the set metrics merged into their buckets.

    Args:
        per_method: `{method: per_image}` as `evaluate_inpainting` returns it.
        perceptual: The `PerceptualMetrics` that collected the images, or None: its FID and
            KID (computed over each bucket's set, not per image) join the matching rows.
    """
    rows = []
    for label, per_image in per_method.items():
        sets = perceptual.set_metrics(label) if perceptual is not None else {}
        rows += [
            {"method": label, **row, **sets.get(row["bucket"], {})}
            for row in summary_table(per_image)
        ]
    return rows


# Table columns: metric -> (header, number format). The perceptual ones appear when `evaluate`
# computed them; KID's standard deviation stays in the files.
_COLUMNS = {
    "psnr": ("PSNR (dB)", ".2f"),
    "ssim": ("SSIM", ".4f"),
    "mae": ("L1 (MAE)", ".4f"),
    "mse": ("MSE", ".5f"),
    "lpips": ("LPIPS", ".4f"),
    "kid": ("KID", ".4f"),
    "fid": ("FID", ".2f"),
}


def _perceptual(rows: list[dict]) -> list[str]:
    """The perceptual metrics the rows carry (in `PERCEPTUAL_METRICS` order)."""
    return [m for m in PERCEPTUAL_METRICS if any(m in r for r in rows)]


def _tabulate(rows: list[dict], leads: dict, metrics: list[str]) -> str:
    """`leads` (header -> row key) then `metrics` columns; a value a row lacks shows as -."""
    metrics = [m for m in [*metrics, *_perceptual(rows)] if m in _COLUMNS]
    return tabulate(
        [[r.get(k) for k in leads.values()] + [r.get(m) for m in metrics] for r in rows],
        headers=(*leads, *(_COLUMNS[m][0] for m in metrics)),
        floatfmt=("",) * len(leads) + tuple(_COLUMNS[m][1] for m in metrics),
        missingval="-",
    )


def format_table(rows: list[dict], first: str = "hole ratio") -> str:
    return _tabulate(rows, {first: "bucket", "images": "n"}, list(METRICS))


def evaluation_images(cfg, data: str | None = None) -> np.ndarray:
    """The fixed clean crops: the run's validation split, or every image of `data`."""
    channels = cfg.data.channels
    size = cfg.data.val_size or cfg.data.image_size
    if data is None and cfg.data.val_path is not None:
        data = cfg.data.val_path
    if data is not None:
        return sources.fixed_crops(data, image_size=size, channels=channels)
    path = cfg.data.path if cfg.data.path not in (None, "embedded") else None
    _, val = sources.image_sources(
        path=path,
        image_size=size,
        channels=channels,
        val_count=cfg.data.val_count,
        flips=cfg.data.flips,
        seed=cfg.run.seed,
    )
    return np.stack([x.numpy() for x in val])


def add_noise(images: np.ndarray, sigma: float, seed: int, clip: bool = False) -> np.ndarray:
    """Adds white Gaussian noise of `sigma` (0-255 units) with a fixed seed, per image."""
    rng = np.random.default_rng([seed, int(round(sigma * 100))])
    noisy = images + rng.normal(0.0, sigma / 255.0, size=images.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


def evaluate_denoising(network, images, sigmas, seed=0, clip=False, progress=False):
    """Per-image metrics per Gaussian noise level.

    Args:
        network: a denoiser with input `image` (and `noise_level` if conditioned).
        images: float32 [N, H, W, C] clean images, or a list of [H, W, C] of any sizes.
        sigmas: noise levels in 0-255 units.
        seed: noise seed (the same noisy images on every run). Defaults to 0.
        clip: clip the noisy images to [0, 1] (benchmarks do not). Defaults to False.
        progress: show a progress bar. Defaults to False.

    Returns:
        "sigma=S" -> {metric -> np.ndarray of N per-image values}; outputs are clipped to
        [0, 1] before measuring.
    """
    bar = keras.utils.Progbar(len(sigmas) * len(images), unit_name="image") if progress else None
    results = {}
    for sigma in sigmas:
        values = {m: [] for m in METRICS}
        for i, clean in enumerate(images):
            noisy = add_noise(clean[None], sigma, seed + i, clip)[0]
            out = inference.denoise_array(network, noisy, sigma=sigma)[None]
            ref = clean[None]
            for name, per_image in image_metrics(out, ref).items():
                values[name].append(per_image)
            if bar is not None:
                bar.add(1)
        results[f"sigma={sigma:g}"] = {k: np.concatenate(v) for k, v in values.items()}
    return results


def start_networks(cfg) -> dict:
    """The network a run started from (`model.init_from`), by label, if it can still be loaded.

    What a fine-tuned run is compared with: "shipped, before fine-tuning" for
    `init_from: pretrained`, else "start: <run or file name>". Empty for a run trained from
    scratch, or when its source is gone.
    """
    if not cfg.model.init_from:
        return {}
    try:
        source = training.init_source(cfg)
    except training.TrainingError:
        return {}
    if cfg.model.init_from == config_lib.PRETRAINED:
        label = "shipped, before fine-tuning"
    else:
        label = "start: " + os.path.basename(os.path.normpath(source))
    return {label: inference.load_model(source, precision="float32")}


# What `evaluate --set` may change: the measurement's own settings, not the run's.
EVALUATE_OVERRIDES = ("eval.",)


def evaluate_run(
    run_dir: str, data: str | None = None, verbose: bool = True, overrides=()
) -> list[dict]:
    """Evaluates a run's best network with its task's protocol; writes `eval/metrics.*`.

    A run that started from another network (`model.init_from`) is compared with it, and the
    task may add classical baselines (inpainting: `inpaint.baselines`); then
    `eval/comparison.{json,csv}` hold every method's rows and the printed table shows them
    side by side.

    Args:
        run_dir: The run directory.
        data: A folder of images to evaluate on instead (written to `eval_<folder name>/`).
        verbose: Show progress and print the table.
        overrides: `"eval.key=value"` strings (the metric weight files, `eval.samples`, ...).

    Returns:
        The run's own rows (`TaskPlugin.evaluate`), without the compared methods.
    """
    config_lib.check_override_keys(
        overrides,
        EVALUATE_OVERRIDES,
        "evaluate --set",
        "the run's settings define what is measured",
    )
    cfg = training.load_run_config(run_dir, overrides)
    network = inference.load_model(run_dir, precision="float32")
    plugin = get_task(cfg.task)
    out_dir = os.path.join(run_dir, "eval" if data is None else "eval_" + _slug(data))
    os.makedirs(out_dir, exist_ok=True)
    references = start_networks(cfg)
    # Only when there is something to compare, so a plug-in's `evaluate` without the
    # `references` argument keeps working for runs trained from scratch.
    extra = {"references": references} if references else {}
    rows = plugin.evaluate(network, cfg, out_dir, data=data, verbose=verbose, **extra)
    own = [{k: v for k, v in r.items() if k != "method"} for r in rows if _method(r) == THIS_RUN]
    write_results(own, out_dir)
    compared = len({_method(r) for r in rows}) > 1
    if compared:
        write_comparison(rows, out_dir)
    if verbose:
        if compared:
            print(format_comparison(rows, first=plugin.eval_label))
        else:
            print(format_table(own, first=plugin.eval_label))
        print(f"Evaluation saved to {out_dir}")
    return own


def format_comparison(rows: list[dict], first: str = "hole ratio") -> str:
    """A table of several methods' rows, grouped by bucket (methods in the rows' order)."""
    methods = {m: i for i, m in enumerate(dict.fromkeys(map(_method, rows)))}
    buckets = {b: i for i, b in enumerate(dict.fromkeys(r["bucket"] for r in rows))}
    ordered = sorted(rows, key=lambda r: (buckets[r["bucket"]], methods[_method(r)]))
    rows = [{**r, "method": _method(r)} for r in ordered]
    return _tabulate(
        rows, {first: "bucket", "method": "method", "images": "n"}, ["psnr", "ssim", "mae"]
    )


def write_comparison(rows: list[dict], out_dir: str) -> None:
    """`comparison.json` and `comparison.csv`: every method's rows (`method` column first)."""
    rows = [{"method": _method(r), **r} for r in rows]
    _write_rows(
        rows, out_dir, "comparison", ["method", "bucket", "n", *METRICS, *_perceptual(rows)]
    )


def _write_rows(rows: list[dict], out_dir: str, stem: str, columns: list[str]) -> None:
    """`stem.json` (the rows as they are) and `stem.csv` (`columns`), each written atomically."""
    with image_io.atomic_write(os.path.join(out_dir, stem + ".json"), mode="w") as f:
        json.dump(rows, f, indent=2)
    with image_io.atomic_write(os.path.join(out_dir, stem + ".csv"), mode="w") as f:
        f.write(",".join(columns) + "\n")
        for r in rows:
            f.write(",".join(str(r.get(k, "")) for k in columns) + "\n")


def _method(row: dict) -> str:
    """A table row's method: the evaluated network's own rows may not name one."""
    return row.get("method", THIS_RUN)


def write_results(rows: list[dict], out_dir: str) -> None:
    from hint import plots

    os.makedirs(out_dir, exist_ok=True)
    _write_rows(rows, out_dir, "metrics", ["bucket", "n", *METRICS, *_perceptual(rows)])
    table = {r["bucket"]: {m: r[m] for m in METRICS} for r in rows}
    plots.bar_chart(table, os.path.join(out_dir, "metrics.png"), metric="psnr")


def _slug(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in os.path.basename(os.path.normpath(path)))

"""Evaluation: per-image metrics, tables and their files; each task's protocol uses them.

`evaluate_run` loads a run's best network and runs its task's protocol
(`TaskPlugin.evaluate`), then writes the table as `eval/metrics.{json,csv,png}`.

Inpainting (`evaluate_inpainting`): the validation crops of the run's data source (or all
images of `--data DIR`, centre-cropped) paired with a fixed set of masks generated from
`eval.seed` and binned by hole ratio into 0-20%, 20-40% and 40-60% (the buckets of the HINT
thesis). Mask `j` of a bucket is paired with image `j mod N`. Metrics (`tf.image.psnr`,
`tf.image.ssim`, mean absolute error, mean squared error, all on [0, 1]) are computed on the
composite: the prediction inside the hole, the input outside.

Denoising (`evaluate_denoising`): Gaussian noise of each level added with fixed seeds.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
from tabulate import tabulate

from hint import inference, training
from hint import metrics as hint_metrics
from hint.datasets import image_io, sources
from hint.task_plugin import get_task

METRICS = ("psnr", "ssim", "mae", "mse")


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
    generator, images: np.ndarray, masks_by_bucket: dict, batch_size=8, progress=False
):
    """Per-image metrics per bucket.

    Args:
        generator: a model with inputs `image` and `mask`.
        images: float32 [N, H, W, C] clean images in [0, 1].
        masks_by_bucket: bucket label -> float32 [M, H, W, 1] masks (1 = hole).
        batch_size: images per forward pass. Defaults to 8.
        progress: show a progress bar. Defaults to False.

    Returns:
        bucket label -> {metric -> np.ndarray of M per-image values}.
    """
    results = {}
    n = len(images)
    total = sum(len(m) for m in masks_by_bucket.values())
    bar = keras.utils.Progbar(total, unit_name="image") if progress else None
    for bucket, bucket_masks in masks_by_bucket.items():
        values = {m: [] for m in METRICS}
        for start in range(0, len(bucket_masks), batch_size):
            m = bucket_masks[start : start + batch_size]
            idx = np.arange(start, start + len(m)) % n
            clean = images[idx]
            degraded = clean * (1.0 - m) + m
            pred = inference.forward(generator, {"image": degraded, "mask": m})
            out = hint_metrics.composite(pred, clean, m)
            for name, per_image in image_metrics(out, clean).items():
                values[name].append(per_image)
            if bar is not None:
                bar.add(len(m))
        results[bucket] = {k: np.concatenate(v) for k, v in values.items()}
    return results


def summary_table(per_image: dict) -> list[dict]:
    """Rows of mean metrics per bucket plus an `all` row."""
    rows = []
    for bucket, values in per_image.items():
        rows.append({"bucket": bucket, "n": len(values["psnr"]), **hint_metrics.summarise(values)})
    merged = {m: np.concatenate([v[m] for v in per_image.values()]) for m in METRICS}
    rows.append({"bucket": "all", "n": len(merged["psnr"]), **hint_metrics.summarise(merged)})
    return rows


def format_table(rows: list[dict], first: str = "hole ratio") -> str:
    return tabulate(
        [[r["bucket"], r["n"], r["psnr"], r["ssim"], r["mae"], r["mse"]] for r in rows],
        headers=(first, "images", "PSNR (dB)", "SSIM", "L1 (MAE)", "MSE"),
        floatfmt=("", "", ".2f", ".4f", ".4f", ".5f"),
    )


def evaluation_images(cfg, data: str | None = None) -> np.ndarray:
    """The fixed clean crops: the run's validation split, or every image of `data`."""
    size, channels = cfg.data.image_size, cfg.data.channels
    if data is None and cfg.data.val_path is not None:
        data, size = cfg.data.val_path, cfg.data.val_size or size
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


def evaluate_run(run_dir: str, data: str | None = None, verbose: bool = True) -> list[dict]:
    """Evaluates a run's best network with its task's protocol; writes `eval/metrics.*`.

    Args:
        run_dir: The run directory.
        data: A folder of images to evaluate on instead (written to `eval_<folder name>/`).
        verbose: Show progress and print the table.

    Returns:
        The table's rows (`TaskPlugin.evaluate`).
    """
    cfg = training.load_run_config(run_dir)
    network = inference.load_model(run_dir)
    plugin = get_task(cfg.task)
    out_dir = os.path.join(run_dir, "eval" if data is None else "eval_" + _slug(data))
    os.makedirs(out_dir, exist_ok=True)
    rows = plugin.evaluate(network, cfg, out_dir, data=data, verbose=verbose)
    write_results(rows, out_dir)
    if verbose:
        print(format_table(rows, first=plugin.eval_label))
        print(f"Evaluation saved to {out_dir}")
    return rows


def write_results(rows: list[dict], out_dir: str) -> None:
    from hint import plots

    os.makedirs(out_dir, exist_ok=True)
    with image_io.atomic_write(os.path.join(out_dir, "metrics.json"), mode="w") as f:
        json.dump(rows, f, indent=2)
    with image_io.atomic_write(os.path.join(out_dir, "metrics.csv"), mode="w") as f:
        keys = ["bucket", "n", *METRICS]
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in keys) + "\n")
    table = {r["bucket"]: {m: r[m] for m in METRICS} for r in rows}
    plots.bar_chart(table, os.path.join(out_dir, "metrics.png"), metric="psnr")


def _slug(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in os.path.basename(os.path.normpath(path)))

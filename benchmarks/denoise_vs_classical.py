"""The project's denoiser vs. BM3D / CBM3D and non-local means, on the same noisy images.

Commands (from the repository root):

    # The full benchmark: Set12 (12 gray PNGs) and McMaster (18 colour TIFFs) from
    # ../shared/data/val, sigma 15, 25 and 50, the shipped noise-conditioned models. BM3D is the
    # slow part: expect one to two hours on 2 busy cores (see "Speed" below).
    python benchmarks/denoise_vs_classical.py

    # A run directory or a .keras file instead of the shipped weights (used for every image;
    # a gray model denoises colour images in an opponent colour space), or one model per
    # channel count:
    python benchmarks/denoise_vs_classical.py --model runs/NAME
    python benchmarks/denoise_vs_classical.py --model-gray runs/GRAY --model-color runs/COLOR

    # A quick check: the first image of each folder, sigma 25 only:
    python benchmarks/denoise_vs_classical.py --max-images 1 --sigmas 25

Options: `--data DIR` (repeatable; default both folders above), `--sigmas` (15 25 50, in 0-255
units), `--model` / `--model-gray` / `--model-color`, `--max-images N` (the first N images of
each folder in sorted order), `--seed` (2024), `--skip-bm3d`, `--skip-nlm`, `--precision`
(what the network computes in, the `denoise --precision` option: auto, the default, is
mixed_bfloat16 on CPUs with native bfloat16 and float32 elsewhere), `--ensemble`
(none, or dihedral: the network's outputs for the eight rotations / flips averaged, the
`denoise --ensemble` option, 8x the time), `--color-space` (opponent, or rgb: how a gray
network serves colour images, see `hint.inference.denoise_array`), `--out DIR`
(`benchmarks/results/denoise_vs_classical/`).

Which network: for an image with C channels, `--model-gray` (C = 1) or `--model-color` (C = 3)
if given, else `--model`, else the shipped weights (`hint.tasks.denoise.shipped_denoisers`:
`denoise_color` for colour when installed, else `denoise_gray`); a model that is not installed
stops the run before anything is measured, with a message saying how to get one.

Protocol. Every method denoises the same noisy images: the clean image plus white Gaussian
noise of standard deviation sigma / 255, NOT clipped to [0, 1] (the convention of the published
tables), made by `hint.evaluation.add_noise(clean, sigma, seed + i)` for image `i` of the
sorted folder, so the noise is fixed per (image, sigma) and identical to what
`python main.py evaluate --run RUN --data DIR` uses with the default `eval.seed` (2024). The
methods:

1. network: `hint.inference.denoise_array(network, noisy, sigma=sigma, ensemble=...)`, i.e.
   exactly the `denoise` command (padding, tiling above 512 px, the noise map for conditioned
   models, the self-ensemble when asked for; its label then ends in ", x8 ensemble"). A gray
   network on colour images works in the opponent colour space or per R, G, B channel
   (`--color-space`; label ", opponent" or ", per RGB channel").
   One untimed warm-up call per model and image size comes first.
2. BM3D for gray images, `bm3d.bm3d(noisy, sigma_psd=sigma / 255)`, and CBM3D for colour,
   `bm3d.bm3d_rgb(noisy, sigma / 255)` (the `bm3d` package 4.0.3, default profile "np", the
   opponent colour transform for CBM3D).
3. Non-local means, `skimage.restoration.denoise_nl_means(noisy, h=0.8 * s, sigma=s,
   fast_mode=True, patch_size=5, patch_distance=6, channel_axis=-1 for colour)` with
   s = sigma / 255: the settings of scikit-image's documentation (its gallery example
   "Non-local means denoising for preserving textures", and the docstring's advice of
   h = 0.8 * sigma when sigma is given and fast_mode is True).

Metrics, as `hint.evaluation.evaluate_denoising` computes them: every output (and the noisy
input, reported as "noisy input") is clipped to [0, 1] and compared with the clean image by
`hint.metrics.psnr` / `hint.metrics.ssim` (`tf.image`, data range 1, Gaussian 11x11 SSIM),
averaged over the images. Seconds per image is the wall time of the denoising call alone (not
reading, noise or metrics), averaged; "BM3D time / time" is BM3D's seconds divided by the
method's at the same dataset and sigma (above 1: faster than BM3D). "above BM3D" counts the
images on which the method's PSNR is higher than BM3D's on the same noisy image: average margins
of a few hundredths of a dB are only worth quoting with it (and with other `--seed`s). The
machine's cores may be shared: the load average before and after is stored with the results.

Speed, measured on this 2-core CPU while a training run kept it busy (load average 3-4.5):
BM3D 5.7 s for a 256x256 gray Set12 image, CBM3D 53 s for a 500x500 McMaster image,
non-local means 0.1 s and 0.5 s. BM3D's time grows with the number of pixels (Set12 has five
512x512 images), and every measurement runs once per sigma.

Outputs: one table on stdout (a row per dataset, sigma and method); `results.json` (settings,
versions, published numbers, rows with per-image values) and `psnr.png` (PSNR per method
grouped by sigma, one panel per dataset) in `--out`, both written atomically. A run with
`--max-images` overwrites a full run's files unless `--out` differs.

Published numbers to compare with (averages over the whole folder, sigma 25): Set12: BM3D
29.97 dB, DnCNN-S 30.44 dB (Zhang et al., "Beyond a Gaussian Denoiser", IEEE TIP 2017,
Table 2); McMaster: CBM3D 31.66 dB, FFDNet 32.35 dB (as reported in the FFDNet / DRUNet
papers). They come from the authors' MATLAB BM3D and their own noise draws, so the Python BM3D
here may differ by a few hundredths of a dB; only full-folder runs are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from hint import config, evaluation, inference, pretrained, training  # noqa: E402
from hint import metrics as hint_metrics  # noqa: E402
from hint import precision as precision_lib  # noqa: E402
from hint.datasets import image_io  # noqa: E402
from hint.tasks.denoise.shipped_denoisers import denoiser_for  # noqa: E402

SHARED_VAL = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data", "val")
DEFAULT_DATA = (os.path.join(SHARED_VAL, "Set12"), os.path.join(SHARED_VAL, "McMaster"))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results", "denoise_vs_classical")
DEFAULT_SIGMAS = (15.0, 25.0, 50.0)
# `eval.seed`'s default, so the network's numbers equal `main.py evaluate --data DIR`'s.
DEFAULT_SEED = 2024
BM3D_INSTALL = "pip install bm3d==4.0.3"

# scikit-image's recommended non-local means settings (see the module docstring).
NLM_PATCH_SIZE = 5
NLM_PATCH_DISTANCE = 6
NLM_H_FACTOR = 0.8

METHODS = ("noisy", "network", "bm3d", "nlm")
PUBLISHED = {
    "Set12": {25.0: {"BM3D": 29.97, "DnCNN-S": 30.44}},
    "McMaster": {25.0: {"CBM3D": 31.66, "FFDNet": 32.35}},
}


class BenchmarkError(ValueError):
    """Inputs the benchmark cannot run on: a bad folder, a missing model or package."""


# --------------------------------------------------------------------------- methods


def bm3d_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (gray) or CBM3D (colour) of a float32 [H, W, C] image; sigma in 0-255 units."""
    import bm3d

    if noisy.shape[-1] == 1:
        out = bm3d.bm3d(noisy[..., 0], sigma_psd=sigma / 255.0)[..., None]
    else:
        out = bm3d.bm3d_rgb(noisy, sigma / 255.0)
    return np.asarray(out, np.float32)


def nlm_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """Non-local means (scikit-image, fast mode) of a float32 [H, W, C] image."""
    from skimage.restoration import denoise_nl_means

    s = sigma / 255.0
    gray = noisy.shape[-1] == 1
    out = denoise_nl_means(
        noisy[..., 0] if gray else noisy,
        patch_size=NLM_PATCH_SIZE,
        patch_distance=NLM_PATCH_DISTANCE,
        h=NLM_H_FACTOR * s,
        fast_mode=True,
        sigma=s,
        # Unclipped noise goes below 0: keep the values as they are.
        preserve_range=True,
        channel_axis=None if gray else -1,
    )
    return np.asarray(out, np.float32).reshape(noisy.shape)


def image_metrics(output: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM) of one [H, W, C] output clipped to [0, 1], as `evaluate_denoising` does."""
    out = np.clip(output, 0.0, 1.0).astype(np.float32)[None]
    ref = clean[None]
    psnr = hint_metrics.psnr(out, ref).numpy()[0]
    ssim = hint_metrics.ssim(out, ref).numpy()[0]
    return float(psnr), float(ssim)


# --------------------------------------------------------------------------- inputs


def load_folder(folder: str, max_images: int | None = None) -> tuple[list[str], list]:
    """The sorted image files of `folder` (the first `max_images`) and their float32 arrays."""
    if not os.path.isdir(folder):
        raise BenchmarkError(f"--data folder does not exist or is not a directory: {folder}")
    files = image_io.list_images(folder)
    if not files:
        raise BenchmarkError(
            f"No images in --data folder {folder} (extensions: "
            f"{', '.join(image_io.IMAGE_EXTENSIONS)})."
        )
    files = files[:max_images] if max_images else files
    try:
        images = [image_io.read_image(f) for f in files]
    except image_io.ImageReadError as e:
        raise BenchmarkError(str(e)) from None
    return files, images


def _load_network(spec, channels, precision="float32"):
    """(label, network) for a path, a loaded model, or None (the shipped weights)."""
    # Resolved here, where the label is made: "auto" may well mean float32 on this machine.
    precision = precision_lib.resolve_precision(precision)
    suffix = "" if precision == "float32" else ", bfloat16"
    if spec is None:
        name = denoiser_for(channels)
        try:
            return name + suffix, pretrained.load(name, precision=precision, fold_batch_norm=True)
        except pretrained.PretrainedError as e:
            raise BenchmarkError(
                f"{e} (In this benchmark: --model, --model-gray or --model-color.)"
            ) from None
    if not isinstance(spec, str | os.PathLike):
        return spec.name, spec
    path = os.fspath(spec)
    label = os.path.basename(os.path.normpath(path))
    if not os.path.exists(path):
        raise BenchmarkError(f"--model path does not exist: {path}")
    try:
        return label + suffix, inference.load_model(path, precision=precision, fold_batch_norm=True)
    except (training.TrainingError, ValueError, OSError) as e:
        raise BenchmarkError(f"Cannot load the model {path}: {e}") from None


def load_networks(
    channels, model=None, model_gray=None, model_color=None, precision="float32"
) -> dict:
    """channels -> (label, network) for every channel count in `channels`.

    Args:
        channels: The image channel counts to serve (1 and / or 3).
        model: Run directory, `.keras` file or loaded model for every image. Defaults to None.
        model_gray: The same for gray images, before `model`. Defaults to None.
        model_color: The same for colour images, before `model`. Defaults to None.
        precision: What loaded networks compute in, `"float32"`, `"mixed_bfloat16"` or `"auto"`
            (`hint.training.load_model`). Defaults to `"float32"`.

    Returns:
        A dict channels -> (label, keras model); a spec used for both counts is loaded once.
    """
    loaded, networks = {}, {}
    for c in sorted(set(channels)):
        spec = {1: model_gray, 3: model_color}.get(c)
        spec = model if spec is None else spec
        if spec is None:
            key = ("shipped", c)
        else:
            key = os.fspath(spec) if isinstance(spec, str | os.PathLike) else id(spec)
        if key not in loaded:
            loaded[key] = _load_network(spec, c, precision)
        networks[c] = loaded[key]
    return networks


# --------------------------------------------------------------------------- benchmark


def _channels(network) -> int:
    return network.inputs[0].shape[-1]


def _method_label(method, channels, network_labels):
    if method == "noisy":
        return "noisy input"
    if method == "network":
        return "network (" + "/".join(sorted(set(network_labels))) + ")"
    if method == "bm3d":
        return {frozenset({1}): "BM3D", frozenset({3}): "CBM3D"}.get(
            frozenset(channels), "BM3D/CBM3D"
        )
    return "NLM (skimage)"


def run_benchmark(
    folders,
    sigmas=DEFAULT_SIGMAS,
    model=None,
    model_gray=None,
    model_color=None,
    max_images=None,
    seed=DEFAULT_SEED,
    skip_bm3d=False,
    skip_nlm=False,
    progress=True,
    precision="float32",
    ensemble="none",
    color_space="opponent",
) -> list[dict]:
    """Measures every method on every folder and noise level.

    All inputs (folders, images, models, the bm3d package) are checked before the first
    measurement, so a bad one fails in seconds rather than after an hour of BM3D.

    Args:
        folders: Image folders; a dataset is named after its folder.
        sigmas: Gaussian noise levels in 0-255 units. Defaults to (15, 25, 50).
        model: Run directory, `.keras` file or loaded Keras model for every image; None uses
            the shipped weights. Defaults to None.
        model_gray: Model for gray images, taking precedence over `model`. Defaults to None.
        model_color: Model for colour images, taking precedence over `model`. Defaults to None.
        max_images: Only the first N sorted images of each folder. Defaults to None (all).
        seed: Noise seed; image `i` at `sigma` gets `add_noise(..., sigma, seed + i)`.
            Defaults to 2024.
        skip_bm3d: Leave BM3D out. Defaults to False.
        skip_nlm: Leave non-local means out. Defaults to False.
        progress: Print a line per image. Defaults to True.
        precision: What the network computes in, `"float32"` or `"mixed_bfloat16"` (its label
            then ends in ", bfloat16"). Defaults to `"float32"`.
        ensemble: The network's test-time self-ensemble, `"none"` or `"dihedral"` (its label
            then ends in ", x8 ensemble"). Defaults to `"none"`.
        color_space: How a gray network denoises colour images, `"opponent"` or `"rgb"`
            (`hint.inference.denoise_array`). Defaults to `"opponent"`.

    Returns:
        One dict per (dataset, sigma, method), in that order: `dataset`, `folder`, `sigma`,
        `method` ("noisy", "network", "bm3d", "nlm"), `label`, `images`, `psnr`, `ssim`,
        `seconds_per_image` (None for the noisy input), `speed_vs_bm3d` (BM3D seconds / the
        method's, None without BM3D), `images_above_bm3d` (on how many images the method's
        PSNR is higher than BM3D's; None for BM3D and without it) and `per_image` (`file`,
        `psnr`, `ssim`, `seconds`).

    Raises:
        BenchmarkError: a folder is missing, empty or unreadable, a model cannot be loaded,
            bm3d is not installed, or an argument is out of range.

    Example:

    >>> rows = run_benchmark(["../shared/data/val/Set12"], sigmas=[25], max_images=2)
    >>> print(format_table(rows))
    """
    sigmas = [float(s) for s in sigmas]
    if not folders:
        raise BenchmarkError("Give at least one --data folder.")
    if not sigmas or min(sigmas) <= 0:
        raise BenchmarkError(f"Noise levels must be > 0 (0-255 units). Received: {sigmas=}")
    try:
        inference.check_denoise_options(ensemble, color_space)
    except inference.InferenceError as e:
        raise BenchmarkError(str(e)) from None
    if max_images is not None and max_images < 1:
        raise BenchmarkError(f"--max-images must be at least 1. Received: {max_images=}")
    datasets = [(folder, *load_folder(folder, max_images)) for folder in folders]
    if not skip_bm3d:
        try:
            import bm3d  # noqa: F401
        except ImportError:
            raise BenchmarkError(
                f"BM3D needs the bm3d package: {BM3D_INSTALL} (or pass --skip-bm3d)."
            ) from None
    all_channels = {img.shape[-1] for _, _, images in datasets for img in images}
    networks = load_networks(all_channels, model, model_gray, model_color, precision)

    methods = ["noisy", "network"] + ["bm3d"] * (not skip_bm3d) + ["nlm"] * (not skip_nlm)
    classical = {"bm3d": bm3d_denoise, "nlm": nlm_denoise}
    names = {"network": "network", "bm3d": "BM3D", "nlm": "NLM"}
    warmed = set()
    rows = []
    for folder, files, images in datasets:
        dataset = os.path.basename(os.path.normpath(folder))
        channels = {img.shape[-1] for img in images}
        suffix = ", x8 ensemble" if ensemble == "dihedral" else ""
        space = {"opponent": ", opponent", "rgb": ", per RGB channel"}[color_space]
        labels = [
            networks[c][0] + (space if c == 3 and _channels(networks[c][1]) == 1 else "") + suffix
            for c in channels
        ]
        for sigma in sigmas:
            per = {m: {"file": [], "psnr": [], "ssim": [], "seconds": []} for m in methods}
            for i, (path, clean) in enumerate(zip(files, images, strict=True)):
                noisy = evaluation.add_noise(clean[None], sigma, seed + i)[0]
                network = networks[clean.shape[-1]][1]
                if (id(network), clean.shape) not in warmed:
                    # The first call creates kernels and caches; it is not what a user waits
                    # for on every image.
                    inference.denoise_array(network, noisy, sigma=sigma)
                    warmed.add((id(network), clean.shape))
                line = []
                for method in methods:
                    seconds = None
                    if method == "noisy":
                        out = noisy
                    else:
                        start = time.perf_counter()
                        if method == "network":
                            out = inference.denoise_array(
                                network,
                                noisy,
                                sigma=sigma,
                                ensemble=ensemble,
                                color_space=color_space,
                            )
                        else:
                            out = classical[method](noisy, sigma)
                        seconds = time.perf_counter() - start
                    psnr, ssim = image_metrics(out, clean)
                    for key, value in (
                        ("file", os.path.basename(path)),
                        ("psnr", psnr),
                        ("ssim", ssim),
                        ("seconds", seconds),
                    ):
                        per[method][key].append(value)
                    if seconds is None:
                        line.append(f"noisy {psnr:.2f} dB")
                    else:
                        line.append(f"{names[method]} {psnr:.2f} dB {seconds:.2f} s")
                if progress:
                    print(
                        f"{dataset} sigma {sigma:g} [{i + 1}/{len(files)}] "
                        f"{os.path.basename(path)}: " + " | ".join(line),
                        flush=True,
                    )
            bm3d_seconds = np.mean(per["bm3d"]["seconds"]) if "bm3d" in per else None
            for method in methods:
                values = per[method]
                seconds = None if method == "noisy" else float(np.mean(values["seconds"]))
                ratio = above = None
                if seconds is not None and bm3d_seconds is not None and seconds > 0:
                    ratio = float(bm3d_seconds / seconds)
                if "bm3d" in per and method != "bm3d":
                    # Per image, on the same noisy image: an average margin of a few
                    # hundredths of a dB says little unless most images agree.
                    pairs = zip(values["psnr"], per["bm3d"]["psnr"], strict=True)
                    above = sum(int(mine > theirs) for mine, theirs in pairs)
                rows.append(
                    {
                        "dataset": dataset,
                        "folder": os.path.abspath(folder),
                        "sigma": sigma,
                        "method": method,
                        "label": _method_label(method, channels, labels),
                        "images": len(files),
                        "psnr": float(np.mean(values["psnr"])),
                        "ssim": float(np.mean(values["ssim"])),
                        "seconds_per_image": seconds,
                        "speed_vs_bm3d": ratio,
                        "images_above_bm3d": above,
                        "per_image": values,
                    }
                )
    return rows


# --------------------------------------------------------------------------- reporting


def format_table(rows: list[dict]) -> str:
    """One table, a row per (dataset, sigma, method): PSNR, SSIM, speed, images above BM3D."""

    def number(value, fmt):
        return "-" if value is None else format(value, fmt)

    def above_bm3d(row):
        # Rows of results written before the count existed have no such key.
        above = row.get("images_above_bm3d")
        return "-" if above is None else f"{above}/{row['images']}"

    return tabulate(
        [
            [
                r["dataset"],
                f"{r['sigma']:g}",
                r["label"],
                r["images"],
                f"{r['psnr']:.2f}",
                f"{r['ssim']:.4f}",
                number(r["seconds_per_image"], ".3f"),
                number(r["speed_vs_bm3d"], ".1f"),
                above_bm3d(r),
            ]
            for r in rows
        ],
        headers=(
            "dataset",
            "sigma",
            "method",
            "images",
            "PSNR (dB)",
            "SSIM",
            "s/image",
            "BM3D time / time",
            "above BM3D",
        ),
        colalign=("left", "right", "left", "right", "right", "right", "right", "right", "right"),
        # The cells are already formatted: parsing "28.20" back to a number drops the zero.
        disable_numparse=True,
    )


def published_lines(rows: list[dict]) -> list[str]:
    """The published averages for the datasets and noise levels in `rows`."""
    lines = []
    for dataset, sigma in dict.fromkeys((r["dataset"], r["sigma"]) for r in rows):
        numbers = PUBLISHED.get(dataset, {}).get(sigma)
        if numbers:
            text = ", ".join(f"{k} {v:.2f}" for k, v in numbers.items())
            lines.append(f"published {dataset} sigma {sigma:g} (whole set): {text} dB")
    return lines


def plot(rows: list[dict], path: str, dpi: int = 100) -> str:
    """Bar chart of PSNR per method grouped by sigma, one panel per dataset; written atomically.

    Returns:
        `path`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    colours = {"noisy": "0.75", "network": "C0", "bm3d": "C1", "nlm": "C2"}
    fig = Figure(figsize=(5.0 * len(datasets) + 1.0, 4.6), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    width = 0.8 / len(methods)
    low, high = min(r["psnr"] for r in rows), max(r["psnr"] for r in rows)
    for ax, dataset in zip(axes, datasets, strict=True):
        mine = [r for r in rows if r["dataset"] == dataset]
        sigmas = list(dict.fromkeys(r["sigma"] for r in mine))
        for j, method in enumerate(methods):
            found = {r["sigma"]: r for r in mine if r["method"] == method}
            x = [k + (j - (len(methods) - 1) / 2) * width for k in range(len(sigmas))]
            values = [found[s]["psnr"] if s in found else np.nan for s in sigmas]
            label = next((r["label"] for r in found.values()), method)
            bars = ax.bar(x, values, width, label=label, color=colours[method])
            ax.bar_label(
                bars,
                labels=[f"{v:.2f}" for v in values],
                fontsize="x-small",
                rotation=90,
                padding=2,
            )
        ax.set_xticks(range(len(sigmas)), [f"sigma {s:g}" for s in sigmas])
        # PSNR differences of tenths of a dB vanish on a bar chart starting at zero; the top
        # leaves room for the rotated value labels.
        ax.set_ylim(max(0.0, np.floor(low) - 2.0), high + 3.0)
        ax.set_ylabel("PSNR (dB)")
        n = mine[0]["images"]
        ax.set_title(f"{dataset} ({n} image{'s' if n != 1 else ''})")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2)
    FigureCanvasAgg(fig)
    with image_io.atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    return path


def _versions():
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "bm3d", "scikit-image", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def write_json(payload: dict, path: str) -> str:
    """Writes `payload` as indented JSON atomically; returns `path`."""
    with image_io.atomic_write(path, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    return path


# --------------------------------------------------------------------------- command line


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring for the protocol and the published numbers.",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="DIR",
        help="image folder, repeatable (default: ../shared/data/val/Set12 and McMaster)",
    )
    parser.add_argument("--sigmas", type=float, nargs="+", default=list(DEFAULT_SIGMAS))
    parser.add_argument("--model", default=None, help="run directory or .keras file")
    parser.add_argument("--model-gray", default=None, help="model for gray images")
    parser.add_argument("--model-color", default=None, help="model for colour images")
    parser.add_argument("--max-images", type=int, default=None, metavar="N")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--skip-bm3d", action="store_true")
    parser.add_argument("--skip-nlm", action="store_true")
    parser.add_argument(
        "--precision",
        choices=config.INFERENCE_PRECISIONS,
        default="auto",
        help="what the network computes in (the classical methods are unaffected)",
    )
    parser.add_argument(
        "--ensemble",
        choices=config.ENSEMBLES,
        default="none",
        help="dihedral: average the network over 8 rotations / flips (8x the time)",
    )
    parser.add_argument(
        "--color-space",
        choices=config.COLOR_SPACES,
        default="opponent",
        help="how a gray network denoises colour images",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR")
    args = parser.parse_args(argv)
    # "auto" becomes what the network will compute in here, so the labels and the JSON say it.
    args.precision = precision_lib.resolve_precision(args.precision)
    return parser, args


def main(argv=None) -> int:
    """Runs the benchmark, prints the table, writes `results.json` and `psnr.png`.

    Returns:
        0 on success. Bad inputs exit with code 2 and a one-line message (SystemExit).
    """
    parser, args = _parse(argv)
    folders = args.data or list(DEFAULT_DATA)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        rows = run_benchmark(
            folders,
            sigmas=args.sigmas,
            model=args.model,
            model_gray=args.model_gray,
            model_color=args.model_color,
            max_images=args.max_images,
            seed=args.seed,
            skip_bm3d=args.skip_bm3d,
            skip_nlm=args.skip_nlm,
            precision=args.precision,
            ensemble=args.ensemble,
            color_space=args.color_space,
        )
    except BenchmarkError as e:
        parser.exit(2, f"error: {e}\n")
    print()
    print(format_table(rows))
    for line in published_lines(rows):
        print(line)
    load_after = os.getloadavg()[0]
    print(
        f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} "
        f"on {os.cpu_count()} CPUs"
    )

    payload = {
        "benchmark": "denoise_vs_classical",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(
            [os.path.relpath(os.path.abspath(__file__), REPO_ROOT), *(argv or sys.argv[1:])]
        ),
        "settings": {
            "data": [os.path.abspath(f) for f in folders],
            "sigmas": [float(s) for s in args.sigmas],
            "seed": args.seed,
            "max_images": args.max_images,
            "model": args.model,
            "model_gray": args.model_gray,
            "model_color": args.model_color,
            "precision": args.precision,
            "ensemble": args.ensemble,
            "color_space": args.color_space,
            "noise": "gaussian, not clipped, hint.evaluation.add_noise(clean, sigma, seed + i)",
            "metrics": "hint.metrics psnr / ssim on outputs clipped to [0, 1], data range 1",
            "bm3d": "bm3d.bm3d(z, sigma_psd=sigma/255) gray, bm3d.bm3d_rgb(z, sigma/255) colour",
            "nlm": {
                "patch_size": NLM_PATCH_SIZE,
                "patch_distance": NLM_PATCH_DISTANCE,
                "h": f"{NLM_H_FACTOR} * sigma / 255",
                "sigma": "sigma / 255",
                "fast_mode": True,
            },
        },
        "machine": {
            "logical_cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "wall_seconds": time.perf_counter() - started,
        },
        "versions": _versions(),
        "published": {d: {f"{s:g}": v for s, v in p.items()} for d, p in PUBLISHED.items()},
        "rows": rows,
    }
    json_path = write_json(payload, os.path.join(args.out, "results.json"))
    png_path = plot(rows, os.path.join(args.out, "psnr.png"))
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

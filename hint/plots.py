"""PNG figures for training histories, sample grids and evaluation tables.

Uses matplotlib's object-oriented API with the Agg canvas directly (no `pyplot`), so importing
this module never changes the process-wide backend and figures are freed with their last
reference. Every PNG is written atomically with `hint.datasets.image_io.atomic_write` (a temp file
in the destination folder, then `os.replace`).
"""

import csv
import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hint.datasets.image_io import atomic_write

DEFAULT_TITLES = ("masked input", "mask", "output", "ground truth")
_SKIPPED_COLUMNS = ("epoch", "batch", "size", "cpu_seconds", "wall_seconds")


def _save(fig, out_path, dpi):
    FigureCanvasAgg(fig)
    with atomic_write(out_path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    return out_path


def _to_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan  # CSVLogger writes "NA" for values missing in an epoch


def _read_history(history):
    if isinstance(history, str | os.PathLike):
        with open(history, newline="") as f:
            rows = list(csv.DictReader(f))
        columns = list(rows[0]) if rows else []
        history = {name: [row.get(name) for row in rows] for name in columns}
    return {name: [_to_float(v) for v in values] for name, values in history.items()}


def _families(names):
    """Groups metric names into subplots: every loss together, then one per other metric."""
    bases = []
    for name in names:
        base = name[4:] if name.startswith("val_") else name
        if base not in bases and base not in _SKIPPED_COLUMNS:
            bases.append(base)
    losses = [b for b in bases if "loss" in b]
    families = [("losses", losses)] if losses else []
    families += [(b, [b]) for b in bases if b not in losses]
    return families


def plot_history(history, out_path, dpi=100):
    """Plots a training history, one subplot per metric family, train solid and val dashed.

    Families: all columns whose name contains "loss" share one subplot (log scale when every
    value is positive and they span more than two decades); every other metric (psnr, ssim,
    learning_rate, ...) gets its own. `val_x` is drawn dashed in the colour of `x`.

    Args:
        history: Path of a `keras.callbacks.CSVLogger` file, or a dict `name -> list of
            per-epoch values` (e.g. `History.history`). An `epoch` column, when present, is the
            x axis; otherwise epochs are numbered from 0.
        out_path: Destination PNG.
        dpi: Resolution. Defaults to `100`.

    Returns:
        `out_path`.

    Example:
        >>> plot_history("runs/hint/history.csv", "runs/hint/history.png")
    """
    columns = _read_history(history)
    families = _families(columns)
    if not families:
        raise ValueError(f"`history` has no metric column. Received: columns={list(columns)}")
    length = max(len(v) for v in columns.values())
    epochs = columns.get("epoch") or list(range(length))
    fig = Figure(figsize=(5.0 * len(families), 3.6), layout="constrained")
    for index, (family, bases) in enumerate(families):
        ax = fig.add_subplot(1, len(families), index + 1)
        values = []
        for color_index, base in enumerate(bases):
            color = f"C{color_index % 10}"
            for name, style in ((base, "-"), ("val_" + base, "--")):
                if name in columns:
                    ys = columns[name]
                    ax.plot(epochs[: len(ys)], ys, style, color=color, label=name)
                    values += [y for y in ys if math.isfinite(y)]
        if family == "losses" and values and min(values) > 0 and max(values) > 100 * min(values):
            ax.set_yscale("log")
        ax.set_title(family)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, out_path, dpi)


def _as_image(image):
    """Array `[H, W]`, `[H, W, C]` or `[1, H, W, C]` -> float `[H, W]` / `[H, W, 3]` in [0, 1]."""
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"Expected a gray or RGB image. Received: shape={array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def _row_images(row, titles):
    if isinstance(row, dict):
        keys = list(row)
        if len(keys) != len(titles):
            raise ValueError(f"Each row needs {len(titles)} images. Received: keys={keys}")
        by_title = [t if t in row else t.replace(" ", "_") for t in titles]
        if all(k in row for k in by_title):
            return [row[k] for k in by_title]
        return [row[k] for k in keys]
    images = list(row)
    if len(images) != len(titles):
        raise ValueError(f"Each row needs {len(titles)} images. Received: {len(images)} images")
    return images


def sample_grid(rows, out_path, titles=DEFAULT_TITLES, row_labels=None, cell_size=2.0, dpi=100):
    """Draws example images in a grid, one example per row, titled columns.

    The default titles suit inpainting (masked input | mask | output | ground truth); pass e.g.
    `titles=("noisy", "denoised", "clean")` for denoising.

    Args:
        rows: List of examples. Each is a sequence of images in the order of `titles`, or a
            dict whose keys are the titles (spaces may be underscores: `"masked_input"`);
            other dicts are read in insertion order. Images are `[H, W]`, `[H, W, 1]`,
            `[H, W, 3]` (or with a leading batch axis of 1), float in [0, 1] (clipped) or
            uint8; NumPy arrays or tensors.
        out_path: Destination PNG.
        titles: Column titles. Defaults to `("masked input", "mask", "output",
            "ground truth")`.
        row_labels: Optional text per row (e.g. `"PSNR 27.3 dB"`), shown left of the row.
            Defaults to `None`.
        cell_size: Inches per image. Defaults to `2.0`.
        dpi: Resolution. Defaults to `100`.

    Returns:
        `out_path`.

    Example:
        >>> sample_grid([(masked, mask, output, image)], "samples/epoch_010.png")
    """
    if not rows:
        raise ValueError("`rows` must contain at least one example. Received: rows=[]")
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(
            f"`row_labels` needs one label per row ({len(rows)}). Received: {row_labels=}"
        )
    n_rows, n_cols = len(rows), len(titles)
    fig = Figure(figsize=(cell_size * n_cols, cell_size * n_rows + 0.3), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, row in enumerate(rows):
        for c, image in enumerate(_row_images(row, titles)):
            ax = axes[r][c]
            ax.imshow(_as_image(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize="small")
            if c == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[r]), fontsize="small")
    return _save(fig, out_path, dpi)


def bar_chart(table, out_path, metric, title=None, dpi=100):
    """Bar chart of one metric per bucket (e.g. PSNR per hole-ratio bucket).

    Args:
        table: Dict `bucket -> dict metric -> value`, e.g.
            `{"0-20%": {"psnr": 31.2, "ssim": 0.95}, "20-40%": {...}}`. Bars follow the dict
            order.
        out_path: Destination PNG.
        metric: Metric to plot; every bucket must have it.
        title: Figure title. Defaults to `None` (`"<metric> per bucket"`).
        dpi: Resolution. Defaults to `100`.

    Returns:
        `out_path`.

    Example:
        >>> bar_chart(results, "eval/psnr.png", "psnr")
    """
    if not table:
        raise ValueError("`table` must contain at least one bucket. Received: table={}")
    missing = [bucket for bucket, row in table.items() if metric not in row]
    if missing:
        raise ValueError(f"Buckets {missing} have no value for `metric`. Received: {metric=}")
    buckets = [str(b) for b in table]
    values = [float(row[metric]) for row in table.values()]
    fig = Figure(figsize=(max(4.0, 1.2 * len(buckets) + 1.5), 3.6), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(buckets, values, color="C0")
    ax.bar_label(bars, labels=[f"{v:.4g}" for v in values], fontsize="small")
    ax.set_ylabel(metric)
    ax.set_title(title if title is not None else f"{metric} per bucket")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, out_path, dpi)


def plot_fit_curve(history, backtracks=(), out_path="curve.png", dpi=100):
    """The curves of a per-image fit (Deep Image Prior): loss and PSNR per iteration.

    Args:
        history: Dict of per-iteration lists: `loss`, `psnr` (against the degraded image) and
            optionally `psnr_clean` / `psnr_clean_ema` (against a clean reference).
        backtracks: Iterations at which the fit went back to an earlier state, marked as
            vertical lines.
        out_path: Destination PNG.
        dpi: Resolution. Defaults to `100`.

    Returns:
        `out_path`.
    """
    loss = history.get("loss") or []
    if not loss:
        raise ValueError("`history` has no `loss` values. Received: history with no iterations")
    x = np.arange(1, len(loss) + 1)
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    panels = (
        ("loss (MSE on the known pixels)", [("loss", "loss")]),
        (
            "PSNR (dB)",
            [
                ("psnr", "output vs degraded"),
                ("psnr_clean", "output vs clean"),
                ("psnr_clean_ema", "moving average vs clean"),
            ],
        ),
    )
    for index, (title, curves) in enumerate(panels):
        ax = fig.add_subplot(1, 2, index + 1)
        for key, label in curves:
            ys = np.asarray(history.get(key) or [], float)
            if len(ys):
                ax.plot(x[: len(ys)], np.where(np.isfinite(ys), ys, np.nan), label=label)
        if index == 0 and min(loss) > 0:
            ax.set_yscale("log")
        for i, b in enumerate(backtracks):
            ax.axvline(b + 1, color="red", alpha=0.4, lw=0.8, label="backtrack" if i == 0 else None)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, out_path, dpi)

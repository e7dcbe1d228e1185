"""The search figure: the objective per trial and per hyperparameter.

Same conventions as `hint.plots`: matplotlib's object-oriented API on the Agg canvas (no
`pyplot`), written atomically.
"""

from __future__ import annotations

import json
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hint.datasets.image_io import atomic_write


def _label(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value)


def plot_trials(rows, params, objective, direction="max", out_path="trials.png", dpi=100):
    """Draws the objective per trial, then one panel per hyperparameter.

    The first panel shows every completed trial's objective by trial number and the best so
    far (a step line); each other panel plots the objective against one hyperparameter
    (a log axis for `log_uniform`, categories for choices). The best trial is starred.

    Args:
        rows: Trial rows (dicts) with keys `trial`, `status`, the objective and each
            parameter's key, as `hint.tuning.search.trial_rows` makes them.
        params: The `hint.tuning.space.Param`s to plot, one panel each.
        objective: Name of the objective metric, e.g. `"val_psnr"`.
        direction: `"max"` or `"min"`. Defaults to `"max"`.
        out_path: Destination PNG. Defaults to `"trials.png"`.
        dpi: Resolution. Defaults to `100`.

    Returns:
        `out_path`.

    Example:
        >>> plot_trials(rows, space.params, "val_psnr", "max", "tuning_runs/s/plots/trials.png")
    """
    done = [
        r
        for r in rows
        if r.get("status") == "COMPLETED" and math.isfinite(float(r.get(objective, math.nan)))
    ]
    done.sort(key=lambda r: int(r["trial"]))
    ys = np.array([float(r[objective]) for r in done])
    best = None
    if len(ys):
        best = int(np.argmax(ys) if direction == "max" else np.argmin(ys))
    panels = 1 + len(params)
    cols = min(3, panels)
    n_rows = math.ceil(panels / cols)
    fig = Figure(figsize=(4.4 * cols, 3.4 * n_rows), layout="constrained")

    ax = fig.add_subplot(n_rows, cols, 1)
    xs = [int(r["trial"]) for r in done]
    if len(ys):
        running = np.maximum.accumulate(ys) if direction == "max" else np.minimum.accumulate(ys)
        ax.plot(xs, ys, "o", color="C0", label="trial")
        ax.step(xs, running, where="post", color="C1", label="best so far")
        ax.plot([xs[best]], [ys[best]], "*", color="C3", markersize=14, label="best")
        ax.legend(fontsize="small")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} per trial ({direction})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)

    for index, param in enumerate(params):
        ax = fig.add_subplot(n_rows, cols, index + 2)
        values = [r.get(param.key) for r in done]
        if param.numeric:
            xs_p = [float(v) for v in values]
            if param.log_scale:
                ax.set_xscale("log")
        else:
            labels = [_label(v) for v in param.options]
            for v in values:
                if _label(v) not in labels:
                    labels.append(_label(v))
            xs_p = [labels.index(_label(v)) for v in values]
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=20 if len(labels) > 3 else 0, fontsize="small")
            ax.set_xlim(-0.5, len(labels) - 0.5)
        if len(ys):
            ax.plot(xs_p, ys, "o", color="C0", alpha=0.8)
            ax.plot([xs_p[best]], [ys[best]], "*", color="C3", markersize=14)
        ax.set_xlabel(param.key)
        ax.set_ylabel(objective)
        ax.set_title(param.key)
        ax.grid(True, alpha=0.3)

    FigureCanvasAgg(fig)
    with atomic_write(out_path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    return out_path

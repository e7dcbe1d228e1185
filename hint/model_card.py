"""Ships a trained run as a `hint.pretrained` model: its network and a model card.

    python -m hint.model_card --run experiments/dncnn_gray --name denoise_gray \
        --benchmark benchmarks/results/denoise_vs_classical/table.txt

copies the run's best network (`model.keras`) to `hint/weights/<file>` and writes the model
card beside it, from what the run recorded: the resolved config, the CSV log (epochs, steps,
cumulative CPU and wall seconds, see `hint.training.CpuTime`), the evaluation
(`eval/metrics.json`, from `python main.py evaluate`) and, when the run was initialised from
another run (`model.init_from`), the same figures for each earlier training step. A
benchmark's printed table (a text file whose first line is the command that produced it) is
pasted verbatim.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys

from hint import pretrained
from hint.task_plugin import get_task

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ModelCardError(ValueError):
    """A run that cannot be shipped (not trained, not evaluated, wrong task)."""


def _log_rows(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, "log.csv")
    if not os.path.isfile(path):
        raise ModelCardError(f"No log.csv in {run_dir}: not a trained run.")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _fmt_hours(seconds: float | None) -> str:
    return "not recorded" if seconds is None else f"{seconds / 3600:.2f} h"


def step_summary(run_dir: str) -> dict:
    """Steps, epochs, CPU / wall time and best validation PSNR of one training run."""
    from hint import training

    cfg = training.load_run_config(run_dir)
    rows = _log_rows(run_dir)
    last = rows[-1] if rows else {}

    def number(key):
        return float(last[key]) if last.get(key) not in (None, "") else None

    psnr = [float(r["val_psnr"]) for r in rows if r.get("val_psnr")]
    return {
        "run": os.path.relpath(run_dir, _REPO),
        "config": cfg,
        "epochs": len(rows),
        "steps": len(rows) * cfg.train.steps_per_epoch,
        "cpu_seconds": number("cpu_seconds"),
        "wall_seconds": number("wall_seconds"),
        "best_val_psnr": max(psnr) if psnr else None,
    }


def training_steps(run_dir: str) -> list[dict]:
    """The run and the runs it was initialised from (`model.init_from`), earliest first."""
    chain, seen = [], set()
    while run_dir and os.path.isdir(run_dir) and run_dir not in seen:
        seen.add(run_dir)
        summary = step_summary(run_dir)
        chain.append(summary)
        init = summary["config"].model.init_from
        run_dir = init if init and os.path.isdir(init) else None
    return chain[::-1]


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()}-core CPU ({model}), no GPU"


def _yaml_section(cfg, keys) -> str:
    """The config sections `keys` as YAML: those of the task's settings that it shows."""
    import yaml

    data = cfg.to_dict()
    # Only the settings this task reads (`TaskPlugin.card_settings`), e.g. masks and the GAN /
    # VGG losses for inpainting, the noise and the pixel loss for denoising.
    data.update(get_task(cfg.task).card_settings(cfg))
    section = {k: data[k] for k in keys if k in data}
    return yaml.safe_dump(section, sort_keys=False).rstrip()


def _metrics_table(rows: list[dict], first: str) -> str:
    lines = [f"| {first} | images | PSNR (dB) | SSIM | MAE |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['bucket']} | {r['n']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['mae']:.4f} |"
        )
    return "\n".join(lines)


def render(run_dir: str, name: str, benchmark: str | None = None, notes: str = "") -> str:
    """The Markdown model card of `run_dir` shipped as `name`."""
    from hint.inference import load_model

    entry = pretrained.PRETRAINED[name]
    chain = training_steps(run_dir)
    final = chain[-1]
    cfg = final["config"]
    plugin = get_task(cfg.task)
    if cfg.task != entry.task or cfg.data.channels != entry.channels:
        raise ModelCardError(
            f"{run_dir} is a {cfg.task} run on {cfg.data.channels}-channel images; "
            f"{name!r} needs {entry.task} on {entry.channels}."
        )
    metrics_path = os.path.join(run_dir, "eval", "metrics.json")
    if not os.path.isfile(metrics_path):
        raise ModelCardError(
            f"No evaluation in {run_dir}: run `python main.py evaluate --run {run_dir}` first."
        )
    with open(metrics_path) as f:
        metrics = json.load(f)
    network = load_model(run_dir, precision="float32")
    params = network.count_params()

    cpu = [s["cpu_seconds"] for s in chain]
    total_cpu = sum(cpu) if all(c is not None for c in cpu) else None
    lines = [
        f"# Model card: `{name}` (`hint/weights/{entry.file}`)",
        "",
        f"Task: **{entry.task}**, {entry.channels}-channel images. Used by `python main.py "
        f"{entry.task}` when no `--run` is given, and by `model.init_from: pretrained`.",
        "",
        "## Architecture",
        "",
        f"`{cfg.model.type}`, {params:,} parameters:",
        "",
        "```yaml",
        _yaml_section(cfg, ["model"]),
        "```",
        "",
        "## Data",
        "",
        f"Training images: `{cfg.data.path}`; validation: `{cfg.data.val_path}` (see "
        "`../shared/data/README.md`; the Berkeley images are for non-commercial research use, "
        "cite the datasets with any published result).",
        "",
        "```yaml",
        _yaml_section(cfg, ["data", cfg.task]),
        "```",
        "",
        "## Training",
        "",
        f"Config: `{entry.config}`. Machine: {_machine()}.",
        "",
        "| step | run | crop | batch | epochs | steps | CPU time | wall time | best val PSNR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(chain, start=1):
        c = s["config"]
        best = "-" if s["best_val_psnr"] is None else f"{s['best_val_psnr']:.2f} dB"
        lines.append(
            f"| {i} | `{s['run']}` | {c.data.image_size} px | {c.data.batch_size} | "
            f"{s['epochs']} | {s['steps']:,} | {_fmt_hours(s['cpu_seconds'])} | "
            f"{_fmt_hours(s['wall_seconds'])} | {best} |"
        )
    lines += [
        "",
        f"Total CPU time: {_fmt_hours(total_cpu)} (process CPU time, all threads; "
        "`cpu_seconds` in each run's `log.csv`).",
        "",
        "```yaml",
        _yaml_section(cfg, ["train"]),
        "```",
        "",
        "## Validation",
        "",
        f"`python main.py evaluate --run {final['run']}` ({plugin.card_evaluation()}):",
        "",
        _metrics_table(metrics, plugin.eval_label),
        "",
    ]
    if benchmark:
        with open(benchmark) as f:
            command, _, table = f.read().partition("\n")
        lines += ["## Benchmark", "", f"`{command.strip()}`", "", "```", table.rstrip(), "```", ""]
    if notes:
        lines += ["## Notes and limitations", "", notes.strip(), ""]
    return "\n".join(lines)


def ship(run_dir: str, name: str, benchmark: str | None = None, notes: str = "") -> str:
    """Copies the run's network into `hint/weights/` and writes its card; returns the card."""
    from hint.datasets.image_io import atomic_write

    if name not in pretrained.PRETRAINED:
        raise ModelCardError(f"Unknown name {name!r}; one of {sorted(pretrained.PRETRAINED)}.")
    card = render(run_dir, name, benchmark, notes)
    entry = pretrained.PRETRAINED[name]
    os.makedirs(pretrained.WEIGHTS_DIR, exist_ok=True)
    target = os.path.join(pretrained.WEIGHTS_DIR, entry.file)
    tmp = target + ".tmp"
    shutil.copyfile(os.path.join(run_dir, "model.keras"), tmp)
    os.replace(tmp, target)
    with atomic_write(os.path.join(pretrained.WEIGHTS_DIR, entry.card), mode="w") as f:
        f.write(card)
    return card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the trained and evaluated run directory")
    parser.add_argument("--name", required=True, choices=sorted(pretrained.PRETRAINED))
    parser.add_argument("--benchmark", help="text file: the command, then its printed table")
    parser.add_argument("--notes", help="Markdown file of notes and limitations")
    args = parser.parse_args(argv)
    notes = ""
    if args.notes:
        with open(args.notes) as f:
            notes = f.read()
    try:
        card = ship(args.run, args.name, args.benchmark, notes)
    except (ModelCardError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(card)
    return 0


if __name__ == "__main__":
    sys.exit(main())

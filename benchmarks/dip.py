"""Deep Image Prior against classical methods and the shipped models, job by job.

Commands (from the repository root):

    # Every row, in the background; rerun the same command to continue (finished rows are
    # kept in the results folder, a row in progress continues from its checkpoint):
    nohup python benchmarks/dip.py > dip.log 2>&1 &

    # The table of the rows finished so far:
    python benchmarks/dip.py --table

    # A quick check of the whole pipeline (a few iterations; not a result):
    python benchmarks/dip.py --iterations 20 --out /tmp/dip_check

Options: `--rows NAME ...` (default: all of `ROWS`), `--size` (crop side, 128), `--iterations N`
(cut every row to N iterations; the table says so), `--out DIR`
(`benchmarks/results/dip/`), `--table`.

Rows (`ROWS`): each is a job of `python main.py dip` on a centre crop of one image of
`../shared/data/val` with a fixed degradation (seed 2024), at the job's official settings
(`hint.tasks.dip.dip_config.JOBS`):

- `denoise`: Gaussian noise, sigma 25 (not clipped, as the denoising benchmark), on Set12 House,
  Peppers and Cameraman. Peers: BM3D, scikit-image non-local means (the settings of
  `benchmarks/denoise_vs_classical.py`), the shipped `denoise_gray`.
- `pixels`: 50 % of the pixels dropped at random (the `pixels` mask kind), Set12 Barbara, House
  and Boat. Peers: OpenCV Telea, scikit-image biharmonic.
- `text`: the `text` mask kind over McMaster images 1 and 2 (colour). Peers: Telea, biharmonic,
  the shipped inpainter.
- `holes`: one centred box of a quarter of the image (the `center` mask kind), McMaster 1.
  Peers: Telea, biharmonic, the shipped inpainter.

Metrics: PSNR / SSIM (`hint.metrics`, peak 1) of every output against the clean crop, the
degraded input's too. DIP's three results are reported (the moving average, the last output,
the output with the lowest loss); for the mask jobs the known pixels are the input's (the
composite), for every method alike. Seconds are the CPU time of the fit alone (process time,
both cores), summed across resumed runs. The DIP paper's published figures are printed beside
the rows of the same job, with how their setting differs.

DIP's fit is stopped at the job's iteration count, never by looking at the clean image. The row
"DIP ema, oracle stop at N" is what the moving average was at its best iteration against the
clean image: an oracle, shown to tell how much a good stopping rule could give. For denoising,
the rows "noise-level stop" are where `dip.stop: discrepancy` stops the same fit (read from the
row's history: the rule looks at the loss only), with sigma given and estimated.

Results: `rows.jsonl` (one line per finished row), `table.md`, `<row>_curve.png` (loss and PSNR
per iteration), `<row>_history.json.gz` (the same per iteration, as numbers), and
`checkpoints/` while a row runs (not kept in git).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from hint import classical, evaluation, inference, pretrained  # noqa: E402
from hint.datasets import image_io, masks  # noqa: E402
from hint.task_plugin import get_task  # noqa: E402
from hint.tasks.dip import DIPConfig  # noqa: E402

DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "val"))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results", "dip")
SEED = 2024
SIGMA = 25.0


@dataclasses.dataclass(frozen=True)
class Row:
    """One measurement: a job on one image with one degradation."""

    job: str
    image: str  # relative to DATA
    degradation: str  # "gaussian25", "pixels50", "text", "center"


ROWS = {
    "denoise_house": Row("denoise", "Set12/02.png", "gaussian25"),
    "denoise_peppers": Row("denoise", "Set12/03.png", "gaussian25"),
    "denoise_cameraman": Row("denoise", "Set12/01.png", "gaussian25"),
    "pixels_barbara": Row("pixels", "Set12/09.png", "pixels50"),
    "pixels_house": Row("pixels", "Set12/02.png", "pixels50"),
    "pixels_boat": Row("pixels", "Set12/10.png", "pixels50"),
    "text_mcmaster1": Row("text", "McMaster/1.tif", "text"),
    "text_mcmaster2": Row("text", "McMaster/2.tif", "text"),
    "holes_mcmaster1": Row("holes", "McMaster/1.tif", "center"),
}

PUBLISHED = {
    "denoise": "DIP paper: 9 colour images, sigma 25, 1800 iterations: 29.22 dB; with the "
    "moving average 30.43 dB; CBM3D 31.42 dB (other images, full size, colour)",
    "pixels": "DIP paper, Table 1 (50 % of the pixels, 512 px): Barbara 32.22, House 39.16, "
    "Boat 33.06 dB (full-size images, not 128 px crops)",
    "text": "DIP paper: text inpainting is shown, not measured",
    "holes": "DIP paper: region inpainting is shown, not measured",
}


# --------------------------------------------------------------------------- inputs


def load_row(row: Row, size: int):
    """(clean [S, S, C], degraded, mask [S, S, 1] with 1 = missing, or None)."""
    path = os.path.join(DATA, row.image)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing (see datasets/README.md)")
    clean = image_io.read_image(path)
    clean = clean[..., None] if clean.ndim == 2 else clean
    h, w = clean.shape[:2]
    if min(h, w) < size:
        raise FileNotFoundError(f"{path} is smaller than --size {size}")
    top, left = (h - size) // 2, (w - size) // 2
    clean = clean[top : top + size, left : left + size].astype(np.float32)
    if row.degradation == "gaussian25":
        noisy = evaluation.add_noise(clean[None], SIGMA, SEED)[0]
        return clean, noisy, None
    kind = {"pixels50": "pixels", "text": "text", "center": "center"}[row.degradation]
    generator = masks.MaskGenerator(kind, image_size=size, drop=0.5)
    mask = np.asarray(generator(np.array([SEED, 0], np.int64)), np.float32)
    return clean, clean * (1.0 - mask) + mask, mask


def peers(row: Row, degraded, mask):
    """Method name -> output of the classical methods and shipped models for this row."""
    out = {}
    if row.job == "denoise":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from denoise_vs_classical import bm3d_denoise, nlm_denoise

        out["BM3D"] = bm3d_denoise(degraded, SIGMA)
        out["non-local means"] = nlm_denoise(degraded, SIGMA)
        network = pretrained.load("denoise_gray", precision="float32", fold_batch_norm=True)
        out["shipped denoise_gray"] = inference.denoise_array(network, degraded, sigma=SIGMA)
        return out
    for name in ("telea", "biharmonic"):
        if name in classical.available_methods():
            out[classical.TITLES[name]] = classical.classical_inpainter(name)(degraded, mask)
    if degraded.shape[-1] == 3 and row.job != "pixels":
        network = pretrained.load("inpaint", precision="float32")
        inpaint = get_task("inpaint")
        out["shipped inpaint"] = inpaint.restore(
            network, degraded, mask, **inpaint.network_options(network)
        )
    return out


# --------------------------------------------------------------------------- one row


def run_row(name: str, row: Row, size: int, iterations: int | None, out_dir: str) -> dict:
    clean, degraded, mask = load_row(row, size)
    # All the official iterations, where the rule would stop is read from the history.
    section = DIPConfig(job=row.job, iterations=iterations, seed=SEED, stop="none")
    checkpoint = os.path.join(out_dir, "checkpoints", name)
    resume = os.path.isdir(checkpoint)
    plugin = get_task("dip")
    result = plugin.fit(
        degraded,
        mask=mask,
        clean=clean,
        section=section,
        checkpoint=checkpoint,
        resume=resume,
    )
    if result.interrupted:
        raise KeyboardInterrupt
    methods = {"degraded input": degraded}
    for which in ("ema", "final", "best-loss"):
        output = result.image(which)
        methods[f"DIP {which}"] = plugin.composite(output, degraded, mask, section)
    for label, output in peers(row, degraded, mask).items():
        output = np.clip(output, 0.0, 1.0)
        if mask is not None:
            output = output * mask + degraded * (1.0 - mask)
        methods[label] = output
    metrics = {}
    for label, output in methods.items():
        m = evaluation.image_metrics(np.clip(output, 0, 1)[None], clean[None])
        metrics[label] = {"psnr": float(m["psnr"][0]), "ssim": float(m["ssim"][0])}
    # What stopping at the best iteration would give: an oracle (it looks at the clean image,
    # which the fit never does), so the table labels it as one. The history's PSNR is of the
    # whole padded-and-cropped output before the composite, hence PSNR only.
    curve = result.history["psnr_clean_ema"]
    best = int(np.argmax(curve))
    metrics[f"DIP ema, oracle stop at {best + 1}"] = {"psnr": float(curve[best]), "ssim": None}
    from hint import plots

    plots.plot_fit_curve(
        result.history, result.backtracks, os.path.join(out_dir, f"{name}_curve.png")
    )
    write_history(os.path.join(out_dir, f"{name}_history.json.gz"), result)
    official = dataclasses.asdict(section)
    return {
        "row": name,
        "job": row.job,
        "image": row.image,
        "degradation": row.degradation,
        "size": size,
        "iterations": result.iterations,
        "official_iterations": iterations is None,
        "backtracks": len(result.backtracks),
        "cpu_seconds": result.cpu_seconds,
        "settings": official,
        "metrics": metrics,
        "machine": _machine(),
    }


def write_history(path: str, result) -> None:
    """The per-iteration history (loss, PSNR against the target and the clean image) and the
    backtracking events, so stopping rules can be compared on the same run afterwards."""
    record = {
        "history": {k: [round(float(v), 6) for v in vs] for k, vs in result.history.items()},
        "backtracks": [int(i) for i in result.backtracks],
    }
    with image_io.atomic_write(path, mode="wb") as f:
        f.write(gzip.compress(json.dumps(record).encode()))


def read_history(path: str) -> dict:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def _machine() -> dict:
    """The CPU the row ran on (its model name, cores and whether it computes bfloat16)."""
    from hint.precision import BFLOAT16_CPU_FLAGS, cpu_flags

    name = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(
                (line.partition(":")[2].strip() for line in f if line.startswith("model name")),
                name,
            )
    except OSError:
        pass
    native = bool(cpu_flags() & set(BFLOAT16_CPU_FLAGS))
    return {"cpu": name, "logical_cpus": os.cpu_count(), "bfloat16": native}


# --------------------------------------------------------------------------- table


def read_rows(out_dir: str) -> list[dict]:
    path = os.path.join(out_dir, "rows.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    # A row measured again (to add its history, say) replaces the earlier line.
    return list({r["row"]: r for r in rows}.values())


def stopping_rows(row: dict, out_dir: str) -> dict:
    """Where `dip.stop: discrepancy` would have stopped a denoising row, from its history.

    The rule reads only the loss, so the fit up to its stop is the row's own fit: the moving
    average's PSNR at that iteration is what `--set dip.stop=discrepancy` returns. Two rows:
    the noise level given (sigma 25) and estimated from the noisy image (the default).
    """
    path = os.path.join(out_dir, f"{row['row']}_history.json.gz")
    if row["job"] != "denoise" or not os.path.isfile(path):
        return {}
    from hint.tasks.dip.plugin import noise_sigma
    from hint.tasks.dip.prior_fit import discrepancy_stop

    history = read_history(path)["history"]
    _, noisy, _ = load_row(ROWS[row["row"]], row["size"])
    window = DIPConfig().stop_window
    out = {}
    for how, sigma in (("given", SIGMA), ("estimated", noise_sigma(noisy, None))):
        n = discrepancy_stop(history["loss"], (sigma / 255.0) ** 2, window)
        if n is not None:
            label = f"DIP ema, noise-level stop ({how}: sigma {sigma:.1f}) at {n}"
            out[label] = {"psnr": float(history["psnr_clean_ema"][n - 1]), "ssim": None}
    return out


def format_table(rows: list[dict], out_dir: str = DEFAULT_OUT) -> str:
    lines = []
    for job in dict.fromkeys(r["job"] for r in rows):
        table = []
        for r in (r for r in rows if r["job"] == job):
            iterations = str(r["iterations"]) + ("" if r["official_iterations"] else " (cut)")
            for label, m in {**r["metrics"], **stopping_rows(r, out_dir)}.items():
                table.append(
                    [
                        r["image"],
                        iterations,
                        f"{r['cpu_seconds']:.0f}",
                        label,
                        f"{m['psnr']:.2f}",
                        "-" if m["ssim"] is None else f"{m['ssim']:.4f}",
                    ]
                )
        lines.append(f"### {job}\n")
        lines.append(
            tabulate(
                table,
                headers=("image", "iterations", "CPU s", "method", "PSNR (dB)", "SSIM"),
                tablefmt="github",
            )
        )
        lines.append(f"\n{PUBLISHED[job]}\n")
    return "\n".join(lines)


def _append(path: str, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--table", action="store_true", help="print the finished rows and stop")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    done = {r["row"] for r in read_rows(args.out)}
    if not args.table:
        for name in args.rows:
            if name in done:
                continue
            print(f"Row {name}: {ROWS[name]}", flush=True)
            try:
                row = run_row(name, ROWS[name], args.size, args.iterations, args.out)
            except FileNotFoundError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print(f"Stopped in row {name}: rerun the command to continue it.")
                return 130
            _append(os.path.join(args.out, "rows.jsonl"), row)
            shutil.rmtree(os.path.join(args.out, "checkpoints", name), ignore_errors=True)
    text = format_table(read_rows(args.out), args.out)
    with image_io.atomic_write(os.path.join(args.out, "table.md"), mode="w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

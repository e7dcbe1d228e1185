"""The official HINT code against its checkpoint converted by `python main.py convert-official`.

`hint.official_checkpoint` maps the authors' generator tensors into `HINTBackbone` (channel
orders of the pixel shuffles, the MPD's grouped convolution, layer norms, temperatures). This
script checks that mapping against the official code itself: it builds the official `HINT()` at
its defaults (72,265,248 parameters) with random weights (layer norms and temperatures moved away
from their initial values), saves the generator as the official code does
(`torch.save({"iteration": 0, "generator": state_dict}, ...)`), converts the file with
`python main.py convert-official`, and compares both networks' outputs on the same images and
masks. The released checkpoints are not needed to compare the computation.

The official code is never imported from the project. Export it to a scratch folder, where its
MPD's `.cuda()` allocation must be changed to allocate on the input's device so it runs on a
CPU (the only change)::

    mkdir -p /tmp/hint_official
    git -C HINT_CLONE show HEAD:src/networks.py > /tmp/hint_official/networks.py
    # in Downsample.forward:
    #   t = torch.zeros((b,2*n,h,w)).cuda()  ->  t = torch.zeros((b,2*n,h,w), device=out.device)

and run its side in a Python with `torch` and `einops` (the official code imports it)::

    python benchmarks/official_checkpoint_parity.py --official-src /tmp/hint_official \\
        --torch-python /tmp/torchref/bin/python \\
        --official-commit "$(git -C HINT_CLONE rev-parse HEAD)"

The official side feeds the generator as the official `InpaintingModel.forward` does: the masked
image `images * (1 - masks) + masks` and the masks at full, 1/2, 1/4 and 1/8 size
(`F.interpolate(mode="nearest")`); both outputs are the raw `(tanh + 1) / 2`. This project's
Python needs `torch` too, to read the checkpoint. Writes
`benchmarks/results/official_checkpoint_parity.json`: per size, the largest absolute difference,
with the package versions and the official `networks.py`'s SHA-256 and MPD allocation line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results", "official_checkpoint_parity.json")
SIZES = (64, 128)
SEED = 2024
TOLERANCE = 1e-4
CHECKPOINT = "InpaintingModel_gen.pth"


# --------------------------------------------------------------------------- official side


def dump_official(official_src: str, work: str, sizes) -> None:
    """Runs the official generator with random weights; saves the checkpoint and the outputs."""
    sys.path.insert(0, official_src)
    import einops
    import networks  # the official src/networks.py, exported to `official_src`
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(SEED)
    generator = networks.HINT().eval()
    noise = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith("temperature"):
                parameter.copy_(torch.rand(parameter.shape, generator=noise) * 1.5 + 0.5)
            elif ".body.weight" in name:  # layer norms
                parameter.copy_(1.0 + 0.2 * torch.randn(parameter.shape, generator=noise))
            elif name.endswith(".bias"):
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=noise))
            elif name == "output.0.weight":
                # Spreads the outputs over the tanh's range, so a wrong channel shows.
                parameter.mul_(10.0)
    torch.save(
        {"iteration": 0, "generator": generator.state_dict()}, os.path.join(work, CHECKPOINT)
    )

    rng = np.random.default_rng(SEED)
    out = {}
    for size in sizes:
        images = rng.random((2, 3, size, size), dtype=np.float32)
        masks = (rng.random((2, 1, size, size)) < 0.2).astype(np.float32)
        masks[:, :, size // 4 : size // 2, size // 4 : 3 * size // 4] = 1.0
        masks[1, :, size // 2 :, : size // 3] = 1.0
        images_t, masks_t = torch.from_numpy(images), torch.from_numpy(masks)
        # As the official InpaintingModel.forward feeds its generator.
        scaled = [
            F.interpolate(masks_t, size=[size // s, size // s], mode="nearest") for s in (2, 4, 8)
        ]
        with torch.no_grad():
            output = generator(images_t * (1 - masks_t) + masks_t, masks_t, *scaled)
        out[f"image{size}"] = images.transpose(0, 2, 3, 1)
        out[f"mask{size}"] = masks.transpose(0, 2, 3, 1)
        out[f"official{size}"] = output.numpy().transpose(0, 2, 3, 1)
    info = {
        "torch": torch.__version__,
        "einops": einops.__version__,
        "tensors": len(generator.state_dict()),
        "parameters": sum(p.numel() for p in generator.parameters()),
    }
    out["info"] = np.array(json.dumps(info))
    np.savez(os.path.join(work, "official.npz"), **out)


# --------------------------------------------------------------------------- Keras side


def _official_source(official_src: str) -> dict:
    path = os.path.join(official_src, "networks.py")
    with open(path, "rb") as f:
        text = f.read()
    lines = [line.strip() for line in text.decode().splitlines() if "torch.zeros((b,2*n" in line]
    return {
        "networks_py_sha256": hashlib.sha256(text).hexdigest(),
        "mpd_allocation": lines,
    }


def compare(work: str, sizes) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from hint.inference import load_model

    data = dict(np.load(os.path.join(work, "official.npz")))
    model = load_model(os.path.join(work, "run"), precision="float32")
    info = json.loads(str(data["info"]))
    rows = []
    for size in sizes:
        official = data[f"official{size}"].astype(np.float64)
        ours = np.asarray(
            model({"image": data[f"image{size}"], "mask": data[f"mask{size}"]}, training=False)
        )
        diff = np.abs(ours - official)
        rows.append(
            {
                "size": size,
                "images": int(official.shape[0]),
                "official_std": float(official.std()),
                "official_min": float(official.min()),
                "official_max": float(official.max()),
                "max_abs_diff": float(diff.max()),
                "mean_abs_diff": float(diff.mean()),
                "within_tolerance": bool(diff.max() <= TOLERANCE),
            }
        )
    return {
        "comparison": "official src/networks.py HINT() vs the converted Keras HINTBackbone",
        "seed": SEED,
        "tolerance": TOLERANCE,
        "official_tensors": info["tensors"],
        "official_parameters": info["parameters"],
        "keras_parameters": int(sum(int(np.prod(w.shape)) for w in model.weights)),
        "inference_defaults": model.inference_defaults,
        "versions": {
            "torch (official side)": info["torch"],
            "einops": info["einops"],
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "rows": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--official-src", help="folder with the official networks.py (see the docstring)"
    )
    parser.add_argument("--torch-python", help="a Python with torch and einops")
    parser.add_argument(
        "--official-commit",
        help="the official repository's commit networks.py came from (recorded)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--dump", help=argparse.SUPPRESS)  # the official side's own call
    args = parser.parse_args(argv)
    if any(s < 16 or s % 16 for s in args.sizes):
        parser.error("--sizes must be positive multiples of 16")
    if args.dump:
        dump_official(args.official_src, args.dump, args.sizes)
        return 0
    if not args.official_src or not args.torch_python:
        parser.error("--official-src and --torch-python are required (see the docstring)")
    official_src = os.path.abspath(args.official_src)
    if not os.path.isfile(os.path.join(official_src, "networks.py")):
        parser.error(f"no networks.py in --official-src {official_src}")
    sys.path.insert(0, REPO_ROOT)
    with tempfile.TemporaryDirectory() as work:
        sizes = [str(s) for s in args.sizes]
        official = [args.torch_python, os.path.abspath(__file__), "--dump", work]
        official += ["--official-src", official_src, "--sizes", *sizes]
        subprocess.run(official, check=True)
        convert = [sys.executable, os.path.join(REPO_ROOT, "main.py"), "convert-official"]
        convert += [os.path.join(work, CHECKPOINT), "--out", os.path.join(work, "run")]
        subprocess.run(convert, check=True)
        results = compare(work, args.sizes)
    results["official_source"] = {"commit": args.official_commit, **_official_source(official_src)}
    from tabulate import tabulate

    from hint.datasets import image_io

    print(tabulate(results["rows"], headers="keys", floatfmt=".3g"))
    print(results["versions"])
    with image_io.atomic_write(args.out, mode="w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}")
    return 0 if all(r["within_tolerance"] for r in results["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())

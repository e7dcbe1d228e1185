"""The Keras FID Inception and LPIPS networks against the reference PyTorch packages.

`hint`'s FID / KID features (`hint.models.FIDInceptionV3`) and LPIPS (`hint.models.LPIPSNetwork`)
must compute what `pytorch-fid` and `lpips` compute, or their numbers are not comparable with
published ones. This script builds the reference networks with random weights (the published
weights are not needed to compare the computation), copies the same weights into the Keras
networks through their PyTorch-name loaders, and compares the outputs on the same images.

The reference side runs in a separate Python that has `torch`, `torchvision`, `pytorch-fid` and
`lpips` (the test suite's PyTorch has no torchvision), for example::

    python -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch torchvision lpips pytorch-fid
    python benchmarks/perceptual_parity.py --torch-python /tmp/torchref/bin/python

Writes `benchmarks/results/perceptual_parity.json`: per network and input size, the largest
absolute and relative differences, with the package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results", "perceptual_parity.json")
SIZES = (64, 192)
SEED = 2024


# --------------------------------------------------------------------------- reference side


def dump_reference(path: str) -> None:
    """Runs the PyTorch packages with random weights; saves weights, inputs and outputs."""
    import importlib.metadata

    import lpips
    import numpy as np
    import pytorch_fid
    import pytorch_fid.inception as fid_inception
    import torch
    import torchvision

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)

    def random_fid_state(*args, **kwargs):
        # pytorch-fid downloads its published weights here; any weights serve to compare the
        # computation. torchvision's Inception has the same tensor names as the FID variant.
        plain = torchvision.models.inception_v3(
            num_classes=1008, aux_logits=False, weights=None, init_weights=True
        )
        state = plain.state_dict()
        for name, tensor in state.items():
            # He-scaled kernels keep the activations of 94 layers near 1 (torchvision's
            # initialisation lets them grow to 1e13, where float32 rounding dominates), and
            # batch-norm statistics away from 0 / 1 check that those are loaded too.
            if name.endswith("conv.weight"):
                fan_in = tensor[0].numel()
                state[name] = torch.randn_like(tensor) * (2.0 / fan_in) ** 0.5
            elif name.endswith("running_mean"):
                state[name] = torch.randn_like(tensor) * 0.1
            elif name.endswith("running_var"):
                state[name] = torch.rand_like(tensor) + 0.5
            elif name.endswith("bn.weight"):
                state[name] = torch.rand_like(tensor) + 0.5
            elif name.endswith("bn.bias"):
                state[name] = torch.randn_like(tensor) * 0.1
        return state

    fid_inception.load_state_dict_from_url = random_fid_state
    fid_net = fid_inception.InceptionV3([3]).eval()
    lpips_net = lpips.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False).eval()
    out = {}
    fid_state = {
        k: v.numpy()
        for k, v in fid_net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    for k, v in fid_state.items():
        # pytorch-fid nests the network in blocks: blocks.<i>.<j>.<torchvision name>.
        out["fid_state/" + k] = v
    vgg_state = {}
    for k, v in lpips_net.net.state_dict().items():
        # lpips keeps torchvision's layer indices inside its slices: slice<s>.<index>.<param>.
        _, index, param = k.split(".")
        vgg_state[f"features.{index}.{param}"] = v.numpy()
    for k, v in vgg_state.items():
        out["vgg_state/" + k] = v
    for k, v in lpips_net.state_dict().items():
        if k.startswith("lin"):
            out["lin_state/" + k] = v.numpy()
    with torch.no_grad():
        for size in SIZES:
            a = rng.random((3, size, size, 3), dtype=np.float32)
            b = np.clip(a + rng.normal(0, 0.1, a.shape).astype(np.float32), 0, 1)
            ta = torch.from_numpy(a).permute(0, 3, 1, 2)
            tb = torch.from_numpy(b).permute(0, 3, 1, 2)
            out[f"a{size}"], out[f"b{size}"] = a, b
            out[f"fid{size}"] = fid_net(ta)[0][:, :, 0, 0].numpy()
            out[f"lpips{size}"] = lpips_net(ta, tb, normalize=True).reshape(-1).numpy()
    out["versions"] = np.array(
        json.dumps(
            {
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "pytorch-fid": pytorch_fid.__version__,
                "lpips": importlib.metadata.version("lpips"),
            }
        )
    )
    np.savez(path, **out)


# --------------------------------------------------------------------------- Keras side


def _fid_names(state: dict) -> dict:
    """pytorch-fid's `blocks.<i>.<j>.<name>` -> the torchvision name the Keras loader uses."""
    import re

    block_modules = {
        0: ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"],
        1: ["Conv2d_3b_1x1", "Conv2d_4a_3x3"],
        2: ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
            "Mixed_6d", "Mixed_6e"],
        3: ["Mixed_7a", "Mixed_7b", "Mixed_7c"],
    }  # fmt: skip
    out = {}
    for key, value in state.items():
        match = re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(.+)", key)
        block, index, rest = int(match[1]), int(match[2]), match[3]
        out[f"{block_modules[block][index]}.{rest}"] = value
    return out


def compare(dump_path: str) -> dict:
    import numpy as np

    from hint.models.fid_inception import FIDInceptionV3
    from hint.models.lpips_network import LPIPSNetwork

    data = dict(np.load(dump_path))

    def group(prefix):
        return {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}

    fid = FIDInceptionV3.from_state_dict(_fid_names(group("fid_state/")))
    lp = LPIPSNetwork.from_state_dicts(group("vgg_state/"), group("lin_state/"))
    results = {"versions": json.loads(str(data["versions"])), "seed": SEED, "rows": []}
    for size in SIZES:
        a, b = data[f"a{size}"], data[f"b{size}"]
        ours = {"fid": fid.features(a), "lpips": lp.distance(a, b)}
        for name, value in ours.items():
            ref = data[f"{name}{size}"].astype(np.float64)
            diff = np.abs(value - ref)
            results["rows"].append(
                {
                    "network": {"fid": "FID Inception pool features", "lpips": "LPIPS vgg"}[name],
                    "size": size,
                    "values": int(ref.size),
                    "reference_max_abs": float(np.abs(ref).max()),
                    "max_abs_diff": float(diff.max()),
                    # Relative to the largest value: entries near 0 make elementwise ratios
                    # meaningless.
                    "max_diff_over_max": float(diff.max() / np.abs(ref).max()),
                }
            )
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--torch-python", help="a Python with torch, torchvision, lpips, pytorch-fid"
    )
    parser.add_argument("--dump", help=argparse.SUPPRESS)  # the reference side's own call
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.dump:
        dump_reference(args.dump)
        return 0
    if not args.torch_python:
        parser.error("--torch-python is required (see the module docstring)")
    sys.path.insert(0, REPO_ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "reference.npz")
        subprocess.run([args.torch_python, os.path.abspath(__file__), "--dump", dump], check=True)
        results = compare(dump)
    from tabulate import tabulate

    from hint.datasets import image_io

    print(tabulate(results["rows"], headers="keys", floatfmt=".3g"))
    print(results["versions"])
    with image_io.atomic_write(args.out, mode="w") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

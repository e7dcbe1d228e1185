"""Evaluation protocols: several methods on the same inputs, and their comparison files."""

import os

import numpy as np

from hint import evaluation
from hint.config import load_config
from hint.datasets import masks
from hint.metrics import psnr
from hint.models import HINTBackbone
from hint.task_plugin import get_task

TINY = {"dim": 4, "num_blocks": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1]}


def test_evaluate_inpainting_gives_every_method_the_same_inputs():
    rng = np.random.default_rng(0)
    images = rng.random((3, 16, 16, 3)).astype(np.float32)
    eval_masks = masks.evaluation_masks(16, per_bucket=2, seed=1)
    seen = []

    def white(image, mask):  # the masked input as it is: holes stay white
        seen.append(image)
        return image

    per_method, rows = evaluation.evaluate_inpainting(
        {"white": white, "black": lambda image, mask: np.zeros_like(image)},
        images,
        eval_masks,
        examples=4,
    )
    assert list(per_method) == ["white", "black"]
    for bucket, bucket_masks in eval_masks.items():
        clean = images[np.arange(len(bucket_masks)) % 3]
        want = psnr(clean * (1 - bucket_masks) + bucket_masks, clean).numpy()
        np.testing.assert_allclose(per_method["white"][bucket]["psnr"], want, rtol=1e-6)
    assert len(seen) == sum(len(m) for m in eval_masks.values())
    # Rows spread over the buckets: masked input, mask, one output per method, ground truth.
    assert len(rows) == 4 and all(len(r) == 5 for r in rows)


def test_inpaint_evaluation_compares_references_and_classical_methods(tmp_path):
    cfg = load_config(
        None,
        [
            "data.image_size=32",
            "data.val_count=1",
            "inpaint.per_bucket=2",
            "eval.samples=2",
            "inpaint.baselines=[biharmonic]",
        ],
    )
    network, start = HINTBackbone(**TINY), HINTBackbone(**TINY)
    rows = get_task("inpaint").evaluate(
        network, cfg, str(tmp_path), verbose=False, references={"start": start}
    )
    methods = list(dict.fromkeys(r["method"] for r in rows))
    assert methods == [evaluation.THIS_RUN, "start", "biharmonic"]
    assert all(r["n"] == 2 for r in rows if r["bucket"] != "all")
    assert os.path.isfile(tmp_path / "comparison.png")
    text = evaluation.format_comparison(rows)
    assert "biharmonic" in text and "start" in text
    evaluation.write_comparison(rows, str(tmp_path))
    header = (tmp_path / "comparison.csv").read_text().splitlines()[0]
    assert header == "method,bucket,n,psnr,ssim,mae,mse"

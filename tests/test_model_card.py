"""Train a tiny two-stage denoiser, evaluate it, ship it with its card, use it with no --run."""

import json
import os

import numpy as np
import pytest

from hint import evaluation, inference, model_card, pretrained, training
from hint.config import load_config
from hint.datasets import image_io
from hint.task_plugin import get_task

TINY_DENOISER = [
    "task=denoise",
    "data.channels=1",
    "data.image_size=32",
    "data.batch_size=4",
    "model.type=DnCNN",
    "model.depth=3",
    "model.filters=4",
    "model.conditioning=noise_map",
    "train.epochs=1",
    "train.steps_per_epoch=2",
    "denoise.sigmas=[15, 50]",
    "eval.samples=0",
]

# Every test uses the two-stage run: two trainings.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_stage_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("card")
    val = tmp / "val"
    val.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        image_io.write_image(str(val / f"{i}.png"), rng.uniform(size=(40, 36, 1)))
    common = [f"run.dir={tmp}", f"data.val_path={val}", *TINY_DENOISER]
    first = training.make_run_dir(load_config(None, [*common, "run.name=first"]))
    training.train(training.load_run_config(first), first, verbose=0)
    second_cfg = load_config(None, [*common, "run.name=second", f"model.init_from={first}"])
    second = training.make_run_dir(second_cfg)
    training.train(second_cfg, second, verbose=0)
    return first, second


def test_ship_writes_weights_and_card_then_denoise_uses_them(two_stage_run, tmp_path, monkeypatch):
    first, second = two_stage_run
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", str(tmp_path / "weights"))
    with pytest.raises(model_card.ModelCardError, match="main.py evaluate"):
        model_card.ship(second, "denoise_gray")
    assert not (tmp_path / "weights").exists()  # nothing half-written

    rows = evaluation.evaluate_run(second, verbose=False)
    assert [r["bucket"] for r in rows] == ["sigma=15", "sigma=50", "all"]
    # A fine-tuned run is compared with the network it started from, on the same noisy images.
    with open(os.path.join(second, "eval", "comparison.json")) as f:
        compared = json.load(f)
    assert [(r["method"], r["bucket"]) for r in compared] == [
        (method, bucket)
        for method in ("this run", "start: first")
        for bucket in ("sigma=15", "sigma=50", "all")
    ]
    assert [r["psnr"] for r in compared[:3]] == [r["psnr"] for r in rows]
    assert [r["psnr"] for r in compared[3:]] == [
        r["psnr"] for r in evaluation.evaluate_run(first, verbose=False)
    ]
    with pytest.raises(model_card.ModelCardError, match="needs denoise on 3"):
        model_card.ship(second, "denoise_color")

    bench = tmp_path / "bench.txt"
    bench.write_text("python benchmarks/denoise_vs_classical.py\nmethod  PSNR\nours    99.9\n")
    card = model_card.ship(second, "denoise_gray", benchmark=str(bench), notes="Gaussian only.")
    params = inference.load_model(second).count_params()
    assert f"{params:,} parameters" in card
    stages = [line for line in card.splitlines() if "| `" in line and "px |" in line]
    assert [line.split("|")[1].strip() for line in stages] == ["1", "2"]  # earliest first
    assert "first" in stages[0] and "second" in stages[1]
    assert "| sigma=15 | 2 |" in card and "ours    99.9" in card and "Gaussian only." in card
    assert "Total CPU time: " in card and "not recorded" not in card
    assert (tmp_path / "weights" / "denoise_gray.md").read_text() == card

    shipped = pretrained.load("denoise_gray")  # safe_mode=True
    for a, b in zip(shipped.get_weights(), inference.load_model(second).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    noisy = tmp_path / "noisy.png"
    image_io.write_image(str(noisy), np.random.default_rng(1).uniform(size=(24, 20, 1)))
    out = get_task("denoise").command(None, str(noisy), str(tmp_path / "out.png"), sigma=25)
    assert image_io.read_image(out[0]).shape == (24, 20, 1)


def test_step_summary_counts_steps_and_time(two_stage_run):
    first, second = two_stage_run
    chain = model_card.training_steps(second)
    assert [os.path.basename(s["run"]) for s in chain] == ["first", "second"]
    for s in chain:
        assert s["epochs"] == 1 and s["steps"] == 2 and s["cpu_seconds"] > 0
        assert s["best_val_psnr"] is not None

"""End-to-end on a tiny config: train, evaluate, inpaint (in-process).

Resuming and checkpoints are in `tests/test_training_resume.py`.
"""

import csv
import json
import os

import keras
import numpy as np
import pytest

from hint import evaluation, inference, training
from hint.config import load_config
from hint.datasets import image_io
from hint.losses import VGGWeightsUnavailable
from hint.task_plugin import get_task

TINY = [
    "data.image_size=32",
    "data.batch_size=2",
    "data.val_count=2",
    "model.dim=4",
    "model.num_blocks=[1,1,1,1]",
    "model.num_heads=[1,1,1,1]",
    "inpaint.discriminator.filters=4",
    "inpaint.loss.perceptual=0",
    "inpaint.loss.style=0",
    "train.steps_per_epoch=2",
    "train.lr=1e-3",
    "inpaint.per_bucket=2",
    "eval.samples=2",
]


def tiny_config(tmp_path, *extra):
    return load_config(None, [f"run.dir={tmp_path}", "run.name=tiny", *TINY, *extra])


def epochs_logged(run_dir):
    with open(os.path.join(run_dir, "log.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny GAN run shared by the tests below (training dominates their time).

    It validates on a separate folder with larger crops than the training ones
    (`data.val_path`, `data.val_size`), as the shipped inpainting model's config does.
    """
    tmp_path = tmp_path_factory.mktemp("trained")
    val_dir = tmp_path / "val"
    val_dir.mkdir()
    rng = np.random.default_rng(3)
    for i in range(2):
        image_io.write_image(str(val_dir / f"v{i}.png"), rng.uniform(size=(56, 60, 3)))
    cfg = tiny_config(tmp_path, "train.epochs=2", f"data.val_path={val_dir}", "data.val_size=48")
    run_dir = training.make_run_dir(cfg)
    training.train(cfg, run_dir, verbose=0)
    return run_dir


@pytest.mark.slow
def test_train_evaluate_inpaint_end_to_end(trained_run, tmp_path):
    run_dir = trained_run
    for rel in (
        "config.yaml",
        "model.keras",
        "log.csv",
        "checkpoints/last.weights.h5",
        "plots/history.png",
        "samples/samples.png",
    ):
        assert os.path.isfile(os.path.join(run_dir, rel)), rel
    assert epochs_logged(run_dir) == [0, 1]
    with open(os.path.join(run_dir, "log.csv")) as f:
        rows = list(csv.DictReader(f))
    cpu = [float(r["cpu_seconds"]) for r in rows]
    assert 0 < cpu[0] < cpu[1] and float(rows[1]["wall_seconds"]) > 0

    rows = evaluation.evaluate_run(run_dir, verbose=False)
    assert [r["bucket"] for r in rows] == ["0-20%", "20-40%", "40-60%", "all"]
    assert all(r["n"] == 2 for r in rows[:3]) and rows[3]["n"] == 6
    for r in rows:
        assert 0 < r["psnr"] < 100 and 0 < r["ssim"] <= 1 and r["mae"] > 0
    with open(os.path.join(run_dir, "eval", "metrics.json")) as f:
        assert json.load(f)[0]["bucket"] == "0-20%"
    assert os.path.isfile(os.path.join(run_dir, "eval", "metrics.png"))
    # Repeatable: the evaluation protocol is fixed by the seeds.
    again = evaluation.evaluate_run(run_dir, verbose=False)
    assert again[3]["psnr"] == pytest.approx(rows[3]["psnr"], abs=1e-6)

    # Inpaint a file of another size, with a mask of a third size.
    rng = np.random.default_rng(0)
    img = rng.uniform(size=(37, 45, 3)).astype("float32")
    image_io.write_image(str(tmp_path / "in.png"), img)
    m = np.zeros((20, 30), "float32")
    m[5:12, 8:20] = 1
    image_io.write_image(str(tmp_path / "m.png"), m)
    with pytest.warns(UserWarning, match="resizing the mask"):
        get_task("inpaint").command(
            run_dir, str(tmp_path / "in.png"), str(tmp_path / "m.png"), str(tmp_path / "out.png")
        )
    out = image_io.read_image(str(tmp_path / "out.png"))
    src = image_io.read_image(str(tmp_path / "in.png"))
    assert out.shape == src.shape
    hole = np.zeros((37, 45), bool)
    rows_idx = np.minimum(((np.arange(37) + 0.5) * 20 / 37).astype(int), 19)
    cols_idx = np.minimum(((np.arange(45) + 0.5) * 30 / 45).astype(int), 29)
    hole = m[rows_idx][:, cols_idx] > 0
    np.testing.assert_array_equal(out[~hole], src[~hole])  # outside the hole: unchanged


@pytest.mark.slow
def test_init_from_and_freeze(trained_run, tmp_path):
    run_dir = trained_run
    source = inference.load_model(run_dir)

    cfg2 = load_config(
        None,
        [
            f"run.dir={tmp_path}",
            "run.name=child",
            *TINY,
            "train.epochs=1",
            f"model.init_from={run_dir}",
            "model.freeze=[embedding*]",
        ],
    )
    task = training.build_task(cfg2)
    for a, b in zip(source.get_weights(), task.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The run has a discriminator checkpoint: it is transferred too.
    donor = get_task("inpaint").load_discriminator(cfg2, run_dir)
    for a, b in zip(donor.get_weights(), task.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not task.generator.get_layer("embedding").trainable

    bad = load_config(None, [f"run.dir={tmp_path}", *TINY, "model.freeze=[nothing_like_this]"])
    with pytest.raises(training.TrainingError, match="matches no layer"):
        training.build_task(bad)


def test_vgg_weights_missing_fails_before_training(tmp_path):
    cfg = tiny_config(
        tmp_path, "inpaint.loss.perceptual=0.1", "inpaint.loss.vgg_weights=/no/such/vgg.h5"
    )
    with pytest.raises(VGGWeightsUnavailable, match="does not exist: /no/such/vgg.h5"):
        training.build_task(cfg)


def test_denoiser_trains_in_mixed_bfloat16_and_is_loaded_in_it_or_in_float32(tmp_path):
    cfg = load_config(
        None,
        [
            "task=denoise",
            "data.channels=1",
            "data.image_size=32",
            "model.type=DnCNN",
            "model.depth=3",
            "model.filters=4",
            "model.conditioning=noise_map",
            "train.precision=mixed_bfloat16",
        ],
    )
    task = training.build_task(cfg)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    conv = task.backbone.get_layer("conv_2")
    assert conv.dtype_policy.name == "mixed_bfloat16" and conv.kernel.dtype == "float32"
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(2, 32, 32, 1)).astype("float32")
    x = {"image": clean + 0.1, "noise_level": np.full((2, 32, 32, 1), 0.1, "float32")}
    logs = task.train_on_batch(x, clean, return_dict=True)
    assert np.isfinite(logs["loss"])
    path = str(tmp_path / "m.keras")
    training.save_model_atomic(task.backbone, path)
    # The policy is saved with the network; a precision given to the loader wins.
    assert inference.load_model(path).get_layer("conv_2").dtype_policy.name == "mixed_bfloat16"
    loaded = inference.load_model(path, precision="float32")
    assert loaded.get_layer("conv_2").dtype_policy.name == "float32"
    expected = task.backbone(x, training=False)
    np.testing.assert_allclose(loaded(x, training=False), expected, atol=0.02)


@pytest.mark.slow
def test_inpainter_trains_in_mixed_bfloat16_with_a_float32_discriminator(tmp_path):
    cfg = tiny_config(tmp_path, "train.precision=mixed_bfloat16", "inpaint.loss.adversarial=0.1")
    task = training.build_task(cfg)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert task.generator.get_layer("embedding").dtype_policy.name == "mixed_bfloat16"
    assert task.discriminator.dtype_policy.name == "float32"
    rng = np.random.default_rng(0)
    target = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    mask = np.zeros((2, 32, 32, 1), "float32")
    mask[:, 8:20, 8:20] = 1.0
    x = {"image": target, "mask": mask}
    before = [w.copy() for w in task.generator.get_weights()]
    logs = task.train_on_batch(x, target, return_dict=True)
    assert all(np.isfinite(logs[k]) for k in ("loss", "l1", "adversarial", "d_loss", "psnr"))
    after = task.generator.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert task(x).dtype == "float32"
    out = task.inpaint(target, mask).numpy()
    np.testing.assert_array_equal(out[mask[..., 0] == 0], target[mask[..., 0] == 0])
    path = str(tmp_path / "g.keras")
    training.save_model_atomic(task.generator, path)
    saved = inference.load_model(path)
    assert saved.get_layer("embedding").dtype_policy.name == "mixed_bfloat16"
    loaded = inference.load_model(path, precision="float32")
    assert loaded.get_layer("embedding").dtype_policy.name == "float32"
    np.testing.assert_allclose(loaded(x, training=False), task(x), atol=0.03)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_warms_up_linearly_then_follows_the_schedule(schedule):
    overrides = [
        "train.epochs=2",
        "train.steps_per_epoch=50",
        "train.lr=1e-3",
        "train.lr_min=1e-5",
        "train.warmup_steps=20",
        f"train.lr_schedule={schedule}",
    ]
    cfg = load_config(None, overrides)
    lr = training.learning_rate(cfg, scale=0.5)
    at = [float(lr(step)) for step in (0, 10, 20, 60, 100)]
    np.testing.assert_allclose(at[:3], [0.0, 2.5e-4, 5e-4], rtol=1e-5)
    if schedule == "constant":
        np.testing.assert_allclose(at[3:], [5e-4, 5e-4], rtol=1e-5)
    else:
        # Halfway through the 80 steps after the warm-up, then lr_min at the end.
        np.testing.assert_allclose(at[3:], [0.5 * (5e-4 + 5e-6), 5e-6], rtol=1e-4)
    cfg = load_config(None, overrides[:-2] + [f"train.lr_schedule={schedule}"])
    without = training.learning_rate(cfg)
    assert without == 1e-3 if schedule == "constant" else float(without(0)) == pytest.approx(1e-3)

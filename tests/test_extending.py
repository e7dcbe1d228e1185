"""The example task of docs/extending.md: one file registers it; it trains, evaluates, runs its
command and exports like the built-in tasks, through the same generic code."""

import importlib.util
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from hint import cli, evaluation, export, training
from hint.config import ConfigError, load_config
from hint.datasets import image_io
from hint.task_plugin import get_task, task_names, unregister_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "docs", "examples")
TINY = ["model.depth=3", "model.filters=4", "data.image_size=32", "data.batch_size=2"]
TINY += ["train.epochs=1", "train.steps_per_epoch=1", "eval.samples=2"]


@pytest.fixture(scope="module")
def dejpeg():
    spec = importlib.util.spec_from_file_location("dejpeg_example", f"{EXAMPLE}/dejpeg.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)  # registers the task
    yield module
    unregister_task("dejpeg")
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def run(dejpeg, tmp_path_factory):
    """The example's YAML, shrunk, trained for one step into a run directory."""
    folder = tmp_path_factory.mktemp("runs")
    cfg = load_config(f"{EXAMPLE}/dejpeg.yaml", [*TINY, f"run.dir={folder}", "run.name=r"])
    return training.train(cfg, verbose=0), cfg


def test_the_yaml_block_is_the_task_section(dejpeg):
    assert "dejpeg" in task_names()
    cfg = load_config(f"{EXAMPLE}/dejpeg.yaml")
    assert cfg.task == "dejpeg" and cfg.dejpeg.quality == [10, 40]
    with pytest.raises(ConfigError, match=r"dejpeg.quality.*Received: dejpeg.quality=\[50, 20\]"):
        load_config(f"{EXAMPLE}/dejpeg.yaml", ["dejpeg.quality=[50, 20]"])


def test_pipeline_pairs_jpeg_crops_with_the_originals(dejpeg):
    cfg = load_config(f"{EXAMPLE}/dejpeg.yaml", TINY)
    train, val = training.build_datasets(cfg)
    (x, clean), (x2, _) = list(train.take(1)) + list(train.take(1))
    assert x["image"].shape == clean.shape == (2, 32, 32, 3)
    error = float(tf.reduce_mean(tf.abs(x["image"] - clean)))
    assert 0 < error < 0.1  # compressed, not another image
    np.testing.assert_array_equal(x["image"], x2["image"])  # seeded: the same stream


def test_trains_evaluates_and_writes_a_run(run):
    run_dir, cfg = run
    for name in ("config.yaml", "model.keras", "log.csv", "samples/samples.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    rows = evaluation.evaluate_run(run_dir, verbose=False)
    assert [r["bucket"] for r in rows] == ["quality=10", "quality=20", "quality=40", "all"]
    n = len(evaluation.evaluation_images(cfg))
    assert all(np.isfinite(r["psnr"]) and r["n"] == n for r in rows[:-1])
    assert rows[-1]["n"] == 3 * n


def test_its_command_and_its_serving_signature_agree(run, tmp_path, capsys):
    run_dir, _ = run
    rng = np.random.default_rng(0)
    image_io.write_image(tmp_path / "photo.jpg", rng.uniform(size=(20, 28, 3)), quality=15)
    out = tmp_path / "restored.png"
    argv = ["dejpeg", "--run", run_dir, "--image", str(tmp_path / "photo.jpg")]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert f"Restored: {out}" in capsys.readouterr().out
    version = export.export_run(run_dir, str(tmp_path / "exports"), name="dejpeg")
    served = tf.saved_model.load(version).signatures["serving_default"]
    jpeg = image_io.read_image(tmp_path / "photo.jpg")[None]
    restored = served(image=tf.constant(jpeg))["restored"].numpy()[0]
    np.testing.assert_allclose(image_io.read_image(out), restored, atol=1 / 255 + 1e-6)
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert sub.choices["dejpeg"].description is None  # its help line is the plug-in's summary
    assert any(a.help == get_task("dejpeg").summary for a in sub._choices_actions)

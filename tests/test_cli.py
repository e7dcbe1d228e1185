"""The command line: task commands come from the plug-ins; bad input is one line and exit 2."""

import numpy as np
import pytest

from hint import cli
from hint.datasets import image_io
from hint.models import DnCNN, HINTBackbone, get_preset
from hint.task_plugin import task_names


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    denoiser = DnCNN(depth=3, filters=4, image_channels=1)
    denoiser.save(folder / "denoiser.keras")
    inpainter = HINTBackbone(**get_preset("hint_tiny"))
    inpainter.save(folder / "inpainter.keras")
    return {"denoise": str(folder / "denoiser.keras"), "inpaint": str(folder / "inpainter.keras")}


def test_every_task_with_an_inference_command_is_a_subcommand():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"inpaint", "denoise"} <= set(sub.choices)
    assert set(task_names()) <= set(sub.choices)
    for generic in cli.COMMANDS:
        assert generic in sub.choices


@pytest.mark.parametrize("out_name", ["out.npy", "out.png", "out.tif"])
def test_non_finite_input_is_a_one_line_error_for_every_format(models, tmp_path, capsys, out_name):
    noisy = np.full((16, 16, 1), np.nan, np.float32)
    noisy[0, 0] = 0.5
    np.save(tmp_path / "nan.npy", noisy)
    out = tmp_path / out_name
    argv = ["denoise", "--run", models["denoise"], "--image", str(tmp_path / "nan.npy")]
    assert cli.main([*argv, "--out", str(out), "--sigma", "25", "--precision", "float32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NaN or infinite values (255 of 256)" in err[0], err
    assert not out.exists()


def test_non_finite_image_or_mask_stops_inpaint(models, tmp_path, capsys):
    image = np.random.default_rng(0).uniform(size=(16, 16, 3)).astype(np.float32)
    image[3, 4, 1] = np.inf
    np.save(tmp_path / "image.npy", image)
    mask = np.zeros((16, 16, 1), np.float32)
    mask[4:8, 4:8] = 1
    image_io.write_image(tmp_path / "mask.png", mask)
    argv = ["inpaint", "--run", models["inpaint"], "--precision", "float32"]
    argv += ["--image", str(tmp_path / "image.npy"), "--mask", str(tmp_path / "mask.png")]
    assert cli.main([*argv, "--out", str(tmp_path / "out.png")]) == 2
    assert "image.npy contains NaN or infinite values (1 of 768)" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_an_image_that_cannot_be_written_is_a_one_line_error(models, tmp_path, capsys):
    rng = np.random.default_rng(1)
    image_io.write_image(tmp_path / "noisy.png", rng.uniform(size=(16, 16, 1)))
    argv = ["denoise", "--run", models["denoise"], "--image", str(tmp_path / "noisy.png")]
    # The output's extension is only known to be unwritable when the image is written.
    assert cli.main([*argv, "--out", str(tmp_path / "out.gif"), "--sigma", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unsupported image extension '.gif'"), err
    assert not (tmp_path / "out.gif").exists()


def test_resume_refuses_overrides_the_checkpoints_depend_on(tmp_path, capsys):
    from hint.config import dump_config, load_config

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dump_config(load_config(None, ["model.dim=4"]), str(run_dir / "config.yaml"))
    assert cli.main(["train", "--resume", str(run_dir), "--set", "model.dim=8"]) == 2
    err = capsys.readouterr().err
    assert "train --resume --set accepts only train.epochs, train.steps_per_epoch keys" in err
    assert err.strip().endswith("Received: model.dim")

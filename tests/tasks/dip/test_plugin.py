"""`python main.py dip`: the jobs, their outputs, bad input and resuming."""

import os

import numpy as np
import pytest

from hint import cli
from hint.config import load_config
from hint.datasets import image_io
from hint.task_plugin import get_task
from hint.tasks.dip import dip_config

# The four-scale tiny network (`dip_tiny`) on 32 x 40 images (padded to 32 x 48) for a few
# iterations; the official networks' sizes are tested in tests/models/test_dip_skip.py. The
# tests that fit run the whole command (5-20 s each): marked slow.
FEW = ["--iterations", "3", "--set", "dip.checkpoint_every=2", "dip.preset=dip_tiny"]


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    clean = rng.uniform(size=(32, 40, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    mask = np.zeros((32, 40, 1), np.float32)
    mask[8:20, 10:30] = 1
    paths = {}
    for name, array in (("clean", clean), ("noisy", noisy), ("mask", mask)):
        paths[name] = str(tmp_path / f"{name}.png")
        image_io.write_image(paths[name], array)
    return paths


@pytest.mark.slow
def test_denoise_writes_result_curve_and_snapshots(files, tmp_path, capsys):
    out = str(tmp_path / "out" / "clean.png")
    argv = ["dip", "--job", "denoise", "--image", files["noisy"], "--out", out]
    assert cli.main([*argv, "--clean", files["clean"], *FEW]) == 0
    printed = capsys.readouterr().out
    assert "Restored (ema, 3 iterations)" in printed and "against --clean: PSNR" in printed
    assert image_io.read_image(out).shape == (32, 40, 3)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "clean.png",
        "clean_curve.png",
        "clean_snapshots.png",
    ]  # the checkpoint is gone once the fit has finished


@pytest.mark.slow
def test_inpaint_keeps_the_known_pixels(files, tmp_path):
    out = str(tmp_path / "filled.png")
    argv = ["dip", "--job", "inpaint", "--image", files["clean"], "--mask", files["mask"]]
    assert cli.main([*argv, "--out", out, *FEW]) == 0
    result = image_io.read_image(out)
    source = image_io.read_image(files["clean"])
    hole = image_io.read_image(files["mask"])[..., 0] > 0
    np.testing.assert_array_equal(result[~hole], source[~hole])


@pytest.mark.slow
def test_pixels_without_a_mask_and_sr(files, tmp_path):
    out = str(tmp_path / "p.png")
    assert cli.main(["dip", "--job", "pixels", "--image", files["clean"], "--out", out, *FEW]) == 0
    sr = str(tmp_path / "sr.png")
    argv = ["dip", "--job", "sr", "--image", files["clean"], "--out", sr, *FEW]
    assert cli.main([*argv, "dip.sr_factor=2"]) == 0
    assert image_io.read_image(sr).shape == (64, 80, 3)


@pytest.mark.slow
def test_max_side_fits_smaller_and_returns_the_input_size(files, tmp_path, capsys):
    out = str(tmp_path / "small.png")
    argv = ["dip", "--image", files["noisy"], "--out", out, "--max-side", "32", *FEW]
    assert cli.main(argv) == 0
    assert "Fitting at 32x26 (--max-side 32)" in capsys.readouterr().out
    assert image_io.read_image(out).shape == (32, 40, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--job", "text"], "needs a --mask"),
        (["--job", "inpaint", "--mask", "SMALL"], "give a mask of the image's size"),
        (["--resume"], "no checkpoint"),
        (["--set", "dip.lr=-1"], "dip.lr"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, capsys, extra, message):
    small = str(tmp_path / "small_mask.png")
    image_io.write_image(small, np.ones((8, 8, 1), np.float32))
    extra = [small if e == "SMALL" else e for e in extra]
    out = tmp_path / "never.png"
    assert cli.main(["dip", "--image", files["noisy"], "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_unreadable_image(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert cli.main(["dip", "--image", str(bad), "--out", str(tmp_path / "o.png")]) == 2
    assert "bad.png" in capsys.readouterr().err


def test_config_section_and_job_settings():
    cfg = load_config(None, ["dip.job=holes", "dip.lr=0.001"])
    settings = dip_config.job_settings(cfg.dip)
    assert settings["lr"] == 0.001 and settings["input"] == "meshgrid"
    assert settings["input_depth"] == 2 and settings["iterations"] == 5001
    assert get_task("dip").make_data(cfg) is None  # no training set
    assert get_task("dip").serving_module(None) is None


def test_the_noise_level_stop_is_for_denoising_only():
    from hint.config import ConfigError

    with pytest.raises(ConfigError, match="for --job denoise"):
        dip_config.validate(dip_config.DIPConfig(job="text", stop="discrepancy"))
    with pytest.raises(ConfigError, match="dip.stop"):
        dip_config.validate(dip_config.DIPConfig(stop="sometimes"))
    cfg = load_config(None, ["dip.stop=discrepancy", "dip.sigma=25"])
    dip_config.validate(cfg.dip)
    assert cfg.dip.stop == "discrepancy" and cfg.dip.sigma == 25


def test_denoising_stops_at_the_noise_level_unless_told_otherwise():
    settings = dip_config.job_settings
    assert settings(dip_config.DIPConfig())["stop"] == "discrepancy"
    assert settings(dip_config.DIPConfig(stop="none"))["stop"] == "none"
    for job in ("text", "holes", "pixels", "inpaint", "sr"):
        assert settings(dip_config.DIPConfig(job=job))["stop"] == "none"
        dip_config.validate(dip_config.DIPConfig(job=job))


def test_noise_sigma_is_given_or_estimated():
    from hint.tasks.dip.plugin import noise_sigma

    rng = np.random.default_rng(0)
    # A smooth image, so the finest wavelet coefficients are the noise's.
    y, x = np.mgrid[0:96, 0:96] / 96.0
    clean = np.stack([0.5 + 0.3 * np.sin(3 * x + 2 * y)] * 3, -1)
    noisy = clean + rng.normal(0, 25 / 255, clean.shape)
    assert noise_sigma(noisy, None) == pytest.approx(25, abs=1.5)
    assert noise_sigma(noisy, 15.0) == 15.0


@pytest.mark.slow
def test_denoise_stops_at_the_noise_level(files, tmp_path, capsys):
    out = str(tmp_path / "stopped.png")
    argv = ["dip", "--job", "denoise", "--image", files["noisy"], "--out", out, *FEW[2:]]
    # A noise level far above the image's: the fit is "at the noise level" after one window.
    argv += ["dip.stop=discrepancy", "dip.sigma=200", "dip.stop_window=2", "--iterations", "50"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "sigma 200.0 (given)" in printed
    assert "Restored (ema, 2 iterations, stopped at the noise level)" in printed


def test_a_denoising_fit_past_the_noise_level_says_where_to_stop():
    from hint.tasks.dip.fit_result import FitResult
    from hint.tasks.dip.plugin import _stop_hint

    image = np.zeros((8, 8, 1), np.float32)
    # (25 / 255)^2 = 0.0096: the window of 5 reaches it at iteration 96 of 100, near the end.
    loss = list(np.linspace(0.05, 0.008, 100))
    result = FitResult(image, image, image, {"loss": loss}, [], 100)
    section = dip_config.DIPConfig(job="denoise", sigma=25.0, stop_window=5, stop="none")
    assert _stop_hint(section, image, result) is None
    result.history["loss"] = [0.05] * 50 + [0.001] * 150
    result.iterations = 200
    hint_line = _stop_hint(section, image, result)
    assert "at iteration 55 of 200" in hint_line and "dip.stop=discrepancy" in hint_line
    stopped = dip_config.DIPConfig(job="denoise", sigma=25.0, stop_window=5, stop="discrepancy")
    assert _stop_hint(stopped, image, result) is None
    by_default = dip_config.DIPConfig(job="denoise", sigma=25.0, stop_window=5)
    assert _stop_hint(by_default, image, result) is None
    assert _stop_hint(dip_config.DIPConfig(job="text", sigma=25.0), image, result) is None

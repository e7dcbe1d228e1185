"""Tests for hint/plots.py: PNGs are written, readable, and no temp file is left behind."""

import os

import numpy as np
import pytest
from PIL import Image
from skimage import io

from hint import plots
from hint.plots import bar_chart, plot_history, sample_grid

RNG = np.random.default_rng(0)


def _check_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    pixels = io.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    return pixels


def test_plot_history_from_csvlogger_file_and_dict(tmp_path):
    csv_path = tmp_path / "history.csv"
    csv_path.write_text(
        "epoch,d_loss,g_loss,learning_rate,psnr,ssim,val_g_loss,val_psnr,val_ssim\n"
        "0,0.7,2.0,0.0001,18.0,0.50,2.2,17.5,0.48\n"
        "1,0.6,1.5,0.0001,20.0,0.60,NA,19.0,0.58\n"
        "2,0.5,1.2,0.0001,21.0,0.65,1.3,20.5,0.63\n"
    )
    out = tmp_path / "history.png"
    assert plot_history(str(csv_path), str(out)) == str(out)
    _check_png(out)
    assert plots._families(["epoch", "d_loss", "g_loss", "psnr", "val_psnr", "val_g_loss"]) == [
        ("losses", ["d_loss", "g_loss"]),
        ("psnr", ["psnr"]),
    ]

    out2 = tmp_path / "dict.png"
    plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "mae": [0.2, 0.1]}, out2)
    _check_png(out2)
    assert sorted(os.listdir(tmp_path)) == ["dict.png", "history.csv", "history.png"]


def test_sample_grid_inpainting_and_denoising(tmp_path):
    image = RNG.random((2, 32, 32, 3), dtype=np.float32)
    mask = np.zeros((2, 32, 32, 1), np.float32)
    mask[:, 8:20, 8:24] = 1
    masked = image * (1 - mask) + mask
    rows = [(masked[i], mask[i], image[i] * 0.9, image[i]) for i in range(2)]
    out = tmp_path / "grid.png"
    sample_grid(rows, out, row_labels=["a", "b"])
    _check_png(out)

    dict_rows = [
        {"masked_input": masked[0], "mask": mask[0], "output": image[0], "ground_truth": image[0]}
    ]
    sample_grid(dict_rows, tmp_path / "dict.png")
    _check_png(tmp_path / "dict.png")

    clean = RNG.random((32, 32, 1), dtype=np.float32)
    noisy = (np.clip(clean + 0.1, 0, 1) * 255).astype(np.uint8)
    titles = ("noisy", "denoised", "clean")
    sample_grid([(noisy, clean, clean[None])], tmp_path / "denoise.png", titles=titles)
    _check_png(tmp_path / "denoise.png")

    with pytest.raises(ValueError, match="Each row needs 3 images"):
        sample_grid([(clean, clean)], tmp_path / "bad.png", titles=("a", "b", "c"))
    assert sorted(os.listdir(tmp_path)) == ["denoise.png", "dict.png", "grid.png"]


def test_bar_chart(tmp_path):
    table = {"0-20%": {"psnr": 31.2, "ssim": 0.95}, "20-40%": {"psnr": 26.0, "ssim": 0.88}}
    out = tmp_path / "eval" / "psnr.png"
    bar_chart(table, out, "psnr")
    _check_png(out)
    with pytest.raises(ValueError, match="Received: metric='fid'"):
        bar_chart(table, tmp_path / "fid.png", "fid")
    assert sorted(os.listdir(tmp_path)) == ["eval"]
    assert os.listdir(tmp_path / "eval") == ["psnr.png"]


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "psnr.png"
    target.write_bytes(b"old")

    def broken_savefig(self, f, **kwargs):
        f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(plots.Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        bar_chart({"0-20%": {"psnr": 30.0}}, target, "psnr")
    assert os.listdir(tmp_path) == ["psnr.png"]
    assert target.read_bytes() == b"old"

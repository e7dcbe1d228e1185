"""Checks of benchmarks/denoise_vs_classical.py on two 32x32 images and tiny random denoisers."""

import json
import math
import re

import numpy as np
import pytest

from benchmarks import denoise_vs_classical as bench
from hint import evaluation, inference
from hint import precision as precision_lib
from hint.datasets import image_io
from hint.models.dncnn import DnCNN

SIGMAS = (15.0, 25.0, 50.0)


def _clean(channels):
    # Smooth shapes, so that a real denoiser has structure to keep and noise to remove.
    y, x = np.mgrid[0:32, 0:32].astype(np.float32) / 31.0
    planes = [0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * (x - y)][:channels]
    image = np.stack(planes, axis=-1)
    image[8:24, 10:22] = 0.9
    return image


def _tiny_model(path, channels):
    model = DnCNN(
        depth=3,
        filters=8,
        image_channels=channels,
        conditioning="noise_map",
        downsample="pixel_unshuffle",
    )
    model.save(path)
    return str(path)


@pytest.mark.slow
def test_main_measures_every_method_and_writes_json_and_png(tmp_path, capsys):
    pytest.importorskip("bm3d")
    for name, channels in (("gray", 1), ("color", 3)):
        image_io.write_image(tmp_path / name / "a.png", _clean(channels))
    gray = _tiny_model(tmp_path / "gray.keras", 1)
    color = _tiny_model(tmp_path / "color.keras", 3)
    out = tmp_path / "results"
    argv = ["--data", str(tmp_path / "gray"), "--data", str(tmp_path / "color")]
    argv += ["--model-gray", gray, "--model-color", color, "--out", str(out)]
    assert bench.main([*argv, "--sigmas", *map(str, SIGMAS), "--precision", "float32"]) == 0

    rows = json.loads((out / "results.json").read_text())["rows"]
    keys = {(r["dataset"], r["sigma"], r["method"]) for r in rows}
    assert keys == {(d, s, m) for d in ("gray", "color") for s in SIGMAS for m in bench.METHODS}
    labels = {(r["dataset"], r["method"]): r["label"] for r in rows}
    assert labels["gray", "bm3d"] == "BM3D" and labels["color", "bm3d"] == "CBM3D"
    assert labels["gray", "network"] == "network (gray.keras)"
    assert labels["color", "network"] == "network (color.keras)"
    by_key = {(r["dataset"], r["sigma"], r["method"]): r for r in rows}
    # The printed table has one line per JSON row, with its numbers and, per image on the same
    # noisy image, how many images the method has above BM3D ("count/images").
    printed = [re.split(r"\s{2,}", line.strip()) for line in capsys.readouterr().out.splitlines()]
    for r in rows:
        bm3d = by_key[r["dataset"], r["sigma"], "bm3d"]["per_image"]["psnr"]
        above = None if r["method"] == "bm3d" else int(r["per_image"]["psnr"][0] > bm3d[0])
        assert r["images_above_bm3d"] == above
        cells = [r["dataset"], f"{r['sigma']:g}", r["label"], "1", f"{r['psnr']:.2f}"]
        (line,) = [line for line in printed if line[:5] == cells]
        assert line[-1] == ("-" if above is None else f"{above}/1")
    assert all(math.isfinite(r["psnr"]) and 0.0 < r["ssim"] <= 1.0 for r in rows)
    for dataset in ("gray", "color"):
        assert by_key[dataset, 50.0, "bm3d"]["psnr"] > by_key[dataset, 50.0, "noisy"]["psnr"] + 3
        assert by_key[dataset, 25.0, "bm3d"]["speed_vs_bm3d"] == pytest.approx(1.0)
        assert by_key[dataset, 25.0, "noisy"]["seconds_per_image"] is None
        assert by_key[dataset, 50.0, "noisy"]["images_above_bm3d"] == 0
    assert (out / "psnr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["psnr.png", "results.json"]


def test_bad_data_folder_stops_with_exit_code_2_before_any_work(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    with pytest.raises(SystemExit) as raised:
        bench.main(["--data", str(missing), "--skip-bm3d", "--out", str(tmp_path / "out")])
    assert raised.value.code == 2
    assert str(missing) in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(bench.BenchmarkError, match="No images"):
        bench.run_benchmark([str(tmp_path / "empty")], skip_bm3d=True)
    assert not (tmp_path / "out").exists()


def test_ensemble_runs_the_denoise_ensemble_and_says_so(tmp_path):
    image_io.write_image(tmp_path / "gray" / "a.png", _clean(1))
    gray = _tiny_model(tmp_path / "gray.keras", 1)
    kwargs = dict(model=gray, sigmas=[25], skip_bm3d=True, skip_nlm=True, progress=False)
    rows = bench.run_benchmark([str(tmp_path / "gray")], ensemble="dihedral", **kwargs)
    (network,) = [r for r in rows if r["method"] == "network"]
    assert network["label"] == "network (gray.keras, x8 ensemble)"
    assert network["images_above_bm3d"] is None  # no BM3D to compare with
    clean = image_io.read_image(str(tmp_path / "gray" / "a.png"))
    noisy = evaluation.add_noise(clean[None], 25.0, bench.DEFAULT_SEED)[0]
    out = inference.denoise_array(
        inference.load_model(gray), noisy, sigma=25.0, ensemble="dihedral"
    )
    assert network["psnr"] == pytest.approx(bench.image_metrics(out, clean)[0], abs=1e-3)
    plain = bench.run_benchmark([str(tmp_path / "gray")], **kwargs)
    assert plain[1]["psnr"] != pytest.approx(network["psnr"], abs=1e-4)
    with pytest.raises(bench.BenchmarkError, match="Received: ensemble=x8"):
        bench.run_benchmark([str(tmp_path / "gray")], ensemble="x8", **kwargs)


def test_gray_model_on_colour_images_in_either_colour_space(tmp_path):
    image_io.write_image(tmp_path / "color" / "a.png", _clean(3))
    gray = _tiny_model(tmp_path / "gray.keras", 1)
    kwargs = dict(model=gray, sigmas=[25], skip_bm3d=True, skip_nlm=True, progress=False)
    clean = image_io.read_image(str(tmp_path / "color" / "a.png"))
    noisy = evaluation.add_noise(clean[None], 25.0, bench.DEFAULT_SEED)[0]
    network = inference.load_model(gray)
    for space, label in (("opponent", "opponent"), ("rgb", "per RGB channel")):
        rows = bench.run_benchmark([str(tmp_path / "color")], color_space=space, **kwargs)
        (row,) = [r for r in rows if r["method"] == "network"]
        assert row["label"] == f"network (gray.keras, {label})"
        out = inference.denoise_array(network, noisy, sigma=25.0, color_space=space)
        assert row["psnr"] == pytest.approx(bench.image_metrics(out, clean)[0], abs=1e-3)
    with pytest.raises(bench.BenchmarkError, match="Received: color_space=yuv"):
        bench.run_benchmark([str(tmp_path / "color")], color_space="yuv", **kwargs)


def test_default_precision_is_resolved_for_this_cpu_and_recorded(tmp_path, monkeypatch):
    import tensorflow as tf

    image_io.write_image(tmp_path / "gray" / "a.png", _clean(1))
    gray = _tiny_model(tmp_path / "gray.keras", 1)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    argv = ["--data", str(tmp_path / "gray"), "--model", gray, "--sigmas", "25"]
    argv += ["--skip-bm3d", "--skip-nlm"]
    for flags, precision, label in (
        (set(), "float32", "network (gray.keras)"),
        ({"avx512_bf16"}, "mixed_bfloat16", "network (gray.keras, bfloat16)"),
    ):
        monkeypatch.setattr(precision_lib, "cpu_flags", lambda flags=flags: flags)
        out = tmp_path / precision
        assert bench.main([*argv, "--out", str(out)]) == 0
        report = json.loads((out / "results.json").read_text())
        assert report["settings"]["precision"] == precision
        (row,) = [r for r in report["rows"] if r["method"] == "network"]
        assert row["label"] == label
        # Called as a library, "auto" is resolved where the network is loaded and labelled.
        rows = bench.run_benchmark(
            [str(tmp_path / "gray")],
            model=gray,
            sigmas=[25],
            skip_bm3d=True,
            skip_nlm=True,
            precision="auto",
            progress=False,
        )
        assert [r["label"] for r in rows if r["method"] == "network"] == [label]

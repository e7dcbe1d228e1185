"""A tiny end-to-end run of benchmarks/inpaint_vs_classical.py (a random model, 2 images)."""

import json
import math

import numpy as np
import pytest

pytest.importorskip("cv2")

from benchmarks import inpaint_vs_classical as bench  # noqa: E402
from hint.datasets import image_io  # noqa: E402
from hint.models import HINTBackbone  # noqa: E402

BUCKETS = ("0-20%", "20-40%", "40-60%")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    folder = root / "images"
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    for i in range(2):
        smooth = np.stack([yy, xx, (yy + xx) / 2], axis=-1)
        image = np.clip(smooth + rng.normal(0, 0.05, size=(64, 64, 3)), 0, 1)
        image_io.write_image(str(folder / f"{i}.png"), image)
    model = HINTBackbone(dim=4, num_blocks=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
    model_path = str(root / "tiny.keras")
    model.save(model_path)
    return root, str(folder), model_path


@pytest.mark.slow
def test_main_measures_every_method_and_bucket(setup, capsys):
    root, folder, model_path = setup
    out = root / "out"
    argv = ["--data", folder, "--model", model_path, "--size", "32", "--masks-per-bucket", "2"]
    assert bench.main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "results.json").read_text())
    assert (out / "examples.png").stat().st_size > 0
    methods = ("hint", "hint_raw", "hint_joint", "telea", "ns", "biharmonic")
    rows = {(r["method"], r["bucket"]): r for r in report["rows"]}
    assert set(rows) == {(m, b) for m in methods for b in (*BUCKETS, "all")}
    for (method, bucket), row in rows.items():
        assert row["n"] == (6 if bucket == "all" else 2)
        for metric in bench.METRICS:
            assert math.isfinite(row[metric]), (method, bucket, metric)
        assert 0 < row["ssim"] <= 1 and 0 <= row["l1"] < 1 and row["seconds"] > 0
    assert report["config"]["images"] == 2 and report["config"]["crops"] == "centre"
    titles = ("HINT (ours)", "HINT, no blend", "HINT, joint RGB", "OpenCV Telea", "OpenCV NS")
    titles += ("biharmonic",)
    for title in (*titles, "29.3 / 0.937"):
        assert title in printed
    # The table is a pure function of the rows.
    assert bench.format_table(report["rows"]).splitlines()[2:] == printed.splitlines()[3:27]


def test_methods_see_identical_inputs_and_keep_known_pixels(setup):
    _, folder, model_path = setup
    images = bench.load_crops(folder, 32)
    masks_by_bucket = {"0-20%": np.zeros((1, 32, 32, 1), "float32")}
    masks_by_bucket["0-20%"][0, 8:16, 8:20] = 1
    seen = []

    def spy(image, mask):
        seen.append(image.copy())
        return np.zeros_like(image)

    generator = bench.load_model(model_path)
    methods = {**bench.build_methods(generator, skip_biharmonic=True), "spy": spy}
    result = bench.run_benchmark(images, masks_by_bucket, methods, examples=1)
    assert "biharmonic" not in result["per_image"]
    mask = masks_by_bucket["0-20%"][0]
    # The masked input has white holes, the same for every method.
    np.testing.assert_array_equal(seen[-1], images[0] * (1 - mask) + mask)
    example = result["examples"][0]
    for name, output in example["outputs"].items():
        keep = mask[..., 0] == 0
        np.testing.assert_array_equal(output[keep], images[0][keep], err_msg=name)


def test_bad_inputs_are_clear_errors(setup, tmp_path, capsys):
    _, folder, model_path = setup
    missing = str(tmp_path / "nope")
    assert bench.main(["--data", missing, "--model", model_path, "--out", str(tmp_path)]) == 2
    assert f"The image folder does not exist: {missing}" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bench.main(["--data", str(empty), "--model", model_path, "--out", str(tmp_path)]) == 2
    assert "No readable images" in capsys.readouterr().err
    argv = ["--data", folder, "--model", str(tmp_path / "none.keras"), "--out", str(tmp_path)]
    assert bench.main(argv) == 2
    assert "No trained generator" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_blend_none_is_the_raw_fill_row(setup, tmp_path):
    _, folder, model_path = setup
    argv = ["--data", folder, "--model", model_path, "--size", "32", "--masks-per-bucket", "1"]
    argv += ["--skip-biharmonic", "--examples", "0"]
    assert bench.main([*argv, "--out", str(tmp_path / "p")]) == 0
    assert bench.main([*argv, "--blend", "none", "--out", str(tmp_path / "n")]) == 0
    poisson = json.loads((tmp_path / "p" / "results.json").read_text())
    raw = json.loads((tmp_path / "n" / "results.json").read_text())
    assert poisson["config"]["methods"] == ["hint", "hint_raw", "hint_joint", "telea", "ns"]
    assert raw["config"]["methods"] == ["hint", "hint_joint", "telea", "ns"]
    assert raw["config"]["blend"] == "none" and raw["config"]["color_space"] == "rgb"
    for bucket in BUCKETS:
        np.testing.assert_allclose(
            raw["per_image"]["hint"][bucket]["psnr"],
            poisson["per_image"]["hint_raw"][bucket]["psnr"],
            rtol=1e-6,
        )

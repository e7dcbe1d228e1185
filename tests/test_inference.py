import os

import numpy as np
import pytest

from hint import inference
from hint.datasets import image_io
from hint.models import HINTBackbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def generator():
    return HINTBackbone(dim=4, num_blocks=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))


def test_pad_to_multiple():
    x = np.arange(5 * 7 * 2, dtype="float32").reshape(5, 7, 2)
    p = inference.pad_to_multiple(x, 16)
    assert p.shape == (16, 16, 2)
    np.testing.assert_array_equal(p[:5, :7], x)
    y = np.zeros((32, 48, 1), "float32")
    assert inference.pad_to_multiple(y, 16) is y
    # A batch pads each image as on its own.
    batch = np.stack([x, x + 1.0])
    padded = inference.pad_to_multiple(batch, 16)
    np.testing.assert_array_equal(padded, np.stack([p, p + 1.0]))


def test_any_size_and_known_pixels_unchanged(generator):
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(45, 61, 3)).astype("float32")
    mask = np.zeros((45, 61, 1), "float32")
    mask[10:30, 5:25] = 1
    out = inference.inpaint_array(generator, image, mask)
    assert out.shape == image.shape
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(out[keep], image[keep])
    assert not np.allclose(out[~keep], image[~keep])


@pytest.mark.parametrize(
    "option", [{"blend": "seamless"}, {"ensemble": "x8"}, {"color_space": "yuv"}]
)
def test_bad_option_is_an_error(generator, tmp_path, option):
    image = np.zeros((16, 16, 3), "float32")
    mask = np.ones((16, 16, 1), "float32")
    ((name, value),) = option.items()
    message = rf"Received: {name}={value}$"
    with pytest.raises(inference.InferenceError, match=message):
        inference.inpaint_array(generator, image, mask, **option)
    with pytest.raises(inference.InferenceError, match=message):
        inference.inpaint_paths(generator, "x.png", "m.png", str(tmp_path / "o.png"), **option)
    assert not os.listdir(tmp_path)


def test_dihedral_ensemble_is_the_mean_of_the_eight_views(generator):
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(32, 48, 3)).astype("float32")
    mask = np.zeros((32, 48, 1), "float32")
    mask[6:20, 10:30] = 1
    out = inference.inpaint_array(
        generator, image, mask, blend="none", ensemble="dihedral", color_space="joint"
    )
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(out[keep], image[keep])
    views = [
        inference._dihedral_inverse(
            inference.forward(
                generator,
                {
                    "image": np.ascontiguousarray(inference._dihedral(image, k))[None],
                    "mask": np.ascontiguousarray(inference._dihedral(mask, k))[None],
                },
            )[0],
            k,
        )
        for k in range(8)
    ]
    np.testing.assert_allclose(out[~keep], np.mean(views, axis=0)[~keep], atol=1e-5)
    # So the ensemble commutes with rotations and flips; a single pass does not.
    turned = inference.inpaint_array(
        generator, np.rot90(image).copy(), np.rot90(mask).copy(), ensemble="dihedral"
    )
    blended = inference.inpaint_array(generator, image, mask, ensemble="dihedral")
    np.testing.assert_allclose(turned, np.rot90(blended), atol=1e-5)
    single = inference.inpaint_array(generator, np.rot90(image).copy(), np.rot90(mask).copy())
    assert np.abs(single - np.rot90(inference.inpaint_array(generator, image, mask))).max() > 1e-3


def test_colour_planes_run_as_gray_images(generator):
    rng = np.random.default_rng(4)
    image = rng.uniform(size=(32, 40, 3)).astype("float32")
    mask = np.zeros((32, 40, 1), "float32")
    mask[5:21, 9:33] = 1
    hole = mask[..., 0] > 0
    for space in ("rgb", "opponent"):
        planes = inference.to_planes(image, space)
        np.testing.assert_allclose(inference.from_planes(planes, space), image, atol=1e-6)
        assert planes.min() > -0.35 and planes.max() < 1.35, space  # differences + 0.5
        out = inference.inpaint_array(generator, image, mask, blend="none", color_space=space)
        np.testing.assert_array_equal(out[~hole], image[~hole])
        fills = [
            inference._run_generator(
                generator, np.repeat(planes[None, ..., i : i + 1], 3, -1), mask[None]
            )[0].mean(-1)
            for i in range(3)
        ]
        expected = np.clip(inference.from_planes(np.stack(fills, -1), space), 0, 1)
        np.testing.assert_allclose(out[hole], expected[hole], atol=1e-5, err_msg=space)
    # Plane by plane in RGB, swapping colour channels swaps the output's; jointly it does not.
    swap = [2, 0, 1]
    for space, commutes in (("rgb", True), ("joint", False)):
        a = inference.inpaint_array(generator, image[..., swap], mask, color_space=space)
        b = inference.inpaint_array(generator, image, mask, color_space=space)[..., swap]
        assert np.allclose(a, b, atol=1e-5) == commutes, space


def test_gray_network_inpaints_colour_images_plane_by_plane():
    gray = HINTBackbone(dim=4, num_blocks=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), image_channels=1)
    image = np.random.default_rng(6).uniform(size=(32, 32, 3)).astype("float32")
    mask = np.zeros((32, 32, 1), "float32")
    mask[8:20, 8:20] = 1
    out = inference.inpaint_array(gray, image, mask, color_space="opponent")
    assert out.shape == image.shape and np.isfinite(out).all()
    with pytest.raises(inference.InferenceError, match="expects 1 channels.*plane-wise"):
        inference.inpaint_array(gray, image, mask, color_space="joint")


def test_no_hole_returns_input(generator):
    image = np.random.default_rng(1).uniform(size=(20, 20, 3)).astype("float32")
    out = inference.inpaint_array(generator, image, np.zeros((20, 20, 1), "float32"))
    np.testing.assert_array_equal(out, image)


def test_gray_image(generator):
    image = np.random.default_rng(2).uniform(size=(32, 32, 1)).astype("float32")
    mask = np.zeros((32, 32, 1), "float32")
    mask[4:12, 4:12] = 1
    out = inference.inpaint_array(generator, image, mask)
    assert out.shape == (32, 32, 1)


def test_binarize_mask_rule():
    m = inference.binarize_mask(np.array([[0.0, 0.002], [0.5, 1.0]], "float32"))
    np.testing.assert_array_equal(m[..., 0], [[0, 1], [1, 1]])


def _write_pair(folder, name, size=(24, 40), seed=0):
    os.makedirs(folder / "img", exist_ok=True)
    os.makedirs(folder / "msk", exist_ok=True)
    rng = np.random.default_rng(seed)
    image_io.write_image(str(folder / "img" / f"{name}.png"), rng.uniform(size=(*size, 3)))
    m = np.zeros(size, "float32")
    m[2:10, 3:12] = 1
    image_io.write_image(str(folder / "msk" / f"{name}.png"), m)


def test_folders_paired_by_name(tmp_path, generator):
    for i, name in enumerate(["b", "a", "c"]):
        _write_pair(tmp_path, name, seed=i)
    outs = inference.inpaint_paths(
        generator,
        str(tmp_path / "img"),
        str(tmp_path / "msk"),
        str(tmp_path / "out"),
        progress=False,
    )
    assert sorted(os.path.basename(p) for p in outs) == ["a.png", "b.png", "c.png"]
    assert all(os.path.isfile(p) for p in outs)


def test_unpaired_folders_error(tmp_path, generator):
    _write_pair(tmp_path, "a")
    _write_pair(tmp_path, "b")
    os.remove(tmp_path / "msk" / "b.png")
    with pytest.raises(inference.InferenceError, match="2 images .* 1 masks"):
        inference.inpaint_paths(
            generator, str(tmp_path / "img"), str(tmp_path / "msk"), str(tmp_path / "out")
        )
    assert not (tmp_path / "out").exists()


def test_missing_and_unreadable_files(tmp_path, generator):
    _write_pair(tmp_path, "a")
    msk = str(tmp_path / "msk" / "a.png")
    with pytest.raises(inference.InferenceError, match="does not exist"):
        inference.inpaint_paths(generator, str(tmp_path / "nope.png"), msk, str(tmp_path / "o.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(image_io.ImageReadError):
        inference.inpaint_paths(generator, str(bad), msk, str(tmp_path / "o.png"))
    assert sorted(os.listdir(tmp_path)) == ["bad.png", "img", "msk"]  # nothing written


def test_cli_errors_exit_nonzero_and_write_nothing(tmp_path, monkeypatch, capfd):
    """The command line of main.py, in-process: a bad config key, a missing run, a missing
    image, a negative sigma and an unreadable image all exit 2 with a message and write
    nothing."""
    import runpy

    from hint import cli

    # main.py runs `hint.cli.main`, which these calls run directly.
    assert runpy.run_path(os.path.join(ROOT, "main.py"), run_name="checkout")["main"] is cli.main
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  epoch: 3\nrun:\n  dir: " + str(tmp_path / "runs") + "\n")
    monkeypatch.chdir(tmp_path)
    out, missing = str(tmp_path / "o.png"), str(tmp_path / "missing.png")
    inpaint = ["inpaint", "--run", str(tmp_path / "none"), "--image", "x.png", "--mask", "m.png"]
    codes = [
        cli.main(["--config", str(cfg)]),
        cli.main([*inpaint, "--out", "o.png"]),
        cli.main(["denoise", "--image", missing, "--out", out, "--sigma", "25"]),
        cli.main(["denoise", "--image", str(cfg), "--out", out, "--sigma", "-5"]),
        cli.main(["denoise", "--image", str(cfg), "--out", out, "--sigma", "25"]),
    ]
    stderr = capfd.readouterr().err
    assert codes == [2, 2, 2, 2, 2], stderr
    assert "train.epoch" in stderr and "Did you mean 'epochs'" in stderr
    assert "No trained generator" in stderr
    assert "does not exist" in stderr and "sigma must be >= 0" in stderr
    assert not (tmp_path / "o.png").exists()
    assert not (tmp_path / "runs").exists()

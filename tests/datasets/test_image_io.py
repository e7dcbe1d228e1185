import ast
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from hint.datasets import image_io
from hint.datasets.image_io import (
    ImageReadError,
    atomic_write,
    list_images,
    probe_image,
    read_image,
    write_image,
)


def _gradient(height=12, width=16, channels=3):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [(x + y) / (height + width), x / width, y / height][:channels]
    return np.stack(planes, axis=-1).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("extension", [".png", ".bmp", ".tif", ".tiff"])
def test_8bit_round_trip(tmp_path, extension, channels):
    image = _gradient(channels=channels)
    path = tmp_path / f"a{extension}"
    write_image(path, image)
    back = read_image(path)
    assert back.dtype == np.float32 and back.shape == image.shape
    np.testing.assert_allclose(back, image, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_16bit_round_trip_keeps_16bit_precision(tmp_path, extension, channels):
    image = _gradient(channels=min(channels, 3))
    if channels == 4:
        image = np.concatenate([image, np.ones_like(image[..., :1])], axis=-1)
    image[0, 0, 0] = 1000 / 65535  # 8-bit decoding would give 0 or 1/255
    path = tmp_path / f"a{extension}"
    write_image(path, image, bit_depth=16)
    back = read_image(path)
    assert back.shape == (*image.shape[:2], min(channels, 3))  # alpha dropped
    np.testing.assert_allclose(back, image[..., :3], atol=0.5 / 65535 + 1e-7)
    assert back[0, 0, 0] == pytest.approx(1000 / 65535)


def test_float_tiff_and_npy_are_kept_as_is(tmp_path):
    image = np.array([[-0.5, 0.25], [1.0, 2.5]], np.float32)[..., None]
    write_image(tmp_path / "f.tif", image, bit_depth=32)
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif"), image)
    write_image(tmp_path / "f.npy", image.astype(np.float64))
    back = read_image(tmp_path / "f.npy")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)
    assert np.load(tmp_path / "f.npy").dtype == np.float64  # stored unchanged


def test_integer_inputs_scaled_by_dtype_max(tmp_path):
    np.save(tmp_path / "u16.npy", np.array([[0, 65535]], np.uint16))
    np.testing.assert_allclose(read_image(tmp_path / "u16.npy")[..., 0], [[0.0, 1.0]])
    write_image(tmp_path / "u8.png", np.array([[0, 51, 255]], np.uint8))
    np.testing.assert_allclose(read_image(tmp_path / "u8.png")[..., 0], [[0.0, 0.2, 1.0]])


def test_jpeg_round_trip(tmp_path):
    image = _gradient(32, 32)
    write_image(tmp_path / "a.JPG", image)
    back = read_image(tmp_path / "a.JPG")
    assert back.shape == (32, 32, 3)
    assert np.abs(back - image).mean() < 0.02


def test_alpha_dropped_and_channel_conversion(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 17
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    back = read_image(tmp_path / "rgba.png")
    assert back.shape == (4, 5, 3)
    np.testing.assert_allclose(back[..., 0], 200 / 255)
    gray = read_image(tmp_path / "rgba.png", channels=1)
    np.testing.assert_allclose(gray, 0.299 * 200 / 255, rtol=1e-5)

    Image.fromarray(np.full((4, 5, 2), 90, np.uint8), "LA").save(tmp_path / "la.png")
    assert read_image(tmp_path / "la.png").shape == (4, 5, 1)
    rgb = read_image(tmp_path / "la.png", channels=3)
    assert rgb.shape == (4, 5, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_unreadable_files_raise_image_read_error(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(missing)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="corrupt.png") as info:
        read_image(corrupt)
    assert isinstance(info.value, ImageReadError) and info.value.path == str(corrupt)
    with pytest.raises(ImageReadError, match="corrupt.png"):
        probe_image(corrupt)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ImageReadError, match="unsupported extension"):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=r"Received: channels=2$"):
        read_image(missing, channels=2)


def test_write_validation(tmp_path):
    with pytest.raises(ValueError, match=r"Received: bit_depth=16$"):
        write_image(tmp_path / "a.jpg", _gradient(), bit_depth=16)
    with pytest.raises(ValueError, match=r"Received: bit_depth=32$"):
        write_image(tmp_path / "a.png", _gradient(), bit_depth=32)
    with pytest.raises(ValueError, match="Received: path="):
        write_image(tmp_path / "a.gif", _gradient())
    with pytest.raises(ValueError, match="Received: array.shape"):
        write_image(tmp_path / "a.png", np.zeros((2, 3, 5)))
    assert os.listdir(tmp_path) == []


def test_atomic_write_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "new" / "deeper" / "image.png"
    write_image(target, _gradient())
    assert os.listdir(target.parent) == ["image.png"]
    assert (os.stat(target).st_mode & 0o777) == (0o666 & ~image_io._UMASK)
    with atomic_write(tmp_path / "notes.csv", "w") as f:
        f.write("psnr,ssim\nµ,1\n")
    assert (tmp_path / "notes.csv").read_text(encoding="utf-8") == "psnr,ssim\nµ,1\n"
    with pytest.raises(ValueError, match=r"Received: mode='a'$"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_atomic_write_failure_keeps_old_file_and_no_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("half written")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_write_image_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise OSError("simulated crash while encoding")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):
        write_image(tmp_path / "out" / "a.png", _gradient())
    assert os.listdir(tmp_path / "out") == []


def test_list_images_recursive_sorted_case_insensitive(tmp_path):
    for name in ["b.PNG", "a.JpG", "sub/c.tif", "sub/deep/d.npy", "notes.txt", ".hidden.png"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = [os.path.relpath(p, tmp_path) for p in list_images(tmp_path)]
    assert found == ["a.JpG", "b.PNG", os.path.join("sub", "c.tif"), "sub/deep/d.npy"]
    with pytest.raises(FileNotFoundError, match="nope"):
        list_images(tmp_path / "nope")


def test_probe_image_reads_header_shape(tmp_path):
    write_image(tmp_path / "a.png", _gradient(7, 9, 1))
    write_image(tmp_path / "b.tif", _gradient(7, 9, 3), bit_depth=16)
    assert probe_image(tmp_path / "a.png") == (7, 9, 1)
    assert probe_image(tmp_path / "b.tif") == (7, 9, 3)


def test_datasets_imports_no_other_hint_module():
    folder = pathlib.Path(image_io.__file__).parent
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            outside = [n for n in names if n.split(".")[0] == "hint"]
            assert all(n.startswith("hint.datasets") for n in outside), (source, outside)

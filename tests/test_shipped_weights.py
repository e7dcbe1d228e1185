"""The weights shipped in hint/weights/: present, loadable with safe_mode=True, and usable."""

import os

import numpy as np
import pytest

from hint import inference, pretrained
from hint.datasets import image_io
from hint.task_plugin import get_task
from hint.tasks.denoise import ShippedDenoisers

# The models this checkout ships (each with its card).
SHIPPED = ("denoise_gray", "denoise_color", "inpaint")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_and_card_exist_and_are_small(name):
    entry = pretrained.PRETRAINED[name]
    path = pretrained.path(name)
    assert os.path.getsize(path) < (10 if entry.task == "denoise" else 20) * 2**20
    card = os.path.join(pretrained.WEIGHTS_DIR, entry.card)
    text = open(card).read()
    assert "Total CPU time" in text and "## Validation" in text


@pytest.fixture(scope="module")
def inpainter():
    return pretrained.load("inpaint")  # safe_mode=True


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_inpaint_without_run_keeps_known_pixels(inpainter, tmp_path, precision):
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(70, 90, 3)).astype("float32")
    mask = np.zeros((70, 90), "float32")
    mask[20:45, 30:60] = 1
    image_io.write_image(str(tmp_path / "in.png"), image)
    image_io.write_image(str(tmp_path / "m.png"), mask)
    out = get_task("inpaint").command(
        None,
        str(tmp_path / "in.png"),
        str(tmp_path / "m.png"),
        str(tmp_path / "o.png"),
        precision=precision,
    )
    result = image_io.read_image(out[0])
    src = image_io.read_image(str(tmp_path / "in.png"))
    hole = mask > 0
    np.testing.assert_array_equal(result[~hole], src[~hole])
    assert np.abs(result[hole] - src[hole]).mean() > 0  # the hole was filled


def test_colour_planes_and_blending_correct_the_shipped_fills_colour(inpainter):
    # A smooth, saturated colour image. With R, G and B together, the small shipped network's
    # fill drifts in colour (it was trained on muted photos), and blending it into the image
    # corrects much of that; plane by plane (the default) the raw fill is far closer still.
    y, x = np.mgrid[0:96, 0:96] / 96.0
    image = np.stack([0.8 - 0.3 * y, 0.2 + 0.5 * x * y, 0.5 + 0.3 * np.sin(3 * x)], -1)
    image = image.astype("float32")
    mask = np.zeros((96, 96, 1), "float32")
    mask[30:60, 20:70] = 1
    masked = image * (1 - mask) + mask
    errors = {
        (space, blend): np.abs(
            inference.inpaint_array(inpainter, masked, mask, blend=blend, color_space=space) - image
        ).mean()
        for space in ("joint", "rgb")
        for blend in ("none", "poisson")
    }
    assert errors["joint", "poisson"] < 0.8 * errors["joint", "none"], errors
    assert errors["rgb", "none"] < 0.5 * errors["joint", "poisson"], errors


@pytest.mark.slow
def test_large_image_path_with_the_shipped_model(inpainter):
    # 1200x900 is above the 512 px working size: filled window by window, in bounded memory.
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(900, 1200, 3)).astype("float32")
    mask = np.zeros((900, 1200, 1), "float32")
    mask[100:140, 100:180] = 1
    mask[700:760, 1000:1100] = 1
    out = inference.inpaint_array(inpainter, image, mask)
    hole = mask[..., 0] > 0
    np.testing.assert_array_equal(out[~hole], image[~hole])
    assert np.isfinite(out).all() and out.shape == image.shape


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shipped_denoiser_removes_noise(channels, precision):
    network = ShippedDenoisers(precision).for_channels(channels)
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:96, 0:96] / 96.0
    plane = 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y)
    clean = np.stack([plane * (1.0 - 0.2 * c) for c in range(channels)], -1).astype("float32")
    noisy = clean + rng.normal(0, 25 / 255, clean.shape).astype("float32")
    out = inference.denoise_array(network, noisy, sigma=25)
    assert np.mean((out - clean) ** 2) < 0.25 * np.mean((noisy - clean) ** 2)


@pytest.mark.slow
def test_served_shipped_inpainter_equals_the_inpaint_command(inpainter, tmp_path):
    import tensorflow as tf

    from hint import export

    assert inpainter.inference_defaults == {
        "max_side": 256,
        "blend": "poisson",
        "color_space": "rgb",
    }
    rng = np.random.default_rng(4)
    small = rng.uniform(size=(12, 16, 3)).astype("float32")
    image = tf.image.resize(small[None], (120, 160)).numpy()[0]  # smooth, within max_side
    mask = np.zeros((120, 160), "float32")
    mask[30:70, 40:100] = 1
    image_io.write_image(str(tmp_path / "in.png"), image)
    image_io.write_image(str(tmp_path / "m.png"), mask)
    written = get_task("inpaint").command(
        None,
        str(tmp_path / "in.png"),
        str(tmp_path / "m.png"),
        str(tmp_path / "o.png"),
        precision="float32",
    )
    version = export.export_model(inpainter, str(tmp_path / "export"))
    served = tf.saved_model.load(version).signatures["inpaint_bytes"](
        image_bytes=tf.constant(open(tmp_path / "in.png", "rb").read()),
        mask_bytes=tf.constant(open(tmp_path / "m.png", "rb").read()),
    )["png_bytes"]
    ours = tf.io.decode_png(served).numpy().astype(np.int32)
    cli = np.round(image_io.read_image(written[0]) * 255).astype(np.int32)
    assert np.abs(ours - cli).max() <= 1  # within 1/255

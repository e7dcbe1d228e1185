"""`hint.load(...).restore(...)`: shipped names, run directories and `.keras` files."""

import numpy as np
import pytest

import hint
from hint import inference, pretrained
from hint.config import load_config
from hint.models import DnCNN, HINTBackbone, get_preset
from hint.task_plugin import UnknownTaskError


def _noisy(channels, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(0.2, 0.8, size=(24, 20, channels)).astype(np.float32)
    return clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32)


def test_a_shipped_name_loads_its_network_and_task():
    model = hint.load("denoise_gray")
    assert model.task.name == "denoise" and model.name == "denoise_gray"
    assert "denoise_gray" in repr(model)
    noisy = _noisy(1)
    expected = inference.denoise_array(
        pretrained.load("denoise_gray", fold_batch_norm=True), noisy, sigma=25
    )
    np.testing.assert_allclose(model.restore(noisy, sigma=25), expected, atol=1e-6)
    # A gray image given as [H, W] is [H, W, 1].
    np.testing.assert_allclose(model.restore(noisy[..., 0], sigma=25), expected, atol=1e-6)


def test_the_shipped_inpainter_keeps_its_working_size():
    model = hint.load("inpaint")
    assert model.task.name == "inpaint"
    # Saved with the network: its measured working size, colour planes and blending.
    assert model.defaults == {"max_side": 256, "blend": "poisson", "color_space": "rgb"}
    assert model.options(max_side=None)["max_side"] is None  # a call's options win
    with pytest.raises(inference.InferenceError, match="needs a mask"):
        model.restore(np.zeros((16, 16, 3), np.float32))


def test_a_keras_file_or_a_run_directory(tmp_path):
    denoiser = DnCNN(depth=3, filters=4, image_channels=3, conditioning="noise_map")
    denoiser.save(tmp_path / "d.keras")
    model = hint.load(str(tmp_path / "d.keras"))
    assert model.task.name == "denoise"
    noisy = _noisy(3, seed=1)
    out = model.restore(noisy, blind=True)  # the level is estimated from the image
    level = inference.estimate_sigma(noisy)
    np.testing.assert_allclose(
        out, inference.denoise_array(denoiser, noisy, sigma=level), atol=1e-6
    )
    # An inpainting network is told by its inputs; a run directory by its config.
    HINTBackbone(**get_preset("hint_tiny")).save(tmp_path / "i.keras")
    assert hint.load(str(tmp_path / "i.keras")).task.name == "inpaint"
    run = tmp_path / "run"
    run.mkdir()
    denoiser.save(run / "model.keras")
    cfg = load_config(None, ["task=denoise", "model.preset=dncnn_gray"])
    hint.config.dump_config(cfg, str(run / "config.yaml"))
    assert hint.load(str(run)).task.name == "denoise"


def test_what_cannot_be_loaded_says_why(tmp_path):
    with pytest.raises(inference.InferenceError, match="No trained generator"):
        hint.load(str(tmp_path / "missing"))
    import keras

    inputs = keras.Input((None, None, 3), name="photo")
    keras.Model(inputs, inputs).save(tmp_path / "other.keras")
    with pytest.raises(UnknownTaskError, match=r"inputs \['photo'\]: no task"):
        hint.load(str(tmp_path / "other.keras"))

import numpy as np
import pytest
import tensorflow as tf

from hint.tasks.denoise.denoiser import Denoiser
from tests.layer_checks import check_saved_round_trip
from tests.test_denoise_inference import conv_denoiser


def batch(n=4, size=16, conditioned=True, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(size=(n, size, size, 1)).astype("float32")
    noisy = clean + rng.normal(0, 0.1, size=clean.shape).astype("float32")
    x = {"image": noisy}
    if conditioned:
        x["noise_level"] = np.full((n, size, size, 1), 0.1, "float32")
    return x, clean


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_train_step_reduces_loss(loss):
    task = Denoiser(conv_denoiser(conditioned=True, depth=3))
    task.compile(learning_rate=1e-2, loss=loss)
    x, y = batch()
    first = float(task.train_step((x, y))["loss"])
    for _ in range(20):
        last = float(task.train_step((x, y))["loss"])
    assert last < first


def test_blind_backbone_ignores_noise_level_input():
    task = Denoiser(conv_denoiser(conditioned=False, depth=3))
    task.compile()
    x, y = batch(conditioned=True)
    out = task(x).numpy()
    assert out.shape == y.shape
    # Another noise level, and none at all, give the same output: the input is dropped.
    other = dict(x, noise_level=np.full_like(x["noise_level"], 0.7))
    np.testing.assert_array_equal(task(other).numpy(), out)
    np.testing.assert_array_equal(task({"image": x["image"]}).numpy(), out)
    logs = task.test_step((x, y))
    assert {"loss", "psnr", "ssim"} <= set(logs)
    # ... while a conditioned backbone's output does depend on the level.
    conditioned = Denoiser(conv_denoiser(conditioned=True, depth=3))
    assert np.abs(conditioned(other).numpy() - conditioned(x).numpy()).max() > 1e-4


def test_bad_loss_name():
    task = Denoiser(conv_denoiser())
    with pytest.raises(ValueError, match="Received: loss=huber"):
        task.compile(loss="huber")


def test_round_trip(tmp_path):
    task = Denoiser(conv_denoiser(conditioned=True, depth=3))
    task.compile()
    check_saved_round_trip(task, batch()[0], str(tmp_path))


def test_fit_with_dataset():
    task = Denoiser(conv_denoiser(conditioned=True, depth=3))
    task.compile(learning_rate=1e-3)
    x, y = batch(8)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    hist = task.fit(ds, validation_data=ds, epochs=1, verbose=0)
    assert "val_psnr" in hist.history

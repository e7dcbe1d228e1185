import keras
import numpy as np
import pytest
import tensorflow as tf

from hint import losses as hint_losses
from hint import metrics as hint_metrics
from hint import training
from hint.models import HINTBackbone, PatchDiscriminator, TunableCNN
from hint.tasks.inpaint.inpainter import Inpainter
from tests.layer_checks import check_saved_round_trip

TINY = dict(dim=4, num_blocks=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
# The quickest generator to trace, for the tests that `fit` (the Inpainter's own logic does not
# depend on its generator).
CNN = dict(filters=4, depth=2, bottleneck=8)


def batch(n=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(size=(n, size, size, 3)).astype("float32")
    mask = np.zeros((n, size, size, 1), "float32")
    mask[:, 8:20, 6:22] = 1.0
    degraded = clean * (1 - mask) + mask
    return {"image": degraded, "mask": mask}, clean


def make_task(adversarial=0.01, perceptual=0.0, style=0.0, gan="lsgan", generator=None):
    disc = PatchDiscriminator(filters=4) if adversarial > 0 else None
    task = Inpainter(generator or HINTBackbone(**TINY), disc)
    task.compile(
        learning_rate=1e-3,
        perceptual=perceptual,
        style=style,
        adversarial=adversarial,
        gan=gan,
        vgg_weights=None,
    )
    return task


@pytest.mark.parametrize("gan", ["nsgan", "lsgan", "hinge"])
def test_gan_train_step_updates_both_networks(gan):
    task = make_task(gan=gan)
    x, y = batch()
    g0 = [w.numpy().copy() for w in task.generator.trainable_weights]
    d0 = [w.numpy().copy() for w in task.discriminator.trainable_weights]
    logs = task.train_step((x, y))
    assert {"loss", "l1", "adversarial", "d_loss", "psnr", "ssim"} <= set(logs)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(
        not np.allclose(a, b.numpy())
        for a, b in zip(g0, task.generator.trainable_weights, strict=True)
    )
    assert any(
        not np.allclose(a, b.numpy())
        for a, b in zip(d0, task.discriminator.trainable_weights, strict=True)
    )


@pytest.mark.slow
def test_vgg_losses_with_random_vgg():
    task = make_task(adversarial=0.0, perceptual=0.1, style=250.0)
    logs = task.train_step(batch())
    assert float(logs["perceptual"]) > 0 and float(logs["style"]) > 0
    assert "d_loss" not in logs


def test_no_discriminator_without_adversarial_loss():
    task = make_task(adversarial=0.0)
    assert not task.use_discriminator
    logs = task.train_step(batch())
    assert "d_loss" not in logs and "adversarial" not in logs


@pytest.mark.slow
def test_ssim_and_valid_weight_terms():
    x, y = batch()
    task = Inpainter(HINTBackbone(**TINY))
    task.compile(adversarial=0.0, perceptual=0.0, style=0.0, l1_valid=0.25, ssim=0.5)
    pred = task(x)
    total, parts = task._generator_losses(y, pred, x["mask"], None)
    expected_l1 = hint_losses.hole_l1(y, pred, x["mask"], valid_weight=0.25)
    expected_ssim = hint_losses.ssim_loss(y, hint_metrics.composite(pred, y, x["mask"]))
    np.testing.assert_allclose(parts["l1"].numpy(), expected_l1.numpy(), rtol=1e-6)
    np.testing.assert_allclose(parts["ssim_loss"].numpy(), expected_ssim.numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        total.numpy(), (expected_l1 + 0.5 * expected_ssim).numpy(), rtol=1e-6
    )
    logs = task.train_step((x, y))
    assert float(logs["ssim_loss"]) > 0
    # Off by default: the official loss, and no ssim_loss entry in the logs.
    assert "ssim_loss" not in make_task(adversarial=0.0).train_step((x, y))


def test_ssim_term_pushes_only_the_hole():
    x, y = batch()
    task = Inpainter(HINTBackbone(**TINY))
    task.compile(adversarial=0.0, perceptual=0.0, style=0.0, l1=0.0, ssim=1.0)
    pred = tf.constant(np.random.default_rng(1).uniform(size=y.shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(pred)
        total, _ = task._generator_losses(y, pred, x["mask"], None)
    grad = tape.gradient(total, pred).numpy()
    hole = np.broadcast_to(x["mask"] > 0, grad.shape)
    assert np.abs(grad[hole]).max() > 0
    np.testing.assert_array_equal(grad[~hole], 0.0)


def test_adversarial_needs_discriminator():
    task = Inpainter(HINTBackbone(**TINY))
    with pytest.raises(ValueError, match="needs a discriminator"):
        task.compile(adversarial=0.01, perceptual=0.0, style=0.0)


def test_bad_loss_options():
    task = Inpainter(HINTBackbone(**TINY), PatchDiscriminator(filters=4))
    with pytest.raises(ValueError, match="Received: gan=wgan"):
        task.compile(gan="wgan", perceptual=0.0, style=0.0)
    with pytest.raises(ValueError, match="Received: l1=-1"):
        task.compile(l1=-1, perceptual=0.0, style=0.0)
    with pytest.raises(ValueError, match="Received: ssim=-0.5"):
        task.compile(ssim=-0.5, perceptual=0.0, style=0.0)
    with pytest.raises(ValueError, match="Received: l1_valid=-1"):
        task.compile(l1_valid=-1, perceptual=0.0, style=0.0)


@pytest.mark.slow
def test_fit_and_inpaint_keeps_known_pixels():
    task = make_task(generator=TunableCNN(**CNN))
    x, y = batch(4)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()
    hist = task.fit(
        ds, epochs=1, steps_per_epoch=2, validation_data=ds, validation_steps=1, verbose=0
    )
    assert "val_psnr" in hist.history
    out = task.inpaint(x["image"], x["mask"]).numpy()
    keep = x["mask"] == 0
    np.testing.assert_array_equal(
        np.broadcast_to(keep, out.shape) * out, np.broadcast_to(keep, out.shape) * x["image"]
    )


@pytest.mark.slow
def test_keras_round_trip(tmp_path):
    check_saved_round_trip(make_task(), batch()[0], str(tmp_path))


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step():
    """Per-replica losses divided by num_replicas_in_sync give the single-device update."""
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("needs two logical CPU devices (configured in tests/conftest.py)")
    x, y = batch(4)

    def one_step(strategy):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            task = make_task(adversarial=0.0, generator=TunableCNN(**CNN))
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        task.fit(ds, epochs=1, verbose=0, shuffle=False)
        return [w.numpy() for w in task.generator.trainable_weights]

    single = one_step(tf.distribute.get_strategy())
    mirrored = one_step(training.mirrored_strategy([d.name for d in devices[:2]]))
    for a, b in zip(single, mirrored, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-5)

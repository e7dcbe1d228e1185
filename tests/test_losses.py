"""Tests for hint/losses.py: NumPy references of the official formulas, VGG19 with weights=None."""

import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf

from hint import losses
from hint.losses import (
    PERCEPTUAL_LAYERS,
    STYLE_LAYERS,
    VGG19_NOTOP_FILE,
    VGGFeatures,
    VGGWeightsUnavailable,
    adversarial_loss,
    gram_matrix,
    hole_l1,
    perceptual_loss,
    resolve_vgg_weights,
    ssim_loss,
    style_loss,
)

RNG = np.random.default_rng(0)


def _features(batch=2):
    shapes = {
        "relu1_1": (8, 8, 4),
        "relu2_1": (4, 4, 8),
        "relu2_2": (4, 4, 8),
        "relu3_1": (2, 2, 16),
        "relu3_4": (2, 2, 16),
        "relu4_1": (2, 2, 16),
        "relu4_4": (2, 2, 16),
        "relu5_1": (1, 1, 16),
        "relu5_2": (1, 1, 16),
    }
    return {k: RNG.random((batch, *s), dtype=np.float32) for k, s in shapes.items()}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_hole_l1_matches_official_formula():
    y_true = RNG.random((3, 16, 16, 3), dtype=np.float32)
    y_pred = RNG.random((3, 16, 16, 3), dtype=np.float32)
    mask = (RNG.random((3, 16, 16, 1)) < 0.3).astype(np.float32)
    expected = np.abs(y_pred - y_true).mean() / mask.mean()
    np.testing.assert_allclose(hole_l1(y_true, y_pred, mask).numpy(), expected, rtol=1e-5)

    per_example = hole_l1(y_true, y_pred, mask, reduction="none")
    assert per_example.shape == (3,)
    np.testing.assert_allclose(per_example.numpy().mean(), expected, rtol=1e-5)
    average = tf.nn.compute_average_loss(per_example, global_batch_size=3)
    np.testing.assert_allclose(average.numpy(), expected, rtol=1e-5)


def test_hole_l1_valid_weight():
    y_true = RNG.random((2, 16, 16, 3), dtype=np.float32)
    y_pred = RNG.random((2, 16, 16, 3), dtype=np.float32)
    mask = (RNG.random((2, 16, 16, 1)) < 0.3).astype(np.float32)
    error = np.abs(y_pred - y_true)
    for weight in (0.0, 0.25, 2.0):
        expected = (error * (mask + weight * (1 - mask))).mean() / mask.mean()
        got = hole_l1(y_true, y_pred, mask, valid_weight=weight)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"Received: valid_weight=-0.1$"):
        hole_l1(y_true, y_pred, mask, valid_weight=-0.1)


def test_ssim_loss_is_one_minus_ssim():
    a = RNG.random((2, 16, 16, 3), dtype=np.float32)
    b = np.clip(a + 0.1 * RNG.standard_normal(a.shape).astype(np.float32), 0, 1)
    per_image = ssim_loss(a, b, reduction="none").numpy()
    np.testing.assert_allclose(per_image, 1.0 - tf.image.ssim(b, a, max_val=1.0).numpy(), 1e-5)
    np.testing.assert_allclose(ssim_loss(a, b).numpy(), per_image.mean(), rtol=1e-6)
    np.testing.assert_allclose(ssim_loss(a, a).numpy(), 0.0, atol=1e-6)


def test_hole_l1_all_zero_mask_is_finite():
    y = tf.zeros((2, 8, 8, 3))
    loss = hole_l1(y, y + 0.5, tf.zeros((2, 8, 8, 1)))
    assert np.isfinite(loss.numpy())
    np.testing.assert_allclose(loss.numpy(), 0.5 / 1e-6, rtol=1e-5)


def test_bad_reduction_message():
    with pytest.raises(ValueError, match=r"Received: reduction='sum'$"):
        hole_l1(tf.zeros((1, 4, 4, 1)), tf.zeros((1, 4, 4, 1)), tf.ones((1, 4, 4, 1)), "sum")


def test_perceptual_loss_matches_reference():
    a, b = _features(), _features()
    weights = (1.0, 0.5, 2.0, 1.0, 0.1)
    expected = sum(
        w * np.abs(b[k] - a[k]).mean() for w, k in zip(weights, PERCEPTUAL_LAYERS, strict=True)
    )
    got = perceptual_loss(a, b, weights=weights)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    per_example = perceptual_loss(a, b, weights=weights, reduction="none")
    np.testing.assert_allclose(per_example.numpy().mean(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="Received: weights="):
        perceptual_loss(a, b, weights=(1.0, 1.0))


def _gram_np(x):
    n, h, w, c = x.shape
    f = x.reshape(n, h * w, c)
    return np.einsum("npc,npd->ncd", f, f) / (h * w * c)


def test_gram_and_style_loss_match_reference():
    a, b = _features(), _features()
    np.testing.assert_allclose(gram_matrix(a["relu2_2"]).numpy(), _gram_np(a["relu2_2"]), rtol=1e-5)
    expected = sum(np.abs(_gram_np(b[k]) - _gram_np(a[k])).mean() for k in STYLE_LAYERS)
    np.testing.assert_allclose(style_loss(a, b).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(
        style_loss(a, b, reduction="none").numpy().mean(), expected, rtol=1e-5
    )


@pytest.mark.parametrize("is_real", [True, False])
def test_adversarial_nsgan_and_lsgan(is_real):
    logits = RNG.normal(size=(2, 4, 4, 1)).astype(np.float32) * 3
    label = 1.0 if is_real else 0.0
    p = _sigmoid(logits.astype(np.float64))
    bce = -(label * np.log(p) + (1 - label) * np.log(1 - p)).mean()
    mse = ((p - label) ** 2).mean()
    for for_d in (True, False):
        got = adversarial_loss(logits, is_real, for_d, kind="nsgan")
        np.testing.assert_allclose(got.numpy(), bce, rtol=1e-5)
        got = adversarial_loss(logits, is_real, for_d, kind="lsgan")
        np.testing.assert_allclose(got.numpy(), mse, rtol=1e-5)
    # Stable from logits: no inf / NaN for saturated discriminators.
    extreme = adversarial_loss(tf.constant([[-200.0], [200.0]]), is_real, True, kind="nsgan")
    assert np.isfinite(extreme.numpy())


def test_adversarial_hinge():
    logits = RNG.normal(size=(3, 4, 4, 1)).astype(np.float32) * 2
    d_real = adversarial_loss(logits, True, True, kind="hinge")
    d_fake = adversarial_loss(logits, False, True, kind="hinge")
    g = adversarial_loss(logits, True, False, kind="hinge")
    np.testing.assert_allclose(d_real.numpy(), np.maximum(0, 1 - logits).mean(), rtol=1e-5)
    np.testing.assert_allclose(d_fake.numpy(), np.maximum(0, 1 + logits).mean(), rtol=1e-5)
    np.testing.assert_allclose(g.numpy(), -logits.mean(), rtol=1e-5)
    per_example = adversarial_loss(logits, False, True, kind="hinge", reduction="none")
    assert per_example.shape == (3,)


def test_adversarial_bad_kind_message():
    with pytest.raises(ValueError, match=r"Received: kind='wgan'$"):
        adversarial_loss(tf.zeros((1, 2, 2, 1)), True, True, kind="wgan")


@pytest.fixture(scope="module")
def vgg():
    return VGGFeatures(weights=None)


@pytest.mark.slow
def test_vgg_features_shapes_frozen_and_differentiable(vgg):
    assert vgg.model.trainable_weights == []
    images = tf.constant(RNG.random((2, 32, 32, 3), dtype=np.float32))
    expected = {
        "relu1_1": (2, 32, 32, 64),
        "relu2_1": (2, 16, 16, 128),
        "relu2_2": (2, 16, 16, 128),
        "relu3_1": (2, 8, 8, 256),
        "relu3_4": (2, 8, 8, 256),
        "relu4_1": (2, 4, 4, 512),
        "relu4_4": (2, 4, 4, 512),
        "relu5_1": (2, 2, 2, 512),
        "relu5_2": (2, 2, 2, 512),
    }

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            feats = vgg(x)
            loss = perceptual_loss(vgg(images), feats) + style_loss(vgg(images), feats)
        return feats, loss, tape.gradient(loss, x)

    feats, loss, grad = step(images + 0.1)
    assert {k: tuple(v.shape) for k, v in feats.items()} == expected
    assert np.isfinite(loss.numpy()) and loss.numpy() > 0
    assert np.abs(grad.numpy()).sum() > 0
    same = vgg(images)
    assert perceptual_loss(same, same).numpy() == 0.0
    assert style_loss(same, same).numpy() == 0.0
    gray = vgg(images[..., :1])
    assert gray["relu1_1"].shape == (2, 32, 32, 64)


def test_resolve_none_and_local_path(tmp_path):
    assert resolve_vgg_weights(None) is None
    weights = tmp_path / "vgg.weights.h5"
    weights.write_bytes(b"x")
    assert resolve_vgg_weights(str(weights)) == str(weights)
    missing = tmp_path / "nope.h5"
    with pytest.raises(VGGWeightsUnavailable) as info:
        resolve_vgg_weights(str(missing))
    message = str(info.value)
    assert str(missing) in message and VGG19_NOTOP_FILE in message
    assert "inpaint.loss.perceptual: 0" in message and "inpaint.loss.style: 0" in message
    with pytest.raises(ValueError, match="Received: spec=3"):
        resolve_vgg_weights(3)


def test_resolve_imagenet_offline_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(losses, "_keras_cache_dirs", lambda: [str(tmp_path / "models")])

    def offline(timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr(losses, "_download_vgg19_notop", offline)
    with pytest.raises(VGGWeightsUnavailable) as info:
        resolve_vgg_weights("imagenet")
    message = str(info.value)
    assert VGG19_NOTOP_FILE in message and "inpaint.loss.vgg_weights" in message
    assert "inpaint.loss.perceptual: 0" in message and "network is unreachable" in message


def test_resolve_imagenet_uses_cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / VGG19_NOTOP_FILE).write_bytes(b"cached weights")
    monkeypatch.setattr(losses, "_keras_cache_dirs", lambda: [str(folder)])
    monkeypatch.setattr(losses, "VGG19_NOTOP_MD5", hashlib.md5(b"cached weights").hexdigest())

    def no_download(timeout):
        raise AssertionError("must not download when the file is cached")

    monkeypatch.setattr(losses, "_download_vgg19_notop", no_download)
    assert resolve_vgg_weights("imagenet") == "imagenet"
    assert os.listdir(folder) == [VGG19_NOTOP_FILE]

"""Tests for hint/metrics.py, checked against scikit-image on 64x64 gray and RGB images."""

import keras
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hint.metrics import (
    PSNRMetric,
    SSIMMetric,
    bucket_of,
    composite,
    mae,
    mse,
    psnr,
    ssim,
    summarise,
)

RNG = np.random.default_rng(0)


def _pairs(channels):
    """(reference, distorted) batches: one random-noise image and one smooth image."""
    random = RNG.random((64, 64, channels))
    smooth = gaussian_filter(RNG.random((64, 64, channels)), sigma=(4, 4, 0))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    a = np.stack([random, smooth]).astype(np.float32)
    b = np.clip(a + RNG.normal(scale=0.05, size=a.shape), 0, 1).astype(np.float32)
    return a, b


def _skimage_ssim(x, y):
    return structural_similarity(
        x.astype(np.float64),
        y.astype(np.float64),
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=-1,
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_and_ssim_match_skimage(channels):
    a, b = _pairs(channels)
    got_psnr = psnr(b, a).numpy()
    got_ssim = ssim(b, a).numpy()
    assert got_psnr.shape == got_ssim.shape == (2,)
    for i in range(2):
        ref_psnr = peak_signal_noise_ratio(a[i].astype(np.float64), b[i], data_range=1.0)
        ref_ssim = _skimage_ssim(a[i], b[i])
        assert abs(got_psnr[i] - ref_psnr) < 1e-3, (got_psnr[i], ref_psnr)
        assert abs(got_ssim[i] - ref_ssim) < 2e-5, (got_ssim[i], ref_ssim)


def test_mae_mse_composite():
    a, b = _pairs(3)
    np.testing.assert_allclose(mae(a, b).numpy(), np.abs(a - b).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(mse(a, b).numpy(), ((a - b) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    mask = np.zeros((2, 64, 64, 1), np.float32)
    mask[:, 16:32, 16:48] = 1
    out = composite(b, a, mask).numpy()
    np.testing.assert_array_equal(out[:, 16:32, 16:48], b[:, 16:32, 16:48])
    np.testing.assert_array_equal(out[:, :16], a[:, :16])


def test_rank_is_validated():
    with pytest.raises(ValueError, match=r"Received: shape=\(64, 64, 3\)"):
        psnr(np.zeros((64, 64, 3)), np.zeros((64, 64, 3)))


def test_keras_metrics_average_over_images():
    a, b = _pairs(3)
    m_psnr, m_ssim = PSNRMetric(), SSIMMetric()
    assert (m_psnr.name, m_ssim.name) == ("psnr", "ssim")
    for m, fn in ((m_psnr, psnr), (m_ssim, ssim)):
        m.update_state(a[:1], b[:1])
        m.update_state(a[1:], b[1:])
        np.testing.assert_allclose(m.result().numpy(), fn(b, a).numpy().mean(), rtol=1e-5)
        m.reset_state()
        assert m.result().numpy() == 0.0
        m.update_state(a, b, sample_weight=np.array([0.0, 1.0]))
        np.testing.assert_allclose(m.result().numpy(), fn(b[1:], a[1:]).numpy()[0], rtol=1e-5)


def test_keras_metrics_serialization():
    assert keras.saving.get_registered_name(PSNRMetric) == "hint>PSNRMetric"
    assert keras.saving.get_registered_name(SSIMMetric) == "hint>SSIMMetric"
    metric = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(SSIMMetric(max_val=2.0, name="val_ssim"))
    )
    assert isinstance(metric, SSIMMetric)
    assert (metric.name, metric.max_val) == ("val_ssim", 2.0)


def test_summarise_and_buckets():
    assert summarise({"psnr": [30.0, 32.0], "ssim": np.array([0.9, 0.8])}) == pytest.approx(
        {"psnr": 31.0, "ssim": 0.85}
    )
    assert np.isnan(summarise({"mae": []})["mae"])
    assert bucket_of(0.0) == "0-20%"
    assert bucket_of(0.19) == "0-20%"
    assert bucket_of(0.2) == "20-40%"
    assert bucket_of(0.5) == "40-60%"
    assert bucket_of(0.6) == "40-60%"
    assert bucket_of(0.61) is None
    assert bucket_of(0.05, buckets=((0.01, 0.1), (0.1, 0.2))) == "1-10%"

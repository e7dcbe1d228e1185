"""The bounded-memory path of `inpaint_array` for images larger than `max_side`."""

import numpy as np
import pytest
from scipy import ndimage

from hint import inference
from hint.blending import poisson_blend
from hint.models import HINTBackbone

# Most checks compare with one network pass on the RGB image: R, G and B together.
JOINT = "joint"


@pytest.fixture(scope="module")
def generator():
    return HINTBackbone(dim=4, num_blocks=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))


class Recording:
    """Calls `model` (or returns `constant` images) and records every input shape."""

    def __init__(self, model, constant=None):
        self.model = model
        self.inputs = model.inputs
        self.constant = constant
        self.shapes = []

    def __call__(self, inputs, training=False):
        self.shapes.append(tuple(inputs["image"].shape))
        assert inputs["mask"].shape[:3] == inputs["image"].shape[:3]
        if self.constant is not None:
            return np.full(inputs["image"].shape, self.constant, np.float32)
        return self.model(inputs, training=training)


@pytest.fixture(autouse=True)
def eager_recording(monkeypatch):
    """Recording networks run eagerly, so they see concrete shapes (a traced call sees None)."""
    compiled = inference.forward

    def forward(network, inputs):
        if isinstance(network, Recording):
            return np.asarray(network(inputs))
        return compiled(network, inputs)

    monkeypatch.setattr(inference, "forward", forward)


def _two_holes(height=500, width=700):
    mask = np.zeros((height, width, 1), "float32")
    mask[60:100, 80:130] = 1
    mask[380:440, 560:630] = 1
    return mask


def test_large_image_runs_windows_no_larger_than_max_side(generator):
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(500, 700, 3)).astype("float32")
    mask = _two_holes()
    net = Recording(generator)
    out = inference.inpaint_array(net, image, mask)
    assert out.shape == image.shape and out.dtype == np.float32
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(out[keep], image[keep])
    assert np.isfinite(out[~keep]).all()
    assert out[~keep].min() >= 0 and out[~keep].max() <= 1
    assert not np.allclose(out[~keep], image[~keep])
    # One window per separated hole, each far smaller than the padded 512x704 image.
    assert len(net.shapes) == 2
    for _, h, w, _ in net.shapes:
        assert h <= 512 and w <= 512 and h % 16 == 0 and w % 16 == 0


def test_large_hole_window_is_downscaled_and_pasted_in_place(generator):
    image = np.full((500, 700, 3), 0.75, "float32")
    mask = np.zeros((500, 700, 1), "float32")
    mask[150:350, 200:450] = 1
    net = Recording(generator, constant=0.25)
    out = inference.inpaint_array(net, image, mask, max_side=128, blend="none", color_space=JOINT)
    # The window (hole grown by its extent) is the whole image, downscaled to 128 wide.
    assert net.shapes == [(1, 96, 128, 3)]
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(out[keep], image[keep])
    # Away from the seam (3 low-resolution pixels, ~17 px) the fill is the prediction exactly:
    # the upscaled prediction is aligned with the hole.
    inner = ndimage.binary_erosion(~keep, iterations=18)
    np.testing.assert_allclose(out[inner], 0.25, atol=1e-5)
    assert np.isfinite(out).all()
    # Poisson blending (the default) runs on the downscaled window: a fill off by a constant
    # is corrected to the image around it, seam and inside alike.
    blended = inference.inpaint_array(
        Recording(generator, 0.25), image, mask, max_side=128, color_space=JOINT
    )
    np.testing.assert_allclose(blended, 0.75, atol=1e-5)
    # The real network, through the same path, never sees more than max_side.
    real = Recording(generator)
    filled = inference.inpaint_array(real, image, mask, max_side=128)
    assert all(h <= 128 and w <= 128 for _, h, w, _ in real.shapes)
    np.testing.assert_array_equal(filled[keep], image[keep])
    assert np.isfinite(filled).all()


def test_gray_large_image(generator):
    image = np.random.default_rng(3).uniform(size=(500, 700, 1)).astype("float32")
    mask = _two_holes()
    net = Recording(generator, constant=0.5)
    out = inference.inpaint_array(net, image, mask)
    assert out.shape == (500, 700, 1)
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(out[keep], image[keep])
    assert all(shape[-1] == 3 for shape in net.shapes)


def test_small_image_keeps_the_whole_image_path(generator):
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(45, 61, 3)).astype("float32")
    mask = np.zeros((45, 61, 1), "float32")
    mask[10:30, 5:25] = 1
    net = Recording(generator)
    out = inference.inpaint_array(net, image, mask, blend="none", color_space=JOINT)
    assert net.shapes == [(1, 48, 64, 3)]
    # The raw fill, written out.
    xp = inference.pad_to_multiple(image)[None]
    mp = inference.pad_to_multiple(mask)[None]
    pred = np.asarray(generator({"image": xp, "mask": mp}, training=False))[0, :45, :61]
    expected = np.clip(pred * mask + image * (1.0 - mask), 0.0, 1.0)
    np.testing.assert_array_equal(out, expected)
    # The default blends that prediction in (hint.blending.poisson_blend), then clips.
    blended = inference.inpaint_array(Recording(generator), image, mask, color_space=JOINT)
    fill = poisson_blend(pred, image, mask)
    np.testing.assert_allclose(blended, np.clip(fill, 0.0, 1.0), atol=1e-6)
    assert not np.allclose(blended, expected, atol=1e-3)
    # The real path runs a compiled graph, whose fused kernels round differently from eager.
    whole = inference.inpaint_array(generator, image, mask, None, blend="none", color_space=JOINT)
    np.testing.assert_allclose(whole, expected, atol=1e-5)
    np.testing.assert_array_equal(whole[mask[..., 0] == 0], image[mask[..., 0] == 0])


def test_max_side_none_runs_the_whole_image(generator):
    image = np.random.default_rng(2).uniform(size=(40, 600, 3)).astype("float32")
    mask = np.zeros((40, 600, 1), "float32")
    mask[10:20, 20:40] = 1
    whole = Recording(generator, constant=0.5)
    inference.inpaint_array(whole, image, mask, max_side=None)
    # Plane by plane (the default), the three colour planes are one batch.
    assert whole.shapes == [(3, 48, 608, 3)]
    windowed = Recording(generator, constant=0.5)
    inference.inpaint_array(windowed, image, mask, color_space=JOINT)
    assert windowed.shapes == [(1, 48, 112, 3)]


def test_hole_windows_merge_nearby_holes_only():
    mask = np.zeros((500, 700, 1), "float32")
    mask[100:120, 100:120] = 1
    mask[100:120, 150:160] = 1  # 30 px away: shares the first hole's context
    mask[400:410, 600:610] = 1
    windows = sorted(inference.hole_windows(mask))
    assert windows == [(36, 184, 36, 224), (336, 474, 536, 674)]
    # A hole's context grows with its size, clipped to the image.
    big = np.zeros((500, 700, 1), "float32")
    big[200:300, 300:450] = 1
    assert inference.hole_windows(big) == [(50, 450, 150, 600)]
    assert inference.hole_windows(np.zeros((20, 20, 1), "float32")) == []


def test_bad_max_side_is_an_error(generator, tmp_path):
    image = np.zeros((32, 32, 3), "float32")
    mask = np.zeros((32, 32, 1), "float32")
    for bad in (0, 100, 512.0, True):
        with pytest.raises(inference.InferenceError, match="max_side"):
            inference.inpaint_array(generator, image, mask, max_side=bad)
    with pytest.raises(inference.InferenceError, match="max_side=100"):
        inference.inpaint_paths(generator, "x.png", "m.png", str(tmp_path / "o.png"), max_side=100)
    assert not (tmp_path / "o.png").exists()

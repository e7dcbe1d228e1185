"""The inpainting pass as graph ops: the same as the NumPy/SciPy path of `inpaint`."""

import numpy as np
import pytest
import tensorflow as tf

from hint import blending, inference, inpaint_graph
from hint.datasets import masks
from hint.models import HINTBackbone

TINY = {"dim": 4, "num_blocks": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1]}


@pytest.fixture(scope="module")
def generator():
    return HINTBackbone(**TINY)


def _smooth(rng, n, h, w):
    """Smooth random images (upsampled noise), like photographs more than white noise is."""
    small = rng.random((n, h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    return tf.image.resize(small, (h, w)).numpy()


def test_poisson_blend_matches_the_sparse_solver():
    rng = np.random.default_rng(0)
    size = 48
    eval_masks = masks.evaluation_masks(size, per_bucket=1, seed=3)
    mask = np.concatenate(list(eval_masks.values()))  # one mask per hole bucket
    image = _smooth(rng, len(mask), size, size)
    prediction = np.clip(image + 0.2 * rng.standard_normal(image.shape), 0, 1).astype("float32")
    out = tf.function(inpaint_graph.poisson_blend)(prediction, image, mask).numpy()
    for i in range(len(mask)):
        want = blending.poisson_blend(prediction[i], image[i], mask[i])
        np.testing.assert_allclose(out[i], want, atol=1e-4)


def test_poisson_blend_without_holes_is_the_image():
    image = np.random.default_rng(1).random((1, 16, 20, 3)).astype(np.float32)
    mask = np.zeros((1, 16, 20, 1), np.float32)
    out = inpaint_graph.poisson_blend(np.zeros_like(image), image, mask).numpy()
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("color_space", ["joint", "rgb", "opponent"])
@pytest.mark.parametrize("blend", ["none", "poisson"])
def test_inpaint_batch_matches_inpaint_array(generator, color_space, blend):
    rng = np.random.default_rng(2)
    h, w = 37, 50  # padded to 48 x 64 and cropped back
    image = _smooth(rng, 2, h, w)
    mask = np.zeros((2, h, w, 1), np.float32)
    mask[0, 8:20, 10:30] = 1
    mask[1, 20:, 30:45] = 1
    inpainted, raw = tf.function(inpaint_graph.inpaint_batch, reduce_retracing=True)(
        generator, image, mask, color_space, blend, 16
    )
    for i in range(2):
        want = inference.inpaint_array(
            generator, image[i], mask[i], blend=blend, color_space=color_space
        )
        np.testing.assert_allclose(inpainted[i].numpy(), want, atol=1e-4)
        keep = mask[i, ..., 0] == 0
        np.testing.assert_array_equal(inpainted[i].numpy()[keep], image[i][keep])
    assert raw.shape == image.shape

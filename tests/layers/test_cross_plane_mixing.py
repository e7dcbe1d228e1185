import numpy as np
import pytest

from hint.layers.cross_plane_mixing import CrossPlaneMixing
from tests.layer_checks import check_layer


def _features(planes=3, batch=2, features=4, seed=0):
    shape = (planes * batch, 5, 6, features)
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def test_layer_checks():
    check_layer(CrossPlaneMixing(), _features(), (6, 5, 6, 4))


def test_starts_as_the_identity():
    x = _features()
    np.testing.assert_array_equal(CrossPlaneMixing()(x).numpy(), x)


@pytest.mark.parametrize("planes", [2, 3])
def test_adds_a_linear_map_of_every_planes_features(planes):
    batch, features = 2, 4
    x = _features(planes, batch, features, seed=1)
    layer = CrossPlaneMixing(planes)
    layer.build(x.shape)
    kernel = np.random.default_rng(2).standard_normal(layer.kernel.shape).astype("float32")
    layer.kernel.assign(kernel)
    out = layer(x).numpy()
    x_planes = x.reshape(planes, batch, 5, 6, features)  # plane-major folding
    for p in range(planes):
        expected = x_planes[p] + sum(x_planes[q] @ kernel[q, :, p, :] for q in range(planes))
        np.testing.assert_allclose(out[p * batch : (p + 1) * batch], expected, atol=1e-4)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Received: planes=1"):
        CrossPlaneMixing(1)
    with pytest.raises(ValueError, match="Received: planes=True"):
        CrossPlaneMixing(True)

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


def _random_kernel(planes=3, features=4, rank=None, seed=3):
    rng = np.random.default_rng(seed)
    size = planes * features
    if rank is None:
        return rng.standard_normal((planes, features, planes, features)).astype("float32")
    matrix = rng.standard_normal((size, rank)) @ rng.standard_normal((rank, size))
    return matrix.reshape(planes, features, planes, features).astype("float32")


def _built(rank, x):
    layer = CrossPlaneMixing(rank=rank)
    layer.build(x.shape)
    return layer


def test_factorised_layer_checks():
    def factory():  # trained-looking factors: `up` at zero would give `down` no gradient
        layer = _built(5, _features())
        layer.assign_kernel(_random_kernel())
        return layer

    check_layer(factory, _features(), (6, 5, 6, 4), atol=1e-5)


def test_factorised_starts_as_the_identity_with_an_orthonormal_projection():
    x = _features()
    layer = _built(3, x)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    down = layer.down.numpy().reshape(12, 3)
    np.testing.assert_allclose(down.T @ down, np.eye(3), atol=1e-6)  # orthonormal
    layer.assign_kernel(np.zeros((3, 4, 3, 4)))  # keeps `down`, as a zeroed layer starts
    np.testing.assert_allclose(layer.down.numpy().reshape(12, 3), down)
    assert not np.any(layer.up.numpy())


@pytest.mark.parametrize("rank", [None, 2, 12])
def test_the_map_is_its_full_kernel(rank):
    """Factorised or not, the output is `x_p + sum_q x_q @ full_kernel()[q, :, p, :]`."""
    x = _features(seed=5)
    layer = _built(rank, x)
    layer.assign_kernel(_random_kernel(rank=rank))
    kernel = layer.full_kernel()
    out = layer(x).numpy()
    planes = x.reshape(3, 2, 5, 6, 4)
    for p in range(3):
        expected = planes[p] + sum(planes[q] @ kernel[q, :, p, :] for q in range(3))
        np.testing.assert_allclose(out[2 * p : 2 * p + 2], expected, atol=1e-4)


def test_assign_kernel_keeps_the_best_approximation_of_the_rank():
    x = _features()
    kernel = _random_kernel(rank=6)
    assert not np.any(_built(6, x).full_kernel())  # a new layer maps to zero
    exact = _built(6, x)
    exact.assign_kernel(kernel)  # the kernel's own rank: nothing lost
    np.testing.assert_allclose(exact.full_kernel(), kernel, atol=1e-4)
    truncated = _built(2, x)
    truncated.assign_kernel(kernel)
    singular = np.linalg.svd(kernel.reshape(12, 12), compute_uv=False)
    error = np.linalg.norm(truncated.full_kernel() - kernel)
    np.testing.assert_allclose(error, np.sqrt(np.sum(singular[2:] ** 2)), rtol=1e-4)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Received: planes=1"):
        CrossPlaneMixing(1)
    with pytest.raises(ValueError, match="Received: planes=True"):
        CrossPlaneMixing(True)
    for rank in (0, True, 2.0):
        with pytest.raises(ValueError, match=f"Received: rank={rank!r}"):
            CrossPlaneMixing(rank=rank)
    with pytest.raises(ValueError, match="at most planes \\* features = 12. Received: rank=13"):
        CrossPlaneMixing(rank=13)(_features())
    layer = _built(2, _features())
    with pytest.raises(ValueError, match=r"Received: kernel.shape=\(3, 4, 3, 5\)"):
        layer.assign_kernel(np.zeros((3, 4, 3, 5)))
    with pytest.raises(ValueError, match="needs a built layer"):
        CrossPlaneMixing(rank=2).assign_kernel(np.zeros((3, 4, 3, 4)))

import numpy as np
import pytest

from hint.models import PatchDiscriminator
from tests.layer_checks import check_layer


def _torch_size(size):
    # PyTorch Conv2d(kernel 4, padding 1): floor((n + 2 - 4) / stride) + 1.
    for stride in (2, 2, 2, 1, 1):
        size = (size + 2 - 4) // stride + 1
    return size


def test_official_parameter_count():
    model = PatchDiscriminator()
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 2_763_776
    assert not any(w.path.endswith("bias") for w in model.weights)


def test_parameter_count_without_spectral_norm_has_biases():
    model = PatchDiscriminator(spectral_norm=False)
    assert model.count_params() == 2_763_776 + 64 + 128 + 256 + 512 + 1
    assert not model.non_trainable_weights


def test_layer_checks():
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    check_layer(PatchDiscriminator(filters=8), x, (2, 2, 2, 1), dynamic_spatial=True)


def test_layer_checks_without_spectral_norm():
    x = np.random.rand(1, 32, 32, 3).astype("float32")
    check_layer(PatchDiscriminator(filters=4, spectral_norm=False), x, (1, 2, 2, 1))


@pytest.mark.parametrize("size", [32, 48, 64, 70])
def test_output_size_matches_pytorch(size):
    model = PatchDiscriminator(filters=4)
    y = model(np.zeros((1, size, size, 3), "float32"))
    assert y.shape == (1, _torch_size(size), _torch_size(size), 1)


def test_output_is_unbounded_logits():
    model = PatchDiscriminator(filters=4, spectral_norm=False)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([np.full(w.shape, 0.5, "float32") for w in layer.weights])
    y = model(np.ones((1, 32, 32, 3), "float32")).numpy()
    assert y.max() > 1.0


def test_spectral_norm_normalises_kernels_in_training():
    model = PatchDiscriminator(filters=8)
    x = np.random.rand(1, 32, 32, 3).astype("float32")
    for _ in range(20):
        model(x, training=True)
    for name in ("conv_1", "conv_2"):
        kernel = model.get_layer(name).layer.kernel.numpy()
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert abs(sigma - 1.0) < 0.05


@pytest.mark.parametrize(
    "kwargs", [{"filters": 0}, {"image_channels": 2.0}, {"spectral_norm": "yes"}]
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        PatchDiscriminator(**kwargs)

"""FIDInceptionV3: the tensors it takes match pytorch-fid's, and they are loaded in place.

The whole network against `pytorch-fid` itself (random weights, two input sizes) is
`benchmarks/perceptual_parity.py`; its results are in `benchmarks/results/`.
"""

import json
import os

import numpy as np
import pytest

from hint import torch_weights
from hint.models.fid_inception import FIDInceptionV3, is_published_file

TENSORS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "data", "fid_inception_tensors.json"
)


@pytest.fixture(scope="module")
def network():
    return FIDInceptionV3()


def _random_state(network, seed=0):
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in network.torch_names().items():
        if name.endswith("conv.weight"):
            fan_in = np.prod(shape[1:])
            state[name] = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        elif name.endswith("running_var") or name.endswith("bn.weight"):
            state[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            state[name] = rng.normal(0, 0.1, shape).astype(np.float32)
    return state


def test_takes_exactly_pytorch_fids_tensors(network):
    # The names and shapes of pytorch-fid's FID Inception state_dict (torchvision's names,
    # without the classifier, which FID does not use), recorded from pytorch-fid 0.3.0.
    with open(TENSORS) as f:
        expected = {k: tuple(v) for k, v in json.load(f).items()}
    assert network.torch_names() == expected


def test_features_are_2048_per_image_for_any_size_and_gray(network):
    rng = np.random.default_rng(0)
    assert network.features(rng.random((2, 40, 56, 3))).shape == (2, 2048)
    gray = rng.random((1, 32, 32, 1))
    np.testing.assert_allclose(
        network.features(gray), network.features(np.repeat(gray, 3, -1)), rtol=1e-6
    )


def test_loading_sets_every_weight(network):
    state = _random_state(network)
    network.load_state_dict(state)
    conv = network.get_layer("Mixed_6e.branch7x7_2.conv")
    np.testing.assert_array_equal(
        conv.kernel.numpy(), np.transpose(state["Mixed_6e.branch7x7_2.conv.weight"], (2, 3, 1, 0))
    )
    bn = network.get_layer("Mixed_7c.branch_pool.bn")
    np.testing.assert_array_equal(
        bn.moving_variance.numpy(), state["Mixed_7c.branch_pool.bn.running_var"]
    )


def test_stem_matches_pytorch_on_the_same_weights(network):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    state = _random_state(network, seed=1)
    network.load_state_dict(state)
    rng = np.random.default_rng(2)
    images = rng.random((2, 48, 48, 3)).astype(np.float32)
    # PyTorch's BasicConv2d (conv, batch norm in inference, ReLU) on the scaled 299 input.
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    x = functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = 2 * x - 1
    for name, stride, padding in (("Conv2d_1a_3x3", 2, 0), ("Conv2d_2a_3x3", 1, 0)):
        parts = ("conv.weight", "bn.running_mean", "bn.running_var", "bn.weight", "bn.bias")
        w = {k: torch.from_numpy(state[f"{name}.{k}"]) for k in parts}
        x = functional.conv2d(x, w["conv.weight"], stride=stride, padding=padding)
        x = functional.batch_norm(
            x, w["bn.running_mean"], w["bn.running_var"], w["bn.weight"], w["bn.bias"], eps=1e-3
        )
        x = functional.relu(x)
    import keras

    stem = keras.Model(network.input, network.get_layer("Conv2d_2a_3x3.relu").output)
    ours = np.asarray(stem(images))
    np.testing.assert_allclose(ours, x.permute(0, 2, 3, 1).numpy(), atol=1e-4, rtol=1e-4)


def test_a_file_of_another_network_is_refused(tmp_path, network):
    state = _random_state(network)
    state["Mixed_5b.branch1x1.conv.weight"] = np.zeros((64, 192, 3, 3), np.float32)
    with pytest.raises(torch_weights.WeightsError, match="Mixed_5b.branch1x1.conv.weight"):
        network.load_state_dict(state, source="other.pth")
    del state["Mixed_5b.branch1x1.conv.weight"]
    with pytest.raises(torch_weights.WeightsError, match="right file"):
        network.load_state_dict(state, source="other.pth")


def test_missing_file_is_a_readable_error():
    with pytest.raises(torch_weights.WeightsError, match="not found"):
        FIDInceptionV3.from_file("/nonexistent/pt_inception.pth")


def test_published_file_is_recognised_by_its_hash(tmp_path):
    other = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    other.write_bytes(b"not the weights")
    assert not is_published_file(str(other))

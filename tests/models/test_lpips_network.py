"""LPIPSNetwork: its contract, readable weight errors, and parity with the lpips package."""

import contextlib
import functools
import importlib
import importlib.util
import os
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from hint.models.lpips_network import FEATURE_CHANNELS, VGG16_CONVS, LPIPSNetwork
from hint.torch_weights import WeightsError

# Agreement with the `lpips` package, relative (distances here are 0.005 to 0.14): measured
# 1.1e-7 (1.5e-8 absolute), float32 round-off of two convolution libraries.
PARITY_RTOL = 1e-4


def random_vgg_state():
    """A torchvision-layout VGG16 `features` state dict with He-normal kernels, small biases."""
    return dict(_random_vgg_state())


@functools.cache
def _random_vgg_state(seed=0):
    rng = np.random.default_rng(seed)
    state = {}
    for index, _, cin, out in VGG16_CONVS:
        std = np.sqrt(2.0 / (9 * cin))
        state[f"features.{index}.weight"] = rng.normal(0, std, (out, cin, 3, 3)).astype("float32")
        state[f"features.{index}.bias"] = rng.normal(0, 0.01, (out,)).astype("float32")
    return state


def random_linear_state(seed=1):
    rng = np.random.default_rng(seed)
    return {
        f"lin{k}.model.1.weight": np.abs(rng.normal(0, 0.1, (1, c, 1, 1))).astype("float32")
        for k, c in enumerate(FEATURE_CHANNELS)
    }


@pytest.fixture(scope="module")
def network():
    return LPIPSNetwork(random_vgg_state(), random_linear_state())


def images(n, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).random((n, size, size, channels), dtype=np.float32)


def test_contract(network):
    a, b = images(3, seed=0), images(3, seed=1)
    d = network.distance(a, b)
    assert d.shape == (3,) and d.dtype == np.float32
    assert np.all(d > 0)
    np.testing.assert_allclose(network.distance(b, a), d, rtol=1e-6)
    np.testing.assert_array_equal(network.distance(a, a), np.zeros(3, np.float32))
    # Pairs are independent of how they are batched.
    np.testing.assert_allclose(network.distance(a, b, batch_size=2), d, rtol=1e-5)
    # A closer image is closer.
    near = np.clip(a + 0.02 * (b - 0.5), 0, 1)
    assert np.all(network.distance(a, near) < d)


def test_gray_images_are_repeated_to_rgb(network):
    a, b = images(2, channels=1, seed=2), images(2, channels=1, seed=3)
    d = network.distance(a, b)
    assert d.shape == (2,) and np.all(d > 0)
    rgb = network.distance(np.repeat(a, 3, axis=-1), np.repeat(b, 3, axis=-1))
    np.testing.assert_allclose(d, rgb, rtol=1e-6)


def test_call_in_graph_mode(network):
    a, b = images(2, size=48, seed=4), images(2, size=48, seed=5)
    call = tf.function(lambda x, y: network((x, y)))
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    graph = call.get_concrete_function(spec, spec)(tf.constant(a), tf.constant(b))
    np.testing.assert_allclose(graph.numpy(), network.distance(a, b), rtol=1e-5)


def test_frozen_float32_with_gradients_to_the_images(network):
    assert not network.trainable_weights
    assert network.count_params() == 14_714_688 + sum(FEATURE_CHANNELS)
    a = tf.constant(images(1, seed=6))
    b = tf.Variable(images(1, seed=7))
    with tf.GradientTape() as tape:
        d = network((a, b))
    assert d.dtype == tf.float32
    assert float(tf.reduce_sum(tf.abs(tape.gradient(d, b)))) > 0


def test_argument_errors(network):
    a = images(2)
    with pytest.raises(ValueError, match=r"Received: a.shape=\(2, 32, 32, 3\), b.shape="):
        network.distance(a, a[:1])
    with pytest.raises(ValueError, match=r"at least 16x16.*Received: a.shape=\(2, 15, 15, 3\)"):
        network.distance(a[:, :15, :15], a[:, :15, :15])
    with pytest.raises(ValueError, match=r"C = 1 or 3.*Received: a.shape=\(2, 32, 32, 2\)"):
        network.distance(a[..., :2], a[..., :2])
    with pytest.raises(ValueError, match=r"same height and width.*images_b.shape=\(2, 48, 32, 3"):
        network((a, images(2, size=48)[:, :, :32]))
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        network.distance(a, a, batch_size=0)
    with pytest.raises(ValueError, match="Received: vgg_weights=NoneType"):
        LPIPSNetwork(None, random_linear_state())
    with pytest.raises(ValueError, match="Received: linear_state=str"):
        LPIPSNetwork.from_state_dicts(random_vgg_state(), "vgg.pth")


def test_missing_files_fail_readably(tmp_path):
    missing = str(tmp_path / "vgg16-397923af.pth")
    with pytest.raises(WeightsError) as info:
        LPIPSNetwork(missing, random_linear_state())
    message = str(info.value)
    assert "\n" not in message and missing in message
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    with pytest.raises(WeightsError, match="pip download lpips --no-deps.*weights/v0.1/vgg.pth"):
        LPIPSNetwork(random_vgg_state(), str(tmp_path / "vgg.pth"))


def test_wrong_tensors_fail_readably():
    vgg = random_vgg_state()
    vgg["features.0.weight"] = vgg["features.0.weight"][:, :1]
    with pytest.raises(WeightsError, match=r"'features.0.weight' has shape \(64, 1, 3, 3\), exp"):
        LPIPSNetwork(vgg, random_linear_state())
    # An AlexNet lpips file in place of the VGG one: lin0 has the right shape, lin1 not.
    linear = random_linear_state()
    linear["lin1.model.1.weight"] = linear["lin1.model.1.weight"][:, :64]
    with pytest.raises(WeightsError, match=r"'lin1.model.1.weight' has shape \(1, 64, 1, 1\)"):
        LPIPSNetwork(random_vgg_state(), linear)
    del linear["lin4.model.1.weight"]
    linear["lin1.model.1.weight"] = random_linear_state()["lin1.model.1.weight"]
    with pytest.raises(WeightsError, match="no tensor 'lin4.model.1.weight'"):
        LPIPSNetwork(random_vgg_state(), linear)
    linear = random_linear_state()
    linear["lin2.model.1.weight"] = -linear["lin2.model.1.weight"]
    with pytest.raises(WeightsError, match="'lin2.model.1.weight' has negative weights"):
        LPIPSNetwork(random_vgg_state(), linear)


# === Parity with the `lpips` package ===


def standin_torchvision(torch):
    """A substitute for the `torchvision` import of `lpips/pretrained_networks.py`, NOT a
    re-implementation of LPIPS.

    torchvision cannot be installed beside this machine's (and CI's) torch 2.13.0+cpu: its
    import fails ("operator torchvision::nms does not exist"). lpips only needs
    `torchvision.models.vgg16(pretrained=...).features`, an `nn.Sequential` that it slices by
    index, so this module provides just that, with torchvision's exact VGG16 feature layout
    (13 `Conv2d(cin, cout, 3, padding=1)` each followed by `ReLU(inplace=True)`, and
    `MaxPool2d(2, 2)` after each block: convolutions at indices 0, 2, 5, 7, 10, 12, 14, 17, 19,
    21, 24, 26, 28). Everything else (scaling layer, slicing, normalisation, linear layers and
    their shipped weights) is the lpips package's own code.

    There are no ImageNet weights here (`pnet_rand=True` only): kernels are He-normal with
    fan-out, like torchvision's random initialisation, and biases small random values instead
    of torchvision's zeros, so that copying them is checked too.
    """
    blocks = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

    def vgg16(pretrained=False, weights=None, progress=True, **kwargs):
        # lpips 0.1.4 passes `pretrained=`; newer torchvision code paths pass `weights=`.
        if pretrained or weights is not None:
            raise RuntimeError("the torchvision stand-in has no ImageNet weights")
        layers, cin = [], 3
        for block in blocks:
            for cout in block:
                conv = torch.nn.Conv2d(cin, cout, kernel_size=3, padding=1)
                torch.nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                torch.nn.init.normal_(conv.bias, 0.0, 0.01)
                layers += [conv, torch.nn.ReLU(inplace=True)]
                cin = cout
            layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
        return types.SimpleNamespace(features=torch.nn.Sequential(*layers))

    models = types.ModuleType("torchvision.models")
    models.vgg16 = vgg16
    module = types.ModuleType("torchvision")
    module.__doc__ = standin_torchvision.__doc__
    module.models = models
    return module


@contextlib.contextmanager
def lpips_importable(torch):
    """`import lpips`, with the torchvision stand-in in `sys.modules` when the real one fails
    to import; the stand-in and the lpips modules that saw it are removed afterwards."""
    try:
        importlib.import_module("torchvision")
        standin = None
    except Exception:  # ImportError, or RuntimeError from a torchvision built for another torch
        standin = standin_torchvision(torch)
    names = ("torchvision", "torchvision.models")
    saved = {name: sys.modules.get(name) for name in names}
    if standin is not None:
        sys.modules["torchvision"], sys.modules["torchvision.models"] = standin, standin.models
    try:
        try:
            lpips = importlib.import_module("lpips")
        except ImportError as e:  # lpips' own imports: scipy, tqdm
            pytest.skip(f"lpips is not importable: {e}")
        yield lpips
    finally:
        if standin is not None:
            for name in [n for n in sys.modules if n == "lpips" or n.startswith("lpips.")]:
                del sys.modules[name]
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module


@pytest.fixture(scope="module")
def reference():
    """lpips' VGG v0.1 LPIPS with a random trunk, and its weights as `LPIPSNetwork` takes them."""
    torch = pytest.importorskip("torch", reason="the parity tests need PyTorch")
    if importlib.util.find_spec("lpips") is None:
        pytest.skip("lpips is not installed: pip install --no-deps lpips")
    torch.manual_seed(0)
    with lpips_importable(torch) as lpips:
        model = lpips.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False)
        linear_path = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "vgg.pth")
    assert getattr(sys.modules.get("torchvision"), "__doc__", None) != standin_torchvision.__doc__
    # lpips' trunk holds the convolutions as slice{k}.{torchvision index}.
    vgg_state = {
        "features." + name.split(".", 1)[1]: tensor.numpy()
        for name, tensor in model.net.state_dict().items()
    }
    assert sorted(int(name.split(".")[1]) for name in vgg_state) == sorted(
        2 * [index for index, *_ in VGG16_CONVS]
    )
    linear_state = {
        f"lin{k}.model.1.weight": getattr(model, f"lin{k}").model[1].weight.detach().numpy()
        for k in range(len(FEATURE_CHANNELS))
    }
    return torch, model, vgg_state, linear_state, linear_path


def lpips_distances(torch, model, a, b):
    def nchw(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    with torch.no_grad():
        return model(nchw(a), nchw(b), normalize=True).numpy().reshape(-1)


def test_matches_lpips_package(reference):
    torch, model, vgg_state, linear_state, linear_path = reference
    shipped = torch.load(linear_path, map_location="cpu", weights_only=True)
    for name, value in linear_state.items():
        np.testing.assert_array_equal(value, shipped[name].numpy())
    network = LPIPSNetwork.from_state_dicts(vgg_state, linear_state)
    rng = np.random.default_rng(7)
    a = rng.random((3, 64, 64, 3), dtype=np.float32)
    b = rng.random((3, 64, 64, 3), dtype=np.float32)
    # Noise against noise, and an image against a slightly noisier copy of itself.
    b[1] = np.clip(a[1] + 0.05 * rng.standard_normal((64, 64, 3), dtype=np.float32), 0, 1)
    # lpips gets the one-channel tensors as they are: its scaling layer's broadcast to three
    # channels is the repetition LPIPSNetwork makes.
    gray_a = rng.random((1, 64, 64, 1), dtype=np.float32)
    gray_b = rng.random((1, 64, 64, 1), dtype=np.float32)
    expected = np.concatenate(
        [lpips_distances(torch, model, a, b), lpips_distances(torch, model, gray_a, gray_b)]
    )
    got = np.concatenate([network.distance(a, b), network.distance(gray_a, gray_b)])
    np.testing.assert_allclose(got, expected, rtol=PARITY_RTOL, atol=0)


def test_reads_pytorch_files(reference, tmp_path):
    torch, _, vgg_state, linear_state, linear_path = reference
    # The torchvision file also holds the classifier, which LPIPS does not use.
    state = {name: torch.from_numpy(value) for name, value in vgg_state.items()}
    state["classifier.0.weight"] = torch.zeros(4, 8)
    vgg_path = str(tmp_path / "vgg16-397923af.pth")
    torch.save(state, vgg_path)
    a, b = images(2, seed=8), images(2, seed=9)
    from_files = LPIPSNetwork(vgg_path, linear_path).distance(a, b)
    from_states = LPIPSNetwork(vgg_state, linear_state).distance(a, b)
    np.testing.assert_array_equal(from_files, from_states)

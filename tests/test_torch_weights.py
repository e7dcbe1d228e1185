"""Reading PyTorch weight files: the tensors, checkpoint entries, and readable errors."""

import numpy as np
import pytest

from hint import torch_weights


def test_missing_file_is_named(tmp_path):
    with pytest.raises(torch_weights.WeightsError, match="not found"):
        torch_weights.read_state_dict(str(tmp_path / "none.pth"))


def test_without_torch_the_error_says_how_to_install_it(tmp_path, without_torch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"x")
    with pytest.raises(torch_weights.WeightsError, match=r"pip install -e \".\[torch\]\""):
        torch_weights.read_state_dict(str(path))


def test_reads_a_state_dict_and_a_checkpoint_entry(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"conv.weight": torch.arange(6.0).reshape(1, 1, 2, 3), "step": 3}
    torch.save({"generator": state, "iteration": 7}, tmp_path / "ckpt.pth")
    read = torch_weights.read_state_dict(str(tmp_path / "ckpt.pth"), key="generator")
    assert list(read) == ["conv.weight"]  # non-tensors are left out
    np.testing.assert_array_equal(read["conv.weight"], np.arange(6.0).reshape(1, 1, 2, 3))
    with pytest.raises(torch_weights.WeightsError, match="no 'discriminator' entry"):
        torch_weights.read_state_dict(str(tmp_path / "ckpt.pth"), key="discriminator")


def test_a_file_that_is_not_pytorch_is_refused(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(torch_weights.WeightsError, match="Cannot read"):
        torch_weights.read_state_dict(str(path))


def test_take_checks_names_and_shapes():
    state = {"a": np.zeros((2, 3))}
    assert torch_weights.take(state, "a", (2, 3), "f.pth").shape == (2, 3)
    with pytest.raises(torch_weights.WeightsError, match=r"shape \(2, 3\), expected \(3, 2\)"):
        torch_weights.take(state, "a", (3, 2), "f.pth")
    with pytest.raises(torch_weights.WeightsError, match="no tensor 'b'"):
        torch_weights.take(state, "b", (1,), "f.pth")


def test_conv_kernel_is_keras_layout():
    weight = np.random.default_rng(0).random((8, 3, 5, 7))
    kernel = torch_weights.conv_kernel(weight)
    assert kernel.shape == (5, 7, 3, 8)
    assert kernel[1, 2, 0, 4] == weight[4, 0, 1, 2]

"""Reading PyTorch weight files (`state_dict`s) into NumPy, for networks rebuilt in Keras.

Published weights that `hint` reuses come as PyTorch files: the FID Inception network
(pytorch-fid), torchvision's VGG16 and the LPIPS linear layers, the official HINT checkpoints.
Reading them needs PyTorch (`pip install -e ".[torch]"`); nothing else in `hint` does.
"""

from __future__ import annotations

import os

import numpy as np

TORCH_HINT = (
    'install PyTorch to read it: pip install -e ".[torch]" (on a machine without a GPU, the '
    "smaller CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


class WeightsError(ValueError):
    """A weights file is missing, unreadable, or does not hold the tensors a network needs."""


def read_state_dict(path: str, key: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch file, by name, as float32 NumPy arrays.

    Args:
        path: A file written by `torch.save` (a `state_dict`, or a dict holding one).
        key: The entry of a checkpoint dict that holds the `state_dict` (for example
            `"generator"`); None when the file is the `state_dict` itself.

    Returns:
        name -> array, in the file's order.

    Raises:
        WeightsError: the file is missing, PyTorch is not installed, the file cannot be read,
            or `key` is not in it.
    """
    if not os.path.isfile(path):
        raise WeightsError(f"Weights file not found: {path}")
    try:
        import torch
    except ImportError:
        raise WeightsError(f"{path} is a PyTorch file: {TORCH_HINT}") from None
    try:
        # weights_only: a checkpoint is data, never code to run.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a bad file
        raise WeightsError(f"Cannot read {path} as a PyTorch file: {e}") from None
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise WeightsError(f"{path} has no {key!r} entry. Received: entries={found}")
        state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state_dict. Received: {type(state).__name__}")
    return {
        name: tensor.detach().cpu().float().numpy()
        for name, tensor in state.items()
        if hasattr(tensor, "detach")
    }


def take(state: dict[str, np.ndarray], name: str, shape: tuple, source: str) -> np.ndarray:
    """`state[name]`, checked against the expected PyTorch shape.

    Raises:
        WeightsError: the tensor is missing or has another shape (the file is of another
            network), naming `source` (the file).
    """
    if name not in state:
        raise WeightsError(f"{source} has no tensor {name!r}: is it the right file?")
    value = state[name]
    if tuple(value.shape) != tuple(shape):
        raise WeightsError(
            f"{source}: tensor {name!r} has shape {tuple(value.shape)}, expected {tuple(shape)}"
        )
    return value


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """A PyTorch convolution weight [out, in, kh, kw] as a Keras kernel [kh, kw, in, out]."""
    return np.transpose(weight, (2, 3, 1, 0))

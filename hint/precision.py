"""What a network computes in: float32 or mixed bfloat16, and "auto" for the faster here.

Option names: `hint.config.PRECISIONS` (training) and `hint.config.INFERENCE_PRECISIONS`
(inference, with "auto").
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import tensorflow as tf

from hint.config import INFERENCE_PRECISIONS


class PrecisionError(ValueError):
    """An unknown precision name."""


def check_precision(precision: str) -> None:
    """Raises `PrecisionError` unless `precision` is one of `config.INFERENCE_PRECISIONS`."""
    if precision not in INFERENCE_PRECISIONS:
        raise PrecisionError(
            f"precision must be one of {INFERENCE_PRECISIONS}. Received: precision={precision!r}"
        )


# CPU flags (Linux /proc/cpuinfo names) of native bfloat16 arithmetic, which oneDNN uses for
# bfloat16 convolutions; without them it emulates bfloat16, which can be slower than float32
# (not measured: this project's machines all have AVX512-BF16).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports; empty where there is no `/proc/cpuinfo`."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def resolve_precision(precision: str, flags: set[str] | None = None) -> str:
    """The precision a network computes in at inference: `precision`, with `"auto"` resolved.

    `"auto"` is `"mixed_bfloat16"` when the CPU computes bfloat16 natively (`BFLOAT16_CPU_FLAGS`)
    and no GPU is visible, otherwise `"float32"`. Measured on this project's CPU (AVX512-BF16)
    with the shipped denoisers: 2.0-2.2x faster than float32, PSNR within 0.01 dB on Set12
    and McMaster (the shipped models' cards, hint/weights/*.md).

    Args:
        precision: one of `config.INFERENCE_PRECISIONS`.
        flags: the CPU flags to decide from. Defaults to None: `cpu_flags()`.
    """
    check_precision(precision)
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "float32"  # unmeasured there: the exact path
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if flags & set(BFLOAT16_CPU_FLAGS) else "float32"


@contextlib.contextmanager
def precision_policy(name: str):
    """Layers built inside compute in `name` ("float32" or "mixed_bfloat16"); restored after.

    With "mixed_bfloat16" the variables stay float32 and convolutions run in bfloat16, which
    oneDNN accelerates on CPUs with AVX512-BF16 / AMX (measured: a DnCNN 15x48 training step
    1.65x faster on this CPU). A `hint.models.Backbone` records the policy it was built in and
    is rebuilt in it when loaded (see `load_policy`).
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


# The policy a loader asked for, which wins over the one a saved network recorded.
_LOAD_POLICY = contextvars.ContextVar("hint_load_policy", default=None)


@contextlib.contextmanager
def load_policy(name: str | None):
    """Networks loaded inside compute in `name`, whatever policy they were saved with.

    `None` keeps each network's saved policy (a network saved without one gets the global
    policy). `hint.inference.load_model` loads inside this.
    """
    if name is None:
        yield
        return
    token = _LOAD_POLICY.set(name)
    try:
        with precision_policy(name):
            yield
    finally:
        _LOAD_POLICY.reset(token)


def policy_for_load(saved: str | None) -> str | None:
    """The policy a network being loaded is built in: the loader's choice, else `saved`."""
    return _LOAD_POLICY.get() or saved

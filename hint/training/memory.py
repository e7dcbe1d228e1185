"""How much memory a training step needs, what the process may use, and `model.remat: auto`.

The estimate is built from the networks a training step runs (`RestorationModel.
training_passes`): each is traced once at a small probe size, the bytes of every floating-point
tensor its forward pass produces are added up, and that sum is scaled to the configured batch
and crop size (activations grow with the number of pixels). What TensorFlow keeps for the
backward pass is a fraction of that sum, `ACTIVATION_FRACTION`, measured on the official HINT
by `benchmarks/training_memory.py`, plus a constant for the step's graph; the gradients and
Adam's two moments add three copies of the trainable weights, and the process' resident memory
when the estimate is made (the runtime, the built networks, the data pipeline) is the base.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import tensorflow as tf

from hint.config import REMAT_AUTO

# Peak training memory above the base and the optimizer state, as a constant plus a fraction
# of the summed forward activations. Fitted to the official HINT with its SN-PatchGAN and VGG19
# losses, without remat, on 2 CPU cores (`benchmarks/results/training_memory.jsonl`): measured
# peaks of 4.9, 7.4 and 11.4 GiB at 64 px batch 1 and 128 px batch 1 and 2, and 18.9 and
# 21.3 GiB in two runs of 256 px batch 1. The same step peaks differently from run to run (the
# executor's order of operations varies), so the fraction is set from the highest peak, with a
# margin: the estimate lies 0.4 to 3.6 GiB above every measured peak.
STEP_OVERHEAD = int(1.3 * 2**30)
ACTIVATION_FRACTION = 0.6
# Sizes traced for the estimate: small (tracing costs the same at any size) but large enough
# for every level of a 16-multiple network to have more than one pixel.
PROBE_SIZE = 32
# The part of the available memory a training step may plan to use: the rest is headroom for
# the allocator's fragmentation, the operating system and other processes.
USABLE_FRACTION = 0.85

# Operations whose outputs are views or bookkeeping, not new activations.
_NOT_ACTIVATIONS = frozenset(
    {
        "Const",
        "Placeholder",
        "ReadVariableOp",
        "Identity",
        "IdentityN",
        "StopGradient",
        "Shape",
        "ShapeN",
        "Reshape",
        "Squeeze",
        "ExpandDims",
        "NoOp",
    }
)


@dataclasses.dataclass(frozen=True)
class TrainingPass:
    """One network a training step runs, for the memory estimate.

    Attributes:
        name: What it is, for the log line ("generator", "discriminator", "vgg19").
        call: `call(image, mask)` running the network on a batch of images and masks in
            training mode, as the training step does.
        passes: How many times a training step runs it.
        trainable_weights: The variables the step updates (gradients and optimizer slots are
            held for them); empty for a frozen network.
        network: The Keras model that `call` runs, when there is one: equal configurations
            are traced once per process.
    """

    name: str
    call: object
    passes: int
    trainable_weights: tuple = ()
    network: object = None


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """A training step's estimated peak resident memory, in bytes, with its parts."""

    base: int
    optimizer_state: int
    activations: dict
    total: int
    available: int
    available_source: str

    @property
    def fits(self) -> bool:
        return self.total <= USABLE_FRACTION * self.available


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def available_memory() -> tuple[int, str]:
    """Memory the process may use: physical memory or the cgroup limit, whichever is lower.

    Returns:
        `(bytes, source)`, where source is "physical memory" or "cgroup limit".
    """
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _cgroup_limit()
    if limit is not None and limit < physical:
        return limit, "cgroup limit"
    return physical, "physical memory"


def _cgroup_limit(root: str = "/sys/fs/cgroup") -> int | None:
    """The memory limit of this process' cgroup (v2 `memory.max` or v1), None when unlimited."""
    for path in (
        os.path.join(root, "memory.max"),
        os.path.join(root, "memory", "memory.limit_in_bytes"),
    ):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        # cgroup v1 reports "no limit" as a huge page-rounded number.
        return value if value < 2**60 else None
    return None


def resident_memory() -> int:
    """The process' current resident memory in bytes (Linux `/proc/self/statm`)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def activation_bytes(call, channels: int, size: int = PROBE_SIZE) -> int:
    """Bytes of the floating-point tensors one forward pass produces, for one image.

    Args:
        call: `call(image, mask)` as in `TrainingPass`.
        channels: Image channels of the input.
        size: Side of the square probe image.
    """
    image = tf.TensorSpec((1, size, size, channels), tf.float32)
    mask = tf.TensorSpec((1, size, size, 1), tf.float32)
    graph = tf.function(call).get_concrete_function(image, mask).graph
    total = 0
    for op in graph.get_operations():
        if op.type in _NOT_ACTIVATIONS:
            continue
        for out in op.outputs:
            if out.dtype.is_floating and out.shape.is_fully_defined():
                total += out.shape.num_elements() * out.dtype.size
    return total


_TRACED: dict = {}


def _cached_bytes(training_pass: TrainingPass, channels: int) -> int:
    network = training_pass.network
    if network is None or not hasattr(network, "get_config"):
        return activation_bytes(training_pass.call, channels)
    config = json.dumps(network.get_config(), sort_keys=True, default=str)
    key = (training_pass.name, type(network).__name__, config, channels)
    if key not in _TRACED:
        _TRACED[key] = activation_bytes(training_pass.call, channels)
    return _TRACED[key]


def estimate_training_memory(
    passes, batch_size: int, image_size: int, channels: int
) -> MemoryEstimate:
    """Estimated peak resident memory of a training step, without rematerialisation.

    Args:
        passes: The `TrainingPass`es of the step.
        batch_size: Examples this process holds per step (all its replicas).
        image_size: Side of the training crops.
        channels: Image channels.
    """
    scale = batch_size * (image_size / PROBE_SIZE) ** 2
    activations = {p.name: int(p.passes * scale * _cached_bytes(p, channels)) for p in passes}
    variables = {id(v): v for p in passes for v in p.trainable_weights}.values()
    state = 3 * sum(math.prod(v.shape) * tf.as_dtype(v.dtype).size for v in variables)
    base = resident_memory()
    total = base + state + STEP_OVERHEAD + int(ACTIVATION_FRACTION * sum(activations.values()))
    available, source = available_memory()
    return MemoryEstimate(base, state, activations, total, available, source)


def describe(estimate: MemoryEstimate) -> str:
    """One line: the estimate, its parts and what is available."""
    parts = ", ".join(
        f"{name} {_gib(int(ACTIVATION_FRACTION * n))}" for name, n in estimate.activations.items()
    )
    return (
        f"estimated training memory {_gib(estimate.total)} (base {_gib(estimate.base)}, "
        f"gradients and optimizer {_gib(estimate.optimizer_state)}, step "
        f"{_gib(STEP_OVERHEAD)}, activations: {parts}); "
        f"available {_gib(estimate.available)} ({estimate.available_source})"
    )


def _local_devices(strategy: tf.distribute.Strategy) -> list[str]:
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:
        # The default strategy: one replica, on the default device.
        gpus = tf.config.list_logical_devices("GPU")
        return [gpus[0].name if gpus else "/cpu:0"]


def choose_remat(task, cfg, strategy: tf.distribute.Strategy) -> None:
    """Applies `model.remat: auto`: rematerialisation on when the training step would not fit.

    Does nothing for a network without the switch or with `model.remat` set to true or false.
    Prints one line with the estimate and the decision.

    Args:
        task: The built training model (a `RestorationModel`).
        cfg: The run's config.
        strategy: The strategy it trains under; this process holds the examples of its own
            replicas.
    """
    network = task.backbone
    if not isinstance(getattr(type(network), "remat", None), property):
        return
    if cfg.model.args.get("remat", REMAT_AUTO) != REMAT_AUTO:
        return
    devices = _local_devices(strategy)
    if any("GPU" in device.upper() for device in devices):
        print(
            "model.remat auto: remat off (the memory estimate is for training on the CPU; "
            "set model.remat: true if the GPU runs out of memory)"
        )
        network.remat = False
        return
    batch = cfg.data.batch_size * len(devices) // strategy.num_replicas_in_sync
    estimate = estimate_training_memory(
        task.training_passes(), max(batch, 1), cfg.data.image_size, cfg.data.channels
    )
    network.remat = not estimate.fits
    decision = (
        f"more than {USABLE_FRACTION:.0%} of it: remat on (the sandwich blocks recompute "
        "their activations in the backward pass)"
        if network.remat
        else "remat off"
    )
    print(f"model.remat auto: {describe(estimate)}; {decision}")

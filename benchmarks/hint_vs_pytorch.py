"""Keras HINT generator vs. a PyTorch reference of the official architecture, on this CPU.

Measures our Keras `HINTBackbone` against a PyTorch implementation of the same official
HINT generator (written below from the architecture description, NCHW, 72,265,248
trainable parameters at the official config), side by side in one run, and reports
Keras / PyTorch ratios.

Commands (from the repository root):

    pip install torch==2.13.0    # CPU wheel; without torch only the Keras side is measured

    # The official-size benchmark (tens of minutes on 2 cores, ~19 GB peak for the
    # training steps; run it on an otherwise idle machine):
    python benchmarks/hint_vs_pytorch.py --size 256 --preset hint

    # ... adding the memory-saving variants (Keras remat, PyTorch checkpointing):
    python benchmarks/hint_vs_pytorch.py --size 256 --preset hint --remat

    # Quick checks (about 1.5 min; about 5-10 min):
    python benchmarks/hint_vs_pytorch.py --size 64 --preset hint_tiny --remat
    python benchmarks/hint_vs_pytorch.py --size 128 --preset hint --forward-only

    # Against the official code (github.com/ChrisChen1023/HINT, cloned outside this
    # project; needs `pip install einops`): its generator replaces the reference in the
    # PyTorch column, with its MPD's `.cuda()` made a no-op on this CPU-only machine:
    python benchmarks/hint_vs_pytorch.py --size 256 --preset hint --official ../HINT

Other options: `--batch` (1), `--threads` (2), `--inter-op-threads` (1), `--warmup` (2),
`--repeats` (5 forward passes), `--train-repeats` (3 training steps), `--no-xla` (skip the
XLA forward column: on this CPU XLA was 4-7x slower than the graph at 64-128 px, and it is
the slowest column to run), `--xla-train` (add an XLA training step: at 64 px it compiled for
half a minute and took ~3.5x the graph step's memory, so it is off by default and not
advised at 256), `--keras-only`, `--timeout` (per run, 3600 s), `--out` (JSON;
`benchmarks/results/hint_vs_pytorch.json`, written atomically).

What is measured. Every (framework, variant, measurement) runs in its own fresh subprocess,
so thread settings and peak memory are isolated, with both frameworks limited to the same
threads (`tf.config.threading.set_intra_op_parallelism_threads(--threads)` and
`set_inter_op_parallelism_threads(--inter-op-threads)` before TensorFlow initialises;
`torch.set_num_threads(--threads)` and `set_num_interop_threads(--inter-op-threads)`;
`OMP_NUM_THREADS` / `MKL_NUM_THREADS` too). One inter-op thread by default, since PyTorch
eager runs one op after another: `--inter-op-threads 2` lets TensorFlow run independent ops
side by side (the two SCAL branches, say) but then puts up to 4 busy threads on 2 threads'
worth of budget. Inputs are the same random image and mask (a centred square hole).

1. Forward pass of the generator (`image * (1 - mask) + mask` to `(tanh + 1) / 2`) at
   `--size` x `--size`, batch `--batch`: `--warmup` calls, then the median of `--repeats`.
   Keras: `tf.function(model(..., training=False))` ("Keras graph") and the same with
   `jit_compile=True` ("Keras XLA"); PyTorch: eager under `torch.inference_mode()`.
2. One training step: forward, L1 loss against a random target, gradients, Adam update.
   Keras: a `tf.function` with a `GradientTape` and `hint.optimizers.FusedAdam` (its XLA twin
   only with `--xla-train`); PyTorch: `loss.backward()` and `torch.optim.Adam.step()`.
3. Peak resident memory of the subprocess (`ru_maxrss`, in MB) for the forward and the
   training runs, and "step memory": that peak minus the resident memory once the model
   (and optimizer) was built, i.e. what the computation itself adds (activations,
   gradients, optimizer slots, workspaces, and for Keras graph tracing / XLA compilation).
   The JSON also has the peak of the timed steps alone (`VmHWM` after a reset).
4. With `--remat`: the training step again with `HINTBackbone(remat=True)` (every sandwich
   block recomputed in the backward pass) and, for PyTorch, every sandwich block under
   `torch.utils.checkpoint` (non-reentrant), plus the remat / no-remat ratios of each.

5. With `--gemm`: the machine's own matrix-multiply rate, a 2048x2048 float32 `tf.matmul` in
   graph mode with the same threads, in its own subprocess of the same run, and the forward
   pass' rate as a fraction of it: the forward's floating-point operations (as `python
   main.py summary` counts them from the traced graph, twice its multiply-accumulates)
   divided by its median time, over the GEMM's `2 * 2048**3` operations divided by its median.

How to read the ratios: "Keras / PyTorch" is Keras time (or memory) divided by PyTorch's,
so 1.0 is parity, above 1 means Keras is slower (uses more memory) and below 1 faster (less).
"remat / plain" above 1 in time is the recomputation's cost, below 1 in memory its saving.
The first call (tracing, XLA compilation) is reported separately ("first call") and not in
the medians. This machine's cores may be shared, and competing processes slow both sides
(PyTorch by more than 10x in one 64 px run here): each run records "other load", the
cores other processes kept busy while it was timed, and the report warns above 0.2 cores;
rerun such results on an idle machine.

The PyTorch reference follows the official code's structure, including its costs: the
Restormer-style LayerNorm that goes through a `(B, H*W, C)` layout, and the MPD that builds
its interleaved feature / mask tensor channel by channel in a Python loop (our Keras MPD uses
two depthwise convolutions instead, see `hint/layers/mpd.py`). The script asserts that both
models have the same trainable parameter count, 72,265,248 for `--preset hint`.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.run_info import GEMM_SIZE, gemm, peak_rss_bytes, write_json  # noqa: E402

DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results", "hint_vs_pytorch.json")
OFFICIAL_PARAMETERS = 72_265_248
# Height and width must be multiples of this (three MPDs, then SCAL's pooling in the latent).
SIZE_MULTIPLE = 16
RESULT_MARKER = "HINT_BENCH_RESULT "
TORCH_INSTALL = "pip install torch==2.13.0"
LEARNING_RATE = 1e-4
# Cores used by other processes during a timed loop above which the report warns.
OTHER_LOAD_WARNING = 0.2

# The same dictionaries as `hint.models.presets`, duplicated here so the parent process and
# the PyTorch worker never import TensorFlow; `_keras_worker` checks they still agree.
PRESETS = {
    "hint": {
        "dim": 48,
        "num_blocks": (4, 6, 6, 8),
        "num_heads": (1, 2, 4, 8),
        "ffn_expansion": 2.66,
        "use_bias": False,
        "layer_norm": "with_bias",
    },
    "hint_tiny": {
        "dim": 16,
        "num_blocks": (1, 1, 1, 2),
        "num_heads": (1, 1, 2, 4),
        "ffn_expansion": 2.66,
        "use_bias": False,
        "layer_norm": "with_bias",
    },
}


# ----------------------------------------------------------------------------------------
# PyTorch reference
# ----------------------------------------------------------------------------------------

_TORCH_CLASSES = {}


def torch_hint_class():
    """The PyTorch reference generator class (defined on first use, so torch loads lazily).

    Its modules and parameters carry the official code's names, so its `state_dict()` has the
    official generator's tensor names and shapes (`tests/data/hint_official_tensors.json`) and
    `hint.official_checkpoint` converts it like a released checkpoint.

    Returns:
        `TorchHINT(dim, num_blocks, num_heads, ffn_expansion, use_bias, layer_norm,
        image_channels=3, checkpoint_blocks=False)`, an `nn.Module` whose `forward(image,
        mask)` takes NCHW `image` `(B, 3, H, W)` in [0, 1] and `mask` `(B, 1, H, W)`
        (1 = hole) and returns `(tanh(x) + 1) / 2`, `(B, 3, H, W)`.
    """
    if "TorchHINT" in _TORCH_CLASSES:
        return _TORCH_CLASSES["TorchHINT"]

    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    class NormParameters(nn.Module):
        # The official LayerNorm keeps its parameters one module down (`<norm>.body.weight`).
        def __init__(self, channels, with_bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None

    class ChannelNorm(nn.Module):
        # Like the official LayerNorm, normalises in a (B, H*W, C) layout and goes back to
        # NCHW, whose copy is part of the official cost.
        def __init__(self, channels, with_bias=True):
            super().__init__()
            self.body = NormParameters(channels, with_bias)

        def forward(self, x):
            b, c, h, w = x.shape
            weight, bias = self.body.weight, self.body.bias
            tokens = x.flatten(2).transpose(1, 2)
            variance = tokens.var(dim=-1, keepdim=True, unbiased=False)
            if bias is None:
                # Bias-free variant: scaled by the std around the mean, but not centred.
                tokens = tokens / torch.sqrt(variance + 1e-5) * weight
            else:
                mean = tokens.mean(dim=-1, keepdim=True)
                tokens = (tokens - mean) / torch.sqrt(variance + 1e-5) * weight + bias
            return tokens.transpose(1, 2).reshape(b, c, h, w)

    class GatedFFN(nn.Module):
        def __init__(self, channels, expansion, bias):
            super().__init__()
            hidden = int(channels * expansion)
            self.project_in = nn.Conv2d(channels, 2 * hidden, 1, bias=bias)
            self.dwconv = nn.Conv2d(
                2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias
            )
            self.project_out = nn.Conv2d(hidden, channels, 1, bias=bias)

        def forward(self, x):
            gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
            return self.project_out(F.gelu(gate) * value)

    class SCAL(nn.Module):
        def __init__(self, channels, heads, bias):
            super().__init__()
            self.heads = heads
            self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
            self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=bias)
            self.qkv_dwconv = nn.Conv2d(
                3 * channels, 3 * channels, 3, padding=1, groups=3 * channels, bias=bias
            )
            self.project_out = nn.Conv2d(channels, channels, 1, bias=bias)
            # Spatial branch.
            self.avg_pool = nn.AvgPool2d(2)
            self.conv = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, bias=True),
                ChannelNorm(channels, with_bias=True),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1, bias=True),
                ChannelNorm(channels, with_bias=True),
                nn.ReLU(),
            )
            self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x):
            b, c, h, w = x.shape
            q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
            # b (head c) h w -> b head c (h w)
            q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
            q = F.normalize(q, dim=-1)
            k = F.normalize(k, dim=-1)
            attention = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
            out = (attention @ v).reshape(b, c, h, w)
            spatial = self.upsample(self.conv(self.avg_pool(x)))
            return self.project_out(out * spatial)

    class SandwichBlock(nn.Module):
        def __init__(self, channels, heads, expansion, bias, with_bias_norm):
            super().__init__()
            self.norm1_1 = ChannelNorm(channels, with_bias_norm)
            self.ffn1 = GatedFFN(channels, expansion, bias)
            self.norm1 = ChannelNorm(channels, with_bias_norm)
            self.attn = SCAL(channels, heads, bias)
            self.norm2 = ChannelNorm(channels, with_bias_norm)
            self.ffn = GatedFFN(channels, expansion, bias)

        def forward(self, x):
            x = x + self.ffn1(self.norm1_1(x))
            x = x + self.attn(self.norm1(x))
            return x + self.ffn(self.norm2(x))

    class Blocks(nn.Sequential):
        # A Sequential, as the official levels are (`encoder_level1.0.<...>`), that can
        # checkpoint each block.
        def __init__(self, count, channels, heads, expansion, bias, with_bias_norm, ckpt):
            super().__init__(
                *(
                    SandwichBlock(channels, heads, expansion, bias, with_bias_norm)
                    for _ in range(count)
                )
            )
            self.checkpoint_blocks = ckpt

        def forward(self, x):
            for block in self:
                if self.checkpoint_blocks and torch.is_grad_enabled():
                    x = checkpoint(block, x, use_reentrant=False)
                else:
                    x = block(x)
            return x

    class GatedEmbedding(nn.Module):
        def __init__(self, in_channels, dim, bias):
            super().__init__()
            self.gproj1 = nn.Conv2d(in_channels, 2 * dim, 3, padding=1, bias=bias)

        def forward(self, x):
            gate, value = self.gproj1(x).chunk(2, dim=1)
            return F.gelu(gate) * value

    class MPD(nn.Module):
        # Mask-aware pixel-shuffle down-sampling, (B, C, H, W) -> (B, 2C, H/2, W/2).
        def __init__(self, channels):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False),
                nn.PixelUnshuffle(2),
            )
            self.body2 = nn.Sequential(nn.PixelUnshuffle(2))
            self.proj = nn.Conv2d(
                4 * channels, 2 * channels, 3, padding=1, groups=2 * channels, bias=False
            )

        def forward(self, x, mask):
            features = self.body(x)
            mask = self.body2(mask)
            b, n, h, w = features.shape
            # Channel 2i is feature channel i, channel 2i+1 the mask of its sub-pixel offset
            # (i % 4); built one channel at a time as the official code does.
            paired = torch.zeros((b, 2 * n, h, w), dtype=features.dtype, device=features.device)
            for i in range(n):
                paired[:, 2 * i] = features[:, i]
                paired[:, 2 * i + 1] = mask[:, i % 4]
            return self.proj(paired)

    class PixelShuffleUpsample(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False), nn.PixelShuffle(2)
            )

        def forward(self, x):
            return self.body(x)

    class TorchHINT(nn.Module):
        def __init__(
            self,
            dim=48,
            num_blocks=(4, 6, 6, 8),
            num_heads=(1, 2, 4, 8),
            ffn_expansion=2.66,
            use_bias=False,
            layer_norm="with_bias",
            image_channels=3,
            checkpoint_blocks=False,
        ):
            super().__init__()
            with_bias_norm = layer_norm == "with_bias"

            def blocks(level, channels):
                return Blocks(
                    num_blocks[level],
                    channels,
                    num_heads[level],
                    ffn_expansion,
                    use_bias,
                    with_bias_norm,
                    checkpoint_blocks,
                )

            self.patch_embed = GatedEmbedding(image_channels + 1, dim, use_bias)
            self.encoder_level1 = blocks(0, dim)
            self.down1_2 = MPD(dim)
            self.encoder_level2 = blocks(1, 2 * dim)
            self.down2_3 = MPD(2 * dim)
            self.encoder_level3 = blocks(2, 4 * dim)
            self.down3_4 = MPD(4 * dim)
            self.latent = blocks(3, 8 * dim)
            self.up4_3 = PixelShuffleUpsample(8 * dim)
            self.reduce_chan_level3 = nn.Conv2d(8 * dim, 4 * dim, 1, bias=use_bias)
            self.decoder_level3 = blocks(2, 4 * dim)
            self.up3_2 = PixelShuffleUpsample(4 * dim)
            self.reduce_chan_level2 = nn.Conv2d(4 * dim, 2 * dim, 1, bias=use_bias)
            self.decoder_level2 = blocks(1, 2 * dim)
            self.up2_1 = PixelShuffleUpsample(2 * dim)
            # No 1x1 reduction at the first level: it works at 2 * dim channels.
            self.decoder_level1 = blocks(0, 2 * dim)
            self.output = nn.Sequential(
                nn.Conv2d(2 * dim, image_channels, 3, padding=1, bias=use_bias)
            )

        def forward(self, image, mask):
            x = image * (1 - mask) + mask
            mask_half = F.interpolate(mask, scale_factor=0.5, mode="nearest")
            mask_quarter = F.interpolate(mask, scale_factor=0.25, mode="nearest")
            skip_1 = self.encoder_level1(self.patch_embed(torch.cat([x, mask], dim=1)))
            skip_2 = self.encoder_level2(self.down1_2(skip_1, mask))
            skip_3 = self.encoder_level3(self.down2_3(skip_2, mask_half))
            x = self.latent(self.down3_4(skip_3, mask_quarter))
            x = self.reduce_chan_level3(torch.cat([self.up4_3(x), skip_3], dim=1))
            x = self.decoder_level3(x)
            x = self.reduce_chan_level2(torch.cat([self.up3_2(x), skip_2], dim=1))
            x = self.decoder_level2(x)
            x = self.decoder_level1(torch.cat([self.up2_1(x), skip_1], dim=1))
            return (torch.tanh(self.output(x)) + 1) / 2

    _TORCH_CLASSES["TorchHINT"] = TorchHINT
    return TorchHINT


def torch_available():
    """Whether PyTorch can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def torch_parameter_count(model):
    """Trainable parameters of a PyTorch module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def official_hint_class(directory):
    """The official generator (`src/networks.py` of a checkout of the authors' repository).

    Wrapped to take `(image, mask)` NCHW and form its inputs as the official
    `InpaintingModel.forward` does (masked image, nearest-downscaled masks). Nothing of the
    official code is part of this project: it is imported from `directory` at run time.
    The official MPD allocates its interleave buffer with `.cuda()`, which fails without a
    GPU, so `Tensor.cuda()` returns the tensor itself in the worker process that calls this.
    """
    import torch
    import torch.nn.functional as F

    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, os.path.abspath(directory))
    from src.networks import HINT

    class OfficialHINT(torch.nn.Module):
        def __init__(self, dim, num_blocks, num_heads, ffn_expansion, use_bias, layer_norm):
            super().__init__()
            self.generator = HINT(
                dim=dim,
                num_blocks=list(num_blocks),
                heads=list(num_heads),
                ffn_expansion_factor=ffn_expansion,
                bias=use_bias,
                LayerNorm_type="WithBias" if layer_norm == "with_bias" else "BiasFree",
            )

        def forward(self, image, mask):
            masked = image * (1 - mask) + mask
            height, width = mask.shape[2:]
            scaled = [
                F.interpolate(mask, size=[height // f, width // f], mode="nearest")
                for f in (2, 4, 8)
            ]
            return self.generator(masked, mask, *scaled)

    return OfficialHINT


# ----------------------------------------------------------------------------------------
# Workers (one measurement per subprocess)
# ----------------------------------------------------------------------------------------


def make_inputs(batch, size, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    image = rng.random((batch, size, size, 3), dtype=np.float32)
    target = rng.random((batch, size, size, 3), dtype=np.float32)
    mask = np.zeros((batch, size, size, 1), np.float32)
    mask[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    return image, mask, target


def _proc_status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _ru_maxrss_mb():
    return peak_rss_bytes() / 2**20


def _busy_cpu_seconds():
    # All CPUs' non-idle time since boot, from /proc/stat (None where there is none).
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds():
    times = os.times()
    return times.user + times.system


def _measure(run, warmup, repeats):
    """Times `run()`: the first call, the warm-up calls, then `repeats` timed calls."""
    rss_setup = _proc_status_kb("VmRSS")
    start = time.perf_counter()
    run()
    first_call = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        run()
    reset = _reset_peak_rss()
    busy_before, own_before, wall_before = (
        _busy_cpu_seconds(),
        _own_cpu_seconds(),
        time.perf_counter(),
    )
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    wall = time.perf_counter() - wall_before
    busy_after = _busy_cpu_seconds()
    other_load = None
    if busy_before is not None and busy_after is not None:
        # Cores kept busy by other processes while timing: the machine may be shared, and
        # both frameworks slow down (PyTorch's OpenMP threads badly) when they compete.
        own = _own_cpu_seconds() - own_before
        other_load = max(busy_after - busy_before - own, 0.0) / wall
    hwm = _proc_status_kb("VmHWM") if reset else None
    return {
        "other_load": other_load,
        "first_call_s": first_call,
        "times_s": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "rss_after_setup_mb": None if rss_setup is None else rss_setup / 1024,
        "peak_rss_mb": _ru_maxrss_mb(),
        "timed_peak_rss_mb": None if hwm is None else hwm / 1024,
    }


def keras_train_step(model, optimizer="fused", jit_compile=False):
    """The measured Keras training step: forward, L1 against a target, gradients, Adam.

    Args:
        model: A `HINTBackbone`.
        optimizer: "fused" (`hint.optimizers.FusedAdam`, what training uses) or "keras"
            (`keras.optimizers.Adam`).
        jit_compile: Whether XLA compiles the step.

    Returns:
        `train_step(image, mask, target) -> loss`, a `tf.function`.
    """
    import keras
    import tensorflow as tf

    from hint.optimizers import FusedAdam

    adam = FusedAdam if optimizer == "fused" else keras.optimizers.Adam
    optimizer = adam(learning_rate=LEARNING_RATE)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def train_step(image, mask, target):
        with tf.GradientTape() as tape:
            prediction = model({"image": image, "mask": mask}, training=True)
            loss = tf.reduce_mean(tf.abs(prediction - target))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    return train_step


def _keras_worker(spec):
    import tensorflow as tf

    # Thread pools are fixed when the runtime initialises, so before any op runs.
    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(spec["inter_op_threads"])
    import keras

    from hint.models import HINTBackbone, get_preset

    preset = spec["preset"]
    package_preset = get_preset(preset)
    package_preset.pop("type", None)
    if {k: tuple(v) if isinstance(v, list) else v for k, v in package_preset.items()} != (
        PRESETS[preset]
    ):
        raise RuntimeError(f"benchmarks PRESETS[{preset!r}] differs from hint.models.presets")

    if spec["mode"] == "gemm":
        return _gemm_worker(spec)
    keras.utils.set_random_seed(spec["seed"])
    model = HINTBackbone.from_preset(preset, remat=spec["remat"])
    parameters = int(sum(int(tf.size(w)) for w in model.trainable_weights))
    image, mask, target = (tf.constant(a) for a in make_inputs(spec["batch"], spec["size"], 0))
    jit_compile = spec["variant"] == "xla"

    if spec["mode"] == "forward":

        @tf.function(jit_compile=jit_compile)
        def forward(image, mask):
            return model({"image": image, "mask": mask}, training=False)

        def run():
            forward(image, mask).numpy()

        from hint.summary import graph_flops

        shapes = {"image": (spec["size"], spec["size"], 3), "mask": (spec["size"], spec["size"], 1)}
        flops = spec["batch"] * sum(graph_flops(model, shapes).values())

    else:
        flops = None
        train_step = keras_train_step(model, jit_compile=jit_compile)

        def run():
            float(train_step(image, mask, target))

    repeats = spec["repeats"]
    result = _measure(run, spec["warmup"], repeats)
    result.update(
        flops=flops,
        parameters=parameters,
        intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
        inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
        versions={"tensorflow": tf.__version__, "keras": keras.__version__},
    )
    return result


def _gemm_worker(spec):
    """Times the reference matrix product (`run_info.gemm`): the machine's own rate."""
    import tensorflow as tf

    run, flops = gemm(spec["seed"])
    result = _measure(run, spec["warmup"], spec["repeats"])
    result.update(
        flops=flops,
        intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
        inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
        versions={"tensorflow": tf.__version__},
    )
    return result


def gemm_fraction(records):
    """Forward rate over the GEMM rate, `{"forward_gflops", "gemm_gflops", "fraction"}`.

    Args:
        records: Run records with a `keras/gemm/gemm` run and a plain Keras graph forward.

    Returns:
        The rates in GFLOP/s (operations over median seconds) and their ratio, or None when
        either run is missing or failed.
    """
    by_name = {r.get("name"): r for r in records if "error" not in r}
    forward, gemm = by_name.get("keras/graph/forward"), by_name.get("keras/gemm/gemm")
    if not forward or not gemm or not forward.get("flops"):
        return None
    forward_rate = forward["flops"] / forward["median_s"] / 1e9
    gemm_rate = gemm["flops"] / gemm["median_s"] / 1e9
    return {
        "forward_gflops": round(forward_rate, 1),
        "gemm_gflops": round(gemm_rate, 1),
        "fraction": round(forward_rate / gemm_rate, 3),
    }


def _torch_worker(spec):
    import torch

    torch.set_num_threads(spec["threads"])
    torch.set_num_interop_threads(spec["inter_op_threads"])
    torch.manual_seed(spec["seed"])

    if spec.get("official"):
        model = official_hint_class(spec["official"])(**PRESETS[spec["preset"]])
    else:
        model = torch_hint_class()(**PRESETS[spec["preset"]], checkpoint_blocks=spec["remat"])
    parameters = torch_parameter_count(model)
    image, mask, target = (
        torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
        for a in make_inputs(spec["batch"], spec["size"], 0)
    )

    if spec["mode"] == "forward":
        model.eval()

        def run():
            with torch.inference_mode():
                model(image, mask)

    else:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

        def run():
            optimizer.zero_grad(set_to_none=True)
            loss = (model(image, mask) - target).abs().mean()
            loss.backward()
            optimizer.step()
            float(loss)

    result = _measure(run, spec["warmup"], spec["repeats"])
    result.update(
        parameters=parameters,
        intra_op_threads=torch.get_num_threads(),
        inter_op_threads=torch.get_num_interop_threads(),
        versions={"torch": torch.__version__},
    )
    return result


def _worker_main(spec_json):
    spec = json.loads(spec_json)
    worker = _keras_worker if spec["framework"] == "keras" else _torch_worker
    result = worker(spec)
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------
# Parent: jobs, report
# ----------------------------------------------------------------------------------------

# Column keys of the report: (framework, variant).
KERAS_GRAPH = ("keras", "graph")
KERAS_XLA = ("keras", "xla")
TORCH_EAGER = ("torch", "eager")
COLUMN_TITLES = {
    KERAS_GRAPH: "Keras graph",
    KERAS_XLA: "Keras XLA",
    TORCH_EAGER: "PyTorch eager",
}


def _jobs(args, with_torch):
    kinds = [("forward", False)]
    if not args.forward_only:
        kinds.append(("train", False))
        if args.remat:
            kinds.append(("train", True))
    jobs = []
    for mode, remat in kinds:
        xla = args.xla and (mode == "forward" or args.xla_train)
        columns = [KERAS_GRAPH] + [KERAS_XLA] * xla + [TORCH_EAGER] * with_torch
        for framework, variant in columns:
            jobs.append(
                {
                    "framework": framework,
                    "variant": variant,
                    "mode": mode,
                    "remat": remat,
                    "preset": args.preset,
                    "size": args.size,
                    "batch": args.batch,
                    "threads": args.threads,
                    "inter_op_threads": args.inter_op_threads,
                    "warmup": args.warmup,
                    "repeats": args.repeats if mode == "forward" else args.train_repeats,
                    "seed": args.seed,
                    "official": args.official,
                }
            )
    if args.gemm:
        jobs.append({**jobs[0], "framework": "keras", "variant": "gemm", "mode": "gemm"})
        jobs[-1]["repeats"] = args.repeats
    return jobs


def _job_name(job):
    remat = ""
    if job["remat"]:
        remat = "+remat" if job["framework"] == "keras" else "+checkpoint"
    return f"{job['framework']}/{job['variant']}/{job['mode']}{remat}"


def _run_job(job, timeout):
    env = dict(os.environ)
    threads = str(job["threads"])
    env.update(
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        TF_CPP_MIN_LOG_LEVEL="2",
        KERAS_BACKEND="tensorflow",
        PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")])),
    )
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)]
    record = dict(job, name=_job_name(job), loadavg_before=list(os.getloadavg()))
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {timeout} s"
        return record
    record["wall_s"] = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        record["error"] = f"exit code {done.returncode}: {tail}"
        return record
    record.update(json.loads(lines[-1][len(RESULT_MARKER) :]))
    return record


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _step_memory(record):
    if record is None or "peak_rss_mb" not in record or record["rss_after_setup_mb"] is None:
        return None
    return record["peak_rss_mb"] - record["rss_after_setup_mb"]


def _metrics(record):
    """Report values of one run (None for a missing or failed run)."""
    if record is None or "error" in record:
        return dict.fromkeys(("time_ms", "first_s", "peak_mb", "step_mb"))
    return {
        "time_ms": record["median_s"] * 1e3,
        "first_s": record["first_call_s"],
        "peak_mb": record["peak_rss_mb"],
        "step_mb": _step_memory(record),
    }


METRIC_ROWS = (
    ("time_ms", "median time (ms)"),
    ("first_s", "first call (s)"),
    ("peak_mb", "peak RSS (MB)"),
    ("step_mb", "step memory (MB)"),
)


def summarise(records, columns):
    """Table rows and a ratio dict from the run records.

    Args:
        records: Run records (`_run_job` results).
        columns: The (framework, variant) columns present.

    Returns:
        `(rows, ratios)`: rows for `tabulate` (measurement, one value per column, then
        the Keras / PyTorch ratio of each Keras column), and a dict of the ratios,
        keyed like `"train.keras_graph_over_torch.time_ms"` and
        `"train+remat.keras_graph_remat_over_plain.peak_mb"`.
    """
    by_key = {(r["framework"], r["variant"], r["mode"], r["remat"]): r for r in records}
    keras_columns = [c for c in columns if c[0] == "keras"]
    rows, ratios = [], {}
    kinds = sorted({(r["mode"], r["remat"]) for r in records}, key=lambda k: (k[0], k[1]))
    for mode, remat in kinds:
        label = mode + ("+remat" if remat else "")
        metrics = {c: _metrics(by_key.get((*c, mode, remat))) for c in columns}
        torch_metrics = metrics.get(TORCH_EAGER)
        for metric, title in METRIC_ROWS:
            row = [f"{label}: {title}"] + [metrics[c][metric] for c in columns]
            for column in keras_columns:
                value = None
                # A ratio of tracing / compile times to eager start-up says little.
                if torch_metrics is not None and metric != "first_s":
                    value = _ratio(metrics[column][metric], torch_metrics[metric])
                    if value is not None:
                        ratios[f"{label}.{column[0]}_{column[1]}_over_torch.{metric}"] = value
                row.append(value)
            rows.append(row)
        if remat:
            plain = {c: _metrics(by_key.get((*c, mode, False))) for c in columns}
            for metric in ("time_ms", "peak_mb", "step_mb"):
                row = [f"{label} / plain: {dict(METRIC_ROWS)[metric]}"]
                for column in columns:
                    value = _ratio(metrics[column][metric], plain[column][metric])
                    if value is not None:
                        key = f"{label}.{column[0]}_{column[1]}_remat_over_plain.{metric}"
                        ratios[key] = value
                    row.append(value)
                rows.append(row + [None] * (len(keras_columns) if TORCH_EAGER in columns else 0))
    return rows, ratios


def _format(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Keras HINT generator vs. a PyTorch reference: latency and memory, with "
        "Keras / PyTorch ratios. See the module docstring for the commands to run."
    )
    parser.add_argument("--size", type=int, default=256, help="square input size in px (256)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (1)")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="hint", help="HINTBackbone preset (hint)"
    )
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (2)")
    parser.add_argument("--inter-op-threads", type=int, default=1, help="inter-op threads (1)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed calls, the first included (2)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed forward passes (5)")
    parser.add_argument("--train-repeats", type=int, default=3, help="timed training steps (3)")
    parser.add_argument("--forward-only", action="store_true", help="skip the training step")
    parser.add_argument(
        "--remat",
        action="store_true",
        help="also time the training step with Keras remat / PyTorch checkpointing",
    )
    parser.add_argument(
        "--no-xla", dest="xla", action="store_false", help="skip the Keras XLA forward column"
    )
    parser.add_argument(
        "--xla-train",
        action="store_true",
        help="also time the training step with XLA (slow to compile, much more memory)",
    )
    parser.add_argument("--keras-only", action="store_true", help="do not run PyTorch")
    parser.add_argument(
        "--official",
        metavar="DIR",
        help="a checkout of the official HINT repository: time its generator in the PyTorch "
        "column instead of this script's reference (needs einops)",
    )
    parser.add_argument(
        "--gemm",
        action="store_true",
        help=f"also time a {GEMM_SIZE}x{GEMM_SIZE} float32 matmul: the forward's share of it",
    )
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (0)")
    parser.add_argument("--timeout", type=float, default=3600, help="per run, in s (3600)")
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help="JSON output path (benchmarks/results/hint_vs_pytorch.json)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is None:
        if args.size < SIZE_MULTIPLE or args.size % SIZE_MULTIPLE:
            parser.error(f"--size must be a positive multiple of {SIZE_MULTIPLE}")
        for name in ("batch", "threads", "inter_op_threads", "warmup", "repeats"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
        if args.train_repeats < 1:
            parser.error("--train-repeats must be at least 1")
        if args.official is not None:
            if not os.path.isfile(os.path.join(args.official, "src", "networks.py")):
                parser.error(
                    f"--official must be a checkout of the official HINT repository (with "
                    f"src/networks.py). Received: {args.official}"
                )
            if args.remat:
                parser.error("--official has no checkpointed variant: drop --remat")
            if args.keras_only:
                parser.error("--official times PyTorch: drop --keras-only")
    return args


def main(argv=None):
    args = _parse_args(argv)
    if args.worker is not None:
        _worker_main(args.worker)
        return 0

    from tabulate import tabulate

    with_torch = not args.keras_only
    if with_torch and not torch_available():
        print(
            f"PyTorch is not installed: measuring the Keras side only. For the comparison, "
            f"run `{TORCH_INSTALL}` (CPU wheel) and rerun.",
            flush=True,
        )
        with_torch = False

    jobs = _jobs(args, with_torch)
    columns = list(
        dict.fromkeys((j["framework"], j["variant"]) for j in jobs if j["mode"] != "gemm")
    )
    print(
        f"HINT generator, preset {args.preset}, {args.batch}x{args.size}x{args.size}, "
        f"{args.threads} intra-op / {args.inter_op_threads} inter-op threads, "
        f"{len(jobs)} runs (one subprocess each)",
        flush=True,
    )
    records = []
    for job in jobs:
        record = _run_job(job, args.timeout)
        records.append(record)
        if "error" in record:
            status = f"FAILED: {record['error']}"
        else:
            status = (
                f"median {record['median_s'] * 1e3:.1f} ms, first call "
                f"{record['first_call_s']:.1f} s, peak RSS {record['peak_rss_mb']:.0f} MB, "
                f"other load {record.get('other_load') or 0.0:.2f} cores"
            )
        print(f"  {record['name']:<28} {status}", flush=True)

    parameters = {}
    for record in records:
        if "parameters" in record:
            parameters.setdefault(record["framework"], set()).add(record["parameters"])
    parameters = {k: sorted(v) for k, v in parameters.items()}
    for framework, counts in parameters.items():
        assert len(counts) == 1, f"{framework} parameter counts differ between runs: {counts}"
        if args.preset == "hint":
            assert counts[0] == OFFICIAL_PARAMETERS, (
                f"{framework} model has {counts[0]:,} trainable parameters, "
                f"expected {OFFICIAL_PARAMETERS:,}"
            )
    if len(parameters) == 2:
        assert parameters["keras"] == parameters["torch"], f"parameter counts differ: {parameters}"
    parameters = {k: v[0] for k, v in parameters.items()}

    rows, ratios = summarise([r for r in records if r["mode"] != "gemm"], columns)
    gemm = gemm_fraction(records)
    titles = dict(COLUMN_TITLES)
    if args.official:
        titles[TORCH_EAGER] = "official PyTorch"
    headers = ["measurement"] + [titles[c] for c in columns]
    if TORCH_EAGER in columns:
        headers += [f"{titles[c]} / PyTorch" for c in columns if c[0] == "keras"]
    print()
    print(tabulate([[_format(v) for v in row] for row in rows], headers=headers))
    print()
    print(f"trainable parameters: {parameters}")
    print("ratio > 1: Keras slower / uses more memory than PyTorch; < 1: faster / less.")
    if args.remat and not args.forward_only:
        print("remat / plain: PyTorch column is torch.utils.checkpoint per sandwich block.")
    if gemm is not None:
        print(
            f"forward: {gemm['forward_gflops']} GFLOP/s, {gemm['fraction']:.0%} of a "
            f"{GEMM_SIZE}x{GEMM_SIZE} float32 tf.matmul in the same run "
            f"({gemm['gemm_gflops']} GFLOP/s)"
        )
    busy = [r["name"] for r in records if (r.get("other_load") or 0.0) > OTHER_LOAD_WARNING]
    if busy:
        print(
            f"WARNING: other processes kept more than {OTHER_LOAD_WARNING} cores busy during "
            f"{busy}; their times are not reliable, rerun on an idle machine."
        )

    versions = {"python": platform.python_version()}
    for record in records:
        versions.update(record.get("versions", {}))
    payload = {
        "benchmark": "hint_vs_pytorch",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([os.path.relpath(__file__, REPO_ROOT)] + sys.argv[1:]),
        "config": {k: v for k, v in vars(args).items() if k != "worker"},
        "machine": {"cpu": _cpu_name(), "logical_cpus": os.cpu_count()},
        "versions": versions,
        "parameters": parameters,
        "ratios": ratios,
        "gemm": gemm,
        "runs": records,
    }
    if args.official:
        # Which official code ran: the checkout's commit when it is a git checkout.
        done = subprocess.run(
            ["git", "-C", args.official, "rev-parse", "HEAD"], capture_output=True, text=True
        )
        payload["official"] = {
            "repository": "https://github.com/ChrisChen1023/HINT",
            "commit": done.stdout.strip() or None,
            "patch": "Tensor.cuda() returns the tensor itself (the MPD's .cuda() buffer)",
        }
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    failed = [r["name"] for r in records if "error" in r]
    if failed:
        print(f"failed runs: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

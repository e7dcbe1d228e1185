"""The HINT authors' released PyTorch checkpoints as run directories of this toolkit.

The official code (https://github.com/ChrisChen1023/HINT, MIT licence) saves its generator with
`torch.save({"iteration": ..., "generator": state_dict}, "InpaintingModel_gen.pth")`. This
module maps that `state_dict`'s tensors, by their official names, into `HINTBackbone` and writes
a run directory (`config.yaml`, `model.keras`) that `inpaint`, `evaluate` and `export` accept:

    python main.py convert-official InpaintingModel_gen.pth --out runs/hint_places2

Mapping facts (read from the official `src/networks.py`):

- Convolutions are `[out, in, kh, kw]` in PyTorch and `[kh, kw, in, out]` in Keras; depthwise
  ones `[C, 1, kh, kw]` and `[kh, kw, C, 1]`.
- PyTorch's `PixelUnshuffle` / `PixelShuffle` put sub-pixel offset `o` of channel `c` in
  channel `c * 4 + o`, TensorFlow's `space_to_depth` / `depth_to_space` in `o * (C / 4) + c`.
  Our MPD therefore hands its level the official channels in another order; every weight that
  reads or writes the residual stream of encoder levels 2-4 (block norms, 1x1 projections, the
  next MPD, the up-sampler after the latent, the skip half of the 1x1 reductions) is permuted
  to match, and the up-samplers' convolutions are permuted so that `depth_to_space` gives the
  official channels. The decoder works in the official order.
- The official MPD interleaves feature channel `i` with the mask channel of its offset
  (`i % 4`) and applies a 3x3 convolution with one group per pair; our MPD computes the same
  with two depthwise convolutions, so each group's kernel splits into a feature and a mask part.
- The official `GatedEmb` never has a bias; the spatial branch of SCAL always has one and
  always uses layer norms with a bias, as `HINTBackbone` does.

Reference: Chen, Atapour-Abarghouei, Shum, "HINT: High-quality INpainting Transformer with
Mask-Aware Encoding and Enhanced Attention", IEEE TMM 2024 (arXiv 2402.14185).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable

import numpy as np

from hint import config as config_lib
from hint.datasets import image_io
from hint.inference import MODEL_FILE
from hint.models import HINTBackbone, get_preset, preset_names
from hint.torch_weights import WeightsError, conv_kernel, read_state_dict, take

OFFICIAL_REPOSITORY = "https://github.com/ChrisChen1023/HINT"
# The preset of the released checkpoints: `HINT()` with its defaults in the official models.py.
OFFICIAL_PRESET = "hint"
# What a converted network runs with unless a call says otherwise. R, G and B together, as
# the authors trained and tested it; the raw fill pasted in, as their test composites it
# (`outputs * masks + images * (1 - masks)`); at most 256 px a side, their training size.
INFERENCE_DEFAULTS = {"color_space": "joint", "blend": "none", "max_side": 256}
# The conversion's record in the run directory: the source file and the licence of the weights.
SOURCE_FILE = "converted_from.json"


class ConversionError(ValueError):
    """A conversion that cannot start: an unknown preset or an output folder already in use."""


@dataclasses.dataclass(frozen=True)
class OfficialTensor:
    """One tensor of the official generator and where it goes in `HINTBackbone`.

    Args:
        name: The official `state_dict` name.
        shape: Its PyTorch shape.
        layer: The `HINTBackbone` layer that takes it (`"encoder_2_block_0"`).
        targets: Attribute paths of the Keras variables it sets, under `layer`
            (`("ffn_1.project_in.kernel",)`); the MPD's grouped kernel sets two.
        convert: The official array -> one array per target, in Keras layout and order.
    """

    name: str
    shape: tuple
    layer: str
    targets: tuple
    convert: Callable


def offset_major(channels: int) -> np.ndarray:
    """The official channel of each TensorFlow pixel-(un)shuffle channel.

    Index `o * (channels / 4) + c` (TensorFlow's order) holds `c * 4 + o` (PyTorch's), for
    `channels` sub-pixel channels of a factor-2 shuffle.
    """
    quarter = channels // 4
    return np.array([c * 4 + o for o in range(4) for c in range(quarter)])


def _conv(in_perm=None, out_perm=None):
    def convert(weight):
        if out_perm is not None:
            weight = weight[out_perm]
        if in_perm is not None:
            weight = weight[:, in_perm]
        return (conv_kernel(weight),)

    return convert


def _depthwise(weight):
    return (np.transpose(weight, (2, 3, 0, 1)),)


def _vector(perm=None):
    def convert(value):
        return (value if perm is None else value[perm],)

    return convert


def _mpd_proj(out_perm):
    def convert(weight):
        # Group i of the official grouped convolution reads (feature i, mask of offset i % 4).
        features = np.transpose(weight[out_perm, 0], (1, 2, 0))[..., None]
        half = weight.shape[0] // 4
        mask = np.transpose(weight[:, 1].reshape(half, 4, 3, 3), (2, 3, 1, 0))
        return features, mask

    return convert


def official_tensors(
    dim=48,
    num_blocks=(4, 6, 6, 8),
    num_heads=(1, 2, 4, 8),
    ffn_expansion=2.66,
    use_bias=False,
    layer_norm="with_bias",
    image_channels=3,
    **unused,
) -> list[OfficialTensor]:
    """Every tensor of the official generator built with these `HINTBackbone` arguments.

    In the official `state_dict` order. Arguments are `HINTBackbone`'s (the official `HINT`
    takes the same, as `dim`, `num_blocks`, `heads`, `ffn_expansion_factor`, `bias` and
    `LayerNorm_type`); others (`remat`, `name`) are ignored.

    Returns:
        A list of `OfficialTensor`.
    """
    tensors = []
    with_bias = layer_norm == "with_bias"

    def add(name, shape, layer, targets, convert):
        tensors.append(OfficialTensor(name, tuple(shape), layer, tuple(targets), convert))

    def conv(name, shape, layer, target, bias, in_perm=None, out_perm=None):
        add(f"{name}.weight", shape, layer, [f"{target}kernel"], _conv(in_perm, out_perm))
        if bias:
            add(f"{name}.bias", shape[:1], layer, [f"{target}bias"], _vector(out_perm))

    def block(name, layer, channels, heads, perm):
        hidden = int(channels * ffn_expansion)

        def norm(official, ours, norm_perm=perm, norm_bias=with_bias):
            prefix, shape = f"{name}.{official}.body", (channels,)
            add(f"{prefix}.weight", shape, layer, [f"{ours}.gamma"], _vector(norm_perm))
            if norm_bias:
                add(f"{prefix}.bias", shape, layer, [f"{ours}.beta"], _vector(norm_perm))

        def ffn(official, ours):
            prefix = f"{name}.{official}"
            conv(
                f"{prefix}.project_in",
                (2 * hidden, channels, 1, 1),
                layer,
                f"{ours}.project_in.",
                use_bias,
                in_perm=perm,
            )
            add(
                f"{prefix}.dwconv.weight",
                (2 * hidden, 1, 3, 3),
                layer,
                [f"{ours}.depthwise.kernel"],
                _depthwise,
            )
            if use_bias:
                add(
                    f"{prefix}.dwconv.bias",
                    (2 * hidden,),
                    layer,
                    [f"{ours}.depthwise.bias"],
                    _vector(),
                )
            conv(
                f"{prefix}.project_out",
                (channels, hidden, 1, 1),
                layer,
                f"{ours}.project_out.",
                use_bias,
                out_perm=perm,
            )

        attn = f"{name}.attn"
        norm("norm1_1", "norm_1")
        ffn("ffn1", "ffn_1")
        norm("norm1", "norm_2")
        add(f"{attn}.temperature", (heads, 1, 1), layer, ["attention.temperature"], _vector())
        conv(
            f"{attn}.qkv",
            (3 * channels, channels, 1, 1),
            layer,
            "attention.qkv.",
            use_bias,
            in_perm=perm,
        )
        add(
            f"{attn}.qkv_dwconv.weight",
            (3 * channels, 1, 3, 3),
            layer,
            ["attention.qkv_depthwise.kernel"],
            _depthwise,
        )
        if use_bias:
            add(
                f"{attn}.qkv_dwconv.bias",
                (3 * channels,),
                layer,
                ["attention.qkv_depthwise.bias"],
                _vector(),
            )
        # The attention output is in the heads' order; only its projection writes the stream.
        conv(
            f"{attn}.project_out",
            (channels, channels, 1, 1),
            layer,
            "attention.project_out.",
            use_bias,
            out_perm=perm,
        )
        # Spatial branch: reads the stream, then multiplies the heads' output channel by channel.
        conv(
            f"{attn}.conv.0",
            (channels, channels, 3, 3),
            layer,
            "attention.spatial_conv_1.",
            True,
            in_perm=perm,
        )
        norm("attn.conv.1", "attention.spatial_norm_1", norm_perm=None, norm_bias=True)
        conv(f"{attn}.conv.3", (channels, channels, 3, 3), layer, "attention.spatial_conv_2.", True)
        norm("attn.conv.4", "attention.spatial_norm_2", norm_perm=None, norm_bias=True)
        norm("norm2", "norm_3")
        ffn("ffn", "ffn_2")

    def level(official, ours, count, channels, heads, perm):
        for i in range(count):
            block(f"{official}.{i}", f"{ours}_block_{i}", channels, heads, perm)

    def mpd(official, ours, channels, in_perm):
        conv(
            f"{official}.body.0",
            (channels // 2, channels, 3, 3),
            ours,
            "conv.",
            False,
            in_perm=in_perm,
        )
        add(
            f"{official}.proj.weight",
            (2 * channels, 2, 3, 3),
            ours,
            ["feature_depthwise.kernel", "mask_depthwise.kernel"],
            _mpd_proj(offset_major(2 * channels)),
        )

    def upsample(official, ours, channels, in_perm):
        out_perm = offset_major(2 * channels)
        conv(
            f"{official}.body.0",
            (2 * channels, channels, 3, 3),
            ours,
            "conv.",
            False,
            in_perm,
            out_perm,
        )

    def skip_reduction(official, ours, channels, skip_perm):
        # Input: the up-sampler's channels (official order), then the encoder's skip.
        in_perm = np.concatenate([np.arange(channels), channels + skip_perm])
        conv(official, (channels, 2 * channels, 1, 1), ours, "", use_bias, in_perm=in_perm)

    level_2, level_3, latent = (offset_major(dim * 2**i) for i in (1, 2, 3))
    # The official GatedEmb is built without a bias whatever `bias` is.
    conv(
        "patch_embed.gproj1", (2 * dim, image_channels + 1, 3, 3), "embedding", "projection.", False
    )
    level("encoder_level1", "encoder_1", num_blocks[0], dim, num_heads[0], None)
    mpd("down1_2", "mpd_1", dim, None)
    level("encoder_level2", "encoder_2", num_blocks[1], 2 * dim, num_heads[1], level_2)
    mpd("down2_3", "mpd_2", 2 * dim, level_2)
    level("encoder_level3", "encoder_3", num_blocks[2], 4 * dim, num_heads[2], level_3)
    mpd("down3_4", "mpd_3", 4 * dim, level_3)
    level("latent", "latent", num_blocks[3], 8 * dim, num_heads[3], latent)
    upsample("up4_3", "upsample_3", 8 * dim, latent)
    skip_reduction("reduce_chan_level3", "reduce_3", 4 * dim, level_3)
    level("decoder_level3", "decoder_3", num_blocks[2], 4 * dim, num_heads[2], None)
    upsample("up3_2", "upsample_2", 4 * dim, None)
    skip_reduction("reduce_chan_level2", "reduce_2", 2 * dim, level_2)
    level("decoder_level2", "decoder_2", num_blocks[1], 2 * dim, num_heads[1], None)
    upsample("up2_1", "upsample_1", 2 * dim, None)
    level("decoder_level1", "decoder_1", num_blocks[0], 2 * dim, num_heads[0], None)
    conv("output.0", (image_channels, 2 * dim, 3, 3), "output", "", use_bias)
    return tensors


def official_names(**arguments) -> dict[str, tuple]:
    """Official tensor name -> PyTorch shape, in `state_dict` order (`official_tensors`)."""
    return {t.name: t.shape for t in official_tensors(**arguments)}


def _variable(model, layer: str, path: str):
    obj = model.get_layer(layer)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def official_values(state: dict, source: str = "state_dict", **arguments) -> list[np.ndarray]:
    """The official generator's tensors from `state`, in `official_tensors(**arguments)` order.

    Args:
        state: Official name -> NumPy array (`hint.torch_weights.read_state_dict`). Names
            saved through `nn.DataParallel` (`module.` in front) are read too.
        source: What `state` was read from, for error messages.
        **arguments: `HINTBackbone` arguments (`official_tensors`).

    Raises:
        WeightsError: a tensor is missing, has another shape, or is not the official
            generator's.
    """
    if state and all(name.startswith("module.") for name in state):
        # The official code wraps the generator in nn.DataParallel when trained on several GPUs.
        state = {name[len("module.") :]: value for name, value in state.items()}
    tensors = official_tensors(**arguments)
    values = [take(state, t.name, t.shape, source) for t in tensors]
    expected = {t.name for t in tensors}
    extra = [name for name in state if name not in expected]
    if extra:
        raise WeightsError(
            f"{source} has {len(extra)} tensors the official HINT generator does not have "
            f"(first: {extra[0]!r}): is it the right file?"
        )
    return values


def load_official_state(backbone: HINTBackbone, state: dict, source: str = "state_dict") -> None:
    """Sets every weight of `backbone` from an official generator `state_dict`.

    Args:
        backbone: A `HINTBackbone`; its arguments say which tensors and shapes are expected.
        state: Official name -> NumPy array (see `official_values`).
        source: What `state` was read from, for error messages.

    Raises:
        WeightsError: a tensor is missing, has another shape, or is not the official
            generator's.
    """
    config = backbone.get_config()
    values = official_values(state, source, **config)
    assigned = set()
    for tensor, value in zip(official_tensors(**config), values, strict=True):
        for path, array in zip(tensor.targets, tensor.convert(value), strict=True):
            variable = _variable(backbone, tensor.layer, path)
            variable.assign(np.ascontiguousarray(array, np.float32))
            assigned.add(variable.path)
    if backbone.use_bias:
        # Our embedding takes `use_bias`; the official one never has a bias.
        variable = backbone.get_layer("embedding").projection.bias
        variable.assign(np.zeros(variable.shape, np.float32))
        assigned.add(variable.path)
    missed = [v.path for v in backbone.weights if v.path not in assigned]
    if missed:
        raise RuntimeError(f"Official conversion left weights unset: {missed}")


def backbone_from_state(
    state: dict, source: str = "state_dict", preset: str = OFFICIAL_PRESET
) -> HINTBackbone:
    """A `HINTBackbone` of `preset` holding an official generator `state_dict`.

    Its `inference_defaults` are `INFERENCE_DEFAULTS` (R, G and B together, no blending,
    256 px), so `inpaint`, `evaluate` and `export` run it as the authors do.

    Raises:
        ConversionError: `preset` is not a HINT preset.
        WeightsError: `state` does not hold the generator of that preset.
    """
    arguments = preset_arguments(preset)
    try:
        # Checked before the network is built: the official one takes seconds to build.
        official_values(state, source, **arguments)
    except WeightsError as e:
        raise WeightsError(
            f"{e} (compared with the official HINT generator at preset {preset!r})"
        ) from None
    backbone = HINTBackbone(**arguments, inference_defaults=dict(INFERENCE_DEFAULTS))
    load_official_state(backbone, state, source)
    return backbone


def preset_arguments(preset: str) -> dict:
    """`HINTBackbone` arguments of a HINT preset.

    Raises:
        ConversionError: `preset` is unknown or of another network.
    """
    hint_presets = [p for p in preset_names() if "type" not in get_preset(p)]
    if preset not in hint_presets:
        raise ConversionError(
            f"The preset must be one of the HINT presets {hint_presets}. Received: preset={preset}"
        )
    return get_preset(preset)


def _check_out_dir(out_dir: str) -> None:
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise ConversionError(
            f"The output folder exists and is not empty: choose a new one. Received: out={out_dir}"
        )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_config(out_dir: str, preset: str = OFFICIAL_PRESET) -> config_lib.Config:
    """The config of a converted run: inpainting with `preset`, 256 px crops, embedded images.

    `evaluate --run` measures it on the embedded photographs unless `--data` is given.
    """
    out_dir = os.path.normpath(out_dir)
    return config_lib.config_from_dict(
        {
            "task": "inpaint",
            "run": {"dir": os.path.dirname(out_dir) or ".", "name": os.path.basename(out_dir)},
            # The released models were trained on 256 x 256 images.
            "data": {"image_size": 256, "channels": 3},
            "model": {"preset": preset},
        },
        source="<official checkpoint>",
    )


def convert_checkpoint(checkpoint: str, out_dir: str, preset: str = OFFICIAL_PRESET) -> str:
    """Converts an official generator checkpoint into a run directory.

    The run directory holds `config.yaml`, `model.keras` (with `INFERENCE_DEFAULTS`) and
    `converted_from.json` (the source file's name and SHA-256, the official repository and
    licence). It appears complete or not at all: it is written in a temporary folder beside
    `out_dir`, then renamed.

    Args:
        checkpoint: The official `InpaintingModel_gen.pth` (a dict with a `"generator"`
            `state_dict`, as the official code saves it).
        out_dir: The run directory to create (absent or empty).
        preset: The HINT preset the checkpoint was trained at. Defaults to `"hint"`, the
            official configuration (72,265,248 parameters).

    Returns:
        `out_dir`.

    Raises:
        WeightsError: the file is missing or unreadable, PyTorch is not installed, or the file
            is not an official generator of `preset`.
        ConversionError: `out_dir` exists and is not empty, or `preset` is not a HINT preset.

    Example:

    >>> convert_checkpoint("InpaintingModel_gen.pth", "runs/hint_places2")
    'runs/hint_places2'
    """
    preset_arguments(preset)
    out_dir = os.path.normpath(out_dir)
    _check_out_dir(out_dir)
    try:
        state = read_state_dict(checkpoint, key="generator")
    except WeightsError as e:
        if "no 'generator' entry" in str(e):
            raise WeightsError(
                f"{e}: convert the generator file the official code saves "
                "(InpaintingModel_gen.pth), not the discriminator's"
            ) from None
        raise
    backbone = backbone_from_state(state, checkpoint, preset)
    del state
    cfg = run_config(out_dir, preset)
    record = {
        "checkpoint": os.path.basename(checkpoint),
        "sha256": _sha256(checkpoint),
        "tensors": len(official_tensors(**backbone.get_config())),
        "parameters": int(sum(np.prod(v.shape) for v in backbone.weights)),
        "preset": preset,
        "official_repository": OFFICIAL_REPOSITORY,
        "code_licence": "MIT (the official repository's LICENSE)",
        "data_terms": "the training data's: CelebA and CelebA-HQ non-commercial research only, "
        "Places2 non-commercial research and education (docs/inpainting.md)",
        "inference_defaults": dict(INFERENCE_DEFAULTS),
    }
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    # Hidden, beside the target: the final rename stays on one file system.
    staging = os.path.join(parent, f".{os.path.basename(out_dir)}.{uuid.uuid4().hex}.tmp")
    os.mkdir(staging)
    try:
        config_lib.dump_config(cfg, os.path.join(staging, "config.yaml"))
        backbone.save(os.path.join(staging, MODEL_FILE))
        with image_io.atomic_write(os.path.join(staging, SOURCE_FILE), mode="w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)  # empty (checked above): rename cannot replace a folder
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir

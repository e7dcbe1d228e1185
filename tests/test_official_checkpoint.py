"""Converting the HINT authors' PyTorch checkpoints: names, channel orders, the command.

The official tensor list (`tests/data/hint_official_tensors.json`) was written once from the
official `src/networks.py` (`HINT()`, its defaults: 973 tensors, 72,265,248 parameters). The
conversion is checked against the project's PyTorch reference of the official generator
(`benchmarks/hint_vs_pytorch.py`, whose `state_dict` has the official names); against the
official code itself by `benchmarks/official_checkpoint_parity.py`.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import hint_vs_pytorch as bench
from hint import cli, official_checkpoint
from hint.datasets import image_io
from hint.inference import load_model
from hint.models import HINTBackbone, get_preset
from hint.training import load_run_config

TENSORS = os.path.join(os.path.dirname(__file__), "data", "hint_official_tensors.json")
TINY = "hint_tiny"


def _official_tensors():
    with open(TENSORS) as f:
        return [(name, tuple(shape)) for name, shape in json.load(f).items()]


def test_the_converter_expects_the_official_tensors_in_order():
    expected = _official_tensors()
    assert len(expected) == 973
    assert sum(int(np.prod(shape)) for _, shape in expected) == bench.OFFICIAL_PARAMETERS
    assert list(official_checkpoint.official_names().items()) == expected


def test_the_reference_state_dict_has_the_official_names_and_shapes():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = bench.torch_hint_class()(**bench.PRESETS["hint"])
    state = [(name, tuple(t.shape)) for name, t in reference.state_dict().items()]
    assert state == _official_tensors()


def test_offset_major_is_the_pytorch_channel_of_each_tensorflow_channel():
    rng = np.random.default_rng(0)
    x = rng.random((1, 4, 6, 5)).astype("float32")
    ours = tf.nn.space_to_depth(x, 2).numpy()
    # PyTorch's PixelUnshuffle in NHWC: channel c * 4 + (dy * 2 + dx).
    pytorch = x.reshape(1, 2, 2, 3, 2, 5).transpose(0, 1, 3, 5, 2, 4).reshape(1, 2, 3, 20)
    np.testing.assert_array_equal(ours, pytorch[..., official_checkpoint.offset_major(20)])


# === Against the PyTorch reference ===


def _reference(torch, seed=0, **config):
    """The reference with random weights, norms and temperatures away from their initial 1 / 0."""
    torch.manual_seed(seed)
    reference = bench.torch_hint_class()(**config).eval()
    generator = torch.Generator().manual_seed(seed + 1)

    def noise(shape):
        return torch.randn(shape, generator=generator)

    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if name.endswith("temperature"):
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 1.5 + 0.5)
            elif ".body.weight" in name:  # layer norms
                parameter.copy_(1.0 + 0.2 * noise(parameter.shape))
            elif name.endswith(".bias"):
                parameter.add_(0.1 * noise(parameter.shape))
            elif name == "output.0.weight":
                # Spreads the outputs over the tanh's range, so a wrong channel shows.
                parameter.mul_(10.0)
    return reference


def _inputs(size, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((2, size, size, 3), dtype=np.float32)
    mask = (rng.random((2, size, size, 1)) < 0.3).astype(np.float32)
    mask[:, size // 4 : size // 2, size // 4 : 3 * size // 4] = 1.0
    return image, mask


def _run_reference(torch, reference, image, mask):
    with torch.no_grad():
        out = reference(
            torch.from_numpy(image).permute(0, 3, 1, 2), torch.from_numpy(mask).permute(0, 3, 1, 2)
        )
    return out.permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A `hint_tiny` reference saved as the official code saves its generator, and the reference."""
    torch = pytest.importorskip("torch")
    reference = _reference(torch, **get_preset(TINY))
    path = tmp_path_factory.mktemp("checkpoint") / "InpaintingModel_gen.pth"
    torch.save({"iteration": 1, "generator": reference.state_dict()}, path)
    return str(path), reference


def test_converted_checkpoint_computes_what_the_reference_computes(tiny_checkpoint, tmp_path):
    torch = pytest.importorskip("torch")
    checkpoint, reference = tiny_checkpoint
    out = official_checkpoint.convert_checkpoint(checkpoint, str(tmp_path / "run"), preset=TINY)
    model = load_model(out)
    for size in (32, 64):
        image, mask = _inputs(size)
        # Both are the raw generator output (tanh + 1) / 2, not a composite.
        expected = _run_reference(torch, reference, image, mask)
        assert expected.std() > 0.1
        np.testing.assert_allclose(
            np.asarray(model({"image": image, "mask": mask})), expected, rtol=0, atol=1e-4
        )


def test_biases_bias_free_norms_and_data_parallel_names_are_mapped():
    torch = pytest.importorskip("torch")
    config = {
        "dim": 8,
        "num_blocks": (1, 1, 1, 1),
        "num_heads": (1, 2, 2, 4),
        "ffn_expansion": 2.0,
        "use_bias": True,
        "layer_norm": "bias_free",
    }
    reference = _reference(torch, seed=3, **config)
    with torch.no_grad():
        # The official embedding has no bias whatever `bias` is; the reference's follows ours.
        reference.patch_embed.gproj1.bias.zero_()
    state = {
        f"module.{name}": tensor.numpy()
        for name, tensor in reference.state_dict().items()
        if name != "patch_embed.gproj1.bias"
    }
    backbone = HINTBackbone(**config)
    official_checkpoint.load_official_state(backbone, state, "test")
    image, mask = _inputs(32, seed=1)
    np.testing.assert_allclose(
        np.asarray(backbone({"image": image, "mask": mask})),
        _run_reference(torch, reference, image, mask),
        rtol=0,
        atol=1e-4,
    )


# === The command ===


def _convert(checkpoint, out, *extra):
    return cli.main(["convert-official", str(checkpoint), "--out", str(out), *extra])


def test_command_writes_a_run_that_loads_and_inpaints(tiny_checkpoint, tmp_path, capsys):
    checkpoint, _ = tiny_checkpoint
    out = tmp_path / "runs" / "hint_tiny_official"
    assert _convert(checkpoint, out, "--preset", TINY) == 0
    assert f"Converted {checkpoint} to {out}" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["config.yaml", "converted_from.json", "model.keras"]
    assert os.listdir(tmp_path / "runs") == ["hint_tiny_official"]  # no staging folder left
    cfg = load_run_config(str(out))
    assert cfg.task == "inpaint" and cfg.model.preset == TINY
    model = load_model(str(out))
    assert model.inference_defaults == official_checkpoint.INFERENCE_DEFAULTS
    assert model.inference_defaults["color_space"] == "joint"
    with open(out / "converted_from.json") as f:
        record = json.load(f)
    assert record["checkpoint"] == "InpaintingModel_gen.pth" and len(record["sha256"]) == 64

    rng = np.random.default_rng(0)
    image_io.write_image(tmp_path / "photo.png", rng.random((40, 48, 3)))
    mask = np.zeros((40, 48, 1), np.float32)
    mask[10:20, 12:30] = 1.0
    image_io.write_image(tmp_path / "mask.png", mask)
    argv = ["inpaint", "--run", str(out), "--precision", "float32"]
    argv += ["--image", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png")]
    assert cli.main([*argv, "--out", str(tmp_path / "filled.png")]) == 0
    filled = image_io.read_image(tmp_path / "filled.png")
    assert filled.shape == (40, 48, 3)
    capsys.readouterr()
    # Converted weights have no training state: --resume refuses instead of training afresh.
    before = os.path.getmtime(out / "model.keras")
    assert cli.main(["train", "--resume", str(out)]) == 2
    _assert_one_line_error(capsys, "nothing to resume", "model.init_from")
    assert os.path.getmtime(out / "model.keras") == before


def _assert_one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for fragment in fragments:
        assert fragment in err[0], err[0]


def test_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert _convert(tmp_path / "none.pth", tmp_path / "run") == 2
    _assert_one_line_error(capsys, "Weights file not found")
    assert os.listdir(tmp_path) == []


def test_without_torch_the_error_says_how_to_install_it(tmp_path, capsys, without_torch):
    (tmp_path / "gen.pth").write_bytes(b"x")
    assert _convert(tmp_path / "gen.pth", tmp_path / "run") == 2
    _assert_one_line_error(capsys, 'pip install -e ".[torch]"')
    assert os.listdir(tmp_path) == ["gen.pth"]


def test_a_discriminator_file_is_refused_with_a_hint(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.save({"discriminator": {"conv1.0.weight": torch.zeros(2, 3, 4, 4)}}, tmp_path / "d.pth")
    assert _convert(tmp_path / "d.pth", tmp_path / "run") == 2
    _assert_one_line_error(capsys, "no 'generator' entry", "InpaintingModel_gen.pth")
    assert os.listdir(tmp_path) == ["d.pth"]


def test_a_checkpoint_of_another_size_is_refused(tiny_checkpoint, tmp_path, capsys):
    checkpoint, _ = tiny_checkpoint
    # The default preset is the official configuration; this file is hint_tiny's.
    assert _convert(checkpoint, tmp_path / "run") == 2
    _assert_one_line_error(
        capsys, "'patch_embed.gproj1.weight' has shape (32, 4, 3, 3), expected (96, 4, 3, 3)"
    )
    assert os.listdir(tmp_path) == []


def test_extra_tensors_an_unknown_preset_and_a_used_folder_are_refused(
    tiny_checkpoint, tmp_path, capsys
):
    torch = pytest.importorskip("torch")
    checkpoint, reference = tiny_checkpoint
    state = dict(reference.state_dict(), **{"extra.weight": torch.zeros(1)})
    torch.save({"generator": state}, tmp_path / "extra.pth")
    assert _convert(tmp_path / "extra.pth", tmp_path / "run", "--preset", TINY) == 2
    _assert_one_line_error(capsys, "1 tensors the official HINT generator does not have")
    assert _convert(checkpoint, tmp_path / "run", "--preset", "dncnn_gray") == 2
    _assert_one_line_error(capsys, "Received: preset=dncnn_gray")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "model.keras").write_bytes(b"")
    assert _convert(checkpoint, tmp_path / "used", "--preset", TINY) == 2
    _assert_one_line_error(capsys, "is not empty")
    assert sorted(os.listdir(tmp_path)) == ["extra.pth", "used"]
    assert os.listdir(tmp_path / "used") == ["model.keras"]


def test_a_failed_write_leaves_no_folder(tiny_checkpoint, tmp_path, monkeypatch):
    checkpoint, _ = tiny_checkpoint

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(HINTBackbone, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        official_checkpoint.convert_checkpoint(checkpoint, str(tmp_path / "run"), preset=TINY)
    assert os.listdir(tmp_path) == []

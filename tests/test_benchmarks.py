"""Checks of benchmarks/hint_vs_pytorch.py: its report arithmetic and its PyTorch reference.

The reference tests copy our Keras layers' weights into the PyTorch modules and compare
outputs, so the benchmark compares the same computation; they skip without torch.
"""

import json
import sys

import keras
import numpy as np
import pytest

from benchmarks import hint_vs_pytorch as bench
from hint.models import HINTBackbone, get_preset, preset_names


def test_presets_match_the_package_presets():
    for name, config in bench.PRESETS.items():
        assert name in preset_names()
        assert get_preset(name) == config


def _record(framework, variant, mode, remat, median_s, peak, setup):
    return {
        "framework": framework,
        "variant": variant,
        "mode": mode,
        "remat": remat,
        "median_s": median_s,
        "first_call_s": 1.0,
        "peak_rss_mb": peak,
        "rss_after_setup_mb": setup,
    }


def test_summarise_ratios_are_keras_over_torch_and_remat_over_plain():
    records = [
        _record("keras", "graph", "train", False, 0.2, 900.0, 600.0),
        _record("torch", "eager", "train", False, 0.4, 400.0, 300.0),
        _record("keras", "graph", "train", True, 0.3, 750.0, 600.0),
        _record("torch", "eager", "train", True, 0.6, 350.0, 300.0),
        dict(_record("keras", "xla", "train", False, 0, 0, 0), error="failed"),
    ]
    columns = [bench.KERAS_GRAPH, bench.KERAS_XLA, bench.TORCH_EAGER]
    rows, ratios = bench.summarise(records, columns)
    assert ratios["train.keras_graph_over_torch.time_ms"] == pytest.approx(0.5)
    assert ratios["train.keras_graph_over_torch.peak_mb"] == pytest.approx(2.25)
    assert ratios["train.keras_graph_over_torch.step_mb"] == pytest.approx(3.0)
    assert ratios["train+remat.keras_graph_remat_over_plain.step_mb"] == pytest.approx(0.5)
    assert ratios["train+remat.torch_eager_remat_over_plain.time_ms"] == pytest.approx(1.5)
    # Failed runs and start-up times give no ratios; every row has one cell per column.
    assert not any("xla" in key or "first_s" in key for key in ratios)
    assert {len(row) for row in rows} == {1 + len(columns) + 2}


def test_main_without_torch_measures_keras_only_and_writes_json(monkeypatch, tmp_path, capsys):
    jobs = []

    def fake_run_job(job, timeout):
        jobs.append(job)
        record = _record(job["framework"], job["variant"], job["mode"], job["remat"], 0.1, 9, 8)
        return dict(record, name=bench._job_name(job), parameters=bench.OFFICIAL_PARAMETERS)

    monkeypatch.setattr(bench, "torch_available", lambda: False)
    monkeypatch.setattr(bench, "_run_job", fake_run_job)
    out = tmp_path / "results" / "bench.json"
    assert bench.main(["--size", "32", "--remat", "--out", str(out)]) == 0
    assert "pip install torch==2.13.0" in capsys.readouterr().out
    assert {job["framework"] for job in jobs} == {"keras"}
    # XLA only for the forward pass unless --xla-train.
    assert sorted((j["variant"], j["mode"], j["remat"]) for j in jobs) == [
        ("graph", "forward", False),
        ("graph", "train", False),
        ("graph", "train", True),
        ("xla", "forward", False),
    ]
    payload = json.loads(out.read_text())
    assert payload["parameters"] == {"keras": bench.OFFICIAL_PARAMETERS}
    assert (
        len(payload["runs"]) == 4
        and payload["ratios"]["train+remat.keras_graph_remat_over_plain.time_ms"] == 1.0
    )
    assert [p.name for p in out.parent.iterdir()] == ["bench.json"]


# === PyTorch reference ===


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def _torch_reference(**config):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch, bench.torch_hint_class()(**config)


def _set(torch, parameter, array):
    assert tuple(parameter.shape) == array.shape
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.ascontiguousarray(array, np.float32)))


def _copy_conv(torch, keras_conv, torch_conv, depthwise=False):
    kernel = _numpy(keras_conv.kernel)
    _set(torch, torch_conv.weight, kernel.transpose((2, 3, 0, 1) if depthwise else (3, 2, 0, 1)))
    if keras_conv.use_bias:
        _set(torch, torch_conv.bias, _numpy(keras_conv.bias))


def _copy_norm(torch, keras_norm, torch_norm):
    _set(torch, torch_norm.body.weight, _numpy(keras_norm.gamma))
    if keras_norm.center:
        _set(torch, torch_norm.body.bias, _numpy(keras_norm.beta))


def _copy_block(torch, block, reference):
    # Keras name -> the reference's (the official code's) name.
    for ours, official in (("norm_1", "norm1_1"), ("norm_2", "norm1"), ("norm_3", "norm2")):
        _copy_norm(torch, getattr(block, ours), getattr(reference, official))
    for ours, official in (("ffn_1", "ffn1"), ("ffn_2", "ffn")):
        ffn, ffn_ref = getattr(block, ours), getattr(reference, official)
        _copy_conv(torch, ffn.project_in, ffn_ref.project_in)
        _copy_conv(torch, ffn.depthwise, ffn_ref.dwconv, depthwise=True)
        _copy_conv(torch, ffn.project_out, ffn_ref.project_out)
    scal, scal_ref = block.attention, reference.attn
    _copy_conv(torch, scal.qkv, scal_ref.qkv)
    _copy_conv(torch, scal.qkv_depthwise, scal_ref.qkv_dwconv, depthwise=True)
    _set(torch, scal_ref.temperature, _numpy(scal.temperature))
    _copy_conv(torch, scal.spatial_conv_1, scal_ref.conv[0])
    _copy_norm(torch, scal.spatial_norm_1, scal_ref.conv[1])
    _copy_conv(torch, scal.spatial_conv_2, scal_ref.conv[3])
    _copy_norm(torch, scal.spatial_norm_2, scal_ref.conv[4])
    _copy_conv(torch, scal.project_out, scal_ref.project_out)


def _offset_major(channels):
    # PyTorch's (Un)PixelShuffle channel c * 4 + o is TF's space/depth channel o * n + c.
    n = channels // 4
    return np.array([o * n + c for c in range(n) for o in range(4)])


def _copy_mpd(torch, mpd, reference):
    _copy_conv(torch, mpd.conv, reference.body[0])
    features = _numpy(mpd.feature_depthwise.kernel)[:, :, :, 0]
    mask = _numpy(mpd.mask_depthwise.kernel)
    half = mask.shape[-1]
    grouped = np.zeros((4 * half, 2, 3, 3), np.float32)
    for o in range(4):
        for c in range(half):
            grouped[c * 4 + o, 0] = features[:, :, o * half + c]
            grouped[c * 4 + o, 1] = mask[:, :, o, c]
    _set(torch, reference.proj.weight, grouped)


def _copy_upsample(torch, upsample, reference):
    kernel = _numpy(upsample.conv.kernel)[..., _offset_major(upsample.conv.kernel.shape[-1])]
    _set(torch, reference.body[0].weight, kernel.transpose(3, 2, 0, 1))


def _nchw(torch, array):
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))


def _nhwc(tensor):
    return tensor.detach().numpy().transpose(0, 2, 3, 1)


def _parameters(layer):
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


@pytest.mark.parametrize("layer_norm", ["with_bias", "bias_free"])
def test_reference_components_compute_what_the_keras_layers_compute(layer_norm):
    config = {
        "dim": 8,
        "num_blocks": (1, 1, 1, 1),
        "num_heads": (1, 2, 2, 4),
        "ffn_expansion": 2.66,
        "use_bias": True,
        "layer_norm": layer_norm,
    }
    torch, reference = _torch_reference(**config)
    model = HINTBackbone(**config)
    rng = np.random.default_rng(3)
    # Perturb every weight so that unit norms, zero biases and unit temperatures are tested.
    for weight in model.trainable_weights:
        weight.assign(_numpy(weight) + rng.normal(0.0, 0.1, weight.shape).astype("float32"))
    assert bench.torch_parameter_count(reference) == _parameters(model)

    x = rng.normal(size=(2, 16, 16, 16)).astype("float32")
    mask = (rng.random((2, 16, 16, 1)) < 0.4).astype("float32")

    block, block_ref = model.get_layer("decoder_1_block_0"), reference.decoder_level1[0]
    _copy_block(torch, block, block_ref)
    assert bench.torch_parameter_count(block_ref) == _parameters(block)
    np.testing.assert_allclose(
        _nhwc(block_ref(_nchw(torch, x))), _numpy(block(x)), rtol=1e-4, atol=1e-4
    )

    embedding, embedding_ref = model.get_layer("embedding"), reference.patch_embed
    _copy_conv(torch, embedding.projection, embedding_ref.gproj1)
    np.testing.assert_allclose(
        _nhwc(embedding_ref(_nchw(torch, x[..., :4]))),
        _numpy(embedding(x[..., :4])),
        rtol=1e-4,
        atol=1e-4,
    )

    mpd, mpd_ref = model.get_layer("mpd_2"), reference.down2_3
    _copy_mpd(torch, mpd, mpd_ref)
    assert bench.torch_parameter_count(mpd_ref) == _parameters(mpd)
    expected = _numpy(mpd([x, mask]))[..., _offset_major(32)]
    np.testing.assert_allclose(
        _nhwc(mpd_ref(_nchw(torch, x), _nchw(torch, mask))), expected, rtol=1e-4, atol=1e-4
    )

    upsample, upsample_ref = model.get_layer("upsample_2"), reference.up3_2
    x32 = rng.normal(size=(2, 8, 8, 32)).astype("float32")
    _copy_upsample(torch, upsample, upsample_ref)
    np.testing.assert_allclose(
        _nhwc(upsample_ref(_nchw(torch, x32))), _numpy(upsample(x32)), rtol=1e-4, atol=1e-4
    )


def test_reference_has_the_official_parameter_count_and_output_range():
    torch, reference = _torch_reference(**bench.PRESETS["hint"])
    assert bench.torch_parameter_count(reference) == bench.OFFICIAL_PARAMETERS
    _, tiny = _torch_reference(**bench.PRESETS["hint_tiny"])
    assert bench.torch_parameter_count(tiny) == _parameters(HINTBackbone.from_preset("hint_tiny"))
    image = torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1.0
    with torch.inference_mode():
        output = tiny(image, mask)
        # Pixels under the hole never reach the network.
        changed = tiny(torch.where(mask > 0, torch.rand_like(image), image), mask)
    assert output.shape == (1, 3, 32, 32)
    assert 0.0 <= float(output.min()) and float(output.max()) <= 1.0
    torch.testing.assert_close(output, changed)


def test_gemm_fraction():
    records = [
        {"name": "keras/graph/forward", "flops": 400e9, "median_s": 4.0},
        {"name": "keras/gemm/gemm", "flops": 2 * 2048**3, "median_s": 2 * 2048**3 / 200e9},
        {"name": "torch/eager/forward", "flops": None, "median_s": 9.0},
    ]
    assert bench.gemm_fraction(records) == {
        "forward_gflops": 100.0,
        "gemm_gflops": 200.0,
        "fraction": 0.5,
    }
    assert bench.gemm_fraction(records[:1]) is None
    failed = [records[0], {**records[1], "error": "timeout"}]
    assert bench.gemm_fraction(failed) is None


def test_official_needs_a_checkout_and_no_remat(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench._parse_args(["--official", str(tmp_path)])
    assert "src/networks.py" in capsys.readouterr().err
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "networks.py").write_text("")
    assert bench._parse_args(["--official", str(tmp_path)]).official == str(tmp_path)
    for extra in ("--remat", "--keras-only"):
        with pytest.raises(SystemExit):
            bench._parse_args(["--official", str(tmp_path), extra])


_FAKE_OFFICIAL = """
import torch


class HINT(torch.nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, image, mask, half, quarter, tiny):
        self.shapes = [tuple(t.shape) for t in (image, mask, half, quarter, tiny)]
        return image
"""


def test_official_wrapper_maps_the_preset_and_forms_the_official_inputs(tmp_path, monkeypatch):
    # A stand-in for the authors' src/networks.py: the wrapper's argument names and inputs.
    torch = pytest.importorskip("torch")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "networks.py").write_text(_FAKE_OFFICIAL)
    monkeypatch.setattr(torch.Tensor, "cuda", torch.Tensor.cuda)  # restored after the test
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "src.networks", raising=False)
    monkeypatch.delitem(sys.modules, "src", raising=False)
    model = bench.official_hint_class(str(tmp_path))(**bench.PRESETS["hint_tiny"])
    assert model.generator.kwargs == {
        "dim": 16,
        "num_blocks": [1, 1, 1, 2],
        "heads": [1, 1, 2, 4],
        "ffn_expansion_factor": 2.66,
        "bias": False,
        "LayerNorm_type": "WithBias",
    }
    image = torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1.0
    masked = model(image, mask)
    assert torch.equal(masked, image * (1 - mask) + mask)
    assert model.generator.shapes[2:] == [(1, 1, 16, 16), (1, 1, 8, 8), (1, 1, 4, 4)]
    assert torch.equal(torch.ones(2).cuda(), torch.ones(2))

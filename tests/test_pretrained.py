"""The shipped-weights registry and the commands that use it when no --run is given.

These tests swap `hint.pretrained.WEIGHTS_DIR` for a folder of tiny stand-in models, so they
check the mechanism; `test_shipped_weights.py` checks the real files.
"""

import numpy as np
import pytest

from hint import config, inference, pretrained, training
from hint import precision as precision_lib
from hint.datasets import image_io
from hint.models.dncnn import DnCNN
from hint.task_plugin import get_task
from hint.tasks.denoise import ShippedDenoisers
from hint.tasks.denoise.shipped_denoisers import denoiser_for


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", str(folder))
    return folder


def save_denoiser(folder, name, channels):
    model = DnCNN(depth=3, filters=4, image_channels=channels, conditioning="noise_map")
    model.save(folder / pretrained.PRETRAINED[name].file)
    return model


def test_each_task_names_its_shipped_model():
    assert get_task("denoise").shipped_model(1) == "denoise_gray"
    assert get_task("denoise").shipped_model(3) == "denoise_color"
    assert get_task("denoise").shipped_model(2) is None
    assert get_task("inpaint").shipped_model(3) == "inpaint"
    for name in ("denoise_gray", "denoise_color", "inpaint"):
        entry = pretrained.PRETRAINED[name]
        assert get_task(entry.task).shipped_model(entry.channels) == name
    with pytest.raises(pretrained.PretrainedError, match="channels"):
        denoiser_for(2)


def test_missing_and_unknown_weights_are_clear_errors(weights_dir):
    assert pretrained.available() == []
    with pytest.raises(pretrained.PretrainedError, match="not in this installation.*--run"):
        pretrained.path("inpaint")
    with pytest.raises(pretrained.PretrainedError, match="Unknown shipped model"):
        pretrained.path("nope")


def test_denoise_without_run_picks_the_model_per_channel_count(weights_dir, tmp_path):
    gray = save_denoiser(weights_dir, "denoise_gray", 1)
    save_denoiser(weights_dir, "denoise_color", 3)
    assert sorted(pretrained.available()) == ["denoise_color", "denoise_gray"]
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    image_io.write_image(str(src / "g.png"), rng.uniform(size=(20, 24, 1)).astype("float32"))
    image_io.write_image(str(src / "c.png"), rng.uniform(size=(16, 16, 3)).astype("float32"))
    outs = get_task("denoise").command(None, str(src), str(out), sigma=25)
    assert sorted(image_io.read_image(p).shape for p in outs) == [(16, 16, 3), (20, 24, 1)]
    # The gray file went through the shipped gray model (loaded with safe_mode=True).
    noisy = image_io.read_image(str(src / "g.png"))
    from hint import inference

    expected = inference.denoise_array(gray, noisy, sigma=25)
    np.testing.assert_allclose(image_io.read_image(str(out / "g.png")), expected, atol=1 / 255)


def test_colour_images_fall_back_to_the_gray_model(weights_dir, tmp_path):
    gray = save_denoiser(weights_dir, "denoise_gray", 1)
    assert denoiser_for(3) == "denoise_gray"
    assert denoiser_for(1) == "denoise_gray"
    noisy = np.random.default_rng(1).uniform(size=(16, 20, 3)).astype("float32")
    np.save(tmp_path / "c.npy", noisy)
    (out,) = get_task("denoise").command(
        None, str(tmp_path / "c.npy"), str(tmp_path / "o.npy"), sigma=25, precision="float32"
    )
    from hint import inference

    # In the opponent colour space, as `denoise_array` does by default for a gray network.
    expected = inference.denoise_array(gray, noisy, sigma=25, clip=False, color_space="opponent")
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
    # Once a colour model is installed, colour images use it.
    save_denoiser(weights_dir, "denoise_color", 3)
    assert denoiser_for(3) == "denoise_color"


def test_denoise_in_mixed_bfloat16_is_close_to_float32(weights_dir, tmp_path):
    save_denoiser(weights_dir, "denoise_gray", 1)
    rng = np.random.default_rng(3)
    path = tmp_path / "n.npy"
    np.save(path, rng.uniform(size=(40, 36, 1)).astype("float32"))
    outs = {}
    for precision in ("float32", "mixed_bfloat16"):
        (out,) = get_task("denoise").command(
            None, str(path), str(tmp_path / f"{precision}.npy"), sigma=25, precision=precision
        )
        outs[precision] = np.load(out)
        assert outs[precision].dtype == np.float32
    assert not np.array_equal(outs["float32"], outs["mixed_bfloat16"])  # bfloat16 did compute
    np.testing.assert_allclose(outs["mixed_bfloat16"], outs["float32"], atol=0.02)
    network = ShippedDenoisers("mixed_bfloat16").for_channels(1)
    assert network.get_layer("conv_2").dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(precision_lib.PrecisionError, match="precision must be one of"):
        get_task("denoise").command(
            None, str(path), str(tmp_path / "x.npy"), sigma=25, precision="half"
        )
    assert not (tmp_path / "x.npy").exists()


def test_auto_precision_follows_the_cpu(weights_dir, tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])  # CPU only
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\n")
    assert {"avx512f", "avx512_bf16"} <= precision_lib.cpu_flags(str(cpuinfo))
    assert precision_lib.cpu_flags(str(tmp_path / "missing")) == set()
    assert precision_lib.resolve_precision("auto", {"avx512f", "avx512_bf16"}) == "mixed_bfloat16"
    assert precision_lib.resolve_precision("auto", {"amx_tile", "amx_bf16"}) == "mixed_bfloat16"
    assert precision_lib.resolve_precision("auto", {"avx2", "avx512f"}) == "float32"
    assert precision_lib.resolve_precision("auto", set()) == "float32"
    for explicit in ("float32", "mixed_bfloat16"):  # never overridden
        assert precision_lib.resolve_precision(explicit, set()) == explicit
    with pytest.raises(precision_lib.PrecisionError, match="Received: precision='fp16'"):
        precision_lib.resolve_precision("fp16")
    # The commands default to "auto" and say what it resolved to.
    save_denoiser(weights_dir, "denoise_gray", 1)
    path = tmp_path / "n.npy"
    np.save(path, np.random.default_rng(2).uniform(size=(16, 16, 1)).astype("float32"))
    for flags, expected in ((set(), "float32"), ({"avx512_bf16"}, "mixed_bfloat16")):
        monkeypatch.setattr(precision_lib, "cpu_flags", lambda flags=flags: flags)
        capsys.readouterr()
        from hint import cli

        argv = ["denoise", "--image", str(path), "--sigma", "25"]
        assert cli.main([*argv, "--out", str(tmp_path / f"{expected}.npy")]) == 0
        assert f"Computing in {expected}" in capsys.readouterr().out
        assert ShippedDenoisers("auto").precision == expected
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert precision_lib.resolve_precision("auto", {"avx512_bf16"}) == "float32"  # unmeasured there


def test_denoising_runs_the_folded_network(weights_dir, tmp_path):
    model = save_denoiser(weights_dir, "denoise_gray", 1)
    bn = model.get_layer("bn_2")
    bn.moving_mean.assign(np.linspace(-0.2, 0.2, 4).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 4).astype("float32"))
    model.save(weights_dir / pretrained.PRETRAINED["denoise_gray"].file)
    for precision in ("float32", "mixed_bfloat16"):
        network = ShippedDenoisers(precision).for_channels(1)
        assert not network.batch_norm
        assert network.get_layer("conv_2").dtype_policy.name == precision
        assert pretrained.load("denoise_gray", precision=precision).batch_norm  # as saved
    path = weights_dir / pretrained.PRETRAINED["denoise_gray"].file
    assert not inference.load_model(str(path), fold_batch_norm=True).batch_norm
    noisy = np.random.default_rng(5).uniform(size=(24, 20, 1)).astype("float32")
    np.save(tmp_path / "n.npy", noisy)
    (out,) = get_task("denoise").command(
        None, str(tmp_path / "n.npy"), str(tmp_path / "o.npy"), sigma=25, precision="float32"
    )
    expected = inference.denoise_array(model, noisy, sigma=25, clip=False)  # .npy: unclipped
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)


def test_blind_estimates_the_level_for_conditioned_models(weights_dir, tmp_path):
    save_denoiser(weights_dir, "denoise_gray", 1)
    clean = np.full((64, 64, 1), 0.5, np.float32)
    noisy = clean + np.random.default_rng(1).normal(0, 20 / 255, clean.shape).astype("float32")
    from hint import inference

    assert inference.estimate_sigma(noisy) == pytest.approx(20, abs=2)
    path = tmp_path / "n.npy"
    np.save(path, noisy)
    with pytest.raises(inference.InferenceError, match="--blind"):
        get_task("denoise").command(None, str(path), str(tmp_path / "o.npy"))
    get_task("denoise").command(None, str(path), str(tmp_path / "o.npy"), blind=True)
    assert (tmp_path / "o.npy").exists()


def test_init_from_pretrained(weights_dir, tmp_path):
    source = save_denoiser(weights_dir, "denoise_gray", 1)
    cfg = config.load_config(
        None,
        [
            "task=denoise",
            "data.channels=1",
            "model.type=DnCNN",
            "model.depth=3",
            "model.filters=4",
            "model.conditioning=noise_map",
            "model.init_from=pretrained",
        ],
    )
    assert training.init_source(cfg) == str(weights_dir / "denoise_gray.keras")
    task = training.build_task(cfg)
    for a, b in zip(task.backbone.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_init_from_without_batch_norm_folds_and_deepens_the_source(weights_dir):
    source = save_denoiser(weights_dir, "denoise_gray", 1)
    bn = source.get_layer("bn_2")
    bn.moving_mean.assign(np.linspace(-0.2, 0.2, 4).astype("float32"))
    bn.gamma.assign(np.linspace(0.5, 1.5, 4).astype("float32"))
    source.save(weights_dir / "denoise_gray.keras")
    overrides = ["task=denoise", "data.channels=1", "model.type=DnCNN", "model.depth=3"]
    overrides += ["model.filters=4", "model.conditioning=noise_map", "model.init_from=pretrained"]
    cfg = config.load_config(None, [*overrides, "model.batch_norm=false"])
    backbone = training.build_task(cfg).backbone
    assert not backbone.batch_norm
    x = {
        "image": np.random.default_rng(1).uniform(size=(2, 16, 16, 1)).astype("float32"),
        "noise_level": np.full((2, 16, 16, 1), 0.1, "float32"),
    }
    expected = source(x, training=False).numpy()
    np.testing.assert_allclose(backbone(x, training=True).numpy(), expected, atol=1e-5)
    # A deeper one starts from it with identity layers inserted: the same function again.
    deeper = training.build_task(
        config.load_config(None, [*overrides, "model.depth=5", "model.batch_norm=false"])
    )
    assert deeper.backbone.depth == 5
    np.testing.assert_allclose(deeper.backbone(x, training=True).numpy(), expected, atol=1e-5)
    # A batch-normed network of another depth cannot take the weights: a clear error.
    with pytest.raises(training.TrainingError, match="does not match this model"):
        training.build_task(config.load_config(None, [*overrides, "model.depth=5"]))


def test_a_colour_plane_network_starts_from_a_gray_one(tmp_path):
    gray = DnCNN(depth=3, filters=4, conditioning="noise_map")
    gray.save(tmp_path / "gray.keras")
    overrides = ["task=denoise", "data.channels=3", "model.type=CrossPlaneDnCNN"]
    overrides += ["model.depth=4", "model.conditioning=noise_map", "model.mix_every=2"]
    cfg = config.load_config(
        None, [*overrides, "model.filters=4", f"model.init_from={tmp_path / 'gray.keras'}"]
    )
    backbone = training.build_task(cfg).backbone
    noisy = np.random.default_rng(2).uniform(size=(20, 18, 3)).astype("float32")
    expected = inference.denoise_array(gray, noisy, 25.0, color_space="opponent")
    np.testing.assert_allclose(inference.denoise_array(backbone, noisy, 25.0), expected, atol=1e-5)
    with pytest.raises(training.TrainingError, match="init_from=.*filters"):
        training.build_task(
            config.load_config(
                None, [*overrides, "model.filters=8", f"model.init_from={tmp_path / 'gray.keras'}"]
            )
        )
    # ... and one with mixing after every layer from that one, as that one.
    backbone.get_layer("mix_2").kernel.assign(np.full((3, 4, 3, 4), 0.1, "float32"))
    backbone.save(tmp_path / "planes.keras")
    dense = ["model.filters=4", "model.mix_every=1", f"model.init_from={tmp_path / 'planes.keras'}"]
    denser = training.build_task(config.load_config(None, [*overrides, *dense])).backbone
    np.testing.assert_allclose(
        inference.denoise_array(denser, noisy, 25.0),
        inference.denoise_array(backbone, noisy, 25.0),
        atol=1e-5,
    )
    with pytest.raises(training.TrainingError, match="init_from=.*multiple of 4"):
        training.build_task(config.load_config(None, [*overrides, *dense, "model.mix_every=4"]))


def test_init_from_pretrained_missing_is_a_training_error(weights_dir):
    cfg = config.load_config(None, ["model.init_from=pretrained"])
    with pytest.raises(training.TrainingError, match="init_from=pretrained.*not in this"):
        training.init_source(cfg)


def test_denoise_command_ensemble(weights_dir, tmp_path):
    save_denoiser(weights_dir, "denoise_gray", 1)
    path = tmp_path / "n.npy"
    np.save(path, np.random.default_rng(4).uniform(size=(24, 40, 1)).astype("float32"))
    from hint import cli, inference

    argv = ["denoise", "--image", str(path), "--sigma", "25", "--out"]
    assert cli.main(argv + [str(tmp_path / "e.npy"), "--ensemble", "dihedral"]) == 0
    network = ShippedDenoisers("auto").for_channels(1)  # the command's default
    expected = inference.denoise_array(
        network, np.load(path), sigma=25, clip=False, ensemble="dihedral"
    )
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, atol=1e-5)
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage error
        cli.main(argv + [str(tmp_path / "x.npy"), "--ensemble", "x8"])
    assert exit_info.value.code == 2 and not (tmp_path / "x.npy").exists()


@pytest.mark.slow
def test_inpaint_command_blend_ensemble_and_colour_space(weights_dir, tmp_path):
    from hint.models import HINTBackbone

    generator = HINTBackbone(dim=4, num_blocks=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
    generator.save(weights_dir / pretrained.PRETRAINED["inpaint"].file)
    rng = np.random.default_rng(5)
    image = rng.uniform(size=(32, 48, 3)).astype("float32")
    mask = np.zeros((32, 48, 1), "float32")
    mask[4:20, 8:30] = 1
    image_io.write_image(str(tmp_path / "i.tif"), image)
    image_io.write_image(str(tmp_path / "m.png"), mask)
    from hint import cli, inference

    argv = ["inpaint", "--image", str(tmp_path / "i.tif"), "--mask", str(tmp_path / "m.png")]
    argv += ["--precision", "float32"]
    image = image_io.read_image(str(tmp_path / "i.tif"))
    shipped = pretrained.load("inpaint")  # once: loading HINT takes a second or two

    def run(name, options, **kwargs):
        out = str(tmp_path / name)
        assert cli.main(argv + ["--out", out, "--blend", "none", *options]) == 0
        expected = inference.inpaint_array(shipped, image, mask, **kwargs)
        # The output keeps the input's 8-bit format: equal up to rounding.
        np.testing.assert_allclose(image_io.read_image(out), expected, atol=0.51 / 255)
        return expected

    ensembled = run("e.tif", ["--ensemble", "dihedral"], blend="none", ensemble="dihedral")
    single = run("s.tif", [], blend="none")
    joint = run("j.tif", ["--color-space", "joint"], blend="none", color_space="joint")
    # Each option changes the result.
    assert np.abs(single - ensembled).max() > 2 / 255 and np.abs(single - joint).max() > 2 / 255
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage error
        cli.main(argv + ["--out", str(tmp_path / "x.tif"), "--ensemble", "x8"])
    assert exit_info.value.code == 2 and not (tmp_path / "x.tif").exists()


def test_init_from_a_missing_run_is_a_training_error_not_a_config_error(tmp_path):
    """A recorded config whose source run is gone still loads (to evaluate or resume it)."""
    cfg = config.load_config(None, [f"model.init_from={tmp_path / 'gone'}"])
    with pytest.raises(training.TrainingError, match="init_from.*an existing run directory"):
        training.init_source(cfg)

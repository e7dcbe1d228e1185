"""FID / KID / LPIPS in the inpainting evaluation: which rows get which numbers, and the tables.

The networks here have random weights: these tests check the bookkeeping, not the networks
(tests/models/test_fid_inception.py and test_lpips_network.py do that).
"""

import numpy as np
import pytest

from hint import config as config_lib
from hint import distribution_metrics, evaluation
from hint.models.fid_inception import FIDInceptionV3
from hint.models.lpips_network import FEATURE_CHANNELS, VGG16_CONVS, LPIPSNetwork
from hint.perceptual_evaluation import HOW_TO_ENABLE, PerceptualMetrics


@pytest.fixture(scope="module")
def perceptual():
    rng = np.random.default_rng(0)
    # Without the resize to 299 (the smallest input Inception takes is 75 px): a quick test.
    fid = FIDInceptionV3(resize=False)
    fid.load_state_dict(
        {
            name: (rng.uniform(0.5, 1.5, shape) if name.endswith("var") else
                   rng.normal(0, 0.05, shape)).astype(np.float32)
            for name, shape in fid.torch_names().items()
        }
    )  # fmt: skip
    vgg = {}
    for index, _, cin, cout in VGG16_CONVS:
        vgg[f"features.{index}.weight"] = rng.normal(0, np.sqrt(2 / (9 * cin)), (cout, cin, 3, 3))
        vgg[f"features.{index}.bias"] = np.zeros(cout)
    linear = {
        f"lin{k}.model.1.weight": rng.uniform(0, 0.1, (1, c, 1, 1))
        for k, c in enumerate(FEATURE_CHANNELS)
    }
    lpips = LPIPSNetwork.from_state_dicts(vgg, linear)
    return fid, lpips


@pytest.fixture(scope="module")
def run(perceptual):
    fid, lpips = perceptual
    rng = np.random.default_rng(1)
    images = rng.random((3, 80, 80, 3)).astype(np.float32)
    masks = {
        "0-20%": np.zeros((3, 80, 80, 1), np.float32),
        "20-40%": np.ones((3, 80, 80, 1), np.float32),
    }
    masks["0-20%"][:, 8:24, 8:24] = 1.0
    methods = {
        evaluation.THIS_RUN: lambda image, mask: image * (1 - mask) + 0.5 * mask,
        "noise": lambda image, mask: rng.random(image.shape),
    }
    collector = PerceptualMetrics(fid, lpips)
    per_method, _ = evaluation.evaluate_inpainting(methods, images, masks, perceptual=collector)
    return collector, per_method, evaluation.method_rows(per_method, collector)


def test_lpips_per_image_kid_per_bucket_fid_over_all(run):
    collector, per_method, rows = run
    for row in rows:
        assert {"lpips", "kid", "kid_std"} <= set(row)
        # FID over all images only: a bucket's few images cannot estimate 2048 covariances.
        assert ("fid" in row) == (row["bucket"] == "all")
    own = [r for r in rows if r["method"] == evaluation.THIS_RUN]
    # The bucket's LPIPS is the mean of its images'; "all" is the mean over every image.
    lpips_values = per_method[evaluation.THIS_RUN]["0-20%"]["lpips"]
    assert own[0]["lpips"] == pytest.approx(float(np.mean(lpips_values)))
    every = np.concatenate([v["lpips"] for v in per_method[evaluation.THIS_RUN].values()])
    assert own[-1]["lpips"] == pytest.approx(float(np.mean(every)))
    fake = collector._fake[evaluation.THIS_RUN]
    real = collector._real
    assert own[0]["kid"] == pytest.approx(distribution_metrics.kid(fake["0-20%"], real["0-20%"])[0])
    all_fake = np.concatenate([fake["0-20%"], fake["20-40%"]])
    all_real = np.concatenate([real["0-20%"], real["20-40%"]])
    assert own[-1]["fid"] == pytest.approx(distribution_metrics.fid(all_fake, all_real))


def test_tables_and_files_show_the_perceptual_columns(run, tmp_path):
    _, _, rows = run
    text = evaluation.format_comparison(rows)
    header = text.splitlines()[0]
    assert "LPIPS" in header and "KID" in header and "FID" in header
    bucket_line = next(line for line in text.splitlines() if line.startswith("0-20%"))
    assert bucket_line.rstrip().endswith("-")  # no FID for a bucket
    evaluation.write_comparison(rows, str(tmp_path))
    header = (tmp_path / "comparison.csv").read_text().splitlines()[0]
    assert header.endswith("lpips,kid,kid_std,fid")


def test_tables_without_perceptual_metrics_are_unchanged():
    row = {"bucket": "all", "n": 2, "psnr": 30.0, "ssim": 0.9, "mae": 0.01, "mse": 0.001}
    header = evaluation.format_table([row]).splitlines()[0]
    assert header.split() == [
        "hole",
        "ratio",
        "images",
        "PSNR",
        "(dB)",
        "SSIM",
        "L1",
        "(MAE)",
        "MSE",
    ]


def test_no_weights_configured_means_no_collector():
    assert PerceptualMetrics.from_config(config_lib.EvalConfig()) is None
    assert "eval.fid_weights" in HOW_TO_ENABLE


def test_config_checks_the_weight_files(tmp_path):
    cfg = config_lib.Config()
    cfg.eval.lpips_vgg_weights = str(tmp_path / "vgg16.pth")
    with pytest.raises(config_lib.ConfigError, match="both eval.lpips_vgg_weights"):
        config_lib.validate(cfg)
    cfg.eval.lpips_vgg_weights = None
    cfg.eval.fid_weights = str(tmp_path / "missing.pth")
    with pytest.raises(config_lib.ConfigError, match="'eval.fid_weights' is not a file"):
        config_lib.validate(cfg)


def test_configured_files_load_and_other_fid_weights_are_labelled(perceptual, tmp_path):
    torch = pytest.importorskip("torch")
    fid, lpips = perceptual
    rng = np.random.default_rng(3)
    fid_state = {k: torch.from_numpy(rng.random(s, dtype=np.float32) + 0.5)
                 for k, s in fid.torch_names().items()}  # fmt: skip
    vgg = {f"features.{i}.weight": torch.zeros(cout, cin, 3, 3) for i, _, cin, cout in VGG16_CONVS}
    vgg |= {f"features.{i}.bias": torch.zeros(cout) for i, _, _, cout in VGG16_CONVS}
    linear = {
        f"lin{k}.model.1.weight": torch.ones(1, c, 1, 1) for k, c in enumerate(FEATURE_CHANNELS)
    }
    for name, state in (("fid.pth", fid_state), ("vgg16.pth", vgg), ("lin.pth", linear)):
        torch.save(state, tmp_path / name)
    eval_cfg = config_lib.EvalConfig(
        fid_weights=str(tmp_path / "fid.pth"),
        lpips_vgg_weights=str(tmp_path / "vgg16.pth"),
        lpips_linear_weights=str(tmp_path / "lin.pth"),
    )
    collector = PerceptualMetrics.from_config(eval_cfg)
    assert collector.lpips_network is not None and collector.fid_network is not None
    assert not collector.comparable  # not pytorch-fid's file
    layer = collector.fid_network.get_layer("Conv2d_1a_3x3.bn")
    np.testing.assert_array_equal(layer.gamma.numpy(), fid_state["Conv2d_1a_3x3.bn.weight"].numpy())


def _tiny_run(tmp_path):
    """A run directory of an untrained tiny HINT, evaluated on 80 px crops of 2 images."""
    from hint.datasets import image_io
    from hint.models import HINTBackbone, get_preset

    run = tmp_path / "run"
    run.mkdir()
    cfg = config_lib.config_from_dict(
        {
            "task": "inpaint",
            "run": {"dir": str(tmp_path), "name": "run"},
            "data": {"image_size": 80, "channels": 3},
            "model": {"preset": "hint_tiny"},
            "inpaint": {"per_bucket": 2, "baselines": []},
            "eval": {"samples": 0},
        },
        source="test",
    )
    config_lib.dump_config(cfg, str(run / "config.yaml"))
    preset = {k: v for k, v in get_preset("hint_tiny").items() if k != "type"}
    HINTBackbone(**preset).save(str(run / "model.keras"))
    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        image_io.write_image(str(data / f"{i}.png"), rng.random((80, 80, 3)))
    return run, data


@pytest.mark.slow
def test_evaluate_command_prints_the_columns_it_can_and_says_how_to_add_them(
    perceptual, tmp_path, capsys
):
    torch = pytest.importorskip("torch")
    from hint import cli

    run, data = _tiny_run(tmp_path)
    assert cli.main(["evaluate", "--run", str(run), "--data", str(data)]) == 0
    printed = capsys.readouterr().out
    assert HOW_TO_ENABLE in printed and "LPIPS" not in printed.split(HOW_TO_ENABLE)[1]
    _, lpips = perceptual
    vgg = {
        f"features.{i}.weight": torch.randn(cout, cin, 3, 3) * 0.05
        for i, _, cin, cout in VGG16_CONVS
    }
    vgg |= {f"features.{i}.bias": torch.zeros(cout) for i, _, _, cout in VGG16_CONVS}
    linear = {
        f"lin{k}.model.1.weight": torch.ones(1, c, 1, 1) for k, c in enumerate(FEATURE_CHANNELS)
    }
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(linear, tmp_path / "lin.pth")
    argv = ["evaluate", "--run", str(run), "--data", str(data), "--set"]
    argv += [f"eval.lpips_vgg_weights={tmp_path / 'vgg16.pth'}"]
    argv += [f"eval.lpips_linear_weights={tmp_path / 'lin.pth'}"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "LPIPS" in printed and HOW_TO_ENABLE not in printed
    assert cli.main(["evaluate", "--run", str(run), "--set", "model.preset=hint"]) == 2
    assert "accepts only eval.* keys" in capsys.readouterr().err

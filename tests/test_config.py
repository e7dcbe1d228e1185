import glob
import os

import pytest
import yaml

from hint import config as config_lib
from hint.config import ConfigError, check_override_keys, dump_config, load_config
from hint.models import presets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_and_partial_config(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  epochs: 3\n"))
    assert cfg.train.epochs == 3
    assert cfg.train.lr == 1e-4  # untouched default
    assert cfg.inpaint.loss.style == 250.0
    assert cfg.model.type == "HINTBackbone"
    assert cfg.model.args["dim"] > 0  # filled from the preset


def test_repo_config_loads():
    cfg = load_config(os.path.join(ROOT, "config.yaml"))
    assert cfg.model.preset == "hint_tiny"
    assert cfg.data.image_size % 8 == 0


def test_unknown_key_names_key_line_and_suggestion(tmp_path):
    path = write(tmp_path, "train:\n  epochs: 3\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "train.learning_rate" in msg and "line 3" in msg
    assert "Valid keys" in msg


def test_unknown_key_close_match(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epoch'.*line 2.*Did you mean 'epochs'"):
        load_config(write(tmp_path, "train:\n  epoch: 3\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'train'"):
        load_config(write(tmp_path, "trian:\n  epochs: 3\n"))


def test_wrong_type(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.batch_size.*line 2.*expected int"):
        load_config(write(tmp_path, "data:\n  batch_size: four\n"))
    with pytest.raises(ConfigError, match="expected bool"):
        load_config(write(tmp_path, "train:\n  tensorboard: 1\n"))


def test_int_accepted_for_float(tmp_path):
    cfg = load_config(write(tmp_path, "loss:\n  style: 100\n"))
    assert cfg.inpaint.loss.style == 100.0 and isinstance(cfg.inpaint.loss.style, float)


def test_exponent_without_dot_is_a_float(tmp_path):
    # PyYAML reads `1e-3` as a string (YAML 1.1); users mean a number.
    cfg = load_config(write(tmp_path, "train:\n  lr: 1e-3\n"), ["inpaint.loss.l1=2e0"])
    assert cfg.train.lr == 1e-3 and cfg.inpaint.loss.l1 == 2.0
    with pytest.raises(ConfigError, match="expected float"):
        load_config(None, ["train.lr=fast"])


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("data.image_size=40", "multiple of 16"),
        ("train.lr=-1", r"train\.lr.*> 0"),
        ("inpaint.loss.gan=wgan", "one of nsgan, lsgan, hinge"),
        ("inpaint.mask.kind=frefrom", "Did you mean 'freeform'"),
        ("train.beta_1=1.5", r"\[0, 1\)"),
        ("train.ema_momentum=1", r"train\.ema_momentum.*\[0, 1\)"),
        ("train.warmup_steps=-1", r"train\.warmup_steps.*>= 0"),
        ("train.epochs=2 train.steps_per_epoch=5 train.warmup_steps=10", r"fewer than.*= 10\)"),
        ("data.path=/no/such/folder", "not a folder"),
        ("inpaint.mask.kind=folder", "inpaint.mask.folder"),
        (
            "inpaint.mask.kind=pixels inpaint.mask.drop=1.5",
            r"'inpaint\.mask\.drop' must be in \(0, 1\)\. Received: inpaint\.mask\.drop=1\.5$",
        ),
        ("model.preset=huge", "Unknown preset"),
        ("data.color_augment=hue", "one of none, channel_permutation, saturation, gray_channel"),
        ("data.channels=1 data.color_augment=channel_permutation", "needs colour images"),
    ],
)
def test_impossible_values(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(None, override.split())


def test_migrated_keys_load_with_a_one_line_notice(tmp_path, capsys):
    """A config of the older layout (task keys in the common sections) loads as today's."""
    old = tmp_path / "old.yaml"
    old.write_text(
        "task: denoise\n"
        "data: {noise: {kind: dropout, rate: 0.3}, mask: {kind: rect}}\n"
        "loss: {pixel: l1, perceptual: 0.5}\n"
        "eval: {sigmas: [10], per_bucket: 3, samples: 2}\n"
        "model: {preset: dncnn_gray}\n"
        "tune: {space: {data.noise.sigma: {choice: [5, 10]}}, trial_overrides: [loss.pixel=mse]}\n"
    )
    cfg = load_config(str(old))
    (note,) = capsys.readouterr().err.strip().splitlines()
    assert note.startswith(f"note: {old}: keys of an older layout") and "data.noise ->" in note
    assert cfg.denoise.noise.kind == "dropout" and cfg.denoise.noise.rate == 0.3
    assert cfg.denoise.pixel_loss == "l1" and cfg.denoise.sigmas == [10.0]
    assert cfg.eval.samples == 2
    # The inpainting keys of a denoising config were never read: they are dropped.
    assert "inpaint" not in cfg.sections
    assert cfg.tune.space == {"denoise.noise.sigma": {"choice": [5, 10]}}
    assert cfg.tune.trial_overrides == ["denoise.pixel_loss=mse"]
    # Old keys given with --set are read too; today's keys print nothing.
    assert load_config(None, ["loss.l1=2"]).inpaint.loss.l1 == 2.0
    assert "loss.l1 -> inpaint.loss.l1" in capsys.readouterr().err
    load_config(None, ["inpaint.loss.l1=2"])
    assert capsys.readouterr().err == ""


def test_task_sections_are_built_checked_and_written_at_the_top_level(tmp_path):
    cfg = load_config(None, ["task=denoise", "model.preset=dncnn_gray", "denoise.sigmas=[5]"])
    assert cfg.denoise.sigmas == [5.0] and "inpaint" not in cfg.sections
    assert cfg.to_dict()["denoise"]["noise"]["kind"] == "gaussian"
    with pytest.raises(ConfigError, match="Unknown key 'denoise.noise.sigm'.*Did you mean 'sigma'"):
        load_config(None, ["task=denoise", "denoise.noise.sigm=3"])
    with pytest.raises(ConfigError, match="Unknown key 'sections'"):
        load_config(None, ["sections.x=1"])
    with pytest.raises(ConfigError, match="denoise.noise.rate.*Received: denoise.noise.rate=1.0"):
        load_config(None, ["task=denoise", "model.preset=dncnn_gray", "denoise.noise.rate=1.0"])
    # Another task's section, when written, is kept and checked too.
    path = tmp_path / "both.yaml"
    dump_config(load_config(None, ["denoise.sigmas=[7]"]), str(path))
    assert load_config(str(path)).denoise.sigmas == [7.0]


def test_option_lists_are_the_implementations_own():
    from hint import config
    from hint.datasets import degradations, masks, sources
    from hint.tasks.denoise import denoise_config
    from hint.tasks.inpaint import inpaint_config

    assert config.FLIPS is sources.FLIPS
    assert config.COLOR_AUGMENTS is sources.COLOR_AUGMENTS
    assert inpaint_config.MASK_KINDS is masks.MASK_KINDS
    # Every degradation the data code implements is reachable from a config.
    assert denoise_config.DEGRADATION_KINDS is degradations.DEGRADATION_KINDS


def test_text_and_pixel_masks_from_a_config():
    from hint.task_plugin import get_task

    plugin = get_task("inpaint")
    cfg = load_config(None, ["inpaint.mask.kind=text"])
    assert plugin.mask_generator(cfg, 32).kind == "text"
    cfg = load_config(None, ["inpaint.mask.kind=pixels", "inpaint.mask.drop=0.3"])
    generator = plugin.mask_generator(cfg, 32)
    assert (generator.kind, generator.drop) == ("pixels", 0.3)
    cfg = load_config(None, ["inpaint.mask.weights={text: 1, pixels: 1, rect: 0}"])
    assert plugin.mask_generator(cfg, 32).weights == {"text": 1, "pixels": 1, "rect": 0}


def test_overrides_and_model_args():
    cfg = load_config(None, ["train.epochs=3", "model.dim=16", "model.num_blocks=[1,1,1,1]"])
    assert cfg.train.epochs == 3
    assert cfg.model.args["dim"] == 16
    assert cfg.model.args["num_blocks"] == [1, 1, 1, 1]


def test_unknown_model_argument_suggests():
    with pytest.raises(ConfigError, match=r"model\.dims.*Did you mean 'dim'"):
        load_config(None, ["model.dims=16"])
    with pytest.raises(ConfigError, match=r"model\.dim.*expected int"):
        load_config(None, ["model.dim=big"])


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["train.epochs"])


def test_string_options_only(tmp_path):
    # The original HINT config used integer mask modes; ours are named strings.
    with pytest.raises(ConfigError, match="expected str"):
        load_config(write(tmp_path, "data:\n  mask:\n    kind: 3\n"))


def test_dump_roundtrip(tmp_path):
    cfg = load_config(None, ["model.dim=8", "train.epochs=2"])
    out = str(tmp_path / "resolved.yaml")
    config_lib.dump_config(cfg, out)
    with open(out) as f:
        dumped = yaml.safe_load(f)
    assert dumped["model"]["dim"] == 8 and "args" not in dumped["model"]
    again = load_config(out)
    assert again.to_dict() == cfg.to_dict()


def test_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [1, 2\n"))


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/no/such/config.yaml")


def test_explicit_type_without_preset_round_trips(tmp_path):
    """`type: DnCNN` alone must not inherit the default HINT preset's arguments."""
    cfg = load_config(None, ["model.type=DnCNN", "model.depth=3", "model.filters=4"])
    assert cfg.model.preset is None
    assert cfg.model.args == {"depth": 3, "filters": 4}
    path = tmp_path / "config.yaml"
    dump_config(cfg, str(path))
    assert load_config(str(path)).model.args == cfg.model.args  # a run's config resumes
    with pytest.raises(ConfigError, match="is a HINTBackbone, but model.type is DnCNN"):
        load_config(None, ["model.preset=hint_tiny", "model.type=DnCNN"])


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "*.yaml")))
)
def test_shipped_configs_load(path):
    """Every config under configs/ (the shipped models' recipes) is valid as written.

    Their data folders are `../shared/data/...`, relative to the repository root (where the
    commands run); without that folder (a user's clone) the rest of the file is still checked.
    """
    with open(path) as f:
        raw = yaml.safe_load(f)
    data = raw.get("data", {})
    overrides = [
        f"data.{key}=null"
        for key in ("path", "val_path")
        if data.get(key) and not os.path.isdir(data[key])
    ]
    cfg = load_config(path, overrides)
    # The model is the one the file describes: its type (given, or its preset's) and every
    # argument the file or its preset gives, with the written values.
    model = raw["model"]
    preset = dict(presets.get_preset(model["preset"])) if "preset" in model else {}
    preset_type = preset.pop("type", "HINTBackbone")
    assert cfg.model.type == model.get("type", preset_type)
    fixed = {"preset", "type", "init_from", "freeze"}
    expected = {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in preset.items()},
        **{k: v for k, v in model.items() if k not in fixed},
    }
    assert expected and {k: cfg.model.args.get(k) for k in expected} == expected
    assert (cfg.model.init_from, cfg.model.freeze) == (
        model.get("init_from"),
        model.get("freeze", []),
    )
    assert cfg.task == raw.get("task", config_lib.Config.task)


def test_check_override_keys():
    allowed = ("train.epochs", "eval.")
    check_override_keys(
        ["train.epochs=3", "eval.samples=2", "eval.fid_weights=f"], allowed, "x", "y"
    )
    with pytest.raises(ConfigError, match=r"^cmd accepts only train.epochs, eval.\* keys \(why\)"):
        check_override_keys(["train.epochs_x=3"], allowed, "cmd", "why")
    with pytest.raises(ConfigError, match="Received: model.dim$"):
        check_override_keys(["eval.samples=1", "model.dim=4"], allowed, "cmd", "why")

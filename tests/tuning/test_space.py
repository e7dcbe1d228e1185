"""The search space: parsing, validation, keras_tuner round trip, trial and best configs."""

import os

import keras_tuner
import pytest
import yaml

from hint.config import ConfigError, load_config
from hint.tuning import search
from hint.tuning.hypermodel import HintHyperModel
from hint.tuning.space import parse_space
from tests.tuning.common import CNN, write_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(path, *overrides):
    return search.load_tune_config(path, list(overrides))


def test_repo_default_space_parses_and_round_trips_through_keras_tuner():
    cfg, raw, space = _load(os.path.join(REPO, "config.yaml"))
    assert cfg.tune.trials == 20 and cfg.tune.algorithm == "random"
    assert "model.freeze" in space.keys and "data.flips" in space.keys
    freeze = next(p for p in space if p.key == "model.freeze")
    assert freeze.encoded  # lists go through hp.Choice as JSON strings
    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    assert hp.values["model.freeze"] == "[]"
    values = space.values({**hp.values, "tuner/epochs": 3})
    assert values["model.freeze"] == []
    assert "tuner/epochs" not in values
    # Every trial config is a full, valid config with the trial-only settings.
    hypermodel = HintHyperModel(raw, space)
    trial = hypermodel.trial_config(hp.values)
    assert trial.data.image_size == 64 and trial.data.val_size is None
    assert trial.model.init_from == "pretrained"  # trials fine-tune the shipped model too
    assert trial.train.epochs == cfg.tune.epochs


def test_every_distribution_and_the_nested_form(tmp_path):
    space = {
        "model.dim": {"choice": [4, 8]},
        "inpaint.loss.l1": {"uniform": [0.5, 2.0], "step": 0.5},
        "train.lr": {"log_uniform": ["1e-5", "1e-3"]},  # PyYAML reads 1e-5 as a string
        "train.steps_per_epoch": {"int": [1, 3]},
        "data.flips": {"fixed": "none"},
        "inpaint.loss.style": {"choice": [0, 0.5]},  # ints with floats -> floats
        "inpaint": {"mask": {"kind": {"choice": ["freeform", "rect"]}}},
    }
    path = write_config(tmp_path, space)
    cfg, raw, parsed = _load(path, "tune.space.model.num_heads={choice: [[1,1,1,1]]}")
    by_key = {p.key: p for p in parsed}
    assert set(by_key) == {
        "model.dim",
        "inpaint.loss.l1",
        "train.lr",
        "train.steps_per_epoch",
        "data.flips",
        "inpaint.loss.style",
        "inpaint.mask.kind",
        "model.num_heads",
    }
    assert by_key["train.lr"].low == 1e-5 and by_key["train.lr"].log_scale
    assert (
        by_key["inpaint.loss.style"].options == (0.0, 0.5)
        and not by_key["inpaint.loss.style"].encoded
    )
    hp = keras_tuner.HyperParameters()
    parsed.declare(hp)
    assert isinstance(hp.get("train.steps_per_epoch"), int)
    # The trial config carries every value, data-pipeline keys included.
    values = {**hp.values, "inpaint.mask.kind": "rect", "model.dim": 8}
    trial = HintHyperModel(raw, parsed).trial_config(values, str(tmp_path / "t" / "trial_3"))
    assert trial.inpaint.mask.kind == "rect" and trial.model.args["dim"] == 8
    assert trial.data.flips == "none"
    assert (trial.run.dir, trial.run.name) == (str(tmp_path / "t"), "trial_3")


def test_best_config_keeps_the_base_schedule_and_loads(tmp_path):
    path = write_config(
        tmp_path,
        {"model.bottleneck": {"choice": [4, 8]}},
        model=CNN,
        epochs=1,
        trial_overrides=["data.batch_size=1"],
    )
    cfg, raw, space = _load(path, "train.epochs=5")
    hypermodel = HintHyperModel(raw, space)
    trial = hypermodel.trial_config({"model.bottleneck": 4})
    assert (trial.train.epochs, trial.data.batch_size) == (1, 1)
    best = hypermodel.best_config({"model.bottleneck": 4}, run_name="best")
    assert (best.train.epochs, best.data.batch_size, best.run.name) == (5, 2, "best")
    assert best.model.args["bottleneck"] == 4 and best.model.type == "TunableCNN"


@pytest.mark.parametrize(
    "space, pattern",
    [
        ({"model.dimm": {"choice": [4]}}, r"'tune\.space\.model\.dimm'.*line \d+.*'model\.dim'"),
        ({"train.lrr": {"uniform": [0.1, 0.2]}}, r"Did you mean 'train\.lr'"),
        ({"modle": {"dim": {"choice": [4]}}}, r"Did you mean 'model\.dim'"),
        ({"inpaint.mask": {"choice": [{}]}}, r"is a section"),
        ({"run.name": {"choice": ["a"]}}, r"cannot be tuned"),
        ({"tune.trials": {"choice": [2]}}, r"cannot be tuned"),
        ({"model.dim": {"choise": [4, 8]}}, r"Did you mean 'choice'"),
        ({"model.dim": 8}, r"must be a distribution"),
        ({"model.dim": {"choice": []}}, r"non-empty list"),
        ({"model.dim": {"choice": [4, 4]}}, r"repeated"),
        ({"inpaint.loss.l1": {"uniform": [2.0, 1.0]}}, r"low < high"),
        ({"inpaint.loss.l1": {"uniform": [1.0]}}, r"\[low, high\]"),
        ({"train.lr": {"log_uniform": [0.0, 1.0]}}, r"0 < low"),
        ({"model.dim": {"int": [4, 8.5]}}, r"integer"),
        ({"model.dim": {"int": [4, 8], "step": 8}}, r"larger than"),
        ({"inpaint.loss.l1": {"uniform": [0, 1], "log": True}}, r"unknown option log"),
        ({"inpaint.mask.kind": {"choice": ["freeform", "mixx"]}}, r"'mixx' is not valid.*mix"),
        ({"train.lr": {"uniform": [-1.0, 1.0]}}, r"-1\.0 is not valid.*train\.lr"),
        ({"model.dim": {"choice": ["eight"]}}, r"'eight' is not valid.*Wrong type"),
    ],
)
def test_bad_spaces_name_the_key_and_the_problem(tmp_path, space, pattern):
    path = write_config(tmp_path, space)
    with pytest.raises(ConfigError, match=pattern):
        _load(path)


def test_model_keys_follow_the_tuned_model_classes(tmp_path):
    # TunableCNN's arguments are valid keys when the space tunes the preset.
    space = {
        "model.preset": {"choice": ["tunable_cnn"]},
        "model.bottleneck": {"choice": [4, 8]},
    }
    cfg = load_config(write_config(tmp_path, space, model=CNN))
    raw = yaml.safe_load(open(tmp_path / "config.yaml"))
    assert [p.key for p in parse_space(cfg, raw)] == ["model.preset", "model.bottleneck"]
    with pytest.raises(ConfigError, match="Did you mean 'model.bottleneck'"):
        _load(write_config(tmp_path, {"model.botleneck": {"choice": [4]}}, model=CNN))


def test_empty_space_and_bad_tune_section(tmp_path):
    with pytest.raises(ConfigError, match="tune.space' is empty"):
        _load(write_config(tmp_path, {}))
    ok = write_config(tmp_path, {"model.dim": {"choice": [4]}})
    for override, pattern in [
        ("tune.algorithm=grid", "tune.algorithm"),
        ("tune.direction=up", "tune.direction"),
        ("tune.trials=0", "tune.trials"),
        ("tune.name=a/b", "plain folder name"),
        ("tune.time_budget=-1", "tune.time_budget"),
        ("tune.trial_overrides=[nokey]", "section.key=value"),
        ("tune.trialz=3", "Did you mean 'trials'"),
    ]:
        with pytest.raises(ConfigError, match=pattern):
            load_config(ok, [override])


def test_hypermodel_builds_the_trial_task(tmp_path):
    path = write_config(tmp_path, {"model.bottleneck": {"choice": [4, 8]}}, model=CNN)
    _, raw, space = _load(path)
    hypermodel = HintHyperModel(raw, space)
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    hp.values["model.bottleneck"] = 8
    task = hypermodel.build(hp)
    assert task.generator.get_layer("bottleneck").filters == 8
    assert task.optimizer is not None  # compiled


def test_thesis_example_space_parses():
    cfg, raw, space = _load(os.path.join(REPO, "tuning", "examples", "tunable_cnn.yaml"))
    assert cfg.model.type == "TunableCNN"
    assert set(space.keys) == {
        "model.filters",
        "model.kernel_size",
        "model.activation",
        "model.bottleneck",
        "train.optimizer",
    }

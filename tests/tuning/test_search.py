"""Searches on tiny configs, in-process: reports, failures, devices.

Resuming, Hyperband's continued trials and the time budget are in `test_search_resume.py`.
"""

import csv
import json
import os

import keras
import pytest
import tensorflow as tf

from hint import cli, inference
from hint.config import ConfigError, load_config
from hint.tuning import TuningError, search
from tests.tuning.common import CNN, RECT, write_config


def _log_rows(run_dir):
    with open(os.path.join(run_dir, "log.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_three_trial_search_end_to_end(tmp_path, capsys):
    space = {
        "train.lr": {"log_uniform": [1.0e-4, 1.0e-2]},
        "model.kernel_size": {"choice": [3, 5]},
        "model.activation": {"choice": ["relu", "elu"]},
        "inpaint.mask.kind": {"choice": ["freeform", "rect"]},
        "inpaint.mask.weights": {"choice": [{"freeform": 1.0, "rect": 1.0}, {"wide": 1.0}]},
    }
    path = write_config(tmp_path, space, model=CNN, trials=3)
    result = search.run_search(path, ["train.epochs=2"], verbose=1)
    out = capsys.readouterr().out
    project = str(tmp_path / "tuning" / "test")
    assert result.project_dir == project and result.ran == ["0", "1", "2"]

    # The table: every trial, best first, printed and in trials.csv.
    rows = result.rows
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert all(r["status"] == "COMPLETED" for r in rows)
    scores = [r["val_psnr"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert "rank" in out and "val_psnr" in out and "inpaint.mask.weights" in out
    with open(os.path.join(project, "trials.csv")) as f:
        table = list(csv.DictReader(f))
    assert [r["trial"] for r in table] == [r["trial"] for r in rows]
    assert [float(r["val_psnr"]) for r in table] == pytest.approx(scores)
    assert json.loads(table[0]["inpaint.mask.weights"]) == rows[0]["inpaint.mask.weights"]
    assert os.path.getsize(os.path.join(project, "trials.txt")) > 0
    with open(os.path.join(project, "plots", "trials.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    # Each trial is a normal run directory with the trial's values.
    for row in rows:
        cfg = load_config(os.path.join(row["run_dir"], "config.yaml"))
        assert cfg.train.lr == pytest.approx(row["train.lr"])
        assert cfg.model.args["kernel_size"] == row["model.kernel_size"]
        assert cfg.inpaint.mask.weights == row["inpaint.mask.weights"]
        assert cfg.inpaint.mask.kind == row["inpaint.mask.kind"]
        assert cfg.train.epochs == 1 and len(_log_rows(row["run_dir"])) == 1
        # The saved network is the trial's: a TunableCNN with exactly the trial's arguments.
        network = inference.load_model(row["run_dir"])
        assert type(network).__name__ == cfg.model.type == "TunableCNN"
        saved = network.get_config()
        assert {key: saved[key] for key in cfg.model.args} == cfg.model.args
        assert (saved["kernel_size"], saved["activation"]) == (
            row["model.kernel_size"],
            row["model.activation"],
        )

    # best_config.yaml: the full base config (2 epochs) with the best values.
    best = load_config(result.best_config_path)
    assert result.best_trial == rows[0]["trial"]
    assert best.train.lr == pytest.approx(rows[0]["train.lr"])
    assert best.model.args["activation"] == rows[0]["model.activation"]
    assert best.inpaint.mask.weights == rows[0]["inpaint.mask.weights"]
    assert best.train.epochs == 2 and best.model.args["bottleneck"] == 8

    # The same command again (here through the CLI) finds the search complete; --retrain-best
    # trains the best config with its full schedule and evaluates it.
    argv = ["tune", "--config", path, "--set", "train.epochs=2", "--retrain-best"]
    assert cli.main(argv) == 0
    assert "resuming with 3 trial(s) done" in capsys.readouterr().out
    retrained = tmp_path / "runs" / f"test-best-trial_{result.best_trial}"
    assert len(_log_rows(retrained)) == 2
    assert (retrained / "eval" / "metrics.json").is_file()


def test_failed_trial_fails_loudly_with_its_error(tmp_path, capsys):
    # 32 channels at level 4 cannot be split into 3 heads: HINTBackbone raises in the trial.
    path = write_config(
        tmp_path, {"model.num_heads": {"choice": [[1, 1, 1, 3]]}}, base=RECT, trials=3
    )
    assert cli.main(["tune", "--config", path]) == 2
    err = capsys.readouterr().err
    assert "1 of 1 trials failed" in err and "trial 0" in err and "num_heads" in err
    project = tmp_path / "tuning" / "test"
    assert "num_heads" in (project / "trial_0" / "error.txt").read_text()
    assert not (project / "best_config.yaml").exists()  # no "best" of failed trials
    with open(project / "trials.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["FAILED"]
    # Rerunning does not hide the failure either.
    with pytest.raises(TuningError, match="num_heads"):
        search.run_search(path, verbose=0)


@pytest.mark.slow
def test_objective_that_is_not_logged_fails_with_the_logged_names(tmp_path):
    space = {"model.bottleneck": {"choice": [4]}}
    path = write_config(tmp_path, space, model=CNN, base=RECT, trials=1, objective="val_x")
    with pytest.raises(TuningError, match=r"val_x.*Logged metrics:.*val_psnr"):
        search.run_search(path, verbose=0)


class _Replicas(keras.callbacks.Callback):
    seen = []

    def on_train_begin(self, logs=None):
        type(self).seen.append(self.model.distribute_strategy.num_replicas_in_sync)


@pytest.mark.slow
def test_trial_runs_under_mirrored_strategy_on_two_logical_cpus(tmp_path):
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2  # tests/conftest.py makes two
    names = [d.name for d in devices[:2]]
    space = {"model.bottleneck": {"choice": [4, 8]}}
    path = write_config(tmp_path, space, model=CNN, base=RECT, trials=2, devices=names)
    cfg, _, _ = search.load_tune_config(path)
    strategy = search.make_strategy(cfg)
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2
    _Replicas.seen = []
    result = search.run_search(path, callbacks=[_Replicas()], verbose=0)
    assert _Replicas.seen == [2, 2]  # one strategy, reused by every trial
    assert all(r["status"] == "COMPLETED" for r in result.rows)
    with pytest.raises(ConfigError, match="not visible"):
        search.make_strategy(load_config(path, ["tune.devices=[/gpu:7]"]))

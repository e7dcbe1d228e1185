"""Searches that stop and go on: resuming after a kill, Hyperband continuing its best trial,
and a time budget followed by a rerun with another config (in-process, tiny configs)."""

import json
import os

import keras
import pytest
import yaml

from hint.config import ConfigError, load_config
from hint.tuning import search
from tests.tuning.common import CNN, RECT, write_config
from tests.tuning.test_search import _log_rows

# Every test here trains several tuning trials.
pytestmark = pytest.mark.slow


def _trial_json(project, trial_id):
    with open(os.path.join(project, f"trial_{trial_id}", "trial.json")) as f:
        return json.load(f)


class _KillInTrial(keras.callbacks.Callback):
    """Simulates a killed process at the start of the n-th trial trained."""

    started = 0

    def __init__(self, n):
        super().__init__()
        self.n = n

    def on_train_begin(self, logs=None):
        type(self).started += 1
        if type(self).started == self.n:
            raise KeyboardInterrupt("simulated kill")


def test_resume_after_interruption(tmp_path):
    space = {"model.bottleneck": {"choice": [4, 8, 12]}, "train.lr": {"uniform": [1e-3, 1e-2]}}
    path = write_config(tmp_path, space, model=CNN, base=RECT, trials=3)
    project = str(tmp_path / "tuning" / "test")
    _KillInTrial.started = 0
    with pytest.raises(KeyboardInterrupt):
        search.run_search(path, callbacks=[_KillInTrial(2)], verbose=0)
    assert _trial_json(project, "0")["status"] == "COMPLETED"
    interrupted = _trial_json(project, "1")
    assert interrupted["status"] == "RUNNING"
    first_log = os.path.join(project, "trial_0", "log.csv")
    mtime = os.path.getmtime(first_log)

    result = search.run_search(path, verbose=0)  # the same command again
    assert result.ran == ["1", "2"]  # the finished trial is kept, the interrupted one rerun
    assert sorted(r["trial"] for r in result.rows) == ["0", "1", "2"]  # total stays 3
    assert all(r["status"] == "COMPLETED" for r in result.rows)
    rerun = _trial_json(project, "1")
    assert rerun["hyperparameters"]["values"] == interrupted["hyperparameters"]["values"]
    assert os.path.getmtime(first_log) == mtime and len(_log_rows(os.path.dirname(first_log))) == 1


def test_hyperband_continues_its_best_trial(tmp_path):
    # max 3 epochs, factor 3: three 1-epoch trials, then the best one continued to 3 epochs.
    space = {"model.bottleneck": {"choice": [4, 8, 12]}}
    path = write_config(
        tmp_path, space, model=CNN, base=RECT, trials=4, epochs=3, algorithm="hyperband"
    )
    result = search.run_search(path, verbose=0)
    assert len(result.rows) == 4 and all(r["status"] == "COMPLETED" for r in result.rows)
    continued = [r for r in result.rows if r["epochs"] == 3]
    assert len(continued) == 1
    cfg = load_config(os.path.join(continued[0]["run_dir"], "config.yaml"))
    assert cfg.model.init_from is not None and os.path.isdir(cfg.model.init_from)
    assert cfg.train.epochs == 2 and len(_log_rows(continued[0]["run_dir"])) == 2


def test_time_budget_then_another_config_needs_overwrite(tmp_path, capsys):
    space = {"model.bottleneck": {"choice": [4, 8, 12]}}
    path = write_config(
        tmp_path, space, model=CNN, base=RECT, trials=3, time_budget=0.5, algorithm="bayesian"
    )
    result = search.run_search(path, verbose=0)
    assert len(result.rows) == 1  # the first trial outlasts the budget; no new trial starts
    assert "time budget" in capsys.readouterr().out

    with open(path) as f:
        raw = yaml.safe_load(f)
    raw["tune"]["space"]["model.bottleneck"] = {"choice": [4, 16]}
    with open(path, "w") as f:
        yaml.safe_dump(raw, f)
    with pytest.raises(ConfigError, match=r"another config.*tune\.space|--overwrite"):
        search.run_search(path, verbose=0)
    again = search.run_search(path, ["tune.trials=1"], overwrite=True, verbose=0)
    assert [r["trial"] for r in again.rows] == ["0"] and again.ran == ["0"]

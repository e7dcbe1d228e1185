"""Distributed tuning: a chief and two workers on 127.0.0.1, as subprocesses (the slow test).

Every trial must run exactly once, on one of the workers, and every process must exit 0; the
chief writes the reports. Bounded by one deadline; every process is killed on failure.
"""

import csv
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from hint.config import ConfigError
from hint.tuning import distributed
from tests.tuning.common import CNN, RECT, write_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEADLINE_SECONDS = 240  # a bound for a loaded machine; it takes ~1 minute


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clean_env(monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    monkeypatch.setattr(os, "environ", env)  # restored after the test
    return env


def test_roles_set_keras_tuner_variables(clean_env):
    distributed.configure()
    assert distributed.role() == "local" and "KERASTUNER_TUNER_ID" not in clean_env
    distributed.configure(chief=True)
    assert distributed.role() == "chief"
    assert (clean_env["KERASTUNER_ORACLE_IP"], clean_env["KERASTUNER_ORACLE_PORT"]) == (
        "0.0.0.0",
        "8000",
    )
    distributed.configure(worker=1, oracle="10.0.0.5:9000")
    assert distributed.role() == "worker" and clean_env["KERASTUNER_TUNER_ID"] == "worker1"
    assert clean_env["KERASTUNER_ORACLE_IP"] == "10.0.0.5"


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"worker": 0}, "needs --oracle"),
        ({"worker": 0, "oracle": "host"}, "HOST:PORT"),
        ({"worker": 0, "oracle": "host:99999"}, "HOST:PORT"),
        ({"worker": -1, "oracle": "host:1"}, ">= 0"),
        ({"oracle": "host:1"}, "needs --chief or --worker"),
        ({"chief": True, "worker": 0}, "not both"),
    ],
)
def test_bad_roles(clean_env, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        distributed.configure(**kwargs)
    assert "KERASTUNER_TUNER_ID" not in clean_env


@pytest.mark.slow
def test_chief_and_two_workers_run_every_trial_once(tmp_path):
    space = {"model.bottleneck": {"choice": [4, 8, 12, 16]}}
    path = write_config(tmp_path, space, model=CNN, base=RECT, trials=4)
    address = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1", PYTHONUNBUFFERED="1")
    command = [sys.executable, os.path.join(REPO, "main.py"), "tune", "--config", path]
    roles = {
        "chief": ["--chief", "--oracle", address],
        "worker0": ["--worker", "0", "--oracle", address],
        "worker1": ["--worker", "1", "--oracle", address],
    }
    procs = {}
    try:
        for name, args in roles.items():
            with open(tmp_path / f"{name}.log", "w") as log:
                procs[name] = subprocess.Popen(
                    command + args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
                )
        deadline = time.monotonic() + DEADLINE_SECONDS
        for proc in procs.values():
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in roles}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{logs[name][-3000:]}"

    ran = []
    for name in ("worker0", "worker1"):
        ran += re.findall(rf"\[{name}\] trial (\d+) COMPLETED", logs[name])
    assert sorted(ran) == ["0", "1", "2", "3"], logs  # every trial exactly once

    project = tmp_path / "tuning" / "test"
    with open(project / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert (project / "best_config.yaml").is_file()
    assert "Best trial" in logs["chief"]

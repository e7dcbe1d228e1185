"""Training across machines: two workers on 127.0.0.1 (`train.strategy: multi_worker`).

One two-worker run (`tests/_multi_worker.py`, one subprocess per worker, each with its own
TF_CONFIG and its own run root, as on two hosts without a shared disk) is shared by the tests
below; the rest are in-process checks of the helpers in `hint.training`.
"""

import csv
import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from hint import training
from hint.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "_multi_worker.py")
TIMEOUT = 420  # seconds for the whole run; about 2.5 minutes on a busy 2-core machine
TAGS = ("inpaint", "denoise", "denoise-resumed")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path, lines=40):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def run_workers(tmp, n=2, timeout=TIMEOUT):
    """Runs the worker script on `n` local workers; fails (killing them all) on error/timeout."""
    out = tmp / "out"
    out.mkdir()
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(n)]}
    procs, logs = [], []
    started = time.monotonic()
    try:
        for i in range(n):
            tf_config = {"cluster": cluster, "task": {"type": "worker", "index": i}}
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"}
            logs.append(tmp / f"worker-{i}.log")
            with open(logs[-1], "w") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, SCRIPT, str(out), str(tmp / f"run-{i}")],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                    )
                )
        # Poll: once one worker fails the others wait on its collectives, so stop them all.
        while any(p.poll() is None for p in procs):
            failed = any(p.poll() not in (None, 0) for p in procs)
            if failed or time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    codes = [p.returncode for p in procs]
    if codes != [0] * n:
        reason = "timed out" if time.monotonic() - started > timeout else "failed"
        details = "\n".join(
            f"--- worker {i} (exit {c}):\n{_tail(logs[i])}" for i, c in enumerate(codes)
        )
        pytest.fail(f"Two-worker run {reason}: exit codes {codes}\n{details}")
    reports = []
    for i in range(n):
        with open(out / f"report-worker-{i}.json") as f:
            reports.append(json.load(f))
    return out, reports, time.monotonic() - started


# The tests that use it are marked slow: the two-worker run takes 1.5-2 minutes.
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multi_worker")
    out, reports, seconds = run_workers(tmp)
    print(f"two-worker run: {seconds:.0f} s")
    return tmp, out, reports


def _load(out, tag, worker):
    with np.load(out / f"{tag}-worker-{worker}.npz") as f:
        return dict(f)


def _files(folder):
    return sorted(
        os.path.relpath(os.path.join(d, name), folder)
        for d, _, names in os.walk(folder)
        for name in names
    )


# --------------------------------------------------------------------------- two workers


@pytest.mark.slow
def test_keras_still_needs_the_patch(cluster):
    """Fails when upstream Keras no longer breaks the known way: then remove the patch."""
    _, _, reports = cluster
    expected = {
        "symbolic_build": "Attempt to convert a value (PerReplica",
        "reduce_per_replica": "Invalid reduction dimension 0 for input with 0 dimensions",
    }
    for report in reports:
        for name, known in expected.items():
            message = report["unpatched"][name]
            assert known in message, (
                f"Keras {keras.__version__}: the unpatched {name} no longer fails with "
                f"'{known}' under MultiWorkerMirroredStrategy (got: {message[:200]}). "
                "upstream fixed it: remove the patch (hint/distribute_compat.py)."
            )


@pytest.mark.slow
@pytest.mark.parametrize("tag", TAGS)
def test_workers_end_with_identical_weights(cluster, tag):
    _, out, reports = cluster
    assert [r["is_chief"] for r in reports] == [True, False]
    assert all(r["replicas"] == 2 and r["patched"] for r in reports)
    first, second = _load(out, tag, 0), _load(out, tag, 1)
    names = [k for k in first if k[0] in "wd"]
    assert len(names) > 10
    for name in names:
        np.testing.assert_array_equal(first[name], second[name], err_msg=f"{tag} {name}")
    # The logged losses and metrics are means over both workers: the same on each. (Only the
    # chief logs its own CPU and wall time.)
    timing = ("cpu_seconds", "wall_seconds")
    logged = [{k: v for k, v in r[tag].items() if k not in timing} for r in reports]
    assert logged[0] == logged[1]
    assert set(reports[0][tag]) - set(reports[1][tag]) == set(timing)
    assert np.isfinite(reports[0][tag]["loss"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("tag", ("inpaint", "denoise"))
def test_each_worker_gets_its_half_of_every_batch(cluster, tag):
    """DATA sharding: different examples (masks, noise) per worker; together one machine's."""
    tmp, out, _ = cluster
    first, second = _load(out, tag, 0), _load(out, tag, 1)
    cfg = training.load_run_config(str(tmp / "run-0" / tag))
    batches = iter(training.build_datasets(cfg)[0])
    for step in range(2):
        x, clean = next(batches)
        assert first[f"input_{step}"].shape[0] == cfg.data.batch_size // 2
        assert not np.array_equal(first[f"input_{step}"], second[f"input_{step}"])
        np.testing.assert_array_equal(
            np.concatenate([first[f"input_{step}"], second[f"input_{step}"]]), x["image"]
        )
        np.testing.assert_array_equal(
            np.concatenate([first[f"clean_{step}"], second[f"clean_{step}"]]), clean
        )


@pytest.mark.slow
def test_only_the_chief_writes_the_run_directory(cluster):
    tmp, _, _ = cluster
    for task in ("inpaint", "denoise"):
        chief = _files(tmp / "run-0" / task)
        for rel in ("config.yaml", "model.keras", "log.csv", "checkpoints/last.weights.h5"):
            assert rel in chief, (task, rel)
        assert "backup/worker-0/latest.weights.h5" in chief
        assert not any(rel.startswith("backup/worker-1") for rel in chief)
        assert _files(tmp / "run-1" / task) == [
            "backup/worker-1/latest.weights.h5",
            "backup/worker-1/training_metadata.json",
        ]


@pytest.mark.slow
def test_rerun_resumes_from_each_workers_backup(cluster):
    tmp, _, reports = cluster
    # train.epochs=2 on the finished 1-epoch run: only epoch 1 is trained, on both workers.
    assert all(len(r["denoise-resumed"]["loss"]) == 1 for r in reports)
    with open(tmp / "run-0" / "denoise" / "log.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1]


# --------------------------------------------------------------------------- in-process


def _tf_config(monkeypatch, task_type, index, chief=False):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    if chief:
        cluster["chief"] = ["127.0.0.1:3"]
    config = {"cluster": cluster, "task": {"type": task_type, "index": index}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))


@pytest.mark.parametrize(
    ("task_type", "index", "chief", "expected"),
    [
        ("worker", 0, False, (True, "worker-0")),
        ("worker", 1, False, (False, "worker-1")),
        ("worker", 0, True, (False, "worker-0")),
        ("chief", 0, True, (True, "chief-0")),
    ],
)
def test_worker_role_from_tf_config(monkeypatch, task_type, index, chief, expected):
    _tf_config(monkeypatch, task_type, index, chief)
    assert training.worker_role() == expected


def test_worker_role_outside_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.worker_role() == (True, None)
    assert training.worker_role(training.select_strategy("default")) == (True, None)


def test_multi_worker_needs_tf_config_and_a_run_name(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(training.TrainingError, match="TF_CONFIG"):
        training.select_strategy("multi_worker")
    cfg = load_config(None, [f"run.dir={tmp_path}", "train.strategy=multi_worker"])
    with pytest.raises(training.TrainingError, match="run.name"):
        training.make_run_dir(cfg)


def test_only_the_chief_writes_the_config(tmp_path, monkeypatch):
    for index, written in ((1, False), (0, True)):
        _tf_config(monkeypatch, "worker", index)
        cfg = load_config(
            None, [f"run.dir={tmp_path / str(index)}", "run.name=r", "train.strategy=multi_worker"]
        )
        run_dir = training.make_run_dir(cfg)
        assert os.path.isfile(os.path.join(run_dir, "config.yaml")) == written


def test_callbacks_of_a_non_chief_worker(tmp_path):
    cfg = load_config(None, [f"run.dir={tmp_path}"])
    callbacks = training.make_callbacks(cfg, str(tmp_path), is_chief=False, worker="worker-1")
    assert [type(c).__name__ for c in callbacks] == ["StopOnNaN", "BackupAndRestore"]
    assert callbacks[1].backup_dir == os.path.join(str(tmp_path), "backup", "worker-1")
    assert os.listdir(tmp_path) == []
    # Single-machine runs keep the plain backup folder (existing runs resume as before).
    callbacks = training.make_callbacks(cfg, str(tmp_path))
    assert callbacks[1].backup_dir == os.path.join(str(tmp_path), "backup")


def test_shard_by_example_sets_data_policy():
    import tensorflow as tf

    ds = training.shard_by_example(tf.data.Dataset.range(4))
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


def test_synchronize_batch_norm():
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3), keras.layers.BatchNormalization()]
    )
    assert training.synchronize_batch_norm(model) == [model.layers[1].name]
    assert model.layers[1].synchronized
    assert training.synchronize_batch_norm(model) == []


def test_trim_for_replicas():
    import tensorflow as tf

    def sizes(ds):
        return [int(b.shape[0]) for b in ds]

    ds = training.shard_by_example(tf.data.Dataset.range(9).batch(4))
    with pytest.warns(UserWarning, match="dropping the last 1 of 9"):
        trimmed = training.trim_for_replicas(ds, 4, replicas=2)
    assert sizes(trimmed) == [4, 4]
    policy = trimmed.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    for count, replicas in ((10, 2), (8, 2), (9, 1)):
        ds = tf.data.Dataset.range(count).batch(4)
        assert training.trim_for_replicas(ds, 4, replicas) is ds

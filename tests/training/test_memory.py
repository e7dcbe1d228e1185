import keras
import pytest
import tensorflow as tf

from hint import training
from hint.config import ConfigError, load_config
from hint.training import memory
from tests.test_training import TINY


def _conv_net():
    return keras.Sequential(
        [keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, padding="same")]
    )


def test_activation_bytes_counts_what_the_forward_pass_produces():
    net = _conv_net()
    at_8 = memory.activation_bytes(lambda image, mask: net(image, training=True), 3, size=8)
    # The convolution's output and the bias addition's, 8 x 8 x 4 float32 each; the
    # variables, constants and reshapes are not activations.
    assert at_8 == 2 * 8 * 8 * 4 * 4
    at_16 = memory.activation_bytes(lambda image, mask: net(image, training=True), 3, size=16)
    assert at_16 == 4 * at_8


def test_estimate_scales_with_batch_and_pixels_and_counts_optimizer_state(monkeypatch):
    monkeypatch.setattr(memory, "resident_memory", lambda: 1000)
    net = _conv_net()
    passes = [memory.TrainingPass("net", lambda i, m: net(i, training=True), 2, tuple(net.weights))]
    one = memory.estimate_training_memory(passes, 1, 32, 3)
    assert one.base == 1000
    assert one.optimizer_state == 3 * (3 * 3 * 3 * 4 + 4) * 4  # gradients, Adam's m and v
    assert one.activations == {"net": 2 * 2 * 32 * 32 * 4 * 4}
    four = memory.estimate_training_memory(passes, 2, 64, 3)
    assert four.activations["net"] == 8 * one.activations["net"]
    expected = (
        1000
        + one.optimizer_state
        + memory.STEP_OVERHEAD
        + int(memory.ACTIVATION_FRACTION * 8 * 2 * 2 * 4096 * 4)
    )
    assert four.total == expected
    assert "available" in memory.describe(four)


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"memory.max": "max\n"}, None),
        ({"memory.max": "8589934592\n"}, 8589934592),
        ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, None),
        ({"memory/memory.limit_in_bytes": "4294967296\n"}, 4294967296),
        ({}, None),
    ],
)
def test_cgroup_limit(tmp_path, files, expected):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert memory._cgroup_limit(str(tmp_path)) == expected


def test_available_memory_is_the_lower_of_physical_and_cgroup(monkeypatch):
    physical, source = memory.available_memory()
    assert physical > 0 and source in ("physical memory", "cgroup limit")
    monkeypatch.setattr(memory, "_cgroup_limit", lambda: 2**20)
    assert memory.available_memory() == (2**20, "cgroup limit")
    monkeypatch.setattr(memory, "_cgroup_limit", lambda: 2**62)
    assert memory.available_memory()[1] == "physical memory"


def _task(tmp_path, *extra):
    cfg = load_config(None, [f"run.dir={tmp_path}", *TINY, "model.init_from=null", *extra])
    return cfg, training.build_task(cfg)


@pytest.mark.parametrize("available, remat", [(2**50, False), (2**20, True)])
def test_auto_remat_follows_the_estimate(tmp_path, monkeypatch, capsys, available, remat):
    monkeypatch.setattr(memory, "available_memory", lambda: (available, "cgroup limit"))
    cfg, task = _task(tmp_path)
    assert task.backbone.remat is False
    memory.choose_remat(task, cfg, tf.distribute.get_strategy())
    assert task.backbone.remat is remat
    assert all(block.remat is remat for block in task.backbone.layers if hasattr(block, "_forward"))
    line = capsys.readouterr().out
    assert line.startswith("model.remat auto: estimated training memory")
    assert "generator" in line and "discriminator" in line and "cgroup limit" in line
    assert ("remat on" in line) is remat


@pytest.mark.parametrize("setting", [True, False])
def test_explicit_remat_is_kept(tmp_path, monkeypatch, capsys, setting):
    monkeypatch.setattr(memory, "available_memory", lambda: (2**20, "cgroup limit"))
    cfg, task = _task(tmp_path, f"model.remat={str(setting).lower()}")
    memory.choose_remat(task, cfg, tf.distribute.get_strategy())
    assert task.backbone.remat is setting
    assert capsys.readouterr().out == ""


def test_remat_setting_is_checked():
    cfg = load_config(None, [*TINY, "model.remat=auto"])
    assert cfg.model.args["remat"] == "auto"
    with pytest.raises(ConfigError, match="remat"):
        load_config(None, [*TINY, "model.remat=sometimes"])

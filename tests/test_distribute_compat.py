"""The Keras multi-worker patch, in-process: version gate, and no effect off multi-worker.

Whether Keras still needs the patch is checked on two real workers in
`tests/test_multi_worker.py::test_keras_still_needs_the_patch`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hint import distribute_compat, training


@pytest.fixture(autouse=True)
def _restore():
    yield
    distribute_compat.uninstall()


def test_install_is_version_gated(monkeypatch):
    monkeypatch.setattr(distribute_compat, "PATCHED_VERSIONS", ("0.0.0",))
    with pytest.warns(UserWarning, match="not one of the versions"):
        assert not distribute_compat.install()
    assert not distribute_compat.installed()


def test_install_is_idempotent_and_reversible():
    if not distribute_compat.needs_patch():
        pytest.skip(f"Keras {keras.__version__} is not patched")
    assert distribute_compat.install() and distribute_compat.install()
    assert distribute_compat.installed()
    distribute_compat.uninstall()
    assert not distribute_compat.installed()


def _fit(strategy):
    keras.utils.set_random_seed(0)
    x = np.linspace(0, 1, 24, dtype=np.float32).reshape(8, 3)
    ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(4).repeat()
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
    history = model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    return model.get_weights(), history.history["loss"]


@pytest.mark.parametrize("name", ["default", "mirrored"])
def test_patched_keras_is_unchanged_off_multi_worker(name):
    def strategy():
        if name == "default":
            return tf.distribute.get_strategy()
        return training.mirrored_strategy(["/cpu:0", "/cpu:1"])  # conftest's 2 CPUs

    expected = _fit(strategy())
    distribute_compat.install()
    got = _fit(strategy())
    for a, b in zip(expected[0], got[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert expected[1] == got[1]
    assert not distribute_compat.is_multi_worker(strategy())

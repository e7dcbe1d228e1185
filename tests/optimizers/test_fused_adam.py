import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.optimizers import FusedAdam


def _train(optimizer_class, steps=12, **kwargs):
    """A few Adam steps on a small regression; returns the weights and the model."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 4, 0.5)
    model.compile(optimizer_class(learning_rate=schedule, **kwargs), "mse")
    x = np.random.default_rng(0).random((8 * steps, 8)).astype("float32")
    model.fit(x, x.sum(1, keepdims=True), batch_size=8, epochs=1, shuffle=False, verbose=0)
    return [w.numpy() for w in model.weights], model


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"beta_1": 0.5, "beta_2": 0.99, "epsilon": 1e-3}, {"weight_decay": 0.1, "use_ema": True}],
)
def test_matches_keras_adam(kwargs):
    expected, _ = _train(keras.optimizers.Adam, **kwargs)
    got, model = _train(FusedAdam, **kwargs)
    initial, _ = _train(FusedAdam, steps=0, **kwargs)
    for want, have, start in zip(expected, got, initial, strict=True):
        assert np.abs(want - start).max() > 1e-3  # the weights moved
        np.testing.assert_allclose(have, want, atol=2e-6)
    assert int(model.optimizer.iterations.numpy()) == 12


def test_amsgrad_and_sparse_gradients_take_keras_update():
    expected, _ = _train(keras.optimizers.Adam, amsgrad=True)
    got, _ = _train(FusedAdam, amsgrad=True)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, atol=2e-6)
    table = keras.Variable(np.ones((4, 2), "float32"))
    optimizer = FusedAdam(learning_rate=0.1)
    gradient = tf.IndexedSlices(tf.ones((1, 2)), tf.constant([2]), tf.constant([4, 2]))
    optimizer.apply_gradients([(gradient, table)])
    changed = np.any(table.numpy() != 1.0, axis=1)
    np.testing.assert_array_equal(changed, [False, False, True, False])


def test_one_kernel_per_variable():
    """The traced update is one ResourceApplyAdam per variable, and far fewer ops than Adam."""
    variables = [keras.Variable(np.ones((3, 3), "float32"), name=f"v{i}") for i in range(20)]

    def count(optimizer):
        optimizer.build(variables)

        @tf.function
        def step():
            optimizer.apply_gradients([(tf.ones((3, 3)), v) for v in variables])

        graph = step.get_concrete_function().graph
        return [op.type for op in graph.get_operations()]

    fused = count(FusedAdam())
    plain = count(keras.optimizers.Adam())
    assert fused.count("ResourceApplyAdam") == 20
    assert len(fused) < len(plain) / 2


def test_state_is_adams_and_survives_saving(tmp_path):
    _, model = _train(FusedAdam)

    def layout(optimizer):
        return [(v.path.rsplit("_", 1)[-1], tuple(v.shape)) for v in optimizer.variables]

    _, adam_model = _train(keras.optimizers.Adam)
    assert layout(model.optimizer) == layout(adam_model.optimizer)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.optimizer, FusedAdam)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for want, have in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(have.numpy(), want.numpy())


def test_under_mirrored_strategy_matches_single_device():
    expected, _ = _train(FusedAdam)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    with tf.distribute.MirroredStrategy(devices[:2]).scope():
        got, _ = _train(FusedAdam)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, atol=2e-6)

"""The one shared helper for layer and model tests.

`check_layer` runs the standard checks on a layer or a functional model: output shape,
`get_config` / `from_config` round trip, `.keras` save / load round trip (loaded with
`safe_mode=True`) with identical outputs, and one SGD step in which every trainable weight gets a
finite, non-zero gradient and the output changes. `check_saved_round_trip` is the save / load
part alone, for models built outside the helper (task models).
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf


def _map_structure(fn, structure):
    if isinstance(structure, dict):
        return {key: fn(value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [fn(value) for value in structure]
    return fn(structure)


def _symbolic_inputs(inputs, dynamic_spatial):
    def make_input(array):
        shape = tuple(array.shape[1:])
        if dynamic_spatial and len(shape) == 3:
            shape = (None, None, shape[-1])
        return keras.Input(shape=shape, dtype=str(array.dtype))

    if isinstance(inputs, dict):
        return {
            key: keras.Input(
                shape=(None, None, value.shape[-1])
                if dynamic_spatial and value.ndim == 4
                else value.shape[1:],
                name=key,
            )
            for key, value in inputs.items()
        }
    return _map_structure(make_input, inputs)


def _as_numpy(outputs):
    return np.asarray(keras.ops.convert_to_numpy(outputs))


def check_layer(
    layer,
    inputs,
    expected_output_shape,
    *,
    dynamic_spatial=True,
    learning_rate=0.1,
    atol=1e-6,
):
    """Runs the standard layer / model checks and returns the layer's first output.

    Args:
        layer: A `keras.layers.Layer` or `keras.Model` instance (unbuilt or built), or a
            zero-argument factory returning one.
        inputs: Numpy input: an array, a list of arrays or (for models with named inputs) a
            dict of arrays.
        expected_output_shape: Expected output shape, including the batch size.
        dynamic_spatial: Whether the wrapping functional model declares rank-4 inputs with
            dynamic height and width. Defaults to `True`.
        learning_rate: Step size of the SGD step. Defaults to `0.1`.
        atol: Tolerance of the save / load comparison. Defaults to `1e-6`.

    Returns:
        The numpy output of the layer before the SGD step.
    """
    if not isinstance(layer, keras.layers.Layer):
        layer = layer()
    tensors = _map_structure(tf.constant, inputs)

    # === Output shape ===
    outputs = _as_numpy(layer(tensors))
    assert outputs.shape == tuple(expected_output_shape), (
        f"output shape {outputs.shape} != expected {tuple(expected_output_shape)}"
    )
    assert np.all(np.isfinite(outputs)), "non-finite outputs"

    # === get_config / from_config round trip ===
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config, "get_config() changed after from_config()"

    # === .keras save / load round trip ===
    if isinstance(layer, keras.Model):
        model = layer
    else:
        symbolic = _symbolic_inputs(inputs, dynamic_spatial)
        model = keras.Model(symbolic, layer(symbolic))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(
        _as_numpy(loaded(tensors)), _as_numpy(model(tensors)), rtol=0, atol=atol
    )

    # === One SGD step ===
    variables = layer.trainable_variables
    assert variables, "the layer has no trainable weights"
    projection = tf.constant(np.random.default_rng(0).standard_normal(outputs.shape), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(layer(tensors, training=True), tf.float32) * projection)
    gradients = tape.gradient(loss, variables)
    before = _as_numpy(layer(tensors))
    for variable, gradient in zip(variables, gradients, strict=True):
        assert gradient is not None, f"no gradient for {variable.path}"
        gradient = keras.ops.convert_to_numpy(gradient)
        assert np.all(np.isfinite(gradient)), f"non-finite gradient for {variable.path}"
        assert np.any(gradient != 0), f"all-zero gradient for {variable.path}"
    keras.optimizers.SGD(learning_rate).apply(gradients, variables)
    after = _as_numpy(layer(tensors))
    assert np.max(np.abs(after - before)) > 1e-6, "an SGD step did not change the output"
    return outputs


def check_saved_round_trip(model, inputs, folder, atol=1e-6):
    """Saves `model` (e.g. a compiled task) as `.keras`, reloads it with `safe_mode=True`
    (uncompiled) and checks the reloaded model gives the same outputs on `inputs`."""
    before = _as_numpy(model(inputs))
    path = os.path.join(folder, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(_as_numpy(loaded(inputs)), before, atol=atol)
    return loaded

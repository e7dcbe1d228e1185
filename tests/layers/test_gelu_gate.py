import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from hint.layers.gelu_gate import gelu_gate


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_gradients_equal_automatic_differentiation(dtype):
    tolerance = 1e-6
    rng = np.random.default_rng(0)
    gate = tf.constant(3.0 * rng.standard_normal((2, 5, 5, 6)), dtype)
    value = tf.constant(rng.standard_normal((2, 5, 5, 6)), dtype)
    upstream = tf.constant(rng.standard_normal((2, 5, 5, 6)), dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([gate, value])
        ours = gelu_gate(gate, value)
        reference = ops.gelu(gate, approximate=False) * value
        loss_ours = tf.reduce_sum(ours * upstream)
        loss_reference = tf.reduce_sum(reference * upstream)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=tolerance)
    got = tape.gradient(loss_ours, [gate, value])
    want = tape.gradient(loss_reference, [gate, value])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), atol=10 * tolerance)

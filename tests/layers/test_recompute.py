import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops import op_selector

from hint.layers.recompute import recompute_grad


def _block(kernel):
    def forward(x):
        return x + tf.nn.gelu(tf.matmul(tf.tanh(x), kernel))

    return forward


def _chain(fn_wrapper, kernels, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x
        for kernel in kernels:
            y = fn_wrapper(_block(kernel))(y)
        loss = tf.reduce_sum(tf.square(y))
    return loss, tape.gradient(loss, [x, *kernels])


@pytest.mark.parametrize("use_function", [False, True])
def test_outputs_and_gradients_equal_plain_autodiff(use_function):
    rng = np.random.default_rng(0)
    kernels = [tf.Variable(rng.normal(size=(6, 6)).astype("float32")) for _ in range(3)]
    x = tf.constant(rng.normal(size=(4, 6)).astype("float32"))

    def run(wrapper):
        fn = lambda: _chain(wrapper, kernels, x)  # noqa: E731
        return tf.function(fn)() if use_function else fn()

    loss_plain, grads_plain = run(lambda f: f)
    loss_remat, grads_remat = run(recompute_grad)
    np.testing.assert_allclose(loss_remat.numpy(), loss_plain.numpy(), rtol=1e-6)
    for a, b in zip(grads_plain, grads_remat, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)


def test_nan_gradient_propagates():
    kernel = tf.Variable(tf.ones((3, 3)))
    x = tf.ones((2, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = recompute_grad(_block(kernel))(x)
    dx, dk = tape.gradient(y, [x, kernel], output_gradients=tf.fill((2, 3), float("nan")))
    assert np.isnan(dx.numpy()).all() and np.isnan(dk.numpy()).all()


def _largest_variable_search(monkeypatch, wrapper, depth):
    """Ops visited by the largest variable search of `tf.custom_gradient` in a traced chain."""
    sizes = []
    walk = op_selector.get_backward_walk_ops

    def recording_walk(*args, **kwargs):
        ops = walk(*args, **kwargs)
        sizes.append(len(ops))
        return ops

    monkeypatch.setattr(op_selector, "get_backward_walk_ops", recording_walk)
    kernels = [tf.Variable(tf.eye(4)) for _ in range(depth)]
    tf.function(lambda x: _chain(wrapper, kernels, x)).get_concrete_function(
        tf.TensorSpec((2, 4), tf.float32)
    )
    return max(sizes)


def test_tracing_visits_each_block_only(monkeypatch):
    # tf.recompute_grad's nested custom gradient searches the whole forward graph once per
    # block (quadratic in the depth); this searches one block's operations.
    shallow = _largest_variable_search(monkeypatch, recompute_grad, 2)
    deep = _largest_variable_search(monkeypatch, recompute_grad, 12)
    assert deep == shallow
    assert _largest_variable_search(monkeypatch, tf.recompute_grad, 12) > 3 * deep


def test_gradients_under_a_two_replica_mirrored_strategy():
    # The variables a replica reads are mirrored ones; the backward pass must find them.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        kernel = tf.Variable(np.random.default_rng(0).normal(size=(4, 4)).astype("float32"))
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 4)).astype("float32"))

    @tf.function
    def step(wrapper):
        def replica():
            with tf.GradientTape() as tape:
                y = wrapper(_block(kernel))(x)
                loss = tf.reduce_sum(tf.square(y))
            return tape.gradient(loss, kernel)

        grads = strategy.run(replica)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, grads, axis=None)

    np.testing.assert_allclose(
        step(recompute_grad).numpy(), step(lambda f: f).numpy(), rtol=1e-5, atol=1e-6
    )

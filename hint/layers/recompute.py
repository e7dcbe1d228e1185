"""Rematerialisation for one-tensor blocks, cheap to trace in large graphs."""

import tensorflow as tf


def recompute_grad(fn):
    """Wraps `fn(x) -> y` so its activations are recomputed in the backward pass.

    The gradients are those of `tf.recompute_grad` (what `keras.remat` calls on
    TensorFlow): `fn` runs once forward, keeping only `x`, and again inside the
    backward pass under a tape. What differs is the cost of tracing it into a
    graph. `tf.recompute_grad` wraps its backward pass in a second, nested
    `tf.custom_gradient` (for forward-mode autodiff, which it then refuses), and in
    a graph every `tf.custom_gradient` call walks back from its outputs to its
    inputs to find the variables it uses. The nested one's outputs are the block's
    gradients and its only inputs the incoming gradients, so the walk runs through
    the block's input into the whole forward graph before it: with the forty
    sandwich blocks of HINT that cost about 20 s of every first training call at
    256x256, and grows with the square of the depth (`benchmarks/first_step.py`).
    Here the backward pass is a plain function.

    The recomputed input depends on the incoming gradient through a zero (NaN when
    the gradient is NaN), so the recomputation cannot be scheduled before the
    backward pass reaches the block, nor merged with the forward pass by XLA
    (which ignores control dependencies).

    Args:
        fn: A function of one tensor returning one tensor, such as a block's
            forward pass. It may read variables (layer weights); their gradients
            are returned to the tape.

    Returns:
        A function of one tensor with the same outputs and gradients as `fn`.
    """

    @tf.custom_gradient
    def rematerialised(x):
        y = fn(x)

        def grad(upstream, variables=None):
            first = tf.reduce_max(tf.reshape(upstream, [-1])[:1])
            zero = tf.where(tf.math.is_nan(first), first, tf.zeros_like(first))
            x_again = x + tf.cast(zero, x.dtype)
            variables = list(variables or ())
            with tf.GradientTape() as tape:
                tape.watch(x_again)
                tape.watch(variables)
                y_again = fn(x_again)
            grads = tape.gradient(
                y_again,
                [x_again, *variables],
                output_gradients=upstream,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            return grads[0], grads[1:]

        return y, grad

    return rematerialised

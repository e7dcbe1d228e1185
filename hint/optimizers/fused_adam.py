"""Adam whose per-variable update is TensorFlow's single fused `ResourceApplyAdam` kernel."""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="hint")
class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam with each variable's update done by one fused TensorFlow kernel.

    Keras' `Adam.update_step` writes the update as about twenty small tensor operations per
    variable (casts, powers, square roots, three assignments). That costs nothing per step
    for a network of a few large tensors, but HINT has 976 trainable variables: the optimiser
    alone puts about 20,000 operations into the traced training step, a third of the graph,
    and every run, resume and tuning trial pays for tracing and optimising them before the
    first step. `tf.raw_ops.ResourceApplyAdam` does the same update in one operation:

        m <- beta_1 m + (1 - beta_1) g
        v <- beta_2 v + (1 - beta_2) g^2
        w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

    which is Keras' formula term for term (`epsilon` outside the square root, bias
    correction folded into the step size), so results agree with `keras.optimizers.Adam` to
    float32 rounding. The optimiser's variables, arguments and saved state are Adam's, so
    checkpoints move freely between the two. Variables are still updated one by one under
    `tf.distribute`, as in Keras.

    Sparse gradients (`tf.IndexedSlices`, from embedding lookups) and `amsgrad=True` take
    Keras' own update.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule` or a
            callable. Defaults to `0.001`.
        beta_1: Decay of the first-moment estimate. Defaults to `0.9`.
        beta_2: Decay of the second-moment estimate. Defaults to `0.999`.
        epsilon: Added to the root of the second moment. Defaults to `1e-7` (Keras' value).
        amsgrad: Whether to use the AMSGrad variant (Keras' update). Defaults to `False`.
        **kwargs: The other `keras.optimizers.Optimizer` arguments (`weight_decay`,
            `clipnorm`, `use_ema`, `ema_momentum`, `name`, ...).

    Example:

    >>> optimizer = FusedAdam(learning_rate=1e-4)
    >>> variable = keras.Variable([1.0, 2.0])
    >>> optimizer.apply_gradients([(ops.ones((2,)), variable)])

    Reference:

    - [Kingma and Ba, 2015. Adam: A Method for Stochastic
      Optimization](https://arxiv.org/abs/1412.6980)
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=ops.power(beta_1, local_step),
            beta2_power=ops.power(beta_2, local_step),
            lr=ops.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=ops.cast(self.epsilon, dtype),
            grad=ops.cast(gradient, dtype),
        )

"""Seed helpers shared by the dataset modules (private).

Every random decision in `datasets` is made by a stateless TF op keyed by a [2] int64 seed tensor,
so results depend only on the integer seed given by the user and the example index, never on the
global TF seed, the op creation order or the number of parallel workers. Each purpose (crops,
epoch order, masks, ...) gets its own salt so equal user seeds give independent streams.
"""

import tensorflow as tf

SALT_EPOCH_ORDER = 0x5EED_0001
SALT_TRAIN_CROP = 0x5EED_0002
SALT_VAL_CROP = 0x5EED_0003
SALT_MASK = 0x5EED_0004
SALT_EVAL_MASK = 0x5EED_0005
SALT_MASK_RETRY = 0x5EED_0006
SALT_COLOR = 0x5EED_0007


def check_seed(seed, name="seed"):
    """Validates a user seed (a Python int)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise ValueError(f"`{name}` must be an integer (int64 range). Received: {name}={seed!r}")


def base_seed(seed, salt):
    """[2] int64 seed tensor for one purpose (``salt``) of one user seed."""
    return tf.constant([seed, salt], dtype=tf.int64)


def as_seed(seed):
    """Converts a [2] seed (or a scalar, paired with 0) to an int64 tensor of shape [2]."""
    seed = tf.convert_to_tensor(seed)
    if seed.dtype != tf.int64:
        seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    return tf.ensure_shape(seed, [2])


def fold_in(seed, data):
    """A new [2] seed from ``seed`` and an integer (tensor) ``data`` such as an example index."""
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(data, tf.int64))


def split(seed, num):
    """``num`` independent [2] seeds (a [num, 2] tensor) from one seed."""
    return tf.random.experimental.stateless_split(seed, num=num)

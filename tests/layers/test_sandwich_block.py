import numpy as np
import pytest
import tensorflow as tf

from hint.layers import SandwichBlock
from tests.layer_checks import check_layer


@pytest.mark.parametrize("layer_norm", ["with_bias", "bias_free"])
def test_layer_checks(layer_norm):
    x = np.random.rand(2, 16, 16, 8).astype("float32")
    check_layer(SandwichBlock(num_heads=2, layer_norm=layer_norm), x, (2, 16, 16, 8))


def test_layer_checks_with_remat():
    x = np.random.rand(1, 8, 8, 8).astype("float32")
    check_layer(SandwichBlock(num_heads=2, remat=True), x, (1, 8, 8, 8))


def test_parameter_count_matches_official():
    # One encoder-level-1 block of the official model (4 of them: 374,836).
    block = SandwichBlock(num_heads=1)
    block.build((None, None, None, 48))
    assert block.count_params() == 93709
    bias_free = SandwichBlock(num_heads=1, layer_norm="bias_free")
    bias_free.build((None, None, None, 48))
    assert bias_free.count_params() == 93709 - 3 * 48


def test_residual_wiring():
    # With all three branch output projections zeroed the block is the identity.
    x = np.random.randn(1, 8, 8, 8).astype("float32")
    block = SandwichBlock(num_heads=2)
    block(x)
    for projection in (
        block.ffn_1.project_out,
        block.attention.project_out,
        block.ffn_2.project_out,
    ):
        projection.kernel.assign(np.zeros(projection.kernel.shape, "float32"))
    np.testing.assert_allclose(block(x).numpy(), x, atol=1e-6)


def _gradients(block, x, use_function):
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = block(x)
            weights = tf.reshape(tf.sin(tf.range(tf.size(y), dtype=tf.float32)), tf.shape(y))
            loss = tf.reduce_sum(y * weights)
        return y, tape.gradient(loss, [x, *block.trainable_variables])

    return (tf.function(step) if use_function else step)(tf.constant(x))


@pytest.mark.parametrize("use_function", [False, True])
def test_remat_gives_identical_outputs_and_gradients(use_function):
    x = np.random.randn(2, 8, 8, 8).astype("float32")
    plain, remat = SandwichBlock(num_heads=2), SandwichBlock(num_heads=2, remat=True)
    plain(x), remat(x)
    remat.set_weights(plain.get_weights())
    y_plain, g_plain = _gradients(plain, x, use_function)
    y_remat, g_remat = _gradients(remat, x, use_function)
    np.testing.assert_allclose(y_remat.numpy(), y_plain.numpy(), atol=1e-6)
    assert len(g_plain) == len(g_remat) == 1 + len(plain.trainable_variables)
    for a, b in zip(g_plain, g_remat, strict=True):
        assert b is not None
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs", [{"layer_norm": "BiasFree"}, {"remat": "yes"}, {"num_heads": 0}, {"expansion": -1}]
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        SandwichBlock(**kwargs)


def _count_ops_in_gradient_graph(block, x, op_type):
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(block(x))
        return tape.gradient(loss, block.trainable_variables)

    graph_def = tf.function(step).get_concrete_function(tf.constant(x)).graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return sum(node.op == op_type for node in nodes)


def test_remat_recomputes_the_forward_pass():
    x = np.random.randn(1, 8, 8, 8).astype("float32")
    plain, remat = SandwichBlock(num_heads=2), SandwichBlock(num_heads=2, remat=True)
    plain(x), remat(x)
    assert _count_ops_in_gradient_graph(plain, x, "Softmax") == 1
    assert _count_ops_in_gradient_graph(remat, x, "Softmax") == 2

"""Parameters and multiply-accumulates per component, measured from the built model.

Parameters are counted from each layer's trainable weights. MACs are measured from the
traced TensorFlow graph of one forward pass at `data.image_size`: every op's FLOPs come from
TensorFlow's own op statistics (the ones `tf.profiler` uses; convolutions, depthwise
convolutions, matrix products and element-wise arithmetic), are grouped by the Keras layer
that created the op, and halved (one multiply-accumulate = two floating-point operations).
Ops TensorFlow has no statistics for (reshapes, transposes, ...) cost nothing here.
"""

from __future__ import annotations

import collections

import keras
import numpy as np
import tensorflow as tf
from tabulate import tabulate
from tensorflow.python.framework import ops as tf_ops

from hint import config as config_lib
from hint import training
from hint.layers import gated_ffn
from hint.task_plugin import get_task


def graph_flops(model: keras.Model, input_shapes: dict[str, tuple]) -> dict[str, int]:
    """FLOPs of one forward pass, keyed by the op's name scope (layer path).

    Counted with every GDFN over the whole image (`gated_ffn.whole_image`), so the count is
    the architecture's and leaves out the halo rows that row bands recompute.
    """
    specs = {name: tf.TensorSpec((1, *shape), tf.float32) for name, shape in input_shapes.items()}
    arg = specs if len(specs) > 1 else next(iter(specs.values()))
    with gated_ffn.whole_image():
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(arg).graph
    return _flops_by_op(graph)


def _flops_by_op(graph) -> dict[str, int]:
    flops: dict[str, int] = collections.Counter()
    for op in graph.get_operations():
        try:
            stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
        except (ValueError, KeyError, TypeError):
            continue
        if stats.value:
            flops[op.name] += int(stats.value)
    return flops


def op_flops(graph) -> int:
    """FLOPs of every op of a traced graph with TensorFlow statistics (forward or backward)."""
    return sum(_flops_by_op(graph).values())


def _component_of(op_name: str, components: list[str]) -> str | None:
    # Op names look like "hint_backbone/encoder_1_block_0/scal/.../Conv2D"; the first path
    # element matching a component prefix wins.
    for part in op_name.split("/"):
        for comp in components:
            if part == comp or part.startswith(comp + "_"):
                return comp
    return None


def component_table(model: keras.Model, components: list[str], input_shapes) -> dict:
    """Per-component params and MACs plus totals for a functional model."""
    params = collections.Counter()
    for layer in model.layers:
        comp = _component_of(layer.name, components)
        if comp is not None:
            params[comp] += int(sum(np.prod(w.shape) for w in layer.trainable_weights))
    flops = graph_flops(model, input_shapes)
    macs = collections.Counter()
    other = 0
    for name, value in flops.items():
        comp = _component_of(name, components)
        if comp is None:
            other += value
        else:
            macs[comp] += value
    rows = [{"name": comp, "params": params[comp], "macs": macs[comp] // 2} for comp in components]
    total_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return {
        "total_params": total_params,
        "total_macs": (sum(macs.values()) + other) // 2,
        "components": rows,
    }


def model_report(cfg: config_lib.Config) -> dict:
    """The generator's table, and its critics' (`TaskPlugin.critics`, e.g. a discriminator)."""
    size = cfg.data.image_size
    generator = training.build_generator(cfg)
    components = list(getattr(generator, "COMPONENTS", [layer.name for layer in generator.layers]))
    report = {
        "image_size": size,
        "generator": component_table(
            generator, components, {t.name: (size, size, t.shape[-1]) for t in generator.inputs}
        ),
    }
    for role, critic in get_task(cfg.task).critics(cfg).items():
        names = [layer.name for layer in critic.layers if layer.trainable_weights]
        shapes = {t.name: (size, size, t.shape[-1]) for t in critic.inputs}
        report[role] = component_table(critic, names, shapes)
    return report


def format_report(report: dict) -> str:
    """Tabulated text of `model_report`."""
    out = []
    for key, part in report.items():
        if key == "image_size":
            continue
        rows = [
            (r["name"], f"{r['params']:,}", f"{r['macs'] / 1e9:.3f}") for r in part["components"]
        ]
        rows.append(("total", f"{part['total_params']:,}", f"{part['total_macs'] / 1e9:.3f}"))
        size = report["image_size"]
        out.append(f"{key} ({size}x{size} input)")
        out.append(
            tabulate(
                rows, headers=("component", "params", "GMACs"), colalign=("left", "right", "right")
            )
        )
    return "\n\n".join(out)

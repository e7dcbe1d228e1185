"""The package's layers: imports point down, and no module imports another that imports it back.

From the top: the command line and the commands (and the tuner, which only the `tune` command
imports); the task plug-ins; the helpers they are built from (training, inference, evaluation,
export, ...); the networks, losses and metrics; the Keras layers; at the bottom the data code,
the config core and the task registry. Every import counts, also one made inside a function:
it is a dependency all the same, only a later one. `docs/architecture.md` draws the same picture.
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "hint")

# Layer of each module (longest matching prefix wins); a module may import its own layer and
# those below it, never one above.
LAYERS = {
    "hint.validation": 0,
    "hint.task_plugin": 0,
    "hint.config": 0,
    "hint.datasets": 0,
    "hint.precision": 0,
    "hint.torch_weights": 0,
    "hint.layers": 1,
    "hint.models": 2,
    "hint.losses": 2,
    "hint.metrics": 2,
    "hint.optimizers": 2,
    "hint.distribution_metrics": 2,
    "hint.blending": 2,
    "hint.classical": 2,
    "hint.plots": 2,
    "hint.distribute_compat": 2,
    "hint.inference": 3,
    "hint.inpaint_graph": 2,
    "hint.pretrained": 3,
    "hint.training": 3,
    "hint.evaluation": 3,
    "hint.perceptual_evaluation": 3,
    "hint.export": 3,
    "hint.summary": 3,
    "hint.model_card": 3,
    "hint.restorer": 3,
    "hint.official_checkpoint": 3,
    "hint.tasks": 4,
    "hint.commands": 5,
    "hint.tuning": 5,
    "hint.cli": 6,
    "hint": 6,  # the package's __init__: imports everything to register it
}

LAYER_NAMES = {
    0: "bottom (data, config, task registry)",
    1: "layers",
    2: "models",
    3: "helpers",
    4: "task plug-ins",
    5: "commands",
    6: "command line",
}


def _module_name(path):
    rel = os.path.relpath(path, REPO)[: -len(".py")].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(rel)


def _modules():
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                out[_module_name(path)] = path
    return out


MODULES = _modules()


def _resolve(name):
    """The module an imported name is: the longest prefix that is a module of the package."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imports(module):
    """(imported hint module, line) of every import of `module`, at any depth."""
    path = MODULES[module]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from hint import config` imports the module hint.config; `from hint.models
            # import DnCNN` a name of the package hint.models (its __init__).
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield target, node.lineno


def _layer(module):
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in LAYERS:
            return LAYERS[key]
    raise AssertionError(f"{module} has no layer in LAYERS: add it")


def _graph():
    graph = {}
    for module in MODULES:
        edges = {}
        for target, line in _imports(module):
            # `from hint.x import y` also names the package `hint`: its __init__ is not a
            # dependency of a submodule (Python runs it first anyway).
            if target == "hint" and module != "hint":
                continue
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


GRAPH = _graph()


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_imports_point_down():
    upward = []
    for module, edges in GRAPH.items():
        for target, line in edges.items():
            if _layer(target) > _layer(module):
                upward.append(
                    f"{MODULES[module]}:{line}: {module} ({LAYER_NAMES[_layer(module)]}) imports "
                    f"{target} ({LAYER_NAMES[_layer(target)]})"
                )
    assert upward == []


def test_only_the_tune_command_imports_the_tuner():
    importers = sorted(
        module
        for module, edges in GRAPH.items()
        if not module.startswith("hint.tuning") and any(t.startswith("hint.tuning") for t in edges)
    )
    assert importers == ["hint.commands"]


def test_no_import_circles():
    """Tarjan's strongly connected components: every component is a single module."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert circles == []


def test_the_checks_see_the_whole_package():
    """The graph covers every subpackage, and finds an upward import when there is one."""
    for package in ("hint.datasets", "hint.tuning", "hint.tasks", "hint.models", "hint.layers"):
        assert any(m.startswith(package + ".") for m in MODULES), package
    assert "hint.inference" in GRAPH["hint.tasks.inpaint.plugin"]
    # Function-level imports count: hint.commands imports the tuner only inside `tune`.
    assert any(t.startswith("hint.tuning") for t in GRAPH["hint.commands"])


@pytest.mark.parametrize("module", ["hint.config", "hint.task_plugin", "hint.datasets.masks"])
def test_the_bottom_imports_nothing_above_it(module):
    assert all(_layer(t) == 0 for t in GRAPH[module]), GRAPH[module]

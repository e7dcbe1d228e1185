"""The task plug-in contract and the registry of tasks.

A task (inpainting, denoising, ...) is one plug-in: a `TaskPlugin` subclass in its own
subpackage of `hint.tasks`, registered by name with `register_task` when that subpackage is
imported (`import hint` imports them all). It declares everything that is specific to the task:
its data pipeline, its Keras training model, its evaluation protocol, its inference command,
its serving signatures, its shipped model and its model-card fields. The generic code (the
commands, the training loop, evaluation tables, export, the tuner, model cards) looks the
plug-in up by the config's `task` (`get_task(cfg.task)`) and never tests which task it is.

Words: the *plug-in* is a `TaskPlugin` (plain Python, one per task); the *training model* is the
Keras model a plug-in builds (`Inpainter`, `Denoiser`: KerasHub's "task" models, which own
`train_step`, the losses and `compile()`); the *network* (or backbone) is the functional Keras
model inside it that is saved, shipped and served (`HINTBackbone`, `DnCNN`, ...).

Members a task has no use for keep the defaults below: a task with no training set (Deep Image
Prior optimises one image at a time) returns None from `make_data`; a task with nothing to
serve returns None from `serving_module`. Several inputs and outputs are dictionaries of named
tensors, as in Keras functional models.

This module sits at the bottom of the package (it imports no other `hint` module), so any layer
may look a task up by name without importing the plug-ins themselves.
"""

from __future__ import annotations

import difflib
from typing import Any


class UnknownTaskError(ValueError):
    """A task name that no plug-in registered."""


class TaskPlugin:
    """One restoration task, behind the interface the generic code uses.

    Subclasses set `name` and `summary` and override the members their task has.

    Attributes:
        name: The task's name: the config's `task:` value and the name of its inference command
            (`python main.py NAME ...`).
        summary: One line for `--help`.
        eval_label: The heading of the first column of its evaluation table (what the rows
            are, e.g. "hole ratio" or "noise").
        sample_titles: Column titles of the sample grid that training writes, or None for the
            default ones.
        config_section: The dataclass of the task's own config section (written at the top
            level of the YAML under the task's name, read as `cfg.<name>`), or None. Every
            field needs a default; `hint.config` builds and type-checks it like the common
            sections.
        moved_keys: Old dotted key -> its key in the task's section, for configs written
            before the section existed.
    """

    name: str = ""
    summary: str = ""
    eval_label: str = "subset"
    sample_titles: tuple[str, ...] | None = None
    config_section: type | None = None
    # Old key -> new key for settings the task's section took over from the common sections
    # (older configs are read with a notice, `hint.config.migrate`).
    moved_keys: dict[str, str] = {}

    # ------------------------------------------------------------------ configuration

    def validate_config(self, cfg) -> None:
        """Raises `hint.config.ConfigError` for impossible values of a config of this task.

        Types are already checked; this is for values (ranges, choices, files that must
        exist). Called for the config's task, after the common sections are checked.
        """

    # ------------------------------------------------------------------ training

    def make_data(self, cfg) -> tuple[Any, Any] | None:
        """Training and validation `tf.data` pipelines of `(inputs, target)` batches.

        Returns None for a task without a training set.
        """
        return None

    def build_model(self, cfg):
        """The compiled training model, built inside the caller's strategy scope.

        It wraps the network (`model.backbone`, or `model.generator`), which is what a run
        saves as `model.keras`. `model.init_from` transfer learning is done here too (the task
        knows which of its parts a source run can give).
        """
        raise NotImplementedError(f"Task {self.name!r} trains no model.")

    def critics(self, cfg) -> dict:
        """The networks trained beside the main one, by role (e.g. a GAN's discriminator).

        Built from the config, untrained; `summary` reports them. Defaults to none.
        """
        return {}

    def sample_rows(self, network, inputs: dict, target) -> list[tuple]:
        """Rows of images for the sample grid, from one validation batch (NumPy arrays)."""
        return []

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self, network, cfg, out_dir: str, data: str | None = None, verbose=True, references=None
    ):
        """Runs the task's evaluation protocol on `network`; returns the table's rows.

        Each row is a dict with `bucket` (the first column), `n` and the metrics of
        `hint.evaluation.METRICS`, and optionally `method`: rows of other methods measured on
        the same inputs (the `references`, classical baselines) carry their label, the
        network's own carry `hint.evaluation.THIS_RUN` or no `method`. The plug-in may write
        figures of its own into `out_dir`; the caller writes the tables.

        Args:
            network: The loaded network.
            cfg: The run's config.
            out_dir: The folder the evaluation is written to (exists).
            data: A folder of images to evaluate on instead of the run's validation data.
            verbose: Show progress.
            references: Label -> network to measure beside it, e.g. the network a
                fine-tuned run started from. Only passed when there are any.
        """
        raise NotImplementedError(f"Task {self.name!r} has no evaluation protocol.")

    # ------------------------------------------------------------------ inference

    def restore(self, network, image, **options):
        """The task's inference function on one image (NumPy): what `hint.load(...).restore`
        runs, and what its command runs on every file."""
        raise NotImplementedError(f"Task {self.name!r} has no inference function.")

    def inference_defaults(self, cfg) -> dict:
        """The inference options a run's network is saved with (`Backbone.inference_defaults`).

        `cfg` is None for the task's own defaults, without a config.

        `restore` and the inference command use them unless the caller gives others. A network
        trained from another (`model.init_from`) keeps that one's, which win over these.
        """
        return {}

    def network_options(self, network) -> dict:
        """The inference options `network` runs with unless a call says otherwise.

        Its saved `inference_defaults` over the task's own (`inference_defaults(None)`: what a
        network saved without any gets). `hint.load`, evaluation and serving all use these.
        """
        saved = getattr(network, "inference_defaults", None) or {}
        return {**self.inference_defaults(None), **saved}

    def accepts(self, network) -> bool:
        """Whether a bare network (a `.keras` file without a run) is this task's."""
        return False

    def add_inference_arguments(self, parser) -> None:
        """Adds the arguments of the task's inference command to an argparse parser."""

    def run_inference(self, args) -> list[str]:
        """Runs the inference command on parsed arguments; returns the written paths."""
        raise NotImplementedError(f"Task {self.name!r} has no inference command.")

    @property
    def has_inference_command(self) -> bool:
        return type(self).run_inference is not TaskPlugin.run_inference

    # ------------------------------------------------------------------ serving

    def serving_module(self, network):
        """The `hint.export.ServingModule` that serves `network`, or None (not exportable)."""
        return None

    # What the served graph leaves out of the command's inference path, and what that costs
    # (printed by `export`); empty when the two are the same.
    serving_note: str = ""

    # ------------------------------------------------------------------ shipped models, cards

    def shipped_model(self, channels: int) -> str | None:
        """The `hint.pretrained` name of the task's shipped network for `channels`, or None."""
        return None

    def card_settings(self, cfg) -> dict[str, dict]:
        """The config sections (name -> settings) a model card shows for a run of this task."""
        data = cfg.to_dict()
        return {key: data[key] for key in ("data",)}

    def card_evaluation(self) -> str:
        """How the card's validation table was measured (the end of a sentence)."""
        return ""


_TASKS: dict[str, TaskPlugin] = {}


def register_task(plugin: TaskPlugin) -> TaskPlugin:
    """Registers a plug-in under `plugin.name`; returns it.

    Raises:
        ValueError: the name is empty or taken by another plug-in.
    """
    if not isinstance(plugin, TaskPlugin):
        raise ValueError(f"Expected a TaskPlugin instance. Received: plugin={plugin!r}")
    if not plugin.name or not plugin.name.isidentifier():
        raise ValueError(f"A task's name must be an identifier. Received: name={plugin.name!r}")
    other = _TASKS.get(plugin.name)
    if other is not None and type(other) is not type(plugin):
        raise ValueError(
            f"Task {plugin.name!r} is already registered by {type(other).__name__}. "
            f"Received: plugin={type(plugin).__name__}"
        )
    _TASKS[plugin.name] = plugin
    return plugin


def unregister_task(name: str) -> None:
    """Removes a task (for tests that register toy tasks)."""
    _TASKS.pop(name, None)


def get_task(name: str) -> TaskPlugin:
    """The plug-in registered as `name`.

    Raises:
        UnknownTaskError: naming the closest registered task.
    """
    if name not in _TASKS:
        close = difflib.get_close_matches(str(name), list(_TASKS), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownTaskError(
            f"Unknown task {name!r}.{hint} Tasks: {', '.join(task_names())}. "
            f"Received: task={name!r}"
        )
    return _TASKS[name]


def task_names() -> tuple[str, ...]:
    """The registered tasks' names, in registration order."""
    return tuple(_TASKS)


def task_for_network(network) -> TaskPlugin:
    """The plug-in whose task a bare network is (`TaskPlugin.accepts`).

    Raises:
        UnknownTaskError: no task, or more than one, accepts it.
    """
    found = [p for p in _TASKS.values() if p.accepts(network)]
    if len(found) != 1:
        inputs = sorted(getattr(t, "name", "?") for t in getattr(network, "inputs", []) or [])
        which = "no task" if not found else "several tasks (" + ", ".join(p.name for p in found)
        raise UnknownTaskError(
            f"Cannot tell the task of a network with inputs {inputs}: {which}"
            + (")" if found else "")
            + " accept it. Pass a run directory (its config.yaml names the task)."
        )
    return found[0]
